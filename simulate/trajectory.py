"""Trajectory-level checks in float64 on a real (full-backward) BN unit: rescaling equivalences and growth.

Equivariance (``update.<rule>.equivariance``): a run from ``alpha*w_0`` with hyperparameters ``theta`` and a
run from ``w_0`` with ``theta' = theta * alpha**e`` (the exponents ``e`` of the registry's derivation) see the
same batches (same random stream), so the rule is equivariant exactly when ``w_A(t) = alpha * w_B(t)`` at every
step: the same directions and norms in ratio ``alpha``. The optimizer state starts at zero (which any power of
``alpha`` leaves at zero), so Adam's bias correction and epsilon are exercised from the first step.

Two controls show the comparison can fail: ``theta`` left untransformed, and the paper's printed transformation
where it differs from the derived one.

Growth (``sec4.sgd.growth_no_decay``, trajectory part): with ``lam = 0`` and the full BN backward the gradient is
exactly orthogonal to ``w``, so every SGD step adds ``eta^2 ||grad||^2`` to ``||w||^2`` (Pythagoras): the norm can
only grow.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from normlaws.theory import symbols as S
from normlaws.theory import catalog, updates

from .models import BNUnit
from .params import Hyper
from .predict import evaluate
from .rng import stream
from .rules import VectorChains

#: float64 runs of 200 steps: each step adds rounding of order 1e-16 relative, and the BN unit's dynamics
#: (a contraction towards the direction set by decay and noise, no chaotic amplification over 200 steps)
#: cannot amplify it by more than ~1e5: a discrepancy above 1e-9 is not rounding.
ROUNDING_TOLERANCE = 1e-9

#: base hyperparameters per rule: eps large enough to matter against the gradient's scale (so that its
#: exponent is tested), lam large enough for the decay to matter within the run
BASE = {"sgd": dict(eta=0.1, lam=0.05), "momentum": dict(eta=0.05, lam=0.05), "nesterov": dict(eta=0.05, lam=0.05),
        "rmsprop": dict(eta=0.01, lam=0.05, eps=0.01), "rmsprop_torch": dict(eta=0.01, lam=0.05, eps=0.05),
        "adam": dict(eta=0.01, lam=0.05, eps=0.05), "adamw": dict(eta=0.01, lam=0.05, eps=0.05)}
RULES = tuple(BASE)


def transform(rule: str, alpha: float, source: str = "derived") -> dict:
    """``theta' = theta * alpha**e`` as numbers: ``source='derived'`` (the registry's derivation) or 'printed'
    (the paper's printed transformation, ``None`` where the paper prints none)."""
    claim = catalog.get(f"update.{rule}.equivariance")
    hyper_symbols = updates.RULES[rule].hyper
    base = BASE[rule]
    values = {"eta": base["eta"], "lam": base["lam"], "eps": base.get("eps", 0.0), "alpha": alpha}
    expr = claim.derivation.result if source == "derived" else claim.printed.expr
    if expr is None:
        return None
    numbers = [float(evaluate(e, **values)) for e in sp.Matrix(expr)]
    names = {S.eta: "eta", S.lam: "lam", S.eps: "eps"}
    return {names[s]: v for s, v in zip(hyper_symbols, numbers)}


def _run(rule: str, theta: dict, w0: np.ndarray, steps: int, seed: int, backward: str) -> np.ndarray:
    hyper = Hyper(eta=theta["eta"], lam=theta["lam"], eps=theta.get("eps", 0.0))
    G, n, d = w0.shape
    model = BNUnit(d, 16, backward, (G, n), np.float64, sigma_x=1.3)
    chains = VectorChains(rule, hyper, model, w0, warm=False, dtype=np.float64)
    rng = stream(seed, 0)
    out = np.empty((steps + 1,) + w0.shape)
    out[0] = chains.w
    for t in range(steps):
        chains.step(rng)
        out[t + 1] = chains.w
    return out


def _discrepancy(big: np.ndarray, small: np.ndarray, alpha: float) -> float:
    """``max_t ||w_A/alpha - w_B|| / ||w_B||`` over steps and chains."""
    diff = np.linalg.norm(big / alpha - small, axis=-1)
    return float(np.max(diff / np.linalg.norm(small, axis=-1)))


def equivariance(rule: str, alpha: float = 3.7, steps: int = 200, chains: int = 4, d: int = 8, seed: int = 0,
                 backward: str = "full") -> dict:
    """Run the rule from ``alpha*w0`` with theta and from ``w0`` with the transformed theta; the discrepancies."""
    w0 = np.random.default_rng(seed).standard_normal((1, chains, d))
    base = {"eps": 0.0, **BASE[rule]}
    big = _run(rule, base, alpha * w0, steps, seed, backward)
    out = {"rule": rule, "alpha": alpha, "steps": steps, "chains": chains, "d": d, "backward": backward,
           "theta": base, "derived_theta": transform(rule, alpha)}
    out["derived"] = _discrepancy(big, _run(rule, out["derived_theta"], w0, steps, seed, backward), alpha)
    out["untransformed"] = _discrepancy(big, _run(rule, base, w0, steps, seed, backward), alpha)
    if base["eps"] > 0:       # epsilon alone left untransformed: shows that its exponent matters too
        out["eps_untransformed"] = _discrepancy(
            big, _run(rule, {**out["derived_theta"], "eps": base["eps"]}, w0, steps, seed, backward), alpha)
    printed = transform(rule, alpha, "printed")
    if printed is not None and any(abs(printed[k] - out["derived_theta"][k]) > 1e-12 * abs(printed[k])
                                   for k in printed):
        out["printed_theta"] = printed
        out["printed"] = _discrepancy(big, _run(rule, printed, w0, steps, seed, backward), alpha)
    return out


def growth_without_decay(steps: int = 300, chains: int = 8, d: int = 8, eta: float = 0.1, seed: int = 0) -> dict:
    """SGD with ``lam = 0`` on a full-backward BN unit, float64: ``N_{t+1} - N_t - eta^2 ||grad||^2`` (must be 0)
    and the smallest step-to-step change of ``N`` (must be >= 0)."""
    rng = stream(seed, 0)
    w0 = np.random.default_rng(seed).standard_normal((1, chains, d))
    hyper = Hyper(eta=eta, lam=0.0)
    model = BNUnit(d, 16, "full", (1, chains), np.float64)
    chains_ = VectorChains("sgd", hyper, model, w0, track_grad=True, dtype=np.float64)
    worst, smallest = 0.0, np.inf
    for _ in range(steps):
        before = chains_.N.copy()
        chains_.step(rng)
        increment = chains_.N - before
        worst = max(worst, float(np.max(np.abs(increment - eta**2 * chains_.grad_norm**2) / chains_.N)))
        smallest = min(smallest, float(np.min(increment)))
    return {"pythagoras_residual": worst, "smallest_increment": smallest, "steps": steps, "chains": chains,
            "final_N_over_initial": float(np.mean(chains_.N / np.einsum("gnd,gnd->gn", w0, w0)))}
