"""The theory's predictions as numbers: every closed form is ``sympy.lambdify``-ed from ``normlaws.theory``.

Nothing here re-types a formula of the theory. The closure's RMSProp/Adam fixed point, which has no closed
form, is the root of the theory's own fixed-point condition (``brentq``). The paper's printed formulas are
evaluated from ``claim.printed.expr`` after putting the model into the paper's symbols: ``C = d * gamma**2 *
sigma_nabla**2 / 2`` (``sec4.grad_second_moment``), taken with ``gamma = 1`` and ``sigma_nabla = sqrt(2C/d)``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp
from scipy.optimize import brentq

from normlaws.theory import section4, updates
from normlaws.theory import symbols as S

from .params import Hyper

#: argument order of every lambdified expression (a symbol an expression lacks is simply ignored)
_ARGS = (S.eta, S.lam, S.C, S.d, S.rho, S.beta1, S.beta2, S.eps, S.N, section4.N0, S.t, S.r, S.gamma,
         S.sigma_g, S.alpha)
_NAMES = ("eta", "lam", "C", "d", "rho", "beta1", "beta2", "eps", "N", "N0", "t", "r", "gamma", "sigma_nabla",
          "alpha")


@lru_cache(maxsize=None)
def _compiled(expr: sp.Basic):
    missing = expr.free_symbols - set(_ARGS)
    if missing:
        raise ValueError(f"cannot evaluate {expr}: unknown symbols {missing}")
    return sp.lambdify(_ARGS, expr, "numpy"), {n for s, n in zip(_ARGS, _NAMES) if s in expr.free_symbols}


def evaluate(expr: sp.Basic, **values) -> np.ndarray:
    """``expr`` evaluated numerically (broadcasting) at ``values`` named as in ``Hyper.values`` (+ C, d, N, ...)."""
    function, needed = _compiled(sp.sympify(expr))
    lacking = needed - set(values)
    if lacking:
        raise ValueError(f"{expr} needs values for {sorted(lacking)}")
    args = [np.asarray(values[n], float) if n in values else np.nan for n in _NAMES]
    return np.asarray(function(*args), float)


def model_values(hyper: Hyper, d: int, C: float) -> dict:
    """The values a Section 4 formula needs: the hyperparameters, ``d`` and ``C``."""
    return {**hyper.values(), "d": float(d), "C": float(C), "eps": hyper.eps}


def paper_values(d: int, C: float) -> dict:
    """The paper's constants for a model with ``E||g||^2 = C``: ``gamma = 1``, ``sigma_nabla = sqrt(2 C/d)``."""
    return {"gamma": 1.0, "sigma_nabla": float(np.sqrt(2.0 * C / d))}


# ---- steady states -------------------------------------------------------------------------------------------
def closure_N(rule: str, hyper: Hyper, d: int, C: float) -> np.ndarray:
    """The closure's ``N* = E||w||^2`` on the grid: ``section4.stationary_N`` where it is closed-form (SGD,
    momentum, Nesterov, AdamW), else the root of ``section4.adaptive_fixed_point_equation`` (RMSProp, Adam).
    Normalized SGD: 1 (the claim ``table1.normalized.norm``)."""
    values = model_values(hyper, d, C)
    if rule == "normalized":
        return np.ones(hyper.grid_shape)
    if rule in ("rmsprop", "adam"):
        return _adaptive_root(rule, values, hyper.grid_shape)
    return np.broadcast_to(evaluate(section4.stationary_N(rule), **values), hyper.grid_shape).copy()


def leading_N(rule: str, hyper: Hyper, d: int, C: float) -> np.ndarray:
    """The leading-order ``N*`` (``section4.leading_N``) as ``eta*lam -> 0``."""
    if rule == "normalized":
        return np.ones(hyper.grid_shape)
    return np.broadcast_to(evaluate(section4.leading_N(rule), **model_values(hyper, d, C)),
                           hyper.grid_shape).copy()


def _adaptive_root(rule: str, values: dict, shape: tuple) -> np.ndarray:
    condition = section4.adaptive_fixed_point_equation(rule)
    lead = evaluate(section4.leading_N(rule), **values)
    grid = np.broadcast_arrays(*(np.broadcast_to(np.asarray(values[k], float), shape) for k in ("eta", "lam")),
                               np.broadcast_to(lead, shape))
    out = np.empty(shape)
    for index in np.ndindex(shape):
        point = {**values, "eta": grid[0][index], "lam": grid[1][index]}
        f = lambda n: float(evaluate(condition, **point, N=n))  # noqa: E731
        # the condition is > 0 below the root (noise wins over decay) and < 0 just above it; bracket the
        # root nearest to the leading-order value, stepping out by factors of 1.25
        lo = hi = grid[2][index]
        for _ in range(200):
            if f(lo) > 0:
                break
            lo /= 1.25
        for _ in range(200):
            if f(hi) < 0:
                break
            hi *= 1.25
        out[index] = brentq(f, lo, hi, xtol=1e-15 * hi, rtol=1e-15)
    return out


