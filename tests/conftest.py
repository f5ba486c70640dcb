"""Shared pytest options: ``--run-slow`` enables the long confirmations marked ``slow``.

Hypothesis profiles: ``ci`` (derandomized, fast) is loaded by default; pass ``--hypothesis-profile=thorough``
for at least 2,000 examples per property (profiles are registered by ``normlaws.testing``).
"""
import os

import numpy as np
import pytest
from hypothesis import settings

from normlaws.testing import register_profiles

# the suite derives afresh: a test must not pass on an entry of the developer's derivation cache (its own tests,
# tests/test_derivation_cache.py, point NORMLAWS_CACHE at temporary folders)
os.environ.setdefault("NORMLAWS_CACHE", "off")
register_profiles()
settings.load_profile("ci")  # --hypothesis-profile=thorough (Hypothesis's pytest plugin) overrides this


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (long Monte-Carlo and training confirmations)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def synthetic_cifar(tmp_path_factory):
    """A folder with tiny random CIFAR-10-shaped shards (train_0.npz: 64 images, test.npz: 32), for tests that
    must not need the real data (load them with verify=False / --no-verify: they have no published checksum)."""
    root = tmp_path_factory.mktemp("cifar")
    rng = np.random.default_rng(0)
    for name, n in (("train_0.npz", 64), ("test.npz", 32)):
        np.savez(root / name, x=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                 y=rng.integers(0, 10, n).astype(np.uint8))
    return root
