"""Computed verdicts: compare a formula as the paper prints it with the formula as derived.

The comparison is done by SymPy, never typed by hand. It first finds the *level* at which the printed formula
holds:

1. ``exactly`` -- the difference reduces to zero;
2. ``to leading order`` -- the leading terms are equal in the regime the claim names: the small-step regime
   ``eta*lam -> 0`` (``eta -> h*eta``, ``lam -> h*lam``, ``h -> 0``, so that ``eta/lam`` is held fixed) and, where a
   claim names them, large variables such as the batch size ``B -> oo``;
3. ``in scaling`` -- the exponents of that leading term agree in each scaling variable;
4. ``not`` at all.

Then it compares that level with what the paper *asserts*: an equation asserts an exact equality (form
``'exact'``), an "approximately" or "+ O(.)" asserts the leading order (``'approx'``), an ``O(.)`` or a
proportionality asserts the scaling (``'order'``). The verdict agrees when the formula holds at least at the
asserted level; an exact equation that holds only to leading order *disagrees* with the statement, and the
verdict says which part holds (``Verdict.holds``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp

from .derivation import at_point, numerically_nonzero, reduce_to_zero
from .symbols import eta, lam

AGREES = "agrees exactly"
AGREES_LEADING = "agrees to leading order"
AGREES_SCALING = "agrees in scaling"
DISAGREES = "disagrees"
NOT_COMPARABLE = "not comparable"
VERDICT_KINDS = (AGREES, AGREES_LEADING, AGREES_SCALING, DISAGREES, NOT_COMPARABLE)

#: the levels at which a printed formula can hold, strongest first, and the form that asserts each
EXACTLY, LEADING, SCALING, NOT_AT_ALL = "exactly", "to leading order", "in scaling", "not"
LEVELS = (EXACTLY, LEADING, SCALING, NOT_AT_ALL)
ASSERTS = {"exact": EXACTLY, "identity": EXACTLY, "approx": LEADING, "order": SCALING}
_AGREEING_KIND = {EXACTLY: AGREES, LEADING: AGREES_LEADING, SCALING: AGREES_SCALING}

_h = sp.Symbol("h", positive=True)


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing the printed with the derived formula.

    ``kind`` is the verdict on the statement as the paper makes it; ``holds`` the strongest level at which the
    printed formula is true (``'exactly'``, ``'to leading order'``, ``'in scaling'``, ``'not'``, or ``''`` when
    no comparison was possible).
    """

    kind: str
    detail: str
    printed_exponents: dict[str, sp.Basic] = field(default_factory=dict)
    derived_exponents: dict[str, sp.Basic] = field(default_factory=dict)
    holds: str = ""

    @property
    def is_erratum(self) -> bool:
        """Whether this verdict says the paper is wrong (a finding, not a failure of the suite)."""
        return self.kind == DISAGREES

    @property
    def label(self) -> str:
        """``kind``, with the level that does hold when the statement disagrees (e.g. for tables).

        >>> Verdict(DISAGREES, "", holds=LEADING).label
        'disagrees (holds to leading order only)'
        """
        if self.kind == DISAGREES and self.holds in (LEADING, SCALING):
            return f"{self.kind} (holds {self.holds} only)"
        return self.kind


def verdict_for(holds: str, asserted: str, detail: str, pe=None, de=None) -> Verdict:
    """The verdict on a statement asserting ``asserted`` (a level) that holds at level ``holds``.

    >>> verdict_for(LEADING, EXACTLY, "").kind, verdict_for(LEADING, LEADING, "").kind
    ('disagrees', 'agrees to leading order')
    """
    agrees = LEVELS.index(holds) <= LEVELS.index(asserted)
    return Verdict(_AGREEING_KIND[holds] if agrees else DISAGREES, detail, pe or {}, de or {}, holds)


def _scaled(expr: sp.Basic, small=(eta, lam), large=()) -> sp.Basic:
    scale = {v: v * _h for v in small}
    scale.update({v: v / _h for v in large})
    return at_point(sp.sympify(expr), scale)


