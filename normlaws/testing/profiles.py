"""Hypothesis settings profiles for the property suite: ``ci`` (default) and ``thorough``.

``ci`` is derandomized (the same examples on every run, so a red CI is reproducible) and small enough that
the whole property suite runs in well under a minute on two cores. ``thorough`` draws at least 2,000
random examples per property for a search before a release or after touching a layer or an update rule.

Select one from the pytest command line with Hypothesis's own option::

    pytest --hypothesis-profile=thorough

normlaws's pytest plugin (:mod:`normlaws.testing.plugin`, installed with it) registers both profiles, so this
works in any project without a conftest; the suite's own ``tests/conftest.py`` also loads ``ci`` by default.
"""
from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

CI = "ci"
THOROUGH = "thorough"

#: examples per property in each profile
CI_EXAMPLES = 20
THOROUGH_EXAMPLES = 2000

_COMMON = dict(
    deadline=None,      # the first torch call of a test pays the import and kernel warm-up
    database=None,      # never write .hypothesis/ into the checkout; a failure prints its reproduction blob
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)


def register_profiles() -> None:
    """Register the ``ci`` and ``thorough`` Hypothesis profiles (does not load either).

    >>> register_profiles()
    >>> settings.get_profile("thorough").max_examples >= 2000
    True
    """
    settings.register_profile(CI, max_examples=CI_EXAMPLES, derandomize=True, **_COMMON)
    settings.register_profile(THOROUGH, max_examples=THOROUGH_EXAMPLES, derandomize=False, **_COMMON)


def search_settings(floor: int = 200, shrink: bool | None = None) -> settings:
    """Settings for a counterexample search (:func:`hypothesis.find`): the current profile, at least ``floor`` tries.

    A search that must *find* a violation needs more tries than a property that must *hold* needs
    examples; the floor keeps it reliable under ``ci`` while ``thorough`` searches harder still.
    ``shrink``: simplify the counterexample found (seconds to minutes on array strategies); by default
    the suite's own profiles (``ci``, ``thorough``) report the first counterexample they meet, and any
    other profile (yours) shrinks.
    """
    current = settings.default
    if shrink is None:
        shrink = settings.get_current_profile_name() not in (CI, THOROUGH)
    phases = tuple(p for p in current.phases if shrink or p != Phase.shrink)
    return settings(current, max_examples=max(floor, current.max_examples), database=None, phases=phases)
