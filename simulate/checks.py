"""The Monte-Carlo leg's checks, by claim id: ``CHECKS[claim_id](size="quick"|"full", seed=0) -> dict``.

Every check returns ``{"status": "agrees"|"disagrees"|"skipped", "predicted", "measured", "se", "tolerance",
"relative_error", "detail", "seed", "params", ...}``. The prediction is the theory's (lambdified from
``normlaws.theory``); the tolerance is ``Z * SE + |known bias|``, the bias being the closure's leading-order
error (``simulate.bias``) or a derived finite-size effect, stated in ``detail`` and in ``bias``. A measurement
window that fails the drift test is reported as "skipped" (not equilibrated), never compared.

Why ``Z = 4``: with some 40 checks run routinely, a 4-sigma tolerance keeps the chance of any false alarm under
0.3 % (6e-5 each) while a real discrepancy of a few standard errors plus the bias is still caught. Seeds are
fixed; each result records its seed and parameters. Where the paper prints a formula that can be evaluated,
its value at the same numbers is recorded as ``printed`` (paper symbols with ``gamma = 1``,
``sigma_nabla = sqrt(2C/d)``, i.e. ``C = d gamma^2 sigma_nabla^2/2``).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from normlaws.errors import UsageError

from . import bias as B
from . import predict, trajectory
from .engine import Spec, relaxation_bound, run
from .bn_checks import CHECKS as BN_CHECKS
from .models import Section4Noise
from .params import Hyper
from .rng import stream
from .rules import VectorChains
from .scalar import ScalarSGD
from .stats import estimate, fit_line, jackknife

Z = 4.0
D = 64
SIZES = {
    "quick": {"scalar_chains": 4096, "vector_chains": 256, "window": 1.0, "samples": 20000},
    "full": {"scalar_chains": 32768, "vector_chains": 1024, "window": 2.0, "samples": 100000},
}
#: the (eta, lam) of each rule's equilibrium check: eta*lam = 1e-3 (2.5e-4 for momentum, whose closure bias
#: reaches its leading order only once eta*lam << (1-rho)^2)
POINT = {"sgd": (0.1, 0.01), "momentum": (0.05, 0.005), "nesterov": (0.05, 0.005), "rmsprop": (0.01, 0.1),
         "adam": (0.01, 0.1), "adamw": (0.01, 0.1), "normalized": (0.1, 0.01)}
NORM_RULES = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
#: measurement window per rule, as a fraction of the engine's default (20 relaxation-time bounds or 10
#: memories): momentum's norm relaxes ~20x faster than the decay-only bound (like SGD at eta/(1-rho)), and
#: Adam's memory bound is set by beta2 although its norm relaxes in ~1/(6 eta lam P) = 200 steps here
WINDOW = {"momentum": 0.25, "nesterov": 0.25, "adam": 0.5, "adamw": 0.5}


def _size(size: str) -> dict:
    if size not in SIZES:
        raise UsageError(f"unknown size {size!r}; choose quick or full")
    return SIZES[size]


#: RMSProp's accumulator decay: 0.99, where the closure's derived first-order bias (theory.closure_bias: the
#: accumulator's window, -(1-rho)/4, and the norm's fluctuations) leaves a second-order remainder below the SE
RHO = {"rmsprop": 0.99}


def _hyper(rule: str, **changes) -> Hyper:
    eta, lam = POINT[rule]
    changes.setdefault("rho", RHO.get(rule, 0.9))
    return Hyper(eta=eta, lam=lam, **changes)


def _result(status, predicted, measured, se, tolerance, detail, seed, params, **extra) -> dict:
    predicted, measured = float(predicted), float(measured)
    rel = (measured - predicted) / predicted if predicted != 0 else None
    return {"status": status, "predicted": predicted, "measured": measured, "se": float(se),
            "tolerance": float(tolerance), "relative_error": rel, "detail": detail, "seed": seed,
            "params": params, **extra}


def _compare(measured: float, predicted: float, se: float, bias: float) -> tuple[str, float]:
    tolerance = Z * se + abs(bias)
    return ("agrees" if abs(measured - predicted) <= tolerance else "disagrees"), tolerance


def _skipped(detail: str, seed: int, params: dict, **extra) -> dict:
    return {"status": "skipped", "predicted": None, "measured": None, "se": None, "tolerance": None,
            "relative_error": None, "detail": detail, "seed": seed, "params": params, **extra}


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
    from .engine import default_lengths
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
            return _skipped(_drift_note(e), seed, params)
        closure = float(predict.closure_N(rule, sp.hyper, D, sp.model_C))
        leading = float(predict.leading_N(rule, sp.hyper, D, sp.model_C))
        correction, bound, how = B.closure_bias(rule, "N", D, sp.hyper, sp.variant, sp.model_C)
        predicted = closure * (1 + correction)
        status, tol = _compare(e.mean, predicted, e.se, bound * predicted)
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
        return _result(status, predicted, e.mean, e.se, tol, detail, seed, params, **extra)

    return check


# ---- effective learning rate at equilibrium --------------------------------------------------------------
def reference_run(rule: str, hyper: Hyper, N_star: float, size: str, seed: int):
    """Chains held at unit norm with the hyperparameters the rescaling gives at ``||w|| = sqrt(N*)``.

    Their mean angular step is what a unit-norm run at the predicted effective learning rate turns by; the
    equilibrium run's mean angle over it measures the effective learning rate in units of the prediction.
    """
    from normlaws import registry
    from normlaws.theory import symbols as S
    from normlaws.theory import updates
    theory_rule = "sgd" if rule == "normalized" else rule
    extras = registry.get(f"update.{theory_rule}.equivariance").derivation.extras
    alpha = math.sqrt(N_star)
    scale = {S.eta: "eta", S.lam: "lam", S.eps: "eps"}
    changes = {scale[h]: getattr(hyper, scale[h]) * alpha ** float(extras[f"exponent_{h}"])
               for h in updates.RULES[theory_rule].hyper}
    ref_hyper = hyper.with_(**changes)
    tau, memory = relaxation_bound(rule, hyper, D, float(D))
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
            return _skipped(_drift_note(ea), seed, params)
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
        status, tol = _compare(measured, predicted, se, bound * predicted)
        printed = predict.printed_value(f"table1.{rule}.eff_lr_eq", sp.hyper, D, sp.model_C)
        detail = (f"mean angle per step {ea.mean:.5g} ± {ea.se:.2g} rad at equilibrium, {er.mean:.5g} ± "
                  f"{er.se:.2g} for unit-norm reference chains at the rescaled hyperparameters (eta' = "
                  f"{float(ref_hyper.eta):.4g}): eta_eff = {measured:.5g} ± {se:.2g} against {predicted:.5g} "
                  f"(the rule's eta/||w||^k at the closure's N*, {closure_value:.5g}, times 1 + {correction:+.4f}; "
                  f"the claim's formula gives {claimed:.5g}); tolerance {Z:g} SE + bound = {tol:.3g} ({how})")
        extra = {"claimed": claimed, "angle": ea.as_dict(), "reference_angle": er.as_dict(), "bias": bound,
                 "correction": correction, "bias_source": how, "reference_eta": float(ref_hyper.eta), "seconds": r.seconds + ref.seconds}
        if printed is not None:
            extra["printed"] = float(printed)
            extra["printed_form"] = "order (constant 1)"
        return _result(status, predicted, measured, se, tol, detail, seed, params, **extra)

    return check


# ---- normalized SGD ----------------------------------------------------------------------------------------
def normalized_norm(size: str = "quick", seed: int = 0) -> dict:
    """``table1.normalized.norm``: ``||w|| = 1`` after every step, to float32 rounding (``d * 2**-24``)."""
    hyper = _hyper("normalized")
    n, steps = 256, 500
    model = Section4Noise(D, float(D), "isotropic", (1, n))
    rng = stream(seed, 0)
    from .engine import random_directions
    chains = VectorChains("normalized", hyper, model, random_directions(rng, (1, n, D)) * 3.0)
    worst = 0.0
    for _ in range(steps):
        chains.step(rng)
        worst = max(worst, float(np.max(np.abs(chains.N - 1))))
    tol = D * 2.0**-24 * 4      # d terms of squared float32 numbers with relative rounding 2^-24, 4x margin
    return _result("agrees" if worst <= tol else "disagrees", 1.0, 1.0 + worst, 0.0, tol,
                   f"max | ||w||^2 - 1 | over {steps} steps x {n} chains = {worst:.2g} (float32; tolerance "
                   f"4 d 2^-24 = {tol:.2g})", seed, {"eta": POINT['normalized'][0], "lam": POINT['normalized'][1],
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
        from .engine import random_directions
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
    status, tol = _compare(measured, derived, derived * se / float(ref.mean()), derived * rounding / float(ref.mean()))
    printed_ratio = float(actual.mean() / printed_ref.mean())
    detail = (f"same random numbers: mean angle {actual.mean():.6g} with (eta, lam) = ({eta}, {lam}) and "
              f"{ref.mean():.6g} without L2 at eta/(1 - 2 eta lam) = {derived:.6g} (paired difference "
              f"{diff.mean():.2g} ± {se:.2g}); without L2 at the printed eta = {eta} the angle is "
              f"{printed_ref.mean():.6g}, ratio {printed_ratio:.5f} "
              f"(1/(1 - 2 eta lam) = {1 / (1 - 2 * eta * lam):.5f})")
    return _result(status, derived, measured, derived * se / float(ref.mean()), tol, detail, seed,
                   {"eta": eta, "lam": lam, "d": D, "chains": n, "steps": steps}, printed=eta,
                   printed_angle_ratio=printed_ratio)


# ---- Section 4, SGD ----------------------------------------------------------------------------------------
def _one_step(rule: str, hyper: Hyper, N_values: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``N_{t+1} - N_t`` for ``n`` independent one-step draws from each ``N`` in ``N_values`` (float64)."""
    G = N_values.size
    grid = Hyper(eta=np.full(G, float(hyper.eta)), lam=np.full(G, float(hyper.lam)), rho=hyper.rho)
    rng = stream(seed, 0)
    from .engine import random_directions
    w0 = random_directions(rng, (G, n, D), np.float64) * np.sqrt(N_values)[:, None, None]
    model = Section4Noise(D, float(D), "isotropic", (G, n), np.float64)
    chains = VectorChains(rule, grid, model, w0, dtype=np.float64)
    before = chains.N.copy()
    chains.step(rng)
    return chains.N - before