def leading_term(expr: sp.Basic, variables=(eta, lam), large=()) -> sp.Basic:
    """The leading term of ``expr`` when every variable in ``variables`` is scaled by ``h -> 0`` (and every one
    in ``large`` by ``1/h``), simplified where it holds a sum or a function. Memoized: a verdict asks for the same
    leading term up to three times.

    >>> leading_term(eta / (4*lam - 2*eta*lam**2))
    eta/(4*lamda)
    """
    return _leading_term(sp.sympify(expr), tuple(variables), tuple(large))


@lru_cache(maxsize=None)
def _leading_term(expr: sp.Basic, variables: tuple, large: tuple) -> sp.Basic:
    lead = sp.powsimp(sp.expand_power_base(lowest_order_term(_scaled(expr, variables, large), _h), force=True),
                      force=True)
    at_one = at_point(lead, {_h: 1})
    if at_one.has(sp.Add, sp.Function):       # a monomial of powers is left as powsimp writes it
        at_one = sp.simplify(at_one)
    return sp.powsimp(at_one, force=True)


def lowest_order_term(expr: sp.Basic, h: sp.Symbol) -> sp.Basic:
    """``expr.as_leading_term(h)`` as ``h -> 0``; for a rational function, from the lowest-order terms in ``h`` of
    its cancelled numerator and denominator (the same function, without the series machinery, which takes up to
    tens of times longer). The two forms may differ: use it where the term is then put in a normal form
    (``factor``'s, the same for equal rational functions; :func:`leading_term` simplifies it).

    >>> h = sp.Symbol("h", positive=True)
    >>> lowest_order_term((h * eta - 2 * h**2) / (4 * lam + h), h)
    eta*h/(4*lamda)
    """
    if not expr.is_rational_function():
        return expr.as_leading_term(h)
    num, den = sp.fraction(sp.cancel(expr))
    (k_num,), c_num = sp.Poly(num, h).terms()[-1]
    (k_den,), c_den = sp.Poly(den, h).terms()[-1]
    return c_num / c_den * h ** (k_num - k_den)


def limit_at_zero(expr: sp.Basic, h: sp.Symbol) -> sp.Basic:
    """``sp.limit(expr, h, 0)``; directly 0 where ``expr`` is a rational function of ``h`` whose cancelled
    denominator does not vanish at ``h = 0`` and whose numerator does (continuous there, with value 0).

    >>> h = sp.Symbol("h", positive=True)
    >>> limit_at_zero(h * eta / (lam + h), h), limit_at_zero(sp.sin(h) / h, h)
    (0, 1)
    """
    if expr.is_rational_function(h):
        num, den = sp.fraction(sp.cancel(expr))
        if sp.cancel(den.subs(h, 0)) != 0 and sp.cancel(num.subs(h, 0)) == 0:
            return sp.Integer(0)
    return sp.limit(expr, h, 0)


def log_derivative(expr: sp.Basic, v: sp.Symbol) -> sp.Basic:
    """``sp.simplify(v * d(log expr)/dv)``, the power of ``v`` in a monomial: ``cancel`` first, which gives that number
    at once (``simplify`` returns it too); ``simplify`` only when symbols are left.

    >>> log_derivative(3 * eta**2 / sp.sqrt(lam), lam), log_derivative(eta + lam, eta)
    (-1/2, eta/(eta + lamda))
    """
    e = v * sp.diff(sp.log(expr), v)
    quick = sp.cancel(e)
    return quick if quick.is_Number else sp.simplify(e)


def power_of(lead: sp.Basic, v: sp.Symbol) -> sp.Basic:
    """The power of ``v`` in ``lead``: ``v d(log lead)/dv`` when that is a constant, else ``nan``.

    ``cancel`` gives the number at once for a monomial. Otherwise, when the log-derivative visibly takes two values
    (:func:`_varies`) it is no constant and ``simplify`` could not make it one; only the rest is simplified.

    >>> power_of(3 * eta**2 / sp.sqrt(lam), lam), power_of(eta + lam, eta)
    (-1/2, nan)
    """
    e = v * sp.diff(sp.log(lead), v)
    quick = sp.cancel(e)
    if quick.is_Number:
        return quick
    if _varies(quick):
        return sp.nan
    e = sp.simplify(e)
    return e if not e.free_symbols else sp.nan


