"""Moment ratios measured over a finite window: how far its boundary terms move them from their stationary values.

A rule's moment model (:mod:`normlaws.theory.moments`) is ``x' = M x + b e`` with noise ``e`` independent of the
state. Summed pathwise over the ``T`` steps of a window, the second moments ``Sigma = sum_t x_t x_t^T`` and the
noise power ``Q = sum_t ||e_t||^2`` obey, up to zero-mean cross terms,

    ``Sigma - M Sigma M^T = Q b b^T - D``,   ``D = S_end - S_start``

(the boundary term: the last step's moments minus the first's). The operator ``L(X) = X - M X M^T`` is invertible
for a stable ``M``, and ``L^{-1}(b b^T)`` is the stationary ``S*`` (``stationary_moments``), so
``Sigma = Q S* - L^{-1}(D)``. With ``N = T Sigma T^T`` the readout's summed square norm, every moment ratio a
training check measures over the window is its stationary value times ``1 + sum_ij k_ij D_ij/N`` to first order
in ``D``: :func:`boundary_coefficients` gives the ``k_ij`` of

- ``grad_ratio``: ``Q/N`` (``eta^2 sum ||grad L||^2 / sum ||w||^2``, ``later.defazio.<rule>``): ``k = T L^{-1}(E) T^T``;
- ``chord``: ``sum ||y_{t+1} - y_t||^2 / N``, with ``y_{t+1} - y_t = T (M - I) x_t + T b e_t``.

For SGD (``M = a = 1 - 2 eta lam``) a window whose norm drifted by ``D_00 = Delta N`` shifts the gradient ratio
by ``Delta N/((1 - a^2) N)`` and the chord by ``Delta N/(4 eta lam N)``. With momentum the velocity's boundary
terms enter too, and the norm's own coefficient is ``(1 - rho)^2`` times the inverse of heavy ball's stationary
``Q/N`` (the SGD-form bound ``Delta N/(Q/N)`` a check once used overstated it a hundredfold at ``rho = 0.9``); against
SGD's coefficient at the same ``eta lam`` it is about ``1 - rho`` times smaller.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .moments import MODELS, _moment_unknowns, _quad, stationary_moments
from .symbols import d, eta, lam

OBSERVABLES = ("grad_ratio", "chord")


def _inverse_lyapunov(rule: str, i: int, j: int) -> sp.Matrix:
    """``X`` with ``X - M X M^T = E``, ``E`` the symmetric unit matrix of entry ``(i, j)``."""
    m = MODELS[rule]
    k = m.M.shape[0]
    X, unknowns = _moment_unknowns(k)
    E = sp.zeros(k, k)
    E[i, j] = E[j, i] = 1
    residual = X - m.M * X * m.M.T - E
    eqs = [residual[a, c] for a in range(k) for c in range(a, k)]
    return X.subs(sp.solve(eqs, unknowns, dict=True)[0])


@lru_cache(maxsize=None)
def boundary_coefficients(rule: str, observable: str) -> dict:
    """``{(i, j): k_ij}``: the relative first-order shift of ``observable`` over a window per unit ``D_ij/N``.

    >>> boundary_coefficients("sgd", "grad_ratio")
    {(0, 0): -1/(4*eta*lamda*(eta*lamda - 1))}
    >>> boundary_coefficients("sgd", "chord")
    {(0, 0): 1/(4*eta*lamda)}
    """
    if observable not in OBSERVABLES:
        raise ValueError(f"unknown observable {observable!r}; choose from {', '.join(OBSERVABLES)}")
    m = MODELS[rule]
    k = m.M.shape[0]
    star = stationary_moments(rule)
    n_star = _quad(m.T, star)
    step = m.T * (m.M - sp.eye(k))
    noise_step = (m.T * m.b)[0, 0] ** 2
    chord_star = _quad(step, star) + noise_step            # per unit Q, at stationarity
    out = {}
    for i in range(k):
        for j in range(i, k):
            X = _inverse_lyapunov(rule, i, j)
            # N = Q n* - T X T^T D  ->  Q/N = (1 + (T X T^T) D/N)/n*
            shift = _quad(m.T, X)
            if observable == "chord":
                # chord/N = (Q/N) chord* - (step X step^T) D/N, relative to chord*/n*
                shift = shift - _quad(step, X) * n_star / chord_star
            out[(i, j)] = sp.factor(shift)
    return out


def end_moment_ratios(rule: str) -> dict:
    """``{(i, j): sqrt(S*_ii S*_jj)/n*}``: a bound on each stationary moment at one end of a window relative to the
    readout's, used where the check measures only the norm at the ends (``|D_ij| <= ratio (N_start + N_end)``)."""
    m = MODELS[rule]
    star = stationary_moments(rule)
    n_star = _quad(m.T, star)
    k = m.M.shape[0]
    return {(i, j): sp.factor(sp.sqrt(star[i, i] * star[j, j]) / n_star) for i in range(k) for j in range(i, k)}


def lion_chord_coefficient() -> sp.Expr:
    """Lion's chord over a window per unit ``D_00/N``, absolute (not relative): ``-eta lam/(1 - eta lam)``.

    Lion (``w' = (1 - eta lam) w - eta s``, ``s`` a sign vector, ``||s||^2 = d``) has no linear moment model, but a
    pathwise identity: ``N' = A^2 N - 2 eta A <w, s> + eta^2 d`` and ``||w' - w||^2 = eta^2 lam^2 N + 2 eta^2 lam
    <w, s> + eta^2 d`` (``A = 1 - eta lam``). Eliminating the summed ``<w, s>`` leaves the chord's sum as a function
    of ``sum N``, ``T eta^2 d`` and the boundary ``D_00 = N_end - N_start``, whose coefficient this is.

    >>> lion_chord_coefficient()
    eta*lamda/(eta*lamda - 1)
    """
    A = 1 - eta * lam
    sum_n, sum_ws, boundary, steps = sp.symbols("Sigma_N Sigma_ws D_00 T")
    # sum over the window of N' - N = D_00
    sum_ws_solved = sp.solve(sp.Eq(boundary, (A**2 - 1) * sum_n - 2 * eta * A * sum_ws + steps * eta**2 * d),
                             sum_ws)[0]
    chord_sum = eta**2 * lam**2 * sum_n + 2 * eta**2 * lam * sum_ws_solved + steps * eta**2 * d
    return sp.factor(sp.diff(chord_sum, boundary))
