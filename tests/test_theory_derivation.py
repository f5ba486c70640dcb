"""``theory.derivation``'s zero tests: a residual is 0 exactly when it is, whichever reducer shows it.

Differential against SymPy's ``simplify`` (the trusted, slow reference): the fast paths (``expand``, the numerator
of the ``together`` form, ``cancel``) may only ever answer 0 where ``simplify`` does.
"""
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from normlaws.theory.derivation import reduce_to_zero, simplified

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
    """``P/Q - P R/(Q R)`` is 0; ``P/Q - (P + k y)/Q`` never is (k != 0)."""
    P, Q, R = _poly(p), _poly(q), _poly(r)
    assert reduce_to_zero(P / Q - (P * R) / (Q * R)) == 0
    assert reduce_to_zero(P / Q - (P + k * y) / Q) != 0
