"""Scaling exponents of the stationary weight norm, measured on grids that respect equilibration.

The norm relaxes in a number of steps of order ``1/(eta*lam)``, so a grid that holds ``u = eta*lam`` fixed
while ``x = eta/lam`` varies needs the same number of steps everywhere. With ``eta = sqrt(u x)`` and
``lam = sqrt(u/x)``, a law ``||w|| ~ eta^p lam^q`` (``p = exponent_eta``, ``q = exponent_lam`` of the claim
``table1.<rule>.norm``) reads ``||w|| ~ x^((p-q)/2) u^((p+q)/2)``: the slope of ``log E||w||`` on ``log x`` at fixed
``u`` is ``(p-q)/2``, and on ``log u`` at fixed ``x`` (the converse grid) it is ``(p+q)/2`` (0 for every rule of
Table 1: the norm depends on ``eta/lam`` alone to leading order).

For SGD and momentum the rescaling symmetry ``(eta, lam) -> (eta/a^2, lam a^2)`` makes the fixed-``u`` slope
exact (``N(eta, lam) = eta N(1, eta lam)``); the converse grid is the one that tests the balance of noise and
decay. The leading-order exponent differs from the closure's exact slope on the same grid by the known
``O(eta lam)`` terms (computed from the closure, not fitted): the tolerance is the fit's 95 % interval plus
that difference. Grid points whose measurement window fails the drift test, or whose burn-in is shorter than
5 relaxation-time bounds, are reported as not equilibrated and left out of the fit.
"""
from __future__ import annotations

import math

import numpy as np

from normlaws.errors import UsageError

from . import predict
from .engine import BURN_RELAXATIONS, Spec, default_lengths, timescales, run
from .params import Hyper, check_rule
from .stats import estimate_grid, fit_line

#: the claims whose exponents a grid can measure
EXPONENT_RULES = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
SIZES = {"quick": {"points": 5, "scalar_chains": 2048, "vector_chains": 96, "window": 0.5},
         "full": {"points": 9, "scalar_chains": 8192, "vector_chains": 256, "window": 1.0}}
#: the measurement window as a fraction of the engine's default (see simulate.checks.WINDOW)
WINDOW = {"momentum": 0.25, "nesterov": 0.25, "adam": 0.5, "adamw": 0.5}


def _line(rule: str, hyper: Hyper, x: np.ndarray, predicted_slope: float, spec_kw: dict, label: str) -> dict:
    """Run one line of the grid and fit ``log E||w||`` on ``log x``."""
    window = spec_kw.pop("_window", 1.0)
    spec = Spec(rule, hyper, label=label, **spec_kw)
    burn, steps = default_lengths(spec)
    if spec_kw.get("steps") is None:
        spec.steps = int(math.ceil(steps * window / spec.blocks) * spec.blocks)
    r = run(spec)
    norms = estimate_grid(r.blocks["norm"])
    tau, memory = timescales(rule, hyper, spec.d, spec.model_C)
    long_enough = r.burn >= BURN_RELAXATIONS * np.asarray(tau)
    drift_ok = np.array([e.equilibrated for e in norms])
    equilibrated = drift_ok & long_enough
    mean = np.array([e.mean for e in norms])
    se = np.array([e.se for e in norms])
    closure = np.sqrt(predict.closure_N(rule, hyper, spec.d, spec.model_C))
    out = {"x": x.tolist(), "eta": hyper.eta.tolist(), "lam": hyper.lam.tolist(), "measured": mean.tolist(),
           "se": se.tolist(), "closure": closure.tolist(), "equilibrated": equilibrated.tolist(),
           "drift_ok": drift_ok.tolist(), "burn_long_enough": long_enough.tolist(), "burn": r.burn,
           "steps": r.steps, "relaxation_time": np.asarray(tau).tolist(), "chains": spec.chains,
           "seconds": r.seconds, "predicted_slope": predicted_slope}
    lx = np.log(x)
    closure_slope = float(np.polyfit(lx, np.log(closure), 1)[0])
    out["closure_slope"] = closure_slope
    if equilibrated.sum() < 3:
        out.update(status="skipped", fit=None,
                   detail=f"only {int(equilibrated.sum())} of {x.size} grid points equilibrated: not fitted")
        return out
    fit = fit_line(lx[equilibrated], np.log(mean[equilibrated]), se[equilibrated] / mean[equilibrated])
    bias = abs(closure_slope - predicted_slope)
    half = (fit.ci[1] - fit.ci[0]) / 2
    agrees = abs(fit.slope - predicted_slope) <= half + bias
    out.update(status="agrees" if agrees else "disagrees", fit=fit.as_dict(), bias=bias,
               detail=f"slope {fit.slope:.4f}, 95% CI [{fit.ci[0]:.4f}, {fit.ci[1]:.4f}] over "
                      f"{int(equilibrated.sum())} of {x.size} points vs the derived {predicted_slope:.4f} "
                      f"(the closure's own slope on this grid {closure_slope:.4f}; tolerance CI + {bias:.4f})")
    if (~equilibrated).any():
        out["detail"] += f"; not equilibrated (left out): x = {np.round(x[~equilibrated], 4).tolist()}"
    return out


