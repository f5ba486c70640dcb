"""``theory.derivation``'s zero tests: a residual is 0 exactly when it is, whichever reducer shows it.

Differential against SymPy's ``simplify`` (the trusted, slow reference): the fast paths (``expand``, the numerator
of the ``together`` form, ``cancel``) may only ever answer 0 where ``simplify`` does.
"""
import pytest
import sympy as sp
from hypothesis import assume, given, strategies as st

from normlaws.theory.derivation import reduce_to_zero, simplified
from normlaws.theory.invariance import definite

x, y = sp.symbols("x y", positive=True)
u = sp.Symbol("u", real=True)

ZERO = [(x**2 - 1) / (x - 1) - x - 1, sp.sqrt(x**2) - x, 1 / (x + y) - y / (x * y + y**2),
        x * sp.sqrt(y**2 / x**2 + 1) - sp.sqrt(x**2 + y**2), (u**2 - 1) / (u + 1) - u + 1]
NONZERO = [(x**2 - 1) / (x - 1) - x, 1 / (x + y) - 1 / x, sp.sqrt(u**2) - u, x * sp.sqrt(y**2 / x**2 + 1) - y - x,
           (u**2 - 1) / (u + 1) - u]


@pytest.mark.parametrize("expr", ZERO, ids=str)
def test_a_zero_residual_reduces_to_zero(expr):
    assert sp.simplify(expr) == 0          # the reference agrees that it is zero
    assert reduce_to_zero(expr) == 0 and simplified(expr) == 0


@pytest.mark.parametrize("expr", NONZERO, ids=str)
def test_a_nonzero_residual_stays_nonzero(expr):
    assert sp.simplify(expr) != 0
    assert reduce_to_zero(expr) != 0 and simplified(expr) != 0


def test_a_matrix_is_zero_only_when_every_entry_is():
    assert reduce_to_zero(sp.Matrix([ZERO[0], ZERO[2]])) == 0
    assert reduce_to_zero(sp.Matrix([ZERO[0], NONZERO[1]])) != 0
    assert simplified(sp.Matrix([ZERO[0], NONZERO[1]])) != sp.zeros(2, 1)


_coefficients = st.lists(st.integers(-3, 3), min_size=3, max_size=3).filter(any)


def _poly(c):
    return c[0] + c[1] * x + c[2] * x * y


@given(_coefficients, _coefficients, _coefficients, st.integers(1, 3))
def test_rational_functions_differ_exactly_when_their_cross_products_do(p, q, r, k):
    """``P/Q - P R/(Q R)`` is 0 (the products expanded, so that SymPy does not cancel them as it builds them);
    ``P/Q - (P + k y)/Q`` never is (k != 0)."""
    P, Q, R = _poly(p), _poly(q), _poly(r)
    zero = P / Q - sp.expand(P * R) / sp.expand(Q * R)
    assert reduce_to_zero(zero) == 0
    assert reduce_to_zero(P / Q - (P + k * y) / Q) != 0
    assume(zero != 0)          # the examples Hypothesis keeps are those the reducers, not SymPy's constructor, decide


# ---- definite integrals from checked antiderivatives (theory.invariance.definite) ------------------------------

t = sp.Symbol("t", positive=True)


@pytest.mark.parametrize("integrand, antiderivative, low, high", [
    (t * sp.exp(-t**2 / 2), -sp.exp(-t**2 / 2), 0, sp.oo),
    (sp.cos(t), sp.sin(t), 0, sp.pi / 6),
    (1 / (1 + t**2), sp.atan(t), 0, sp.oo),
    (1 / (t * (t + 1)), sp.log(t) - sp.log(t + 1), 1, sp.oo),            # the terms' limits do not add up: oo - oo
    (t**2 * sp.exp(-t**2 / 2), sp.sqrt(sp.pi / 2) * sp.erf(t / sp.sqrt(2)) - t * sp.exp(-t**2 / 2), 0, sp.oo),
])
def test_definite_agrees_with_integrate(integrand, antiderivative, low, high):
    assert sp.simplify(sp.diff(antiderivative, t) - integrand) == 0       # the premise: F' is the integrand
    assert sp.simplify(definite(antiderivative, t, low, high) - sp.integrate(integrand, (t, low, high))) == 0


def test_definite_refuses_a_divergent_integral():
    with pytest.raises(ValueError):
        definite(sp.log(t), t, 0, 1)                                       # int_0^1 dt/t diverges
