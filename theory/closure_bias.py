"""The closure's bias: how far the stationary ``E||w||^2`` sits from the closure's ``N*``, to leading order.

The closure (``section4``, ``moments``) replaces ``E[1/N]`` by ``1/E[N]`` and, for RMSProp and Adam, each
coordinate's second-moment accumulator by its mean ``C/(d N)``. Its relative error ``E[N]/N* - 1`` is small (of
order ``1/d`` and ``1 - beta2``) but larger than a Monte-Carlo standard error; the numeric legs add it to their
tolerances (SGD family, AdamW, Lion) or correct their prediction by it (RMSProp, Adam). Two noise models:
``'isotropic'`` (the stop-gradient picture: ``g`` zero-mean along ``w``) and ``'orthogonal'`` (the full BN
backward: ``g`` exactly orthogonal to ``w``).

**SGD family.** The exact stationary identity ``(1 - a^2) E[N] = eta^2 C E[1/N]`` gives ``E[N] = N* sqrt(E[N]
E[1/N])``; in the diffusion limit ``N^2`` is Gamma-distributed with shape ``k = d_eff/4 + 1/2`` (``d_eff = 1/``
the radial share of the noise: ``d`` for isotropic noise), so ``E[N]/N* = Gamma(k + 1/2)/(Gamma(k) sqrt(k - 1/2))``
``= 1 + 1/(2 d_eff) + ...``. Orthogonal noise has no radial part; only ``||g||^2``'s spread moves ``N``:
``eta lam/((1 - rho)(d - 1))``.

**RMSProp and Adam** (accumulator decay ``beta2``, ``epsilon = 1 - beta2``; RMSProp's ``rho`` plays ``beta2`` and
it has no first moment, ``beta1 = 0``). The balance of the norm's expected increment is ``N^(3/2) ~ q/c`` (noise
power over decay coefficient), so ``E[N]/N* - 1 = (2/3)(delta_q - delta_c)`` where ``delta_q`` and ``delta_c`` are
the relative corrections to the noise power and to the decay that the closure leaves out, each to first order:

* *the accumulator's window* (both noise models): the accumulator fluctuates (relative variance
  ``v = 2 epsilon/(2 - epsilon)`` for Gaussian coordinates) and contains the current gradient, which correlates
  with the step: ``delta_q = v - 2 epsilon k1``, ``delta_c = 3 v/8 - epsilon k2`` with
  ``k1 = (1 - beta1)(1 + beta1)/(1 - beta1^2 beta2)``, ``k2 = (1 - beta1)/(1 - beta1 beta2)`` (``1`` for RMSProp);
* *anisotropy* (orthogonal noise only): coordinate ``j`` sees the gradient variance ``C (1 - w_hat_j^2)/((d-1) N)``,
  so the accumulator is smallest where ``w`` is largest and the decay ``sum_j w_j^2 P_j`` exceeds the closure's:
  ``delta_c = X/2 - 1/(2d)`` with ``X = 1/d + (3/(d+2) - 1/d) R``, ``R = epsilon/(1 - beta2 exp(-gamma2))`` the part
  of the accumulator's memory over which ``w_hat_j^2`` stays correlated (``gamma2 = 2 eta c d/(d-1)``: the
  second spherical harmonic's decay rate when the direction relaxes at ``eta c`` per step);
* *the norm's fluctuations* (isotropic noise only): with ``x = N/E[N] - 1`` and ``y`` the accumulator's running
  mean of ``x``, the linearised pair ``x' = x + kappa (y/2 - 2x) + xi`` (``Var xi = 4 kappa/d``,
  ``kappa = eta^2 d/N*``), ``y' = (1 - epsilon) y + epsilon x'`` has stationary ``V = E[x^2]``, ``A = E[x y]``,
  ``B = E[y^2]``, and ``delta_q = B - A``, ``delta_c = A/2 - V/2 + 3B/8``. A fast accumulator (``y = x``) gives
  ``-V/4 = -1/(3d)``; a slow one (``y = 0``) ``+V/3 = +1/(3d)``.

The terms left out are of second order: ``epsilon^2`` (next term of the window's expansion, coefficient
``E[xi^6] = 15`` at most 20), ``1/d^2`` (the anisotropy's next term ``3/8 E[sum w_hat^6] ~ 5.6/d^2`` and the
fluctuation's ``V^2``: at most ``8/d^2``) and the cross term ``epsilon/d``: :func:`remainder_bound`.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .derivation import Derivation, Step, simplified
from .symbols import beta1, d, eta, lam, rho

#: 1 - beta2, the accumulator's weight on the current squared gradient
epsilon_acc = sp.Symbol("epsilon_2", positive=True)
#: the closure's decay coefficient c = 2 lam P (theory.moments.c_L2) and the norm's relaxation rate kappa
c_dec, kappa_N = sp.symbols("c kappa", positive=True)
#: the effective dimension 1/(radial share of the noise) of the SGD family's Gamma law
d_eff = sp.Symbol("d_eff", positive=True)
_V, _A, _B = sp.symbols("V A B")

NOISE_MODELS = ("isotropic", "orthogonal")
ADAPTIVE = ("rmsprop", "adam")


def sgd_family_ratio() -> sp.Expr:
    """``E[N]/N*`` of the SGD family with isotropic noise in the diffusion limit (Gamma law of ``N^2``).

    >>> round(float(sgd_family_ratio().subs(d_eff, 64)) - 1, 5)
    0.00784
    """
    k = d_eff / 4 + sp.Rational(1, 2)
    # Gamma(k + 1/2)/Gamma(k) as exp(loggamma - loggamma): stable for large d
    return sp.exp(sp.loggamma(k + sp.Rational(1, 2)) - sp.loggamma(k)) / sp.sqrt(k - sp.Rational(1, 2))


def sgd_family_orthogonal_bias() -> sp.Expr:
    """``E[N]/N* - 1`` of the SGD family with orthogonal noise: ``eta lam/((1 - rho)(d - 1))`` (rho = 0: SGD)."""
    return eta * lam / ((1 - rho) * (d - 1))


def window_terms() -> tuple[sp.Expr, sp.Expr]:
    """``(delta_q, delta_c)`` of the accumulator's window, in ``epsilon_2 = 1 - beta2`` and ``beta1``."""
    b2 = 1 - epsilon_acc
    v = 2 * epsilon_acc / (2 - epsilon_acc)
    k1 = (1 - beta1) * (1 + beta1) / (1 - beta1**2 * b2)
    k2 = (1 - beta1) / (1 - beta1 * b2)
    return v - 2 * epsilon_acc * k1, sp.Rational(3, 8) * v - epsilon_acc * k2


