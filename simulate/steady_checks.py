"""Monte-Carlo checks of the equilibria of Table 1 and of the update rules' equivariance:
``CHECKS[claim_id](size="quick"|"full", seed=0) -> dict`` (``normlaws.outcome``'s result).

The prediction is the theory's (lambdified from ``normlaws.theory`` by ``simulate.predict``); the tolerance is
``Z * SE + |bias bound|``, the bias being the closure's derived first-order correction's remainder
(``simulate.bias``, ``theory.closure_bias``) or a derived finite-size effect, stated in the component's ``note``.
A measurement window that fails the drift test is ``skipped`` (not equilibrated), never compared. Seeds are fixed;
each result records its seed and parameters. Where the paper prints a formula that can be evaluated, its value at
the same numbers is recorded as ``printed`` (paper symbols with ``gamma = 1``, ``sigma_nabla = sqrt(2C/d)``, i.e.
``C = d gamma^2 sigma_nabla^2/2``).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from normlaws.errors import UsageError
from normlaws.outcome import Z, component, refutation, result, skipped
from normlaws.theory import catalog, updates
from normlaws.theory import symbols as S

from . import bias as B
from . import predict, trajectory
from .engine import Spec, default_lengths, random_directions, timescales, run
from .models import Section4Noise
from .params import Hyper
from .rng import stream
from .rules import VectorChains
from .stats import estimate

D = 64
SIZES = {
    "quick": {"scalar_chains": 4096, "vector_chains": 256, "window": 1.0, "samples": 20000},
    "full": {"scalar_chains": 32768, "vector_chains": 1024, "window": 2.0, "samples": 100000},
}
#: the (eta, lam) of each rule's equilibrium check: eta*lam = 1e-3 (2.5e-4 for momentum, whose closure bias
#: reaches its leading order only once eta*lam << (1-rho)^2)
POINT = {"sgd": (0.1, 0.01), "momentum": (0.05, 0.005), "nesterov": (0.05, 0.005), "rmsprop": (0.01, 0.1),
         "adam": (0.01, 0.1), "adamw": (0.01, 0.1), "normalized": (0.1, 0.01)}
#: measurement window per rule, as a fraction of the engine's default (20 relaxation times of the rule's moment
#: map, or 10 memories): the windows tuned when the default was the decay-only bound (momentum 0.25 x 20 x 1000
#: steps, RMSProp 20 x 213, Adam and AdamW half of 10 memories), kept the same length in steps
WINDOW = {"momentum": 6.7, "nesterov": 6.5, "rmsprop": 1.5, "adam": 0.5, "adamw": 0.5}
#: RMSProp's accumulator decay: 0.99, where the closure's derived first-order bias (theory.closure_bias: the
#: accumulator's window, -(1-rho)/4, and the norm's fluctuations) leaves a second-order remainder below the SE
RHO = {"rmsprop": 0.99}


def _size(size: str) -> dict:
    if size not in SIZES:
        raise UsageError(f"unknown size {size!r}; choose quick or full")
    return SIZES[size]


def _hyper(rule: str, **changes) -> Hyper:
    eta, lam = POINT[rule]
    changes.setdefault("rho", RHO.get(rule, 0.9))
    return Hyper(eta=eta, lam=lam, **changes)


def _drift_note(e) -> str:
    return f"window not equilibrated: second half minus first {e.drift:.4g} ± {e.drift_se:.2g}"


# ---- equilibrium runs (shared by the norm and effective-learning-rate checks) ---------------------------
@lru_cache(maxsize=32)
def equilibrium(rule: str, size: str = "quick", seed: int = 0, variant: str = "isotropic", rho: float | None = None):
    """The equilibrium run of ``rule`` at ``POINT[rule]`` (cached: norm and eff-lr checks share it)."""
    s = _size(size)
    hyper = _hyper(rule) if rho is None else _hyper(rule, rho=rho)
    chains = s["scalar_chains"] if rule == "sgd" else s["vector_chains"]
    spec = Spec(rule, hyper, d=D, chains=chains, seed=seed, variant=variant, progress=False,
                label=f"{rule} equilibrium")
    burn, steps = default_lengths(spec)
    spec.steps = int(math.ceil(steps * s["window"] * WINDOW.get(rule, 1.0) / spec.blocks) * spec.blocks)
    return run(spec)


def _params(run_) -> dict:
    sp = run_.spec
    return {"rule": sp.rule, "eta": float(sp.hyper.eta), "lam": float(sp.hyper.lam), "d": sp.d, "C": sp.model_C,
            "chains": sp.chains, "burn": run_.burn, "steps": run_.steps, "variant": sp.variant,
            "rho": sp.hyper.rho, "beta1": sp.hyper.beta1, "beta2": sp.hyper.beta2, "model": sp.model,
            "reduced_scalar_chain": sp.scalar}


def norm_check(rule: str):
    """``table1.<rule>.norm``: the stationary ``E||w||^2`` against the closure's ``N*``."""

    def check(size: str = "quick", seed: int = 0) -> dict:
        r = equilibrium(rule, size, seed)
        sp, params = r.spec, _params(r)
        e, en = estimate(r.blocks["N"]), estimate(r.blocks["norm"])
        if not e.equilibrated:
            return skipped(_drift_note(e), seed, size, params)
        closure = float(predict.closure_N(rule, sp.hyper, D, sp.model_C))
        leading = float(predict.leading_N(rule, sp.hyper, D, sp.model_C))
        correction, bound, how = B.closure_bias(rule, "N", D, sp.hyper, sp.variant, sp.model_C)
        predicted = closure * (1 + correction)
        comp = component("E||w||^2", e.mean, predicted, e.se, bound * predicted,
                         f"closure N* times 1 + its derived bias; bias bound: {how}")
        tol = comp["tolerance"]
        exps = predict.derived_exponents(f"table1.{rule}.norm")
        printed_e = predict.printed_exponents(f"table1.{rule}.norm")
        extra = {"quantity": "E||w||^2", "closure": closure, "leading": leading, "correction": correction,
                 "bias": bound, "bias_source": how,
                 "norm": {"measured": en.mean, "se": en.se, "closure": math.sqrt(closure)},
                 "EN_EinvN_minus_1": e.mean * estimate(r.blocks["inv_N"]).mean - 1,
                 "derived_exponents": exps, "printed_exponents": printed_e, "seconds": r.seconds}
        detail = (f"E||w||^2 = {e.mean:.5g} ± {e.se:.2g} vs closure N* = {closure:.5g} (leading order "
                  f"{leading:.5g}); relative error {e.mean / closure - 1:+.4f}"
                  + (f"; corrected by the closure's derived bias {correction:+.4f}: {predicted:.5g}, relative error "
                     f"{e.mean / predicted - 1:+.4f}" if correction else "")
                  + f"; tolerance {Z:g} SE + bound = {tol:.3g}, bound {bound:.3g} ({how}); E||w|| = {en.mean:.5g} ± "
                  f"{en.se:.2g}")
        return result([comp], detail, seed, size, params, **extra)

    return check


