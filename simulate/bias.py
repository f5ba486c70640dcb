"""The known leading-order biases of the closure: what the tolerances of the steady-state checks add to z*SE.

The closure replaces ``E[1/N]`` by ``1/E[N]`` (and, for RMSProp/Adam, the accumulator by its mean). Its error
comes from the fluctuations of ``N = ||w||^2``, whose stationary law follows, to leading order in ``eta*lam``,
from the diffusion limit of the norm's recursion (drift ``mu(N)``, variance ``s2(N)`` per step; stationary
density ``p(N) ~ exp(int 2 mu/s2) / s2``):

- SGD, isotropic noise: ``mu = -4 eta lam N + eta^2 C/N``, ``s2 = 4 eta^2 C/d`` (the radial part ``g_par`` of
  the noise), so ``p(N) ~ N^(d/2) exp(-d lam N^2/(eta C))``: ``N^2`` is Gamma-distributed with shape
  ``k = d/4 + 1/2``. With the exact stationary identity ``E[N]/N* = sqrt(E[N] E[1/N])`` this gives
  ``E[N]/N* = Gamma(k+1/2) / (Gamma(k) sqrt(k-1/2)) = 1 + 1/(2d) + O(1/d^2)``, and ``Var(N)/E[N]^2 = 1/d``
  to leading order (the ``c`` of the closure's ``1/d`` error is 1). The same ratio holds for ``E[1/N] N*``
  (the effective learning rate) by the same identity. Heavy-ball and Nesterov momentum behave, on the norm's
  slow time scale, like SGD at ``eta/(1-rho)``: the same law, once ``eta*lam << (1-rho)^2``.
- SGD, orthogonal noise (full BN backward): no radial noise; only ``||g||^2``'s own spread moves ``N``:
  ``Var(N)/N^2 = 2 eta lam/(d-1)`` and the bias is ``eta lam/(d-1)``, negligible.
- RMSProp whose accumulator follows ``N`` (memory ``1/(1-rho)`` short of the relaxation time): the
  preconditioned noise has variance ``eta^2`` per coordinate, ``mu = -4 eta lam sqrt(d/C) N^(3/2) + eta^2 d``,
  ``s2 = 4 eta^2 N``: ``u = N^(3/2)`` is Gamma with shape ``k = d/3`` and ``E[u] = N*^(3/2)``, so
  ``E[N]/N* = Gamma(k+2/3)/(Gamma(k) k^(2/3)) = 1 - 1/(3d) + ...`` and
  ``E[1/||w||] ||w*|| = Gamma(k-1/3) k^(1/3)/Gamma(k)``.
- Adam whose second moment is slower than the norm (``1/(1-beta2)`` steps against ``1/(6 eta lam P)``): the
  preconditioner is set by ``E[1/N]``; the norm's law is SGD's (``N^2`` Gamma, ``k = d/4 + 1/2``) and
  ``E[N]/N* = (E[N] E[1/N])^(1/3)``, the same for the effective learning rate.
- AdamW: the preconditioned noise injection is ``eta^2 d E[(1/N_t)/H_t]`` with ``H_t`` the accumulator's
  running mean of ``1/N``; it is exact when ``H`` is constant or follows ``N``, and between the two it is off by
  at most the relative variance of ``N`` (``2/d``): a bound, not a signed bias.

Not in the closure, and not counted here (reported as findings by the checks): RMSProp's accumulator is a
finite window that contains the current gradient. To first order in ``1-rho`` (per coordinate, ``xi`` the
normalized gradient, ``D = rho S + (1-rho) xi^2`` the normalized accumulator): noise ``E[xi^2/D] = 1 - (1-rho)``,
decay ``E[D^(-1/2)] - (1-rho) E[xi^2 D^(-3/2)] = 1 - 5(1-rho)/8`` (the second term: the L2 part of the
current gradient inside ``D``), so ``N^(3/2)`` is multiplied by ``1 - 3(1-rho)/8`` and ``N`` by
``1 - (1-rho)/4``: -2.5 % at ``rho = 0.9``.
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from .params import Hyper


def _gamma_ratio(a: float, b: float) -> float:
    """``Gamma(a)/Gamma(b)``."""
    return float(np.exp(gammaln(a) - gammaln(b)))


def sgd_law_ratio(d: int) -> float:
    """``E[N]/N*`` (= ``E[1/N] N*``) for SGD in the diffusion limit: ``Gamma(k+1/2)/(Gamma(k) sqrt(k-1/2))``,
    ``k = d/4 + 1/2``.

    >>> round(sgd_law_ratio(64) - 1, 5), round(1 / (2 * 64), 5)
    (0.00784, 0.00781)
    """
    k = d / 4 + 0.5
    return float(_gamma_ratio(k + 0.5, k) / np.sqrt(k - 0.5))


def sgd_law_relative_variance(d: int) -> float:
    """``Var(N)/E[N]^2`` for SGD in the diffusion limit (``N^2`` Gamma with shape ``k = d/4 + 1/2``).

    >>> round(sgd_law_relative_variance(64) * 64, 3)
    0.977
    """
    k = d / 4 + 0.5
    return float(k / _gamma_ratio(k + 0.5, k) ** 2 - 1)


def closure_bias(rule: str, quantity: str, d: int, hyper: Hyper, variant: str = "isotropic") -> tuple[float, str]:
    """``(relative bias, how it is known)`` of the closure for ``quantity`` ('N' for ``E||w||^2`` or 'eff_lr'
    for the mean angular step) at leading order; for AdamW a bound (its sign is unknown). See the module doc."""
    eta_lam = float(np.max(hyper.eta * hyper.lam))
    if rule == "normalized":
        return 0.0, "no closure: the norm is 1 by construction"
    if variant == "orthogonal" and rule in ("sgd", "momentum", "nesterov"):
        rho = hyper.rho if rule != "sgd" else 0.0
        return eta_lam / ((1 - rho) * (d - 1)), "orthogonal noise: eta lam/((1-rho)(d-1))"
    if rule in ("sgd", "momentum", "nesterov"):
        return sgd_law_ratio(d) - 1, "N^2 Gamma(d/4+1/2) law: Gamma(k+1/2)/(Gamma(k) sqrt(k-1/2)) - 1 ~ 1/(2d)"
    if rule == "rmsprop":
        k = d / 3
        if quantity == "N":
            return _gamma_ratio(k + 2 / 3, k) / k ** (2 / 3) - 1, "N^(3/2) Gamma(d/3) law ~ -1/(3d)"
        return _gamma_ratio(k - 1 / 3, k) * k ** (1 / 3) - 1, "N^(3/2) Gamma(d/3) law ~ +2/(3d)"
    if rule == "adam":
        k = d / 4 + 0.5
        y = _gamma_ratio(k + 0.5, k) * _gamma_ratio(k - 0.5, k)
        return y ** (1 / 3) - 1, "slow accumulator: (E[N]E[1/N])^(1/3) - 1 ~ 1/(3d)"
    if rule == "adamw":
        return 2.0 / d, "bound 2/d (relative variance of N)"
    raise ValueError(rule)


def rmsprop_accumulator_factor(rho: float) -> float:
    """First-order factor on RMSProp's ``E||w||^2`` from the finite accumulator window (module doc):
    ``1 - (1-rho)/4``. Not part of the closure; the checks report it beside the measured value."""
    return 1.0 - (1.0 - rho) / 4.0