def anisotropy_term() -> sp.Expr:
    """``delta_c`` of orthogonal noise: ``X/2 - 1/(2d)``, ``X = 1/d + (3/(d+2) - 1/d) R`` (module doc)."""
    gamma2 = 2 * eta * c_dec * d / (d - 1)
    R = epsilon_acc / (1 - (1 - epsilon_acc) * sp.exp(-gamma2))
    X = 1 / d + (3 / (d + 2) - 1 / d) * R
    return X / 2 - 1 / (2 * d)


@lru_cache(maxsize=None)
def fluctuation_moments() -> dict:
    """Stationary ``V, A, B`` of the linearised norm/accumulator pair (module doc), solved exactly."""
    M = sp.Matrix([[1 - 2 * kappa_N, kappa_N / 2],
                   [epsilon_acc * (1 - 2 * kappa_N), 1 - epsilon_acc + epsilon_acc * kappa_N / 2]])
    b = sp.Matrix([1, epsilon_acc])
    S = sp.Matrix([[_V, _A], [_A, _B]])
    lhs = M * S * M.T + (4 * kappa_N / d) * b * b.T - S
    solution = sp.solve([lhs[0, 0], lhs[0, 1], lhs[1, 1]], [_V, _A, _B], dict=True)[0]
    return {k: sp.factor(v) for k, v in solution.items()}


def fluctuation_terms() -> tuple[sp.Expr, sp.Expr]:
    """``(delta_q, delta_c)`` of the norm's fluctuations with isotropic noise."""
    m = fluctuation_moments()
    V, A, B = m[_V], m[_A], m[_B]
    return B - A, A / 2 - V / 2 + sp.Rational(3, 8) * B


