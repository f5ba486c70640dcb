"""The closure's bias in numbers: ``theory.closure_bias`` evaluated for a run (nothing derived or typed here).

:func:`closure_bias` returns ``(correction, bound, how)``: a run's ``E||w||^2`` is predicted as the closure's ``N*``
times ``1 + correction``, within ``bound`` (relative) of it, beyond the standard error. For the SGD family, AdamW
and Lion the correction is 0 and the bound the derived leading-order bias (Gamma law, orthogonal noise's
``||g||^2`` spread, or AdamW's ``2/d``); for RMSProp and Adam the correction is the derived first-order bias of
both noise models and the bound its second-order remainder (``theory.closure_bias``).
"""
from __future__ import annotations

import numpy as np

from normlaws.theory import closure_bias as T

from . import predict
from .params import Hyper

SGD_FAMILY = ("sgd", "momentum", "nesterov", "nesterov_torch")


def sgd_law_ratio(d: float) -> float:
    """``E[N]/N*`` (= ``E[1/N] N*``) for the SGD family in the diffusion limit (``theory.closure_bias``).

    >>> round(sgd_law_ratio(64) - 1, 5), round(1 / (2 * 64), 5)
    (0.00784, 0.00781)
    """
    return float(predict.evaluate(T.sgd_family_ratio().subs(T.d_eff, predict.S.d), d=d))


def adaptive_terms(rule: str, hyper: Hyper, d: int, C: float, variant: str) -> tuple[float, float, float]:
    """``(E[N]/N* - 1, its remainder bound, V)`` of RMSProp or Adam at one grid point (``V``: the relative variance
    of ``N`` in the isotropic model, 0 for orthogonal noise)."""
    eta, lam = float(np.max(hyper.eta)), float(np.max(hyper.lam))
    accumulator = hyper.rho if rule == "rmsprop" else hyper.beta2
    beta1 = 0.0 if rule == "rmsprop" else hyper.beta1
    N_star = float(np.max(predict.closure_N(rule, hyper.with_(eta=eta, lam=lam), d, C)))
    values = {T.epsilon_acc: 1 - accumulator, predict.S.beta1: beta1, predict.S.d: d, predict.S.eta: eta,
              T.c_dec: predict.coupled_c(rule, eta, lam, d, C, beta1), T.kappa_N: eta**2 * d / N_star}
    bias = float(T.adaptive_bias(variant).subs(values))
    bound = float(T.remainder_bound().subs(values))
    V = 0.0 if variant == "orthogonal" else float(T.fluctuation_moments()[T._V].subs(values))
    return bias, bound, V


def closure_bias(rule: str, quantity: str, d: int, hyper: Hyper, variant: str = "isotropic",
                 C: float | None = None) -> tuple[float, float, str]:
    """``(correction, bound, how)`` for ``quantity`` ('N' for ``E||w||^2``, 'eff_lr' for ``E[eta/||w||^k]``): the
    prediction is the closure's value times ``1 + correction``, within ``bound`` (relative). See the module doc."""
    C = float(d) if C is None else C
    eta_lam = float(np.max(hyper.eta * hyper.lam))
    if rule == "normalized":
        return 0.0, 0.0, "no closure: the norm is 1 by construction"
    if rule in SGD_FAMILY:
        if variant == "orthogonal":
            rho = hyper.rho if rule != "sgd" else 0.0
            return 0.0, eta_lam / ((1 - rho) * (d - 1)), "orthogonal noise: eta lam/((1-rho)(d-1))"
        return 0.0, sgd_law_ratio(d) - 1, "N^2 Gamma(d/4+1/2) law: Gamma(k+1/2)/(Gamma(k) sqrt(k-1/2)) - 1 ~ 1/(2d)"
    if rule in T.ADAPTIVE:
        bias, bound, V = adaptive_terms(rule, hyper, d, C, variant)
        how = (f"theory.closure_bias, {variant} noise: accumulator window"
               + (", anisotropy" if variant == "orthogonal" else ", norm fluctuations") + f" {bias:+.4f}; "
               f"second-order bound {bound:.2g}")
        if quantity == "N":
            return bias, bound, how
        # E[1/||w||] = (1 + 3V/8)/sqrt(E N) to leading order
        return (1 + bias) ** -0.5 * (1 + 3 * V / 8) - 1, bound, how + "; eta/||w|| of E[N] with Jensen's 3V/8"
    if rule in ("adamw", "lion"):
        return 0.0, 2.0 / d, "bound 2/d (relative variance of N)"
    raise ValueError(rule)