# ---- effective learning rate at equilibrium --------------------------------------------------------------
def reference_run(rule: str, hyper: Hyper, N_star: float, size: str, seed: int):
    """Chains held at unit norm with the hyperparameters the rescaling gives at ``||w|| = sqrt(N*)``.

    Their mean angular step is what a unit-norm run at the predicted effective learning rate turns by; the
    equilibrium run's mean angle over it measures the effective learning rate in units of the prediction.
    """
    theory_rule = "sgd" if rule == "normalized" else rule
    extras = catalog.get(f"update.{theory_rule}.equivariance").derivation.extras
    alpha = math.sqrt(N_star)
    scale = {S.eta: "eta", S.lam: "lam", S.eps: "eps"}
    changes = {scale[h]: getattr(hyper, scale[h]) * alpha ** float(extras[f"exponent_{h}"])
               for h in updates.RULES[theory_rule].hyper}
    ref_hyper = hyper.with_(**changes)
    tau, memory = timescales(rule, hyper, D, float(D))
    s = _size(size)
    spec = Spec(rule, ref_hyper, d=D, chains=s["vector_chains"], seed=seed + 1, start=1.0, renormalize=True,
                burn=int(min(5 * memory, 2000) + 100), steps=int(max(2000, 2 * memory) * s["window"]) // 20 * 20,
                progress=False, label=f"{rule} reference")
    return run(spec), ref_hyper


