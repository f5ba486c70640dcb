"""One run's measurements against the theory's predictions, as rows for the command line and records.

For a run at equilibrium (``lam > 0``) the verdict is on ``E||w||^2`` against the closure's ``N*`` with the
tolerance ``Z*SE + |closure bias|`` (``simulate.bias``). The other rows are shown for information. On the BN
unit the model constant ``C`` is measured as ``E[||grad L||^2 ||w||^2]`` and the closure evaluated with it
(beside the theory's ``C``, which is a leading-order value in ``1/B``): the comparison then tests the rest of the
model (gradient uncorrelated with ``w``, zero-mean along it), not the value of ``C``.
Without L2 there is no equilibrium: the verdict is on ``E[N_t^2] >= N_0^2 + 2 eta^2 C t``. A run with
``curve=True`` (the command line sets it with ``--start``) also returns the relaxation curve from its start.
"""
from __future__ import annotations

import math

import numpy as np

from . import bias as B
from . import predict
from .checks import Z
from .engine import Run, Spec, run
from .stats import estimate


def _row(quantity, measured, se, predicted=None, bias=None, verdict=None, note="", predicted_se=0.0) -> dict:
    row = {"quantity": quantity, "measured": measured, "se": se, "predicted": predicted,
           "relative_error": (measured - predicted) / predicted if predicted not in (None, 0) else None,
           "tolerance": None if bias is None else Z * math.hypot(se, predicted_se) + abs(bias * predicted),
           "verdict": verdict, "note": note}
    if bias is not None and verdict is None:
        row["verdict"] = "agrees" if abs(measured - predicted) <= row["tolerance"] else "disagrees"
    return row


def simulate(spec: Spec) -> dict:
    """Run ``spec`` (a single grid point) and compare; see the module docstring."""
    if spec.hyper.size != 1:
        raise ValueError("simulate() compares one (eta, lam) point; use run() for grids")
    if float(spec.hyper.lam) == 0:
        return growth(spec)
    spec.track_grad = True
    r = run(spec)
    out = {"spec": spec.as_dict(), "burn": r.burn, "steps": r.steps, "seconds": r.seconds,
           "chain_steps_per_second": r.chain_steps / r.seconds, "rows": rows(r)}
    if r.curve is not None:
        out["curve"] = relaxation_curve(r)
    return out


def relaxation_curve(r: Run, points: int = 200) -> dict:
    """The mean of ``||w_t||^2`` over chains from the start (about ``points`` steps, log-spaced), with SEs;
    for SGD also the closure's deterministic curve ``N_{t+1} = N_t + section4.sgd_recursion(N_t)``."""
    total = r.curve["t"].size
    index = np.unique(np.geomspace(1, total, points).astype(int)) - 1
    out = {"t": r.curve["t"][index].tolist(), "mean": r.curve["N"]["mean"].reshape(-1)[index].tolist(),
           "se": r.curve["N"]["se"].reshape(-1)[index].tolist(), "N0": float(np.ravel(r.N0)[0])}
    if r.spec.rule == "sgd":
        N, path = out["N0"], []
        for _ in range(total):
            N = N + float(predict.sgd_recursion(N, r.spec.hyper, r.spec.model_C))
            path.append(N)
        out["closure"] = np.array(path)[index].tolist()
    return out


