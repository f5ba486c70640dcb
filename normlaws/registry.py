"""The one registry of claims: gathered from the ``theory`` modules, in a stable order.

Each theory module that makes claims exports ``CLAIMS`` (a list of :class:`normlaws.theory.claim.Claim`).
The numeric legs register their checks by claim id (``LEG_MODULES``); the property leg is the Hypothesis property
tests marked ``@pytest.mark.claims(...)`` (their map, ``property_leg.json``, is collected from the markers and
kept equal to them by ``tests/test_property_leg.py``). A claim shows which of the four legs exist:
symbolic, property, Monte-Carlo, training.
"""
from __future__ import annotations

import importlib
import json
from functools import lru_cache
from pathlib import Path

from .errors import UsageError

#: theory modules that export CLAIMS, in report order
THEORY_MODULES = (
    "normlaws.theory.normalization",
    "normlaws.theory.updates",
    "normlaws.theory.section4",
    "normlaws.theory.discussion",
    "normlaws.theory.later",
    "normlaws.theory.adaptive_equilibria",
    "normlaws.theory.rescaling",
    "normlaws.theory.bn_unit",
    "normlaws.theory.verbal",
    "normlaws.theory.displays",
    "normlaws.theory.experiments",
)

#: modules that export ``CHECKS: dict[claim_id, callable]`` for a numeric leg
LEG_MODULES = {
    "montecarlo": "normlaws.simulate.checks",
    "training": "normlaws.gpu.checks",
}


def _available_modules(names):
    for name in names:
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


@lru_cache(maxsize=None)
def claims() -> tuple:
    """Every claim of the registry, in report order; ids are unique."""
    out, seen = [], set()
    for module in _available_modules(THEORY_MODULES):
        for claim in module.CLAIMS:
            if claim.id in seen:
                raise RuntimeError(f"duplicate claim id {claim.id!r} in {module.__name__}")
            seen.add(claim.id)
            out.append(claim)
    return tuple(out)


def get(claim_id: str):
    """The claim with this id; a :class:`UsageError` naming the known ids' prefix when there is none."""
    for claim in claims():
        if claim.id == claim_id:
            return claim
    raise UsageError(f"unknown claim id {claim_id!r}; run 'normlaws claims' for the list")


def select(ids) -> list:
    """The claims named in ``ids`` (all of them when ``ids`` is empty)."""
    return [get(i) for i in ids] if ids else list(claims())


@lru_cache(maxsize=None)
def leg_checks(leg: str) -> dict:
    """``{claim_id: check}`` for a numeric leg ('montecarlo' or 'training'); empty if the leg is absent."""
    try:
        module = importlib.import_module(LEG_MODULES[leg])
    except ModuleNotFoundError:
        return {}
    return dict(module.CHECKS)


#: the four legs, in the order tables show them
LEGS = ("symbolic", "property", "montecarlo", "training")
PROPERTY_MAP = Path(__file__).with_name("property_leg.json")


@lru_cache(maxsize=None)
def property_tests() -> dict:
    """``{claim_id: [property test node ids]}`` (``property_leg.json``, collected from the tests' markers)."""
    return json.loads(PROPERTY_MAP.read_text())


def legs_of(claim_id: str) -> list[str]:
    """The legs that verify this claim: 'symbolic' always, 'property' when property tests are marked with it, and
    each numeric leg with a check for it."""
    numeric = [leg for leg in LEG_MODULES if claim_id in leg_checks(leg)]
    return ["symbolic"] + (["property"] if claim_id in property_tests() else []) + numeric