def eff_lr_at(rule: str, hyper: Hyper, N: np.ndarray) -> np.ndarray:
    """The rule's effective learning rate ``eta/||w||**k`` (``updates.effective_lr``) at ``||w||^2 = N``."""
    if rule == "normalized":
        return evaluate(updates.normalized_sgd_derivation().result, **hyper.values())
    base = {"nesterov": "momentum", "adamw": "adam"}.get(rule, rule)
    return evaluate(updates.effective_lr(base), eta=hyper.eta, r=np.sqrt(N))


def equilibrium_eff_lr(rule: str, hyper: Hyper, d: int, C: float) -> np.ndarray:
    """``section4.equilibrium_eff_lr(rule)`` (the claim's derived value; leading order for RMSProp/Adam)."""
    if rule == "normalized":
        return eff_lr_at(rule, hyper, np.ones(hyper.grid_shape))
    return np.broadcast_to(evaluate(section4.equilibrium_eff_lr(rule), **model_values(hyper, d, C)),
                           hyper.grid_shape).copy()


# ---- dynamics ----------------------------------------------------------------------------------------------
def sgd_recursion(N, hyper: Hyper, C: float) -> np.ndarray:
    """``E[N_{t+1} | N_t = N] - N`` for SGD (``section4.sgd_recursion``), exact in the model."""
    return evaluate(section4.sgd_recursion(), **hyper.values(), C=C, N=N)


def sgd_relaxation_time(hyper: Hyper) -> np.ndarray:
    """The time constant (steps) of ``E||w||^2``'s approach to equilibrium under SGD (``section4.sgd_relaxation``)."""
    return evaluate(section4.sgd_relaxation().result, **hyper.values())


def growth_bound(t, N0, eta, C: float) -> np.ndarray:
    """SGD without L2: the lower bound on ``||w_t||^2`` (``section4.growth_without_decay``)."""
    return evaluate(section4.growth_without_decay().result, eta=eta, C=C, N0=N0, t=t)


def growth_eff_lr(t, C: float) -> np.ndarray:
    """SGD without L2: the asymptotic effective learning rate ``1/sqrt(2 C t)`` (``extras['eta_eff_asymptotic']``)."""
    return evaluate(section4.growth_without_decay().extras["eta_eff_asymptotic"], C=C, t=t)


def grad_second_moment(r, d: int, C: float) -> np.ndarray:
    """Per-coordinate ``E[(dL/dw_j)^2]`` of a stop-gradient BN unit with a rectifier, one sample (the claim)."""
    return evaluate(section4.grad_second_moment().result, r=r, **paper_values(d, C))


def bn_unit_C(d: int, gamma: float, sigma_nabla: float) -> float:
    """The model constant ``C`` of a stop-gradient BN unit, one sample (``grad_second_moment().extras['C']``)."""
    return float(evaluate(section4.grad_second_moment().extras["C"], d=d, gamma=gamma, sigma_nabla=sigma_nabla))


# ---- exponents -----------------------------------------------------------------------------------------------
def derived_exponents(claim_id: str) -> tuple[float, float]:
    """``(exponent_eta, exponent_lam)`` of a claim's leading-order law, read from the registry's derivation."""
    from normlaws import registry
    extras = registry.get(claim_id).derivation.extras
    return float(extras["exponent_eta"]), float(extras["exponent_lam"])


def printed_exponents(claim_id: str) -> tuple[float, float] | None:
    """``(exponent_eta, exponent_lam)`` of the paper's printed order formula, or ``None`` if it prints none."""
    from normlaws import registry
    expr = registry.get(claim_id).printed.expr
    if expr is None:
        return None
    e_eta = sp.simplify(S.eta * sp.diff(sp.log(expr), S.eta))
    e_lam = sp.simplify(S.lam * sp.diff(sp.log(expr), S.lam))
    return float(e_eta), float(e_lam)


def printed_value(claim_id: str, hyper: Hyper, d: int, C: float, **extra) -> np.ndarray | None:
    """The paper's printed formula of a claim at the same numbers (``None`` where it prints none)."""
    from normlaws import registry
    expr = registry.get(claim_id).printed.expr
    if expr is None or isinstance(expr, (sp.MatrixBase, sp.Equality)):
        return None
    return evaluate(expr, **model_values(hyper, d, C), **paper_values(d, C), **extra)


def derived_value(claim_id: str, hyper: Hyper, d: int, C: float, **extra) -> np.ndarray:
    """The registry's derived formula of a claim (``claim.derivation.result``) at the same numbers."""
    from normlaws import registry
    return evaluate(registry.get(claim_id).derivation.result, **model_values(hyper, d, C), **paper_values(d, C),
                    **extra)
