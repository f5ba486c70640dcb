"""Monte-Carlo checks of the angular equilibria (``theory.angular``, ``theory.lion``) and Defazio's ratio
(``theory.grad_ratio``), run by the engine on the Section 4 model.

Chains of each rule start at the closure's norm in random directions (state warm, ``engine.Spec``) and are burnt
in for ``BURN_TAUS`` relaxation times of the rule's linear model (``predict.relaxation_time``), then measured. The
noise is orthogonal to the point where the gradient is taken (the full BN backward), ``E||g||^2 = C = 1``; Lion's
gradient coordinates are i.i.d. Gaussian, not divided by ``||w||`` (its derivation's model; a sign step ignores
the scale). Tolerances: ``Z`` SE (over chains) plus a stated bias bound:

* transient: an initial relative deviation of at most 1 decays to ``exp(-BURN_TAUS)``, doubled for a ratio;
* closure (``E[1/N] -> 1/E[N]``) for the norm: ``CV^2`` of ``N`` (measured), the leading-order bias being
  ``CV^2/2``; AdamW's true accumulator adds ``4 (1 - beta2)`` (relative, on the noise power);
* the mean angle against ``acos(cos theta*)`` (a ratio of moments): ``theta*/d`` (four times the delta method's
  ``theta*/(4(d-1))`` for SGD).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from normlaws.errors import UsageError
from normlaws.outcome import Z, component, result
from normlaws.theory import grad_ratio

from . import predict
from .engine import Spec, run
from .params import Hyper
from .stats import jackknife

BURN_TAUS = 10.0
SEED = 2006_08419
#: (d, chains, window) per size; 'quick' keeps these checks together under a minute on 2 cores
SIZES = {"quick": {"d": 128, "chains": 192, "window": 800}, "full": {"d": 256, "chains": 512, "window": 3000}}
#: (eta, lam, constants) per rule: eta lam small, a burn-in of 10 relaxation times affordable
RULE_PARAMS = {
    "sgd": (0.1, 0.02, {}),
    "momentum": (0.02, 0.05, {"rho": 0.9}),
    "nesterov": (0.02, 0.05, {"rho": 0.9}),
    "nesterov_torch": (0.02, 0.05, {"rho": 0.9}),
    "adamw": (0.01, 0.4, {"beta1": 0.9, "beta2": 0.999}),
    "lion": (0.01, 0.2, {"beta1": 0.9, "beta2": 0.99}),
}


def _size(size: str) -> dict:
    if size not in SIZES:
        raise UsageError(f"unknown size {size!r}; choose quick or full")
    return SIZES[size]


@lru_cache(maxsize=None)
def run_rule(rule: str, size: str = "quick", seed: int = SEED):
    """The engine's run of ``rule`` at ``RULE_PARAMS[rule]`` with the observables these checks need, and its
    prediction (``predict.equilibrium``)."""
    eta, lam, extra = RULE_PARAMS[rule]
    cfg = _size(size)
    hyper = Hyper(eta=eta, lam=lam, **extra)
    pred = predict.equilibrium(rule, eta, lam, cfg["d"], 1.0, hyper.rho, hyper.beta1, hyper.beta2)
    memory = 1 / (1 - hyper.beta2) if rule in ("adamw", "lion") else 0.0
    burn = int(math.ceil(BURN_TAUS * max(pred["tau"], memory / 3 if rule == "adamw" else memory)))
    spec = Spec(rule, hyper, d=cfg["d"], chains=cfg["chains"], steps=cfg["window"], burn=burn, C=1.0, seed=seed,
                variant="unscaled" if rule == "lion" else "orthogonal", track_grad=True, progress=False,
                label=f"{rule} angular equilibrium")
    return run(spec), pred


def _chain_means(r, name: str) -> np.ndarray:
    return r.blocks[name].reshape(r.blocks[name].shape[-2:]).mean(-1)


def _mean_se(x: np.ndarray) -> tuple:
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def _ratio(r, top: str, bottom: str) -> tuple:
    blocks = [r.blocks[n].reshape(r.blocks[n].shape[-2:]) for n in (top, bottom)]
    return jackknife(lambda a, b: a / b, *blocks)


def _transient(r, pred) -> float:
    return math.exp(-r.burn / pred["tau"])


def _params(r) -> dict:
    sp = r.spec
    return {"rule": sp.rule, "eta": float(sp.hyper.eta), "lam": float(sp.hyper.lam), "rho": sp.hyper.rho,
            "beta1": sp.hyper.beta1, "beta2": sp.hyper.beta2, "d": sp.d, "chains": sp.chains, "window": r.steps,
            "burn": r.burn, "variant": sp.variant}


def angle_check(rule: str):
    """``later.angle.<rule>``: the chord ratio (exact in the model), the mean angle and the norm (closure)."""

    def check(size: str = "quick", seed: int = 0) -> dict:
        r, p = run_rule(rule, size, SEED + seed)
        tr = _transient(r, p)
        chord, chord_se = _ratio(r, "chord", "N")
        theta, theta_se = _mean_se(_chain_means(r, "angle"))
        N, N_se = _mean_se(_chain_means(r, "N"))
        cv2 = float(_chain_means(r, "N2").mean() / N**2 - 1)
        closure = cv2 + (4 * (1 - r.spec.hyper.beta2) if rule == "adamw" else 0.0)
        comps = [component("E||dw||^2/E||w||^2", chord, p["chord"], chord_se, 2 * tr * p["chord"],
                           "exact moment ratio; bias: transient"),
                 component("E[theta]", theta, p["angle"], theta_se, p["angle"] / r.spec.d + tr * p["angle"],
                           "bias: theta*/d (step-norm fluctuations) + transient"),
                 component("E||w||^2", N, p["N"], N_se, (closure + tr) * p["N"],
                           "bias: closure CV^2" + (" + 4(1-beta2) accumulator" if rule == "adamw" else "")
                           + " + transient")]
        if rule == "lion":
            comps = comps[:2]
        return result(comps, _detail(rule, r, comps), SEED + seed, size, _params(r))

    return check


def lion_norm_check(size: str = "quick", seed: int = 0) -> dict:
    """``later.norm.lion``: ``E||w||^2`` against ``eta^2 d (1 + 2AQ)/(1 - A^2)``, exact in the model; the
    uncorrelated random-walk value is refuted."""
    r, p = run_rule("lion", size, SEED + seed)
    N, se = _mean_se(_chain_means(r, "N"))
    tr = 2 * _transient(r, p)
    comps = [component("E||w||^2", N, p["N"], se, tr * p["N"], "exact in the model; bias: transient")]
    return result(comps, _detail("lion", r, comps), SEED + seed, size, _params(r), Q=p["Q"],
                  random_walk_N=p["N_random_walk"])


def defazio_check(rule: str):
    """``later.defazio.<rule>``: ``E||grad L||^2/E||w||^2`` against the exact stationary value."""

    def check(size: str = "quick", seed: int = 0) -> dict:
        r, p = run_rule(rule, size, SEED + seed)
        measured, se = _ratio(r, "grad_sq", "N")
        values = dict(eta=float(r.spec.hyper.eta), lam=float(r.spec.hyper.lam), rho=r.spec.hyper.rho)
        exact = float(predict.evaluate(grad_ratio.defazio_derivation(rule).result, **values))
        leading = float(predict.evaluate(grad_ratio.defazio_derivation(rule).extras["ratio_leading"], **values))
        comps = [component("E||grad L||^2/E||w||^2", measured, exact, se, 2 * _transient(r, p) * exact,
                           "exact moment ratio; bias: transient")]
        return result(comps, _detail(rule, r, comps), SEED + seed, size, _params(r), ratio=math.sqrt(measured),
                      ratio_predicted=math.sqrt(exact), ratio_leading=leading)

    return check


def _detail(rule, r, comps) -> str:
    sp = r.spec
    head = (f"{rule}, eta={float(sp.hyper.eta):g}, lam={float(sp.hyper.lam):g}, d={sp.d}, {sp.chains} chains x "
            f"{r.steps} steps after {r.burn}")
    return head + ": " + "; ".join(f"{c['quantity']} {c['measured']:.6g} vs {c['predicted']:.6g} "
                                   f"(tol {c['tolerance']:.2g})" for c in comps)


CHECKS = {
    "later.angle.sgd": angle_check("sgd"),
    "later.angle.momentum": angle_check("momentum"),
    "later.angle.nesterov": angle_check("nesterov"),
    "later.angle.nesterov_torch": angle_check("nesterov_torch"),
    "later.angle.adamw": angle_check("adamw"),
    "later.angle.lion": angle_check("lion"),
    "later.norm.lion": lion_norm_check,
    "later.defazio.sgd": defazio_check("sgd"),
    "later.defazio.momentum": defazio_check("momentum"),
}
del Z
