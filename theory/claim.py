"""A claim of the theory: its statement, where it is made, the formula as printed and as derived.

Claims are defined beside their derivations in the ``theory`` modules (each exports ``CLAIMS``) and are
gathered by ``normlaws.registry``. The numeric legs (``simulate``, ``gpu``) attach checks to the same ids.
"""
from __future__ import annotations

import linecache
import sys
from types import FrameType
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Callable

import sympy as sp

from .compare import NOT_COMPARABLE, Verdict, compare_formula, compare_identity, show
from .derivation import Derivation
from .symbols import eta, lam


@dataclass(frozen=True)
class Printed:
    """A formula exactly as a paper prints it (mistakes included), and where.

    ``form`` is what the paper asserts: 'exact' (an equality), 'approx' (an "approximately" or a "+ O(.)":
    the leading order), 'order' (an O(.) or proportionality: the scaling), 'identity' (``expr`` is a residual
    the paper says is zero on ``domain``), 'verbal' (a statement in words; ``text`` quotes it and the claim's
    ``judge`` decides it from the derivation) or 'none' (the paper states nothing to compare).
    """

    expr: sp.Basic | None
    form: str
    where: str
    text: str = ""
    domain: dict = field(default_factory=dict)
    #: where the printed formula is garbled: the formula it presumably means (the verdict reports both readings)
    intended: sp.Basic | None = None


def _literal_on_stack(claim_id: str) -> tuple:
    """The innermost caller's ``(file, line)`` whose source line holds ``claim_id`` in quotes (``("", 0)`` if none):
    where a claim is defined even when a helper builds it."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
        if f'"{claim_id}"' in line or f"'{claim_id}'" in line:
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return "", 0


NO_FORMULA = "none"
VERBAL = "verbal"


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
    #: variables whose leading order is taken as they grow (e.g. the batch size B -> oo)
    large: tuple = ()
    #: for verbal statements: ``judge(derivation) -> Verdict``, the computed truth of the words
    judge: Callable | None = None
    #: ``(file, line)`` where the id is written as a literal (found on the call stack when the claim is built)
    defined_at: tuple = field(default=("", 0), compare=False, repr=False)

    def __post_init__(self):
        if not self.defined_at[0]:
            self.defined_at = _literal_on_stack(self.id)

    @cached_property
    def derivation(self) -> Derivation:
        """The derivation (computed once)."""
        return self.derive()

    @cached_property
    def verdict(self) -> Verdict:
        """The verdict on the paper's printed formula, computed by SymPy."""
        p, dv = self.printed, self.derivation
        if p.form == VERBAL:
            if self.judge is None:
                raise ValueError(f"{self.id}: a verbal claim needs a judge")
            return self.judge(dv)
        if p.form == NO_FORMULA or p.expr is None:
            return Verdict(NOT_COMPARABLE, "the paper prints no formula for this; the derivation stands alone")
        if p.form == "identity":
            residual = self.instantiate(p.expr.subs(p.domain, simultaneous=True)) if self.instantiate else p.expr
            return compare_identity(residual, p.domain, dv.result, self.condition)
        alternates = self.alternates() if self.alternates else None
        verdict = compare_formula(p.expr, dv.result, p.form, self.variables, alternates, self.large)
        if p.intended is not None and not verdict.kind.startswith("agrees"):
            meant = compare_formula(p.intended, dv.result, p.form, self.variables, alternates, self.large)
            verdict = replace(verdict, detail=f"{verdict.detail}; read as {show(p.intended)} (what it presumably "
                                              f"means) it {meant.label}")
        return verdict

    def proof_failures(self) -> dict:
        """Proof residuals of the derivation that do not reduce to zero (empty when the proof holds)."""
        return self.derivation.check()
