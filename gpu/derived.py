"""The one door from the training harness to the claims: a claim's derivation by id.

Every derived value the harness uses (exponents, relaxation times, equilibrium values, rescaling exponents) is read
through :func:`derivation`, never typed in ``gpu/``: the theory's catalog of claims (``theory.catalog``).
"""
from __future__ import annotations

from ..theory import catalog
from ..errors import UsageError


def derivation(claim_id: str):
    """The :class:`~normlaws.theory.derivation.Derivation` of the claim ``claim_id``, or None if no claim has that
    id."""
    try:
        return catalog.get(claim_id).derivation
    except UsageError:
        return None
