"""The window identity of ``theory.windows`` against a direct simulation of the moment model it is derived from:
a path that starts far from stationarity, whose boundary terms are large, obeys the corrected ratios to the noise's
cross terms, while the stationary ratios miss it by the size of the correction. The identity is exact but for the
zero-mean cross terms ``<M x_t, b e_t>``: relative to the ratio they are of order ``2/sqrt(T d (1 - a^2))`` (about
0.02 for SGD at T = 200, d = 4000, eta lam = 0.005), against stationary misses of 0.15-0.8; the corrected ratio must
come within a tenth of the miss."""
import numpy as np
import pytest
import sympy as sp

from normlaws.theory import moments
from normlaws.theory import symbols as S
from normlaws.theory.windows import boundary_coefficients, lion_chord_coefficient

VALUES = {"eta": 0.1, "lam": 0.05, "rho": 0.9, "beta1": 0.9, "c": 0.5}   # c: the coupled rules' c_L2


SYMBOLS = {"eta": S.eta, "lam": S.lam, "rho": S.rho, "beta1": S.beta1, "c": moments.c_l2}


def numeric(matrix):
    return np.array(sp.Matrix(matrix).subs({SYMBOLS[k]: v for k, v in VALUES.items()}).evalf(), dtype=float)


def run_path(rule, steps=200, d=4000, start_scale=10.0, seed=0):
    """The model ``x' = M x + b e`` per coordinate, ``e`` standard normal (so ``q = 1``): the summed moments, the
    noise power, the chord of the readout and the boundary ``D``, all divided by ``sum N``."""
    model = moments.MODELS[rule]
    M, b, T = numeric(model.M), numeric(model.b).ravel(), numeric(model.T).ravel()
    star = numeric(moments.stationary_moments(rule))
    rng = np.random.default_rng(seed)
    x = np.linalg.cholesky(star + 1e-12 * np.eye(len(b))) @ rng.standard_normal((len(b), d)) * np.sqrt(start_scale)
    S_start = x @ x.T
    sum_n = Q = chord = 0.0
    for _ in range(steps):
        e = rng.standard_normal(d)
        new = M @ x + np.outer(b, e)
        sum_n += float((T @ x) @ (T @ x))
        chord += float(((T @ new) - (T @ x)) @ ((T @ new) - (T @ x)))
        Q += float(e @ e)
        x = new
    D = (x @ x.T - S_start) / sum_n
    n_star = float(T @ star @ T)
    chord_star = float(numeric(sp.Matrix([moments.chord_ratio(rule)]))[0, 0])
    return {"grad_ratio": (Q / sum_n) * n_star, "chord": (chord / sum_n) / chord_star}, D


@pytest.mark.parametrize("rule", ["sgd", "momentum", "nesterov_torch", "adamw", "adam", "rmsprop"])
@pytest.mark.parametrize("observable", ["grad_ratio", "chord"])
def test_the_boundary_terms_account_for_a_window_far_from_stationarity(rule, observable):
    measured, D = run_path(rule)
    # D = sum over i <= j of D_ij times the symmetric unit matrix of (i, j)
    shift = sum(float(numeric(sp.Matrix([k]))[0, 0]) * D[i, j]
                for (i, j), k in boundary_coefficients(rule, observable).items())
    stationary_miss = abs(measured[observable] - 1)
    corrected_miss = abs(measured[observable] - (1 + shift))
    assert stationary_miss > 0.1                          # a start at 10x the stationary moments is not forgotten
    assert corrected_miss < 0.1 * stationary_miss, (measured[observable], shift)


def test_lions_pathwise_chord_identity():
    """``w' = A w - eta s`` with any sign vectors: the chord's sum minus its value at ``D = 0`` is exactly the
    coefficient times ``D``."""
    eta, lam, d, steps = 0.01, 2.0, 50, 300
    A = 1 - eta * lam
    rng = np.random.default_rng(1)
    w = 5 * rng.standard_normal(d)                           # far from equilibrium
    n0, sum_n, chord = w @ w, 0.0, 0.0
    for _ in range(steps):
        new = A * w - eta * np.sign(rng.standard_normal(d) + 0.3 * w)
        sum_n += w @ w
        chord += (new - w) @ (new - w)
        w = new
    boundary = w @ w - n0
    coefficient = float(lion_chord_coefficient().subs({S.eta: eta, S.lam: lam}))
    at_zero = eta**2 * lam**2 * sum_n + (eta * lam / A) * ((A**2 - 1) * sum_n + steps * eta**2 * d) + steps * eta**2 * d
    assert chord == pytest.approx(at_zero + coefficient * boundary, rel=1e-10)
