"""Display forms of SymPy results: expressions equal to the canonical ones, shaped for reading.

SymPy's canonical form spreads a root over every factor: ``(eta/lambda)**(1/4)`` is stored as
``eta**(1/4)*lambda**(-1/4)`` and printed as a fraction of two fourth roots; a steady-state norm becomes a product of
five radicals; ``sqrt(eta*lambda*(1 - eta*lambda))`` comes out as ``sqrt(eta)*sqrt(lamda)/sqrt(-1/(eta*lamda - 1))``.
A display form is built from unevaluated SymPy nodes, so it stays an expression that is compared with the canonical
one, and it gathers the fractional powers of a product under one root with the fraction inside, writes sums with
their positive terms first and with the sign that makes them positive.

Two strengths:

* :func:`display_form` is equal to the canonical expression for every value the symbols' assumptions allow
  (:func:`equals_canonical`): a base joins a root only when SymPy knows it is positive.
* :func:`readable` is equal to it in the *regime* the claims are stated in (:data:`REGIME`: a small step
  ``eta*lambda <= 0.1``, decay rates in (0, 1), batches larger than 3, ...): a base that is positive throughout the
  regime (``1 - eta*lambda``, ``B - 3``) joins a root too, which SymPy cannot know from assumptions. It is checked
  by :func:`equal_in_regime` (numerically, at random points of the regime, to 30 digits), and the report uses it
  for every formula it prints (``reports.latex.readable_latex``); tests check every formula of the registry.
"""
from __future__ import annotations

import random
from functools import lru_cache, reduce

import sympy as sp

#: the regime of the claims, by symbol name: (low, high) of each positive symbol's values (others: (0.05, 3), with
#: a random sign unless the symbol is declared positive)
REGIME = {
    "eta": (1e-3, 1.0), "eta_2": (1e-3, 1.0), "eta_star": (1e-3, 1.0),
    "lamda": (1e-4, 0.1), "lamda_prime": (1e-4, 0.1), "c_L2": (1e-4, 0.1),
    "rho": (0.05, 0.99), "beta1": (0.05, 0.99), "beta2": (0.05, 0.99),
    "B": (4, 512), "d": (1, 512), "n": (2, 1000), "inv_n": (1e-3, 0.5), "log_n": (0.7, 7.0),
    "alpha": (0.1, 10.0), "t": (1, 1000),
}
POINTS = 8


