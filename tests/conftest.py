"""Shared pytest options: ``--run-slow`` enables the long confirmations marked ``slow``.

Hypothesis profiles: ``ci`` (derandomized, fast) is loaded by default; pass ``--hypothesis-profile=thorough``
for at least 2,000 examples per property (profiles are registered by ``normlaws.testing``).
"""
import pytest
from hypothesis import settings

from normlaws.testing import register_profiles

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
