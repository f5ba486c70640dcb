"""A derivation: the steps that lead to a result, and the residuals that prove it.

A ``Derivation`` holds the derived formula (``result``), human-readable ``steps`` (text and a SymPy
expression each) and ``proofs``: SymPy expressions that must reduce to exactly zero for the derivation to
hold. ``check()`` reduces them with targeted simplification and returns the ones that do not vanish.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp


@dataclass(frozen=True)
class Step:
    """One line of a derivation: what was done, and the expression it gave."""

    text: str
    expr: sp.Basic | None = None


@dataclass
class Derivation:
    """The derived formula of a claim, the steps to it, and the zero-residuals that prove it."""

    result: sp.Basic
    steps: list[Step] = field(default_factory=list)
    proofs: dict[str, sp.Basic] = field(default_factory=dict)
    #: the derived statement in words (the corrected form, when the paper differs)
    summary: str = ""
    #: extra named results (e.g. leading order, exponents) for reports and numeric legs
    extras: dict[str, sp.Basic] = field(default_factory=dict)

    def check(self) -> dict[str, sp.Basic]:
        """Reduce every proof residual; return ``{name: residual}`` for those that are not exactly zero."""
        return {name: res for name, res in self.proofs.items() if reduce_to_zero(res) != 0}


def numerically_nonzero(expr: sp.Basic, tries: int = 2, seed: int = 1706_05350) -> bool:
    """True when ``expr`` is visibly nonzero at a random admissible point (so no identity can hold).

    Positive symbols get values in (0, 1] (decay rates such as rho, beta must stay below 1; eta*lam small is
    the regime of interest), other real symbols values in [-3, 3]. A point where the expression is not finite
    proves nothing and is skipped.

    >>> import sympy as sp
    >>> x = sp.Symbol('x', positive=True)
    >>> numerically_nonzero(sp.sqrt(x**2) - x), numerically_nonzero(x - 2*x)
    (False, True)
    """
    import random
    rng = random.Random(seed)
    expr = sp.sympify(expr)
    if isinstance(expr, sp.Equality):
        expr = expr.lhs - expr.rhs
    entries = list(expr) if isinstance(expr, sp.MatrixBase) else [expr]
    for _ in range(tries):
        point = {s: sp.Rational(rng.randint(1, 97), 97) if s.is_positive else sp.Rational(rng.randint(-300, 300), 100)
                 for s in set().union(*(e.free_symbols for e in entries))}
        for entry in entries:
            try:
                value = complex(sp.N(at_point(entry, point), 30))
            except (TypeError, ValueError, ZeroDivisionError):
                continue
            if value == value and abs(value) != float("inf") and abs(value) > 1e-20:
                return True
    return False


def at_point(expr: sp.Basic, point: dict) -> sp.Basic:
    """``expr.subs(point, simultaneous=True)`` for a ``point`` mapping symbols, by ``xreplace``: much faster, the
    same expression (both rebuild the tree with evaluation). ``subs`` where ``expr`` has a derivative, integral or sum,
    whose bound variable ``xreplace`` would replace too, or where a key is no symbol (``subs`` matches it
    algebraically).

    >>> x, y = sp.symbols('x y', positive=True)
    >>> at_point(sp.sqrt(x**2 * y), {x: 2*y, y: x})
    2*sqrt(x)*y
    """
    if expr.has(sp.Derivative, sp.Subs, sp.Integral, sp.Sum, sp.Product, sp.Lambda) or \
            not all(isinstance(k, sp.Symbol) for k in point):
        return expr.subs(point, simultaneous=True)
    return expr.xreplace(point)


def reduce_to_zero(expr: sp.Basic) -> sp.Basic:
    """Reduce ``expr`` with targeted simplification (``expand``, the numerator over a common denominator,
    ``cancel``, ``powsimp``, ``radsimp``), ``simplify`` last: 0 at the first that gives 0, else ``simplify``'s form.
    Memoized: claims that share a derivation share its proof residuals.

    >>> import sympy as sp
    >>> x = sp.Symbol('x', positive=True)
    >>> reduce_to_zero(sp.sqrt(x**2) - x)
    0
    """
    if isinstance(expr, sp.MatrixBase):
        reduced = sp.Matrix(expr.shape[0], expr.shape[1], [reduce_to_zero(e) for e in expr])
        return sp.Integer(0) if reduced.is_zero_matrix else reduced
    if isinstance(expr, sp.Equality):
        expr = expr.lhs - expr.rhs
    return _reduce(sp.sympify(expr))


def simplified(expr: sp.Basic) -> sp.Basic:
    """``sp.simplify(expr)``, without its cost where ``expr`` is zero as a rational function of its atoms (every entry,
    for a matrix): ``simplify`` tries ``cancel`` among its forms and returns that zero too. For proof residuals.

    >>> import sympy as sp
    >>> x = sp.Symbol('x', positive=True)
    >>> simplified((x**2 - 1)/(x - 1) - x - 1), simplified(sp.Matrix([x - x, 0]))
    (0, Matrix([
    [0],
    [0]]))
    """
    if isinstance(expr, sp.MatrixBase):
        if all(_zero_as_rational_function(e) for e in expr):
            return sp.ImmutableMatrix.zeros(*expr.shape)
    elif _zero_as_rational_function(expr):
        return sp.Integer(0)
    return sp.simplify(expr)


def _zero_as_rational_function(expr: sp.Basic) -> bool:
    """Whether ``expr`` is 0 as a rational function of its atoms: its ``expand`` is 0, or :func:`together_numerator` is
    (no gcd to compute, unlike ``cancel``: a third of the time on the registry's residuals, and the same answers)."""
    return sp.expand(expr) == 0 or together_numerator(expr) == 0


def together_numerator(expr: sp.Basic) -> sp.Basic:
    """The expanded numerator of ``expr``'s ``together`` form: 0 exactly when ``expr`` is 0 (where it is defined)."""
    return sp.expand(sp.numer(sp.together(expr)))


@lru_cache(maxsize=None)
def _reduce(expr: sp.Basic) -> sp.Basic:
    if expr == 0:
        return sp.Integer(0)
    for reducer in (sp.expand, together_numerator, sp.cancel, lambda e: sp.cancel(sp.powsimp(sp.powdenest(e, force=False))),
                    lambda e: sp.cancel(sp.together(sp.radsimp(e))), sp.simplify):
        reduced = reducer(expr)
        if reduced == 0:
            return sp.Integer(0)
    return reduced
