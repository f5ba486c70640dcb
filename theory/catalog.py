"""Every claim of the theory by id, in report order: the one list the numeric legs and the registry read.

The modules that make claims export ``CLAIMS`` (lists of :class:`.claim.Claim`); they are imported here by name,
so the import graph shows which ones count. Derivations computed before for the same source answer from the
on-disk cache (:mod:`normlaws.derivation_cache`). The registry (``normlaws.registry``) adds the legs on top.

>>> get("table1.sgd.norm").title.startswith("SGD")
True
"""
from __future__ import annotations

from functools import lru_cache

from normlaws import derivation_cache
from normlaws.errors import UsageError

from . import (adaptive_equilibria, angular, bn_unit, discussion, displays, experiments, grad_ratio, hoffer, li_arora,
               lion, newton, norm_growth, normalization, rescaling, schedules, section4, updates, verbal)

#: the modules that export CLAIMS, in report order
MODULES = (normalization, updates, newton, section4, discussion, angular, lion, li_arora, grad_ratio, norm_growth,
           hoffer, adaptive_equilibria, rescaling, schedules, bn_unit, verbal, displays, experiments)


@lru_cache(maxsize=None)
def claims() -> tuple:
    """Every claim, in report order; ids are unique (a duplicate raises ``RuntimeError``)."""
    out, seen = [], set()
    for module in MODULES:
        for claim in module.CLAIMS:
            if claim.id in seen:
                raise RuntimeError(f"duplicate claim id {claim.id!r} in {module.__name__}")
            seen.add(claim.id)
            out.append(claim)
    return derivation_cache.attach(tuple(out))


def get(claim_id: str, among=None):
    """The claim with this id (in ``among``, default every claim); a :class:`UsageError` when there is none."""
    for claim in claims() if among is None else among:
        if claim.id == claim_id:
            return claim
    raise UsageError(f"unknown claim id {claim_id!r}; run 'normlaws claims' for the list")


def select(ids) -> list:
    """The claims named in ``ids`` (all of them when ``ids`` is empty)."""
    return [get(i) for i in ids] if ids else list(claims())