def _recursion_check(claim_id, rule, hyper, predicted_fn, N_values, size, seed, note):
    n = _size(size)["samples"]
    increments = _one_step(rule, hyper, N_values, n, seed)
    measured = increments.mean(1)
    se = increments.std(1, ddof=1) / math.sqrt(n)
    predicted = predicted_fn(N_values)
    printed = predict.printed_value(claim_id, hyper, D, float(D), r=np.sqrt(N_values))
    zs = np.abs(measured - predicted) / (Z * se)
    worst = 0         # the headline: the lowest N, where the noise term dominates (at N* the increment is ~0)
    status = "agrees" if np.all(zs <= 1) else "disagrees"
    points = [{"N": float(N), "predicted": float(p), "measured": float(m), "se": float(s),
               "printed": None if printed is None else float(q)}
              for N, p, m, s, q in zip(N_values, predicted, measured, se,
                                       printed if printed is not None else [None] * len(N_values))]
    detail = "; ".join(f"N = {p['N']:.4g}: E[dN] = {p['measured']:.5g} ± {p['se']:.2g} vs {p['predicted']:.5g}"
                       + (f" (printed {p['printed']:.5g})" if p["printed"] is not None else "") for p in points)
    detail += f"; tolerance {Z:g} SE, no bias (a one-step expectation). {note}"
    params = {"rule": rule, "eta": float(hyper.eta), "lam": float(hyper.lam), "d": D, "C": float(D),
              "samples": n, "rho": hyper.rho}
    return _result(status, predicted[worst], measured[worst], se[worst], Z * se[worst], detail, seed, params,
                   points=points, printed=None if printed is None else float(printed[worst]))


