"""Computed verdicts: compare a formula as the paper prints it with the formula as derived.

The comparison is done by SymPy, never typed by hand:

1. exact equality (the difference reduces to zero);
2. else equality of the leading term in the small-step regime ``eta*lam -> 0`` (``eta -> h*eta``,
   ``lam -> h*lam``, ``h -> 0``, so that ``eta/lam`` is held fixed);
3. else equality of the scaling exponents of that leading term in each scaling variable;
4. else disagreement, with the derived formula as the corrected form.

An ``O(.)`` statement of the paper (Table 1's weight-scale columns) is compared by exponents only: the best
it can do is "agrees in scaling only".
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .derivation import numerically_nonzero, reduce_to_zero
from .symbols import eta, lam

AGREES = "agrees exactly"
AGREES_LEADING = "agrees to leading order"
AGREES_SCALING = "agrees in scaling only"
DISAGREES = "disagrees"
NOT_COMPARABLE = "not comparable"
VERDICT_KINDS = (AGREES, AGREES_LEADING, AGREES_SCALING, DISAGREES, NOT_COMPARABLE)

_h = sp.Symbol("h", positive=True)


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing the printed with the derived formula."""

    kind: str
    detail: str
    printed_exponents: dict[str, sp.Basic] = field(default_factory=dict)
    derived_exponents: dict[str, sp.Basic] = field(default_factory=dict)

    @property
    def is_erratum(self) -> bool:
        """Whether this verdict says the paper is wrong (a finding, not a failure of the suite)."""
        return self.kind == DISAGREES


def leading_term(expr: sp.Basic, variables=(eta, lam)) -> sp.Basic:
    """The leading term of ``expr`` when every variable in ``variables`` is scaled by ``h -> 0``.

    >>> leading_term(eta / (4*lam - 2*eta*lam**2))
    eta/(4*lamda)
    """
    scaled = sp.sympify(expr).subs({v: v * _h for v in variables}, simultaneous=True)
    lead = sp.powsimp(sp.expand_power_base(scaled.as_leading_term(_h), force=True), force=True)
    return sp.powsimp(sp.simplify(lead.subs(_h, 1)), force=True)


def exponents(expr: sp.Basic, variables=(eta, lam)) -> dict[str, sp.Basic]:
    """The power of each variable in the leading term of ``expr`` (``nan`` where it is not a power law).

    >>> exponents((eta/lam)**sp.Rational(1, 4))
    {'eta': 1/4, 'lamda': -1/4}
    """
    lead = leading_term(expr, variables)
    out = {}
    for v in variables:
        e = sp.simplify(v * sp.diff(sp.log(lead), v))
        out[str(v)] = e if not e.free_symbols else sp.nan
    return out


def compare_formula(printed: sp.Basic, derived: sp.Basic, form: str = "exact", variables=(eta, lam),
                    alternates: dict[str, sp.Basic] | None = None) -> Verdict:
    """Verdict for a printed formula (``form`` 'exact' or 'order') against the derived one.

    ``alternates`` maps a convention name to the derived formula under that convention; when the printed
    form disagrees with the canonical derivation but matches an alternate one exactly, the detail says so.

    >>> compare_formula(eta/lam, 2*eta/lam).kind
    'agrees in scaling only'
    """
    if isinstance(printed, sp.MatrixBase) or isinstance(derived, sp.MatrixBase):
        return _compare_tuples(sp.Matrix(printed), sp.Matrix(derived))
    pe, de = exponents(printed, variables), exponents(derived, variables)
    if form == "exact" and not numerically_nonzero(printed - derived) and reduce_to_zero(printed - derived) == 0:
        return Verdict(AGREES, "the printed formula equals the derived one", pe, de)
    if form == "exact":
        ratio = sp.simplify(leading_term(printed, variables) / leading_term(derived, variables))
        if ratio == 1:
            return Verdict(AGREES_LEADING, f"equal leading terms as {', '.join(map(str, variables))} -> 0 "
                           "together; they differ at higher order", pe, de)
    if pe and pe == de and all(v is not sp.nan for v in pe.values()):
        detail = "same exponents " + _fmt(de)
        if form == "exact":
            detail += f"; printed/derived leading ratio = {ratio}"
        detail += _alternate_note(printed, alternates, form)
        return Verdict(AGREES_SCALING, detail, pe, de)
    if not variables:
        detail = f"the printed formula differs from the derived one: printed {sp.sstr(printed)}, derived {sp.sstr(derived)}"
    elif all(v is not sp.nan for v in list(pe.values()) + list(de.values())):
        detail = f"printed exponents {_fmt(pe)}, derived {_fmt(de)}"
    else:
        detail = (f"leading terms differ: printed {sp.sstr(leading_term(printed, variables))}, "
                  f"derived {sp.sstr(leading_term(derived, variables))}")
    detail += _alternate_note(printed, alternates, form)
    return Verdict(DISAGREES, detail, pe, de)


def _compare_tuples(printed: sp.Matrix, derived: sp.Matrix) -> Verdict:
    """Verdict for a printed tuple (e.g. a hyperparameter transformation) against the derived one."""
    if printed.shape == derived.shape and not numerically_nonzero(printed - derived) \
            and reduce_to_zero(printed - derived) == 0:
        return Verdict(AGREES, "every entry of the printed tuple equals the derived one")
    wrong = [f"{sp.sstr(p)} (derived {sp.sstr(q)})" for p, q in zip(printed, derived)
             if numerically_nonzero(p - q) or reduce_to_zero(p - q) != 0]
    return Verdict(DISAGREES, "entries that differ: " + "; ".join(wrong))


def _alternate_note(printed, alternates, form) -> str:
    for name, alt in (alternates or {}).items():
        if form == "exact" and not numerically_nonzero(printed - alt) and reduce_to_zero(printed - alt) == 0:
            return f"; the printed formula holds exactly under the {name} convention instead"
    return ""


def compare_identity(printed_residual: sp.Basic, printed_domain: dict, derived_residual: sp.Basic,
                     condition: str) -> Verdict:
    """Verdict for an identity the paper states (``printed_residual == 0`` over ``printed_domain``).

    ``printed_domain`` substitutes the derivation's restricted symbols by the paper's wider ones (e.g. a
    positive scale factor by a real one). The identity agrees when the residual vanishes over the paper's
    domain; otherwise it disagrees and the derived ``condition`` (under which ``derived_residual`` is
    proven zero) is the corrected form.
    """
    wide = sp.sympify(printed_residual).subs(printed_domain, simultaneous=True)
    if not numerically_nonzero(wide):
        wide = reduce_to_zero(wide)
    if wide == 0:
        return Verdict(AGREES, "the identity holds on the whole domain the paper states")
    if reduce_to_zero(derived_residual) != 0:
        return Verdict(DISAGREES, "the identity does not hold, and the derived condition was not proven")
    return Verdict(DISAGREES, f"holds only when {condition}; residual on the printed domain: {sp.sstr(wide)}")


def _fmt(exps: dict) -> str:
    return "(" + ", ".join(f"{k}^{v}" for k, v in exps.items()) + ")"