class Shaper:
    """The display-form rewrites, given which bases count as positive (``positive(expr) -> bool``)."""

    def __init__(self, positive):
        self.positive = positive

    def form(self, expr):
        """An expression equal to ``expr`` (where ``positive`` is right), one root per product, positive sums."""
        if expr is None:
            return None
        if isinstance(expr, sp.MatrixBase):
            return sp.ImmutableMatrix(expr.shape[0], expr.shape[1], [self.form(e) for e in expr])
        if isinstance(expr, (tuple, list)):
            return type(expr)(self.form(e) for e in expr)
        expr = sp.sympify(expr)
        if isinstance(expr, sp.Tuple):
            return sp.Tuple(*[self.form(e) for e in expr])
        if isinstance(expr, sp.Equality):
            return sp.Eq(self.form(expr.lhs), self.form(expr.rhs), evaluate=False)
        if not isinstance(expr, sp.Expr) or expr.is_Atom:
            return expr
        if expr.is_Add:
            return self.ordered_sum([self.form(a) for a in expr.args])
        if expr.is_Mul or (expr.is_Pow and expr.exp.is_Rational):
            return self.grouped_product(expr)
        if isinstance(expr, sp.Derivative) or not expr.args or not all(isinstance(a, sp.Expr) for a in expr.args):
            return expr
        try:
            return expr.func(*[self.form(a) for a in expr.args], evaluate=False)
        except TypeError:   # a function without evaluate= (betainc_regularized, ...)
            return expr.func(*[self.form(a) for a in expr.args])

    def ordered_sum(self, terms):
        """A sum in reading order: by ascending total degree, a positive term first (``1 - 8 eta lam + ...``)."""
        ordered = sorted(terms, key=_degree)
        positive = next((t for t in ordered if not t.could_extract_minus_sign()), None)
        if positive is not None and ordered[0].could_extract_minus_sign():
            ordered.remove(positive)
            ordered.insert(0, positive)
        return sp.Add(*ordered, evaluate=False)

    def grouped_product(self, expr):
        """``expr`` (a product or a power) with its fractional powers gathered under one ``q``-th root."""
        outside, roots = [], []
        for factor in sp.Mul.make_args(expr):
            base, exp = factor.as_base_exp()
            if exp.is_Rational and not exp.is_Integer:
                roots.append((self.positive_sums(base), exp))
            else:
                outside.append(factor)
        if not roots:
            return _product([self.plain_factor(f) for f in sp.Mul.make_args(self.positive_sums(expr))])
        roots, apart, q = self.combinable(roots)
        coefficient = sp.Mul(*[f for f in outside if f.is_Rational])
        others = [f for f in outside if not f.is_Rational] + [sp.Pow(self.form(b), e, evaluate=False)
                                                              for b, e in apart]
        symbolic_root = any(not b.is_Number for b, _ in roots)
        if symbolic_root and coefficient.is_positive and coefficient != 1 and any(b.is_Number for b, _ in roots):
            roots.append((coefficient, sp.Integer(1)))   # 2**(3/4)/2 reads better as one root of 1/2
            coefficient = sp.Integer(1)
        root = self.root(sp.Mul(*[base ** (exp * q) for base, exp in roots]), q) if roots else sp.Integer(1)
        factors = ([coefficient] if coefficient != 1 else []) + [self.plain_factor(f) for f in others] + [root]
        return _product(factors)

    def combinable(self, roots):
        """Split ``(base, exponent)`` pairs into those one ``q``-th root may hold, the rest, and ``q``.

        With principal branches, ``x**a * y**b == (x**(a*q) * y**(b*q))**(1/q)`` holds for positive bases; a base
        of unknown sign may join only once, and only with the exponent exactly ``1/q`` (``sqrt(x)`` is not
        ``root4(x**2)`` for negative ``x``, nor ``1/sqrt(x)`` ``sqrt(1/x)``). Other bases keep their own power.
        """
        positive = [(b, e) for b, e in roots if self.positive(b)]
        q = reduce(sp.ilcm, [e.q for _, e in positive], 1)
        together, apart, joined = list(positive), [], False
        for base, exp in roots:
            if (base, exp) in positive:
                continue
            q_try = sp.ilcm(q, exp.q)
            if not joined and exp == sp.Rational(1, q_try):
                together.append((base, exp))
                q, joined = q_try, True
            else:
                apart.append((base, exp))
        return together, apart, q

    def positive_sums(self, expr):
        """``expr`` (a product) with each sum raised to an odd power written with the sign that makes it positive
        (or, when its sign is not known, with a positive leading term)."""
        sign, factors = 1, []
        for factor in sp.Mul.make_args(expr):
            base, exp = factor.as_base_exp()
            if base.is_Add and exp.is_Integer and self.reads_negated(base):
                factors.append((-base) ** exp)
                sign *= sp.Integer(-1) ** exp
            else:
                factors.append(factor)
        return sign * sp.Mul(*factors)

    def reads_negated(self, total) -> bool:
        """Whether a sum reads better negated: it is negative (``3 - B``), or, its sign unknown, its constant term
        is negative (``rho - 1`` -> ``1 - rho``)."""
        if self.positive(total):
            return False
        if self.positive(-total):
            return True
        constant, _ = total.as_coeff_Add()
        return bool(constant < 0) if constant != 0 else total.could_extract_minus_sign()

    def readable_radicand(self, radicand):
        """The radicand with its signs made positive, factored when that makes it shorter (same value)."""
        plain = self.positive_sums(radicand)
        if any(not e.is_Integer for _, e in (f.as_base_exp() for f in sp.preorder_traversal(plain) if f.is_Pow)):
            return plain
        factored = self.positive_sums(sp.factor(plain))
        return factored if sp.count_ops(factored) < sp.count_ops(plain) else plain

    def root(self, radicand, q: int):
        """The ``q``-th root of ``radicand`` as one radical; ``1/root(x)`` when the radicand is ``1/x``."""
        radicand = self.readable_radicand(radicand)
        numerator, denominator = sp.fraction(radicand)
        if numerator == 1 and denominator != 1 and self.positive(denominator):
            return sp.Pow(self.root(denominator, q), -1, evaluate=False)
        shown = _product([self.plain_factor(f) for f in sp.Mul.make_args(radicand)])
        return sp.Pow(shown, sp.Rational(1, q), evaluate=False)

    def plain_factor(self, factor):
        """A factor with integer power: its base displayed, the power kept."""
        base, exp = factor.as_base_exp()
        if exp == 1:
            return self.form(base) if not base.is_Atom else base
        if base.is_Atom:
            return factor
        return sp.Pow(self.form(base), exp, evaluate=False)