def sgd_recursion(size: str = "quick", seed: int = 0) -> dict:
    """``sec4.sgd.recursion``: ``E[N_{t+1} | N_t] - N_t`` from one-step draws of the full-vector chain."""
    hyper = _hyper("sgd")
    N_star = float(predict.closure_N("sgd", hyper, D, float(D)))
    return _recursion_check("sec4.sgd.recursion", "sgd", hyper, lambda N: predict.sgd_recursion(N, hyper, float(D)),
                            N_star * np.array([0.25, 1.0, 4.0]), size, seed,
                            "The paper's printed recursion uses (1 - eta lam) and no factor d.")


def rmsprop_recursion(size: str = "quick", seed: int = 0) -> dict:
    """``sec52.rmsprop.recursion``: RMSProp's one-step ``E[dN]`` with the accumulator at its mean ``C/(d N)``."""
    hyper = _hyper("rmsprop")
    N_star = float(predict.closure_N("rmsprop", hyper, D, float(D)))
    derived = lambda N: predict.derived_value("sec52.rmsprop.recursion", hyper, D, float(D), r=np.sqrt(N))  # noqa
    return _recursion_check("sec52.rmsprop.recursion", "rmsprop", hyper, derived,
                            N_star * np.array([0.25, 1.0, 4.0]), size, seed,
                            "The step divides by sqrt(rho s + (1-rho) G^2): the current gradient is inside the "
                            "accumulator, which the derivation (accumulator at its mean) leaves out.")


