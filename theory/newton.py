"""Newton's method (Sec. 5.4) on a scale-invariant loss with L2: its equivariance (effective learning rate
``eta`` whatever the scale) and the shrinking of the weights.

Convention: the objective ``L(w) + lam ||w||^2``; at ``w = alpha w'`` the gradient is ``g'/alpha`` and the Hessian
``H'/alpha**2`` (``theory.gradients``). Vectors are 2-dimensional symbols: the identities are linear algebra.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from . import printed
from .claim import Claim
from .derivation import Derivation, Step, simplified
from .symbols import alpha, eta, lam, r, t

_w1, _w2, _g1, _g2 = sp.symbols("w1 w2 g1 g2", real=True)
_W, _G = sp.Matrix([_w1, _w2]), sp.Matrix([_g1, _g2])
_h11, _h12, _h22 = sp.symbols("h11 h12 h22", real=True)
_H = sp.Matrix([[_h11, _h12], [_h12, _h22]])


def newton_step(w, g, H, eta_, lam_):
    """Newton's step on ``L + lam ||w||^2``: ``w - eta (H + 2 lam I)^-1 (g + 2 lam w)``."""
    Hl = H + 2 * lam_ * sp.eye(2)
    return w - eta_ * Hl.LUsolve(g + 2 * lam_ * w)


@lru_cache(maxsize=None)
def _equivariance_residual() -> sp.Basic:
    """A Newton step from ``alpha w'`` divided by alpha, minus one from ``w'`` with ``lam alpha^2`` (simplified once:
    three claims quote it)."""
    big = newton_step(alpha * _W, _G / alpha, _H / alpha**2, eta, lam) / alpha
    small = newton_step(_W, _G, _H, eta, lam * alpha**2)
    return simplified(big - small)


def newton_equivariance() -> Derivation:
    """Newton is equivariant with ``(eta, lam) -> (eta, lam*alpha**2)``: its effective learning rate is eta."""
    return Derivation(
        result=sp.Matrix([eta, lam * alpha**2]),
        steps=[Step("gradient g'/alpha and Hessian H'/alpha^2 at w = alpha w'"),
               Step("one Newton step divided by alpha equals a Newton step from w' with (eta, lam alpha^2)",
                    sp.Matrix([eta, lam * alpha**2]))],
        proofs={"equivariance": _equivariance_residual()},
        summary="Newton's method: (eta, lambda) -> (eta, lambda alpha^2); effective learning rate eta",
        extras={"k": sp.Integer(0)})


def newton_eff_lr() -> Derivation:
    """Newton's effective learning rate: eta, whatever the weight scale (from its equivariance)."""
    eq = newton_equivariance()
    return Derivation(result=eta, steps=eq.steps, proofs=eq.proofs, summary="effective learning rate eta",
                      extras=eq.extras)


def newton_radial() -> Derivation:
    """With ``H w = -g`` (Euler, degree -1 gradient): ``w_new = (1-eta) w - 2 eta (H + 2 lam I)^-1 g``."""
    g_euler = -_H * _W
    step = newton_step(_W, g_euler, _H, eta, lam)
    claimed = (1 - eta) * _W - 2 * eta * (_H + 2 * lam * sp.eye(2)).LUsolve(g_euler)
    return Derivation(
        result=sp.Integer(0),
        steps=[Step("Euler's identity for a degree -1 gradient: H w = -g"),
               Step("then (H + 2 lam I)(w + 2 (H + 2 lam I)^-1 g) = g + 2 lam w, so one Newton step is "
                    "w' = (1 - eta) w - 2 eta (H + 2 lam I)^-1 g", claimed),
               Step("at a stationary direction (g = 0) the norm shrinks by (1 - eta) each step: "
                    "||w_t|| = (1-eta)^t ||w_0|| -> 0", (1 - eta) ** t * r)],
        proofs={"radial_identity": simplified(step - claimed)},
        summary="Newton with L2 on a scale-invariant loss shrinks the weights: w_{t+1} = (1-eta) w_t - "
                "2 eta (H + 2 lam I)^-1 g_t, so ||w|| -> 0 geometrically once the gradient vanishes",
        extras={"rate": 1 - eta})


CLAIMS = [
    Claim(id="table1.newton.eff_lr", title="Newton: effective learning rate",
          statement="With Newton, rescaling the weights by alpha is the same as rescaling the learning rate; the "
                    "effective learning rate for the direction w/||w|| is as derived.",
          source=printed.EFF_LR["newton"].where, printed=printed.EFF_LR["newton"], derive=newton_eff_lr,
          tags=("table1", "equivariance")),
    Claim(id="table1.newton.eff_lr_eq", title="Newton: effective learning rate at equilibrium",
          statement="Newton's effective learning rate is eta whatever the weight scale, so also at equilibrium "
                    "(where the weights shrink to 0).",
          source=printed.EFF_LR_EQ["newton"].where, printed=printed.EFF_LR_EQ["newton"], derive=newton_eff_lr,
          tags=("table1", "equivariance")),
    Claim(id="update.newton.equivariance", title="Newton: rescaling equivariance",
          statement="Newton's method is unaffected by the scale of the weights: eta_eff = eta.",
          source="Sec. 5.4", printed=printed.TRANSFORM["newton"], derive=newton_equivariance,
          tags=("equivariance",)),
    Claim(id="update.newton.shrinks", title="Newton: the weight scale goes to 0",
          statement="With L2 and a scale-invariant loss, Newton's method shrinks the weights to 0.",
          source="Table 1 row Newton, col. 2", printed=printed.NEWTON_NORM, derive=newton_radial,
          tags=("table1",)),
]