def _varies(expr: sp.Basic, seed: int = 1706_05350) -> bool:
    """True when ``expr`` takes two clearly different finite values at two random admissible points (so it is no
    constant); False when that is not seen (a point where it is not finite, or equal values)."""
    import random
    rng = random.Random(seed)
    values = []
    for _ in range(2):
        point = {s: sp.Rational(rng.randint(1, 97), 97) if s.is_positive else sp.Rational(rng.randint(-300, 300), 100)
                 for s in expr.free_symbols}
        try:
            values.append(complex(sp.N(at_point(expr, point), 30)))
        except (TypeError, ValueError, ZeroDivisionError):
            return False
    a, b = values
    finite = all(x == x and abs(x) != float("inf") for x in values)
    return finite and abs(a - b) > 1e-9 * (1 + abs(a) + abs(b))


def exponents(expr: sp.Basic, variables=(eta, lam), large=()) -> dict[str, sp.Basic]:
    """The power of each variable in the leading term of ``expr`` (``nan`` where it is not a power law).

    >>> exponents((eta/lam)**sp.Rational(1, 4))
    {'eta': 1/4, 'lamda': -1/4}
    """
    lead = leading_term(expr, variables, large)
    out = {}
    for v in variables:
        out[str(v)] = power_of(lead, v)
    return out


def _equal(a: sp.Basic, b: sp.Basic) -> bool:
    return not numerically_nonzero(a - b) and reduce_to_zero(a - b) == 0


def _is_one(ratio: sp.Basic) -> bool:
    """Whether ``sp.simplify(ratio) == 1``, without ``simplify`` where ``cancel`` already gives 1 (``simplify``
    returns that form too) or where the ratio visibly differs from 1 at a point (no form of it is then 1).

    >>> _is_one(eta * lam / (lam * eta)), _is_one(2 * eta / eta)
    (True, False)
    """
    if sp.cancel(ratio) == 1:
        return True
    if numerically_nonzero(ratio - 1):
        return False
    return sp.simplify(ratio) == 1


def _regime(variables, large) -> str:
    parts = [", ".join(map(str, variables)) + " -> 0 together"] if variables else []
    parts += [f"{v} -> oo" for v in large]
    return " and ".join(parts)


def compare_formula(printed: sp.Basic, derived: sp.Basic, form: str = "exact", variables=(eta, lam),
                    alternates: dict[str, sp.Basic] | None = None, large=()) -> Verdict:
    """Verdict for a printed formula (``form`` 'exact', 'approx' or 'order') against the derived one.

    ``alternates`` maps a convention name to the derived formula under that convention; when the printed
    form disagrees with the canonical derivation but matches an alternate one exactly, the detail says so.
    ``large`` names variables whose leading order is taken as they grow (e.g. the batch size).

    >>> compare_formula(eta/lam, 2*eta/lam, "order").kind
    'agrees in scaling'
    >>> compare_formula(eta/lam, 2*eta/lam, "exact").label
    'disagrees (holds in scaling only)'
    """
    if isinstance(printed, sp.MatrixBase) or isinstance(derived, sp.MatrixBase):
        return _compare_tuples(sp.Matrix(printed), sp.Matrix(derived))
    asserted = ASSERTS[form]
    regime = (tuple(variables), tuple(large))
    pe, de = (exponents(printed, *regime), exponents(derived, *regime)) if variables else ({}, {})
    if _equal(printed, derived):
        return verdict_for(EXACTLY, asserted, "the printed formula equals the derived one", pe, de)
    note = _alternate_note(printed, alternates)
    if not variables and not large:
        return verdict_for(NOT_AT_ALL, asserted, f"the printed formula differs from the derived one: printed "
                           f"{show(printed)}, derived {show(derived)}{note}", pe, de)
    ratio = leading_term(printed, *regime) / leading_term(derived, *regime)
    if _is_one(ratio):
        return verdict_for(LEADING, asserted, f"equal leading terms as {_regime(*regime)}; they differ beyond "
                           f"leading order (printed/derived = {show(sp.simplify(printed / derived))}){note}",
                           pe, de)
    if pe and pe == de and all(v is not sp.nan for v in pe.values()):
        return verdict_for(SCALING, asserted, f"same exponents {_fmt(de)}; printed/derived leading ratio = "
                           f"{show(sp.simplify(ratio))}{note}", pe, de)
    if pe and all(v is not sp.nan for v in list(pe.values()) + list(de.values())):
        detail = f"printed exponents {_fmt(pe)}, derived {_fmt(de)}"
    else:
        detail = (f"leading terms differ: printed {show(leading_term(printed, *regime))}, derived "
                  f"{show(leading_term(derived, *regime))}")
    return verdict_for(NOT_AT_ALL, asserted, detail + note, pe, de)


