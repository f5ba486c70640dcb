"""A claim of the theory: its statement, where it is made, the formula as printed and as derived.

Claims are defined beside their derivations in the ``theory`` modules (each exports ``CLAIMS``) and are
gathered by ``normlaws.registry``. The numeric legs (``simulate``, ``gpu``) attach checks to the same ids.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import sympy as sp

from .compare import NOT_COMPARABLE, Verdict, compare_formula, compare_identity
from .derivation import Derivation
from .symbols import eta, lam


@dataclass(frozen=True)
class Printed:
    """A formula exactly as a paper prints it (mistakes included), and where.

    ``form`` is 'exact' (an equality), 'order' (an O(.) scaling statement), 'identity' (``expr`` is a
    residual the paper says is zero on ``domain``) or 'none' (the paper states no formula to compare).
    """

    expr: sp.Basic | None
    form: str
    where: str
    text: str = ""
    domain: dict = field(default_factory=dict)


NO_FORMULA = "none"


@dataclass(eq=False)
class Claim:
    """One checkable statement, with a computed verdict on the paper's printed form."""

    id: str
    title: str
    statement: str
    source: str
    printed: Printed
    derive: Callable[[], Derivation]
    convention: str = "paper-l2"
    variables: tuple = (eta, lam)
    #: for identity claims: the condition under which the derived residual is zero
    condition: str = ""
    #: derived formulas under other conventions, to explain a mismatch (name -> expr)
    alternates: Callable[[], dict] | None = None
    #: for identity claims stated abstractly (e.g. ``Eq(y(alpha*w), y(w))`` with undefined functions):
    #: turns the printed statement into a concrete residual on the derivation's symbolic model
    instantiate: Callable | None = None
    tags: tuple = ()

    @cached_property
    def derivation(self) -> Derivation:
        """The derivation (computed once)."""
        return self.derive()

    @cached_property
    def verdict(self) -> Verdict:
        """The verdict on the paper's printed formula, computed by SymPy."""
        p, dv = self.printed, self.derivation
        if p.form == NO_FORMULA or p.expr is None:
            return Verdict(NOT_COMPARABLE, "the paper prints no formula for this; the derivation stands alone")
        if p.form == "identity":
            residual = self.instantiate(p.expr.subs(p.domain, simultaneous=True)) if self.instantiate else p.expr
            return compare_identity(residual, p.domain, dv.result, self.condition)
        alternates = self.alternates() if self.alternates else None
        return compare_formula(p.expr, dv.result, p.form, self.variables, alternates)

    def proof_failures(self) -> dict:
        """Proof residuals of the derivation that do not reduce to zero (empty when the proof holds)."""
        return self.derivation.check()