def sgd_relaxation(size: str = "quick", seed: int = 0) -> dict:
    """``sec4.sgd.relaxation``: the time constant of ``E||w||^2``'s return to equilibrium.

    Equilibrated chains (exact scalar reduction) are copied three times: scaled by ``1 + delta``, by
    ``1 - delta`` and unscaled, and run on the same random numbers. Half the difference of the two scaled
    copies' mean ``N`` is the response to the displacement, free of the stationary fluctuations and, by
    antisymmetry, of the map's curvature to second order; its log is fitted against t.
    """
    s = _size(size)
    hyper = _hyper("sgd")
    n = s["scalar_chains"] * 4
    tau = float(predict.sgd_relaxation_time(hyper))
    delta = 0.1
    N_star = float(predict.closure_N("sgd", hyper, D, float(D)))
    rng = stream(seed, 0)
    base = ScalarSGD(hyper, D, float(D), "isotropic", np.full((1, n), N_star))
    for _ in range(int(5 * tau)):
        base.step(rng)
    span = int(3 * tau)
    curves = []
    for factor in (1 + delta, 1 - delta):
        chains = ScalarSGD(hyper, D, float(D), "isotropic", base.N * factor)
        crn = stream(seed, 1)
        path = np.empty((span + 1, n))
        path[0] = chains.N
        for t in range(span):
            chains.step(crn)
            path[t + 1] = chains.N
        curves.append(path)
    response = (curves[0] - curves[1]) / 2                      # per chain
    mean, se = response.mean(1), response.std(1, ddof=1) / math.sqrt(n)
    t = np.arange(span + 1)
    use = (mean > 10 * se) & (t <= 2.5 * tau)
    fit = fit_line(t[use], np.log(mean[use]), se[use] / mean[use])
    measured = -1.0 / fit.slope
    measured_se = fit.se / fit.slope**2
    bias = 1.5 * delta**2 + 1.0 / D
    status, tol = _compare(measured, tau, measured_se, bias * tau)
    detail = (f"time constant {measured:.4g} ± {measured_se:.2g} steps from a log-linear fit over t = 0..{t[use][-1]} "
              f"(response to ±{delta:.0%} displacements of equilibrated chains, same random numbers) vs the "
              f"derived -1/ln(2a^2 - 1) = {tau:.4g} (leading order 1/(8 eta lam) = "
              f"{1 / (8 * float(hyper.eta * hyper.lam)):.4g}); "
              f"tolerance {Z:g} SE + bias bound (1.5 delta^2 from the map's curvature, antisymmetrized, + 1/d from "
              f"the noise's averaging of the map) = {tol:.3g}; fit chi2/dof {fit.chi2_red:.2f}")
    return _result(status, tau, measured, measured_se, tol, detail, seed,
                   {"eta": float(hyper.eta), "lam": float(hyper.lam), "d": D, "C": float(D), "chains": n,
                    "delta": delta, "burn": int(5 * tau), "span": span},
                   bias=bias, fit=fit.as_dict(), curve={"t": t.tolist(), "response": mean.tolist(),
                                                        "se": se.tolist()})


