"""normlaws's pytest plugin (entry point ``pytest11``): its Hypothesis profiles and fixtures, without a conftest.

Installed with normlaws, it is loaded by every pytest run in the environment and

* registers the ``ci`` and ``thorough`` profiles (:mod:`normlaws.testing.profiles`) when it is imported, before
  any plugin's ``pytest_configure``, so that Hypothesis's own ``--hypothesis-profile=thorough`` finds them;
  ``--normlaws-profile=ci|thorough`` selects one as well;
* gives the Hypothesis tests of a module that uses ``normlaws.testing`` no deadline and no too-slow health check
  while Hypothesis's ``default`` profile is active and the test has no ``@settings`` of its own: each example
  evaluates a model several times in float64 and float32, which a loaded machine may take seconds to do.
  Other tests, and any profile or ``@settings`` you choose, are left alone;
* provides fixtures for the common checks: ``normlaws_invariant`` (assert a layer's invariance at a few scale
  factors, without Hypothesis), ``normlaws_step`` (an optimizer's Table 1 row or angular exponent) and
  ``normlaws_audit`` (:func:`normlaws.audit.audit` of a model).

Without Hypothesis installed it registers nothing and the fixtures that need it are not used.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
from . import assert_scale_invariant
from . import assert_step_exponent, assert_table1_row
from ..audit import audit

try:                                   # Hypothesis is normlaws[test]; the plugin must not break pytest without it
    from hypothesis import HealthCheck, settings
except ImportError:                    # pragma: no cover - exercised only without Hypothesis
    settings = None
else:
    from .profiles import CI, THOROUGH, register_profiles
    register_profiles()

PROFILE_OPTION = "--normlaws-profile"
#: the per-layer factors of ``normlaws_invariant``, and the range of its per-channel ones
LAYER_ALPHAS = (0.5, 2.0, 3.0)


def pytest_addoption(parser):
    group = parser.getgroup("normlaws")
    group.addoption(PROFILE_OPTION, choices=("ci", "thorough"), default=None,
                    help="load normlaws's Hypothesis profile: ci (derandomized, 20 examples) or thorough (2,000)")


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    name = config.getoption(PROFILE_OPTION, default=None)
    if name and settings is not None:
        settings.load_profile({"ci": CI, "thorough": THOROUGH}[name])


def _uses_normlaws(module) -> bool:
    testing = sys.modules.get("normlaws.testing")
    return testing is not None and any(
        v is testing or str(getattr(v, "__module__", "")).startswith("normlaws.testing")
        for v in vars(module).values())


def pytest_collection_modifyitems(items):
    if settings is None or settings.get_current_profile_name() != "default":
        return
    relaxed = {}
    for item in items:
        fn = getattr(item, "obj", None)
        module = getattr(item, "module", None)
        if not getattr(fn, "is_hypothesis_test", False) or getattr(fn, "_hypothesis_internal_settings_applied", False):
            continue
        if module is None or not relaxed.setdefault(module.__name__, _uses_normlaws(module)):
            continue
        current = fn._hypothesis_internal_use_settings
        checks = list(current.suppress_health_check) + [HealthCheck.too_slow]
        settings(current, deadline=None, suppress_health_check=checks)(fn)


@pytest.fixture
def normlaws_invariant():
    """``check(model, inputs, param="weight", per="layer", alphas=None, rescale_eps=())``: assert that scaling
    ``param`` (a name or a tuple of names scaled together) leaves ``model(inputs)`` unchanged, for each factor of
    ``alphas`` (default 0.5, 2 and 3 per layer; per channel, three seeded vectors log-uniform in [0.1, 10])."""

    def check(model, inputs, param="weight", per="layer", alphas=None, rescale_eps=()):
        if alphas is None and per == "channel":
            names = (param,) if isinstance(param, str) else tuple(param)
            channels = dict(model.named_parameters())[names[0]].shape[0]
            rng = np.random.default_rng(0)
            alphas = [10.0 ** rng.uniform(-1, 1, channels) for _ in range(3)]
        for alpha in alphas if alphas is not None else LAYER_ALPHAS:
            assert_scale_invariant(model, inputs, alpha, param=param, per=per, rescale_eps=rescale_eps)

    return check


@pytest.fixture
def normlaws_step():
    """``check(factory, row=None, k=None, **kwargs)``: assert an optimizer's Table 1 ``row`` (e.g. "ADAM") or its
    angular exponent ``k`` (:func:`normlaws.testing.step_scaling`); returns the measurement."""

    def check(factory, row=None, k=None, **kwargs):
        if (row is None) == (k is None):
            raise TypeError("give exactly one of row= and k=")
        return assert_table1_row(factory, row, **kwargs) if row is not None else \
            assert_step_exponent(factory, k, **kwargs)

    return check


@pytest.fixture
def normlaws_audit():
    """``audit(model, sample_input, **kwargs)``: :func:`normlaws.audit.audit`, for asserting on a model's
    scale-invariant tensors and groups (``report.invariant_groups``)."""
    return audit