def _degree(term) -> int:
    try:
        return int(sp.Poly(term).total_degree())
    except (sp.PolynomialError, sp.GeneratorsNeeded, ValueError, TypeError):
        return 0


def _product(factors):
    """An unevaluated product in reading order: numbers, then SymPy's usual order, radicals last."""
    factors = [f for f in factors if f != 1]
    roots = [f for f in factors if f.is_Pow and not f.exp.is_Integer]
    plain = [f for f in factors if f not in roots]
    factors = sorted(plain, key=lambda f: (not f.is_Number, sp.default_sort_key(f))) + roots
    if not factors:
        return sp.Integer(1)
    if len(factors) == 1:
        return factors[0]
    return sp.Mul(*factors, evaluate=False)


def _componentwise(display, canonical, equal) -> bool | None:
    """``equal`` applied to each part when the objects are containers or equations (None for a plain expression,
    True or False for two Nones or one): the structure shared by the two equality tests below."""
    if canonical is None or display is None:
        return canonical is None and display is None
    if isinstance(canonical, sp.MatrixBase) and getattr(display, "shape", None) != canonical.shape:
        return False
    if isinstance(canonical, (tuple, list, sp.Tuple, sp.MatrixBase)):
        display, canonical = list(display), list(canonical)
        return len(display) == len(canonical) and all(equal(a, b) for a, b in zip(display, canonical))
    if isinstance(canonical, sp.Equality):
        return equal(display.lhs, canonical.lhs) and equal(display.rhs, canonical.rhs)
    return None


def _cancels(display, canonical):
    """``(difference, True)`` when the difference cancels symbolically, else ``(difference, False)``."""
    difference = sp.sympify(display).doit() - sp.sympify(canonical)
    return difference, difference == 0 or sp.cancel(difference) == 0


def equals_canonical(display, canonical, points: int = 6, seed: int = 1706) -> bool:
    """Whether a display form is the same mathematical object as the canonical expression.

    SymPy first (the difference cancels, or ``simplify`` proves it zero for small differences); when it cannot
    decide, the two are compared at ``points`` random points, each symbol drawn from (0.05, 3), with a random
    sign unless it is declared positive, to 30 significant digits, complex values included (so a rewrite that
    is only true on part of the domain, across a branch cut, fails).
    """
    parts = _componentwise(display, canonical, lambda a, b: equals_canonical(a, b, points, seed))
    if parts is not None:
        return parts
    difference, cancels = _cancels(display, canonical)
    if cancels or (sp.count_ops(difference) < 40 and sp.simplify(difference) == 0):
        return True
    try:
        return _numerically_equal(sp.sympify(display).doit(), sp.sympify(canonical), points, seed)
    except TypeError:  # not a number at a point (an undefined function, say): SymPy must decide
        return sp.simplify(difference) == 0


def _numerically_equal(a, b, points: int, seed: int) -> bool:
    import random
    rng = random.Random(seed)
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    for _ in range(points):
        at = {s: sp.Rational(rng.randint(5, 300), 100) * (1 if s.is_positive or rng.random() < 0.5 else -1)
              for s in symbols}
        x, y = complex(sp.N(a.subs(at), 30)), complex(sp.N(b.subs(at), 30))
        if abs(x - y) > 1e-20 * max(1.0, abs(x), abs(y)):
            return False
    return True