def exponents(rule: str, *, product: float = 1e-3, ratios=None, converse: bool = True, products=None,
              d: int = 64, chains: int | None = None, steps: int | None = None, burn: int | None = None,
              seed: int = 0, size: str = "quick", model: str = "section4", variant: str = "isotropic",
              start="closure", rho: float = 0.9, beta1: float = 0.9, beta2: float = 0.999,
              progress: bool = True) -> dict:
    """Measure the norm's scaling exponents of ``rule`` and compare them with ``table1.<rule>.norm``.

    ``ratios`` (default: 2 decades, geometric) are the ``eta/lam`` of the fixed-``eta*lam = product`` line;
    ``products`` (default ``product * 2**k``, k = -1..3) the ``eta*lam`` of the converse line at the geometric
    middle of ``ratios``. Returns both lines with per-point estimates, the fits with confidence intervals, the
    predicted slopes, the closure's slopes, which points equilibrated, and an overall ``status``.
    """
    check_rule(rule)
    if rule not in EXPONENT_RULES:
        raise UsageError(f"no norm exponent to fit for {rule!r}; choose one of {', '.join(EXPONENT_RULES)}")
    if size not in SIZES:
        raise UsageError("size must be quick or full")
    sz = SIZES[size]
    ratios = np.geomspace(1.0, 100.0, sz["points"]) if ratios is None else np.asarray(ratios, float)
    if ratios.size < 3 or np.any(ratios <= 0):
        raise UsageError("need at least 3 positive eta/lam ratios")
    p, q = predict.derived_exponents(f"table1.{rule}.norm")
    printed = predict.printed_exponents(f"table1.{rule}.norm")
    chains = chains or (sz["scalar_chains"] if rule == "sgd" and model == "section4" else sz["vector_chains"])
    spec_kw = dict(d=d, chains=chains, steps=steps, burn=burn, seed=seed, model=model, variant=variant,
                   start=start, progress=progress, track_angle=False, _window=WINDOW.get(rule, 1.0) * sz["window"])
    consts = dict(rho=rho, beta1=beta1, beta2=beta2)
    eta, lam = np.sqrt(product * ratios), np.sqrt(product / ratios)
    out = {"rule": rule, "derived_exponents": [p, q], "printed_exponents": printed, "seed": seed, "size": size,
           "d": d, "model": model, "variant": variant,
           "fixed_product": {"product": product,
                             **_line(rule, Hyper(eta=eta, lam=lam, **consts), ratios, (p - q) / 2, dict(spec_kw),
                                     f"{rule} eta*lam={product:g}")}}
    if printed is not None:
        out["fixed_product"]["printed_slope"] = (printed[0] - printed[1]) / 2
    if converse:
        products = product * 2.0 ** np.arange(-1, 4) if products is None else np.asarray(products, float)
        middle = float(np.exp(np.log(ratios).mean()))
        eta, lam = np.sqrt(products * middle), np.sqrt(products / middle)
        out["fixed_ratio"] = {"ratio": middle,
                              **_line(rule, Hyper(eta=eta, lam=lam, **consts), products, (p + q) / 2,
                                      dict(spec_kw, seed=seed + 1), f"{rule} eta/lam={middle:g}")}
    lines = [v for k, v in out.items() if k in ("fixed_product", "fixed_ratio")]
    statuses = [line["status"] for line in lines]
    out["status"] = ("disagrees" if "disagrees" in statuses else "skipped" if "skipped" in statuses else "agrees")
    return out
