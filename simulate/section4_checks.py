"""Monte-Carlo checks of Section 4's dynamics: the one-step recursions (SGD, RMSProp), SGD's relaxation time and
its growth without decay. ``CHECKS[claim_id](size, seed) -> dict`` (``normlaws.outcome``'s result); tolerances are
``Z * SE`` plus the bias bound stated in each component's note.
"""
from __future__ import annotations

import math

import numpy as np

from normlaws.outcome import Z, component, result
from normlaws.theory import section4

from . import bias as B
from . import predict, trajectory
from .engine import Spec, random_directions, run
from .models import Section4Noise
from .params import Hyper
from .rng import stream
from .rules import VectorChains
from .scalar import ScalarSGD
from .stats import fit_line
from .steady_checks import D, _hyper, _size

# ---- Section 4, SGD ----------------------------------------------------------------------------------------
def _one_step(rule: str, hyper: Hyper, N_values: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``N_{t+1} - N_t`` for ``n`` independent one-step draws from each ``N`` in ``N_values`` (float64)."""
    G = N_values.size
    grid = Hyper(eta=np.full(G, float(hyper.eta)), lam=np.full(G, float(hyper.lam)), rho=hyper.rho)
    rng = stream(seed, 0)
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
    comps = [component(f"E[dN] at N = {N:.4g}", m, p_, s_, 0.0, "a one-step expectation: no bias")
             for N, p_, m, s_ in zip(N_values, predicted, measured, se)]     # first: the lowest N (noise-dominated)
    points = [{"N": float(N), "predicted": float(p), "measured": float(m), "se": float(s),
               "printed": None if printed is None else float(q)}
              for N, p, m, s, q in zip(N_values, predicted, measured, se,
                                       printed if printed is not None else [None] * len(N_values))]
    detail = "; ".join(f"N = {p['N']:.4g}: E[dN] = {p['measured']:.5g} ± {p['se']:.2g} vs {p['predicted']:.5g}"
                       + (f" (printed {p['printed']:.5g})" if p["printed"] is not None else "") for p in points)
    detail += f"; tolerance {Z:g} SE, no bias (a one-step expectation). {note}"
    params = {"rule": rule, "eta": float(hyper.eta), "lam": float(hyper.lam), "d": D, "C": float(D),
              "samples": n, "rho": hyper.rho}
    return result(comps, detail, seed, size, params, points=points,
                  printed=None if printed is None else float(printed[0]))


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
    # the derivation's result is in the paper's BN unit (its C has a batch size); the model here has E||g||^2 = C
    derived = lambda N: predict.derived_value("sec52.rmsprop.recursion", hyper, D, float(D), "in_C",  # noqa: E731
                                              r=np.sqrt(N))
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
    comp = component("relaxation time (steps)", measured, tau, measured_se, bias * tau,
                     "bias bound: 1.5 delta^2 (map's curvature, antisymmetrized) + 1/d (noise averaging)")
    tol = comp["tolerance"]
    detail = (f"time constant {measured:.4g} ± {measured_se:.2g} steps from a log-linear fit over t = 0..{t[use][-1]} "
              f"(response to ±{delta:.0%} displacements of equilibrated chains, same random numbers) vs the "
              f"derived -1/ln(2a^2 - 1) = {tau:.4g} (leading order 1/(8 eta lam) = "
              f"{float(predict.evaluate(section4.sgd_relaxation().extras['leading'], **hyper.values())):.4g}); "
              f"tolerance {Z:g} SE + bias bound (1.5 delta^2 from the map's curvature, antisymmetrized, + 1/d from "
              f"the noise's averaging of the map) = {tol:.3g}; fit chi2/dof {fit.chi2_red:.2f}")
    return result([comp], detail, seed, size,
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
    inv, inv_se = r.curve["inv_N"]["mean"][-1], r.curve["inv_N"]["se"][-1]
    predicted = float(predict.growth_eff_lr(t[-1] + t0, C))
    measured, se = eta * inv, eta * inv_se
    bias = B.sgd_law_ratio(D) - 1 + t0 / (t[-1] + t0)
    pythagoras = trajectory.growth_without_decay(seed=seed)
    comps = [component("eta E[1/N_t]", measured, predicted, se, bias * predicted,
                       "bias bound: Gamma law of N_t (1 + 2/d) + the start t0"),
             component("worst (bound^2 - E[N_t^2])/SE, floored at 0", max(below, 0.0), 0.0, 0.0, Z,
                       "E[N_t^2] >= N_0^2 + 2 eta^2 C t holds exactly by the tower rule"),
             component("Pythagoras residual per step (float64)", pythagoras["pythagoras_residual"], 0.0, 0.0, 1e-12,
                       "exact identity; bound: rounding"),
             component("smallest ||w||^2 increment is positive", float(pythagoras["smallest_increment"] > 0), 1.0,
                       0.0, 0.0, "every step adds eta^2 ||grad||^2 > 0")]
    ratio = float(m2[-1] / bound[-1] ** 2)
    detail = (f"E[N_t^2] never below N_0^2 + 2 eta^2 C t by more than {Z:g} SE (worst {below:+.2f} SE; the bound "
              f"holds exactly in the model by the tower rule); at t = {t[-1]}: E[N_t^2]/bound^2 = {ratio:.4f} "
              f"(diffusion law: 1 + 2/d = {1 + 2 / D:.4f} for isotropic noise), eta E[1/N_t] = {measured:.5g} ± "
              f"{se:.2g} vs 1/sqrt(2 C (t + t0)) = {predicted:.5g}, tolerance {Z:g} SE + bias {bias:.4f} (Gamma "
              f"law + start); float64 BN unit, full backward: every step adds eta^2||grad||^2 to ||w||^2 "
              f"(residual {pythagoras['pythagoras_residual']:.1g}), smallest increment "
              f"{pythagoras['smallest_increment']:.2g} > 0")
    return result(comps, detail, seed, size,
                  {"eta": eta, "lam": 0.0, "d": D, "C": C, "chains": spec.chains, "steps": steps, "N0": N0},
                   bound_margin_se=below, second_moment_ratio=ratio, trajectory=pythagoras)


CHECKS = {
    "sec4.sgd.recursion": sgd_recursion,
    "sec4.sgd.relaxation": sgd_relaxation,
    "sec4.sgd.growth_no_decay": sgd_growth,
    "sec52.rmsprop.recursion": rmsprop_recursion,
}