def eff_lr_check(rule: str):
    """``table1.<rule>.eff_lr_eq``: the effective learning rate at equilibrium, measured by the angular step."""

    def check(size: str = "quick", seed: int = 0) -> dict:
        r = equilibrium(rule, size, seed)
        sp, params = r.spec, _params(r)
        ea = estimate(r.blocks["angle"])
        if not ea.equilibrated:
            return skipped(_drift_note(ea), seed, size, params)
        N_star = float(predict.closure_N(rule, sp.hyper, D, sp.model_C))
        predicted = float(predict.eff_lr_at(rule, sp.hyper, N_star))
        claimed = float(predict.equilibrium_eff_lr(rule, sp.hyper, D, sp.model_C))
        ref, ref_hyper = reference_run(rule, sp.hyper, N_star, size, seed)
        er = estimate(ref.blocks["angle"])
        ratio = ea.mean / er.mean
        rel_se = math.sqrt((ea.se / ea.mean) ** 2 + (er.se / er.mean) ** 2)
        measured, se = predicted * ratio, predicted * ratio * rel_se
        correction, bound, how = B.closure_bias(rule, "eff_lr", D, sp.hyper, sp.variant, sp.model_C)
        closure_value = predicted
        predicted = closure_value * (1 + correction)
        comp = component("eta_eff at equilibrium", measured, predicted, se, bound * predicted,
                         f"rule's eta/||w||^k at N* times 1 + the closure's derived bias; bias bound: {how}")
        tol = comp["tolerance"]
        printed = predict.printed_value(f"table1.{rule}.eff_lr_eq", sp.hyper, D, sp.model_C)
        detail = (f"mean angle per step {ea.mean:.5g} ± {ea.se:.2g} rad at equilibrium, {er.mean:.5g} ± "
                  f"{er.se:.2g} for unit-norm reference chains at the rescaled hyperparameters (eta' = "
                  f"{float(ref_hyper.eta):.4g}): eta_eff = {measured:.5g} ± {se:.2g} against {predicted:.5g} "
                  f"(the rule's eta/||w||^k at the closure's N*, {closure_value:.5g}, times 1 + {correction:+.4f}; "
                  f"the claim's formula gives {claimed:.5g}); tolerance {Z:g} SE + bound = {tol:.3g} ({how})")
        extra = {"claimed": claimed, "angle": ea.as_dict(), "reference_angle": er.as_dict(), "bias": bound,
                 "correction": correction, "bias_source": how, "reference_eta": float(ref_hyper.eta),
                 "seconds": r.seconds + ref.seconds}
        if printed is not None:
            extra["printed"] = float(printed)
            extra["printed_form"] = "order (constant 1)"
        return result([comp], detail, seed, size, params, **extra)

    return check


# ---- normalized SGD ----------------------------------------------------------------------------------------
def normalized_norm(size: str = "quick", seed: int = 0) -> dict:
    """``table1.normalized.norm``: ``||w|| = 1`` after every step, to float32 rounding (``d * 2**-24``)."""
    hyper = _hyper("normalized")
    n, steps = 256, 500
    model = Section4Noise(D, float(D), "isotropic", (1, n))
    rng = stream(seed, 0)
    chains = VectorChains("normalized", hyper, model, random_directions(rng, (1, n, D)) * 3.0)
    worst = 0.0
    for _ in range(steps):
        chains.step(rng)
        worst = max(worst, float(np.max(np.abs(chains.N - 1))))
    tol = D * 2.0**-24 * 4      # d terms of squared float32 numbers with relative rounding 2^-24, 4x margin
    comp = component("max ||w||^2", 1.0 + worst, 1.0, 0.0, tol, "float32 rounding: 4 d 2^-24")
    return result([comp],
                  f"max | ||w||^2 - 1 | over {steps} steps x {n} chains = {worst:.2g} (float32; tolerance "
                  f"4 d 2^-24 = {tol:.2g})", seed, size, {"eta": POINT['normalized'][0], "lam": POINT['normalized'][1],
                                                         "d": D, "chains": n, "steps": steps},
                  printed=1.0)