# ---- the regime ----------------------------------------------------------------------------------------------

def regime_point(symbols, rng: random.Random) -> dict:
    """Random values of ``symbols`` inside :data:`REGIME` (exact rationals; log-uniform over wide ranges)."""
    point = {}
    for s in symbols:
        low, high = REGIME.get(s.name, (0.05, 3.0))
        value = low * (high / low) ** rng.random() if high / low > 20 else low + (high - low) * rng.random()
        if getattr(s, "is_integer", False):
            value = max(round(value), int(low))
        sign = 1 if s.is_positive or s.is_nonnegative or rng.random() < 0.5 else -1
        point[s] = sign * sp.Rational(value).limit_denominator(10**6)
    return point


def _values(expr, points: int, seed: int):
    rng = random.Random(seed)
    symbols = sorted(expr.free_symbols, key=str)
    for _ in range(points):
        yield complex(sp.N(expr.subs(regime_point(symbols, rng)), 30))


@lru_cache(maxsize=4096)
def regime_positive(expr) -> bool:
    """Whether ``expr`` is real and positive throughout the regime: known positive, or at every one of
    ``POINTS`` random points of it (a display decision only; :func:`equal_in_regime` checks the outcome)."""
    if expr.is_positive:
        return True
    if expr.is_nonpositive or not expr.free_symbols or not all(s.is_real for s in expr.free_symbols):
        return False
    try:
        return all(v.imag == 0 and v.real > 0 for v in _values(expr, POINTS, seed=5350))
    except (TypeError, ValueError, ZeroDivisionError):
        return False


def equal_in_regime(display, canonical, points: int = POINTS, seed: int = 1706) -> bool:
    """Whether a display form equals the canonical expression in the regime: their difference cancels, or they
    agree to 1e-20 (relative) at ``points`` random points of :data:`REGIME`, complex values included."""
    parts = _componentwise(display, canonical, lambda a, b: equal_in_regime(a, b, points, seed))
    if parts is not None:
        return parts
    difference, cancels = _cancels(display, canonical)
    if cancels:
        return True
    try:
        return all(abs(v) <= 1e-20 * max(1.0, abs(w)) for v, w in zip(_values(difference, points, seed),
                                                                        _values(sp.sympify(canonical), points, seed)))
    except TypeError:   # not a number at a point (an undefined function): SymPy must decide
        return sp.simplify(difference) == 0


# ---- the two display forms --------------------------------------------------------------------------------------

EVERYWHERE = Shaper(lambda base: bool(base.is_positive))
IN_REGIME = Shaper(lambda base: bool(base.is_positive) or (isinstance(base, sp.Expr) and regime_positive(base)))


def display_form(expr):
    """An expression equal to ``expr`` for every value the assumptions allow, shaped for reading.

    >>> eta, lam = sp.symbols("eta lambda", positive=True)
    >>> sp.latex(display_form((eta / lam) ** sp.Rational(1, 4)))
    '\\\\sqrt[4]{\\\\frac{\\\\eta}{\\\\lambda}}'
    """
    return EVERYWHERE.form(expr)


def readable(expr):
    """An expression equal to ``expr`` in the claims' regime (:data:`REGIME`), shaped for reading; the
    everywhere-equal :func:`display_form` when the regime form does not check out.

    >>> eta, lam, C = sp.symbols("eta lamda C", positive=True)
    >>> sp.sstr(readable(2 * sp.sqrt(eta) * sp.sqrt(lam) / (sp.sqrt(C) * sp.sqrt(-1 / (eta * lam - 1)))), order="none")
    '2*sqrt(eta*lamda*(1 - eta*lamda)/C)'
    """
    if expr is None:
        return None
    shown = IN_REGIME.form(expr)
    return shown if equal_in_regime(shown, expr) else EVERYWHERE.form(expr)