def sgd_growth(size: str = "quick", seed: int = 0) -> dict:
    """``sec4.sgd.growth_no_decay``: without L2, ``E[N_t^2] >= N_0^2 + 2 eta^2 C t`` and
    ``eta_eff -> 1/sqrt(2 C t)``."""
    s = _size(size)
    eta, C = 0.1, float(D)
    t0 = 100
    N0 = math.sqrt(2 * eta**2 * C * t0)           # as if the run had already lasted t0 steps
    steps = int(10000 * s["window"])
    spec = Spec("sgd", Hyper(eta=eta, lam=0.0), d=D, chains=s["scalar_chains"], seed=seed, start=N0 * 1.0,
                burn=0, steps=steps, curve=True, progress=False, blocks=20)
    r = run(spec)
    t = r.curve["t"]
    bound = predict.growth_bound(t, N0, eta, C)                  # a bound on N_t; E[N_t^2] >= bound^2
    m2, m2_se = r.curve["N2"]["mean"], r.curve["N2"]["se"]
    below = float(np.max((bound**2 - m2) / m2_se))
    bound_ok = below <= Z
    inv, inv_se = r.curve["inv_N"]["mean"][-1], r.curve["inv_N"]["se"][-1]
    predicted = float(predict.growth_eff_lr(t[-1] + t0, C))
    measured, se = eta * inv, eta * inv_se
    bias = B.sgd_law_ratio(D) - 1 + t0 / (t[-1] + t0)
    status, tol = _compare(measured, predicted, se, bias * predicted)
    pythagoras = trajectory.growth_without_decay(seed=seed)
    exact_ok = pythagoras["pythagoras_residual"] < 1e-12 and pythagoras["smallest_increment"] > 0
    if not (bound_ok and exact_ok):
        status = "disagrees"
    ratio = float(m2[-1] / bound[-1] ** 2)
    detail = (f"E[N_t^2] never below N_0^2 + 2 eta^2 C t by more than {Z:g} SE (worst {below:+.2f} SE; the bound "
              f"holds exactly in the model by the tower rule); at t = {t[-1]}: E[N_t^2]/bound^2 = {ratio:.4f} "
              f"(diffusion law: 1 + 2/d = {1 + 2 / D:.4f} for isotropic noise), eta E[1/N_t] = {measured:.5g} ± "
              f"{se:.2g} vs 1/sqrt(2 C (t + t0)) = {predicted:.5g}, tolerance {Z:g} SE + bias {bias:.4f} (Gamma "
              f"law + start); float64 BN unit, full backward: every step adds eta^2||grad||^2 to ||w||^2 "
              f"(residual {pythagoras['pythagoras_residual']:.1g}), smallest increment "
              f"{pythagoras['smallest_increment']:.2g} > 0")
    return _result(status, predicted, measured, se, tol, detail, seed,
                   {"eta": eta, "lam": 0.0, "d": D, "C": C, "chains": spec.chains, "steps": steps, "N0": N0},
                   bound_margin_se=below, second_moment_ratio=ratio, trajectory=pythagoras)


# ---- update-rule equivariance (trajectory level, float64) ----------------------------------------------------
def equivariance_check(rule: str):
    """``update.<rule>.equivariance``: float64 trajectories at ``alpha*w`` and at ``w`` with transformed theta."""

    def check(size: str = "quick", seed: int = 0) -> dict:
        out = trajectory.equivariance(rule, steps=200 if size == "quick" else 1000, seed=seed)
        tol = trajectory.ROUNDING_TOLERANCE
        controls_fail = out["untransformed"] > 1e3 * tol
        status = "agrees" if out["derived"] <= tol and controls_fail else "disagrees"
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
        return _result(status, 0.0, out["derived"], 0.0, tol, detail, seed,
                       {"rule": rule, "alpha": out["alpha"], "steps": out["steps"], "d": out["d"],
                        "theta": out["theta"], "backward": out["backward"]}, **extra)

    return check


CHECKS = {
    **{f"table1.{rule}.norm": norm_check(rule) for rule in NORM_RULES},
    "table1.normalized.norm": normalized_norm,
    **{f"table1.{rule}.eff_lr_eq": eff_lr_check(rule) for rule in NORM_RULES},
    "table1.normalized.eff_lr_eq": normalized_eff_lr,
    **BN_CHECKS,
    "sec4.sgd.recursion": sgd_recursion,
    "sec4.sgd.relaxation": sgd_relaxation,
    "sec4.sgd.growth_no_decay": sgd_growth,
    "sec52.rmsprop.recursion": rmsprop_recursion,
    **{f"update.{rule}.equivariance": equivariance_check(rule) for rule in trajectory.RULES},
}


def run_all(size: str = "quick", seed: int = 0, ids=None, progress: bool = True) -> dict:
    """Run the checks (all, or those in ``ids``) and return ``{claim_id: result}``."""
    import sys
    import time
    chosen = list(CHECKS) if not ids else list(ids)
    out = {}
    for i, claim_id in enumerate(chosen, 1):
        if claim_id not in CHECKS:
            raise UsageError(f"no Monte-Carlo check for {claim_id!r}")
        started = time.perf_counter()
        out[claim_id] = CHECKS[claim_id](size=size, seed=seed)
        out[claim_id]["wall_seconds"] = time.perf_counter() - started
        if progress and sys.stderr.isatty():
            sys.stderr.write(f"\r[{i}/{len(chosen)}] {claim_id:<40}")
            sys.stderr.flush()
    if progress and sys.stderr.isatty():
        sys.stderr.write("\n")
    return out

# the later theory's Monte-Carlo legs (angular equilibria, Lion, Li & Arora, Defazio, norm growth, Hoffer)
from .later_checks import CHECKS as _LATER_CHECKS  # noqa: E402

CHECKS.update(_LATER_CHECKS)
# the relaxation across a learning-rate drop (theory.schedules)
from .drop import CHECKS as _DROP_CHECKS  # noqa: E402

CHECKS.update(_DROP_CHECKS)