def rows(r: Run) -> list[dict]:
    """The comparison rows of an equilibrium run (single grid point)."""
    sp = r.spec
    est = {name: estimate(blocks.reshape(blocks.shape[-2:])) for name, blocks in r.blocks.items()}
    eN = est["N"]
    C = sp.model_C
    note_C, N_star_se, variant = "theory's C", 0.0, sp.variant
    out = []
    if sp.model == "bn-unit":
        eC = est["grad_sq_N"]
        out.append(_row("C = E[||grad L||^2 ||w||^2]", eC.mean, eC.se, C, note="theory: d gamma^2 sigma^2/(2B), "
                        "leading order in 1/B (stop-gradient; the full backward removes ~1/d + 2/B of it)"))
        C, note_C = eC.mean, "measured C"
        # the closure's sensitivity to C (d ln N*/d ln C, numerically) carries C's standard error into N*
        up = float(predict.closure_N(sp.rule, sp.hyper, sp.d, C * 1.01))
        N_star_se = abs(up / float(predict.closure_N(sp.rule, sp.hyper, sp.d, C)) - 1) / 0.01 * eC.se / C
        variant = "orthogonal" if sp.backward == "full" else "isotropic"
    N_star = float(predict.closure_N(sp.rule, sp.hyper, sp.d, C))
    N_star_se *= N_star
    if not eN.equilibrated:
        out.insert(0, _row("E||w||^2", eN.mean, eN.se, N_star, verdict="not equilibrated",
                           note=f"drift {eN.drift:.3g} ± {eN.drift_se:.2g} between the window's halves: not compared"))
    else:
        bias, how = B.closure_bias(sp.rule, "N", sp.d, sp.hyper, variant)
        if sp.rule == "normalized":       # ||w|| = 1 up to rounding: d terms of relative rounding 2^-24 (float32)
            bias, how = sp.d * np.finfo(sp.dtype).eps, "float rounding of ||w||^2 = 1 (d * machine epsilon)"
        out.insert(0, _row("E||w||^2", eN.mean, eN.se, N_star, bias=bias, predicted_se=N_star_se,
                           note=f"closure N* ({note_C}); bias {bias:+.4f}: {how}"))
    out.append(_row("E||w||", est["norm"].mean, est["norm"].se, math.sqrt(N_star), note="sqrt of the closure's N*"))
    leading = float(predict.leading_N(sp.rule, sp.hyper, sp.d, C))
    out.append(_row("E||w||^2, leading order", eN.mean, eN.se, leading, note="section4.leading_N"))
    eff_measured = float(predict.eff_lr_at(sp.rule, sp.hyper, eN.mean))
    eff_predicted = float(predict.eff_lr_at(sp.rule, sp.hyper, N_star))
    k_se = eff_measured * (eN.se / eN.mean) * (0 if sp.rule == "normalized" else 1)
    out.append(_row("eta_eff = eta/||w||^k at E||w||^2", eff_measured, k_se, eff_predicted,
                    note="updates.effective_lr at the measured vs the closure's norm"))
    if "angle" in est:
        out.append(_row("angle per step (rad)", est["angle"].mean, est["angle"].se))
    if "grad_ratio" in est:
        out.append(_row("||grad L|| / ||w||", est["grad_ratio"].mean, est["grad_ratio"].se,
                        math.sqrt(C) / N_star, note="closure: sqrt(C)/N*"))
    return out


def growth(spec: Spec) -> dict:
    """``lam = 0``: the squared norm's growth against the theory's bound, and the effective learning rate."""
    if spec.start == "closure":
        spec.start = 1.0
    spec.curve = True
    spec.burn = spec.burn or 0
    spec.steps = spec.steps or 10000
    r = run(spec)
    t = r.curve["t"]
    eta, C, N0 = float(spec.hyper.eta), spec.model_C, float(spec.start)
    bound = predict.growth_bound(t, N0, eta, C)
    m2, m2_se = r.curve["N2"]["mean"].reshape(-1), r.curve["N2"]["se"].reshape(-1)
    worst = float(np.max((bound**2 - m2) / m2_se))
    inv = float(r.curve["inv_N"]["mean"].reshape(-1)[-1])
    inv_se = float(r.curve["inv_N"]["se"].reshape(-1)[-1])
    rows_ = [_row(f"E[N_t^2] at t = {t[-1]}", float(m2[-1]), float(m2_se[-1]), float(bound[-1] ** 2),
                  verdict="agrees" if worst <= Z else "disagrees",
                  note=f"bound N_0^2 + 2 eta^2 C t; worst shortfall over all t {worst:+.2f} SE (allowed {Z:g})"),
             _row(f"E||w_t||^2 at t = {t[-1]}", float(r.curve["N"]["mean"].reshape(-1)[-1]),
                  float(r.curve["N"]["se"].reshape(-1)[-1]), float(bound[-1]), note="grows like sqrt(t)"),
             _row("eta E[1/||w_t||^2]", eta * inv, eta * inv_se, float(predict.growth_eff_lr(t[-1], C)),
                  note="asymptotically 1/sqrt(2 C t) (sec4.sgd.growth_no_decay), independent of eta")]
    return {"spec": spec.as_dict(), "burn": r.burn, "steps": r.steps, "seconds": r.seconds,
            "chain_steps_per_second": r.chain_steps / r.seconds, "rows": rows_}