def _compare_tuples(printed: sp.Matrix, derived: sp.Matrix) -> Verdict:
    """Verdict for a printed tuple (e.g. a hyperparameter transformation) against the derived one."""
    if printed.shape == derived.shape and _equal(printed, derived):
        return Verdict(AGREES, "every entry of the printed tuple equals the derived one", holds=EXACTLY)
    wrong = [f"{show(p)} (derived {show(q)})" for p, q in zip(printed, derived) if not _equal(p, q)]
    return Verdict(DISAGREES, "entries that differ: " + "; ".join(wrong), holds=NOT_AT_ALL)


def _alternate_note(printed, alternates) -> str:
    for name, alt in (alternates or {}).items():
        if _equal(printed, alt):
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
        return Verdict(AGREES, "the identity holds on the whole domain the paper states", holds=EXACTLY)
    if reduce_to_zero(derived_residual) != 0:
        return Verdict(DISAGREES, "the identity does not hold, and the derived condition was not proven",
                       holds=NOT_AT_ALL)
    return Verdict(DISAGREES, f"holds only when {condition}; residual on the printed domain: "
                   f"{show(canonical(wide))}", holds=NOT_AT_ALL)


def judged(holds: bool, detail: str, partial: str = "") -> Verdict:
    """The verdict on a statement made in words, from the derivation's computed truth value.

    ``partial`` names what does hold when the statement as made does not.
    """
    if holds:
        return Verdict(AGREES, detail, holds=EXACTLY)
    return Verdict(DISAGREES, detail + (f"; what holds: {partial}" if partial else ""), holds=NOT_AT_ALL)


def show(expr) -> str:
    """``expr`` as a string, the same under every hash seed (:func:`canonical` first); a matrix as the tuple of its
    entries, on one line.

    >>> show(sp.Matrix([eta / 2, lam**2]))
    '(eta/2, lamda**2)'
    """
    if isinstance(expr, sp.MatrixBase):
        return "(" + ", ".join(show(entry) for entry in expr) + ")"
    return sp.sstr(canonical(expr))


def canonical(expr: sp.Basic) -> sp.Basic:
    """``expr`` with the sign of every sum inside a product fixed: each such sum's first term (in SymPy's
    canonical order, which does not depend on the hash seed) gets a positive coefficient, the product's sign
    compensating. Factorizations that differ only in such signs then print the same under any hash seed.

    >>> a, b = sp.symbols('a b', real=True)
    >>> canonical(-(b - a)*(a + b)) == canonical((a - b)*(a + b))
    True
    """
    expr = sp.sympify(expr)
    if not isinstance(expr, sp.Basic) or expr.is_Atom:
        return expr
    args = [canonical(a) for a in expr.args]
    if not expr.is_Mul:
        return expr.func(*args) if args else expr
    sign, factors = 1, []
    for factor in args:
        base, power = factor.as_base_exp()
        if base.is_Add and power.is_integer and base.as_ordered_terms()[0].could_extract_minus_sign():
            factor = (-base) ** power
            sign *= (-1) ** power
        factors.append(factor)
    return sign * sp.Mul(*factors)


def _fmt(exps: dict) -> str:
    return "(" + ", ".join(f"{k}^{v}" for k, v in exps.items()) + ")"