def normalized_eff_lr(size: str = "quick", seed: int = 0) -> dict:
    """``table1.normalized.eff_lr_eq``: normalized SGD with L2 turns ``w`` exactly as normalized SGD without L2
    at ``eta/(1 - 2 eta lam)`` (same random numbers); the printed ``eta`` turns it less, by ``1 - 2 eta lam``."""
    eta, lam = 0.1, 0.05
    hyper = Hyper(eta=eta, lam=lam)
    derived = float(predict.eff_lr_at("normalized", hyper, np.ones(())))
    s = _size(size)
    n, steps = s["vector_chains"], int(2000 * s["window"])

    def mean_angles(h):
        rng = stream(seed, 0)
        model = Section4Noise(D, float(D), "isotropic", (1, n))
        chains = VectorChains("normalized", h, model, random_directions(rng, (1, n, D)), track_angle=True)
        total = np.zeros((1, n))
        for _ in range(steps):
            chains.step(rng)
            total += chains.angle
        return total[0] / steps

    actual = mean_angles(hyper)
    ref = mean_angles(Hyper(eta=derived, lam=0.0))
    printed_ref = mean_angles(Hyper(eta=eta, lam=0.0))
    diff = actual - ref
    se = float(diff.std(ddof=1) / math.sqrt(n))
    rounding = 1e-5 * float(actual.mean())        # float32 rounding of the angle, 10x margin
    measured = derived * float(actual.mean() / ref.mean())
    comp = component("eta_eff (paired angles)", measured, derived, derived * se / float(ref.mean()),
                     derived * rounding / float(ref.mean()), "bias bound: float32 rounding of the angle, 10x margin")
    printed_ratio = float(actual.mean() / printed_ref.mean())
    detail = (f"same random numbers: mean angle {actual.mean():.6g} with (eta, lam) = ({eta}, {lam}) and "
              f"{ref.mean():.6g} without L2 at eta/(1 - 2 eta lam) = {derived:.6g} (paired difference "
              f"{diff.mean():.2g} ± {se:.2g}); without L2 at the printed eta = {eta} the angle is "
              f"{printed_ref.mean():.6g}, ratio {printed_ratio:.5f} "
              f"(derived eta_eff/eta = {derived / eta:.5f})")
    return result([comp], detail, seed, size,
                  {"eta": eta, "lam": lam, "d": D, "chains": n, "steps": steps}, printed=eta,
                   printed_angle_ratio=printed_ratio)


# ---- update-rule equivariance (trajectory level, float64) ----------------------------------------------------
def equivariance_check(rule: str):
    """``update.<rule>.equivariance``: float64 trajectories at ``alpha*w`` and at ``w`` with transformed theta."""

    def check(size: str = "quick", seed: int = 0) -> dict:
        out = trajectory.equivariance(rule, steps=200 if size == "quick" else 1000, seed=seed)
        tol = trajectory.ROUNDING_TOLERANCE
        comps = [component("max relative trajectory gap, derived theta'", out["derived"], 0.0, 0.0, tol,
                           "exact identity; bound: float64 rounding"),
                 refutation("the same with theta untransformed (must differ)", out["untransformed"], 0.0, 1e3 * tol,
                            "control: without the transformation the trajectories part")]
        detail = (f"BN unit (full backward, d = {out['d']}), alpha = {out['alpha']}, {out['steps']} steps x "
                  f"{out['chains']} chains, float64: max ||w_A/alpha - w_B||/||w_B|| = {out['derived']:.2g} with "
                  f"the derived theta' = {out['derived_theta']} (tolerance {tol:g}: rounding); controls: "
                  f"theta untransformed {out['untransformed']:.3g}")
        if "eps_untransformed" in out:
            detail += f", epsilon alone untransformed {out['eps_untransformed']:.3g}"
        if "printed" in out:
            detail += f"; the paper's printed theta' = {out['printed_theta']} gives {out['printed']:.3g}"
        extra = {k: out[k] for k in ("derived_theta", "untransformed", "eps_untransformed", "printed_theta", "printed")
                 if k in out}
        return result(comps, detail, seed, size,
                      {"rule": rule, "alpha": out["alpha"], "steps": out["steps"], "d": out["d"],
                        "theta": out["theta"], "backward": out["backward"]}, **extra)

    return check


CHECKS = {
    "table1.sgd.norm": norm_check("sgd"),
    "table1.momentum.norm": norm_check("momentum"),
    "table1.nesterov.norm": norm_check("nesterov"),
    "table1.rmsprop.norm": norm_check("rmsprop"),
    "table1.adam.norm": norm_check("adam"),
    "table1.adamw.norm": norm_check("adamw"),
    "table1.normalized.norm": normalized_norm,
    "table1.sgd.eff_lr_eq": eff_lr_check("sgd"),
    "table1.momentum.eff_lr_eq": eff_lr_check("momentum"),
    "table1.nesterov.eff_lr_eq": eff_lr_check("nesterov"),
    "table1.rmsprop.eff_lr_eq": eff_lr_check("rmsprop"),
    "table1.adam.eff_lr_eq": eff_lr_check("adam"),
    "table1.adamw.eff_lr_eq": eff_lr_check("adamw"),
    "table1.normalized.eff_lr_eq": normalized_eff_lr,
    "update.sgd.equivariance": equivariance_check("sgd"),
    "update.momentum.equivariance": equivariance_check("momentum"),
    "update.nesterov.equivariance": equivariance_check("nesterov"),
    "update.rmsprop.equivariance": equivariance_check("rmsprop"),
    "update.rmsprop_torch.equivariance": equivariance_check("rmsprop_torch"),
    "update.adam.equivariance": equivariance_check("adam"),
    "update.adamw.equivariance": equivariance_check("adamw"),
}