@lru_cache(maxsize=None)
def adaptive_bias(noise: str) -> sp.Expr:
    """``E[N]/N* - 1`` of RMSProp (``beta1 = 0``, ``beta2 = rho``) or Adam, to first order, for a noise model.

    Free symbols: ``epsilon_2 = 1 - beta2``, ``beta1``, ``d`` and ``c`` (orthogonal) or ``kappa`` (isotropic).
    """
    dq, dc = window_terms()
    if noise == "orthogonal":
        dc = dc + anisotropy_term()
    else:
        fq, fc = fluctuation_terms()
        dq, dc = dq + fq, dc + fc
    return sp.Rational(2, 3) * (dq - dc)


def remainder_bound() -> sp.Expr:
    """A bound on the terms :func:`adaptive_bias` leaves out: ``20 epsilon_2^2 + 8/d^2 + 2 epsilon_2/d``."""
    return 20 * epsilon_acc**2 + 8 / d**2 + 2 * epsilon_acc / d


def adaptive_derivation() -> Derivation:
    """The closure's bias for RMSProp and Adam in both noise models, with its limits as proofs."""
    iso, orth = adaptive_bias("isotropic"), adaptive_bias("orthogonal")
    dq_f, dc_f = fluctuation_terms()
    fluct = sp.Rational(2, 3) * (dq_f - dc_f)

    def fast(expr):      # kappa << epsilon << 1: kappa -> epsilon kappa, epsilon -> 0, then kappa -> 0
        return sp.limit(sp.limit(expr.subs(kappa_N, epsilon_acc * kappa_N), epsilon_acc, 0), kappa_N, 0)

    def slow(expr):      # epsilon << kappa << 1
        return sp.limit(sp.limit(expr, epsilon_acc, 0), kappa_N, 0)

    V_fast, fast_accumulator, slow_accumulator = fast(fluctuation_moments()[_V]), fast(fluct), slow(fluct)
    return Derivation(
        result=sp.Matrix([iso, orth]),
        steps=[Step("balance of the norm's increment: N^(3/2) ~ (noise power)/(decay coefficient), so E[N]/N* - 1 = "
                    "(2/3)(delta_q - delta_c)"),
               Step("the accumulator's window (delta_q, delta_c)", sp.Matrix(window_terms())),
               Step("orthogonal noise: the anisotropy's delta_c", anisotropy_term()),
               Step("isotropic noise: stationary moments of the linearised (norm, accumulator) pair",
                    sp.Matrix([fluctuation_moments()[s] for s in (_V, _A, _B)])),
               Step("E[N]/N* - 1, isotropic and orthogonal", sp.Matrix([iso, orth])),
               Step("a fast accumulator (kappa << epsilon) and a slow one (epsilon << kappa)",
                    sp.Matrix([fast_accumulator, slow_accumulator]))],
        proofs={"fast_accumulator_variance": simplified(V_fast - 4 / (3 * d)),
                "fast_accumulator_bias": simplified(fast_accumulator + 1 / (3 * d)),
                "slow_accumulator_bias": simplified(slow_accumulator - 1 / (3 * d)),
                "rmsprop_window_first_order": simplified(
                    sp.series(sp.Rational(2, 3) * (window_terms()[0] - window_terms()[1]).subs(beta1, 0),
                              epsilon_acc, 0, 2).removeO() + epsilon_acc / 4),
                "isotropic_direction_has_no_anisotropy": simplified(anisotropy_term().subs(epsilon_acc, 0))},
        summary="the closure's E[N]/N* - 1 for RMSProp and Adam: (2/3)(delta_q - delta_c) from the accumulator's "
                "window (-epsilon/4 for RMSProp), the orthogonal noise's anisotropy (up to -2/(3d)) and the "
                "isotropic noise's norm fluctuations (from -1/(3d) with a fast accumulator to +1/(3d) with a slow "
                "one); second-order remainder bounded by 20 epsilon^2 + 8/d^2 + 2 epsilon/d",
        extras={"isotropic": iso, "orthogonal": orth, "remainder_bound": remainder_bound()})

