"""One run's measurements against the theory's predictions, as rows for the command line and records.

For a run at equilibrium (``lam > 0``) every observable is shown with its prediction and a verdict with the
tolerance ``Z*SE + |bias|``: ``E||w||^2`` against the closure's ``N*`` (bias: ``simulate.bias``), the angle per
step against ``acos(cos theta*)`` of the rule's linear model (``theory.moments``; bias bound ``theta*/d`` from the
step norm's fluctuations), and the gradient-to-weight ratio ``E||grad L||^2/E||w||^2`` against Defazio's exact
stationary value (gradient noise) or ``C/N*^2`` (closure). On the BN unit the model constant ``C`` is the
theory's exact one (``theory.bn_unit``), compared raw with the measured ``E[||grad L||^2 ||p||^2]``; every
prediction uses the theory's ``C``, never the measured one.
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
from .stats import estimate, jackknife


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


def _noise_shape(spec: Spec) -> tuple[str, float]:
    """``(variant, d_eff)`` of the run's gradient noise for the closure's bias: a BN unit's stop-gradient noise has
    the radial share ``1/d_eff`` (``theory.bn_unit.radial_share``); its full backward is exactly orthogonal."""
    if spec.model != "bn-unit":
        return spec.variant, float(spec.d)
    if spec.backward == "full":
        return "orthogonal", float(spec.d)
    return "isotropic", 1.0 / predict.bn_radial_share(spec.d, spec.batch, spec.gamma, spec.beta)


def rows(r: Run) -> list[dict]:
    """The comparison rows of an equilibrium run (single grid point): every measured quantity with its prediction."""
    sp = r.spec
    est = {name: estimate(blocks.reshape(blocks.shape[-2:])) for name, blocks in r.blocks.items()}
    eN = est["N"]
    C = sp.model_C
    variant, d_eff = _noise_shape(sp)
    out = []
    if sp.model == "bn-unit":
        eC = est["grad_sq_N"]
        out.append(_row("C = E[||grad L||^2 ||w||^2]", eC.mean, eC.se, C, bias=0.0,
                        note="theory.bn_unit.unit_C, exact at finite d and B; measured raw"))
    N_star = float(predict.closure_N(sp.rule, sp.hyper, sp.d, C))
    if not eN.equilibrated:
        out.insert(0, _row("E||w||^2", eN.mean, eN.se, N_star, verdict="not equilibrated",
                           note=f"drift {eN.drift:.3g} ± {eN.drift_se:.2g} between the window's halves: not compared"))
    else:
        correction, bound, how = B.closure_bias(sp.rule, "N", round(d_eff), sp.hyper, variant, C)
        if sp.rule == "normalized":       # ||w|| = 1 up to rounding: d terms of relative rounding 2^-24 (float32)
            bound, how = sp.d * np.finfo(sp.dtype).eps, "float rounding of ||w||^2 = 1 (d * machine epsilon)"
        out.insert(0, _row("E||w||^2", eN.mean, eN.se, N_star * (1 + correction), bias=bound,
                           note=f"closure N* = {N_star:.6g} (theory's C) x (1 {correction:+.4f}); bound {bound:.3g}: "
                                f"{how}"))
    out.append(_row("E||w||", est["norm"].mean, est["norm"].se, math.sqrt(N_star), note="sqrt of the closure's N*"))
    leading = float(predict.leading_N(sp.rule, sp.hyper, sp.d, C))
    out.append(_row("E||w||^2, leading order", eN.mean, eN.se, leading, note="section4.leading_N"))
    eff_measured = float(predict.eff_lr_at(sp.rule, sp.hyper, eN.mean))
    eff_predicted = float(predict.eff_lr_at(sp.rule, sp.hyper, N_star))
    k_se = eff_measured * (eN.se / eN.mean) * (0 if sp.rule == "normalized" else 1)
    out.append(_row("eta_eff = eta/||w||^k at E||w||^2", eff_measured, k_se, eff_predicted,
                    note="updates.effective_lr at the measured vs the closure's norm"))
    if "angle" in est:
        out.append(_angle_row(sp, est["angle"], C))
        out.append(_chord_row(sp, r, C))
    if "grad_sq" in est:
        out.append(_grad_ratio_row(sp, r, C, N_star))
    return out


def _equilibrium(spec: Spec, C: float) -> dict | None:
    """The rule's predicted equilibrium (``predict.equilibrium``), or None for normalized SGD."""
    if spec.rule == "normalized":
        return None
    h = spec.hyper
    return predict.equilibrium(spec.rule, float(h.eta), float(h.lam), spec.d, C, h.rho, h.beta1, h.beta2)


def _ratio_of_means(r: Run, top: str, bottom: str) -> tuple[float, float]:
    """``E[top]/E[bottom]`` over the run and its delete-one-chain jackknife SE."""
    blocks = [r.blocks[name].reshape(r.blocks[name].shape[-2:]) for name in (top, bottom)]
    return jackknife(lambda a, b: a / b, *blocks)


def _chord_row(spec: Spec, r: Run, C: float) -> dict:
    """``E||w_{t+1} - w_t||^2 / E||w_t||^2`` against ``2(1 - cos theta*)``: exact in the linear model."""
    value, se = _ratio_of_means(r, "chord", "N")
    eq = _equilibrium(spec, C)
    if eq is None:
        tangential = _tangential_C(spec, C)
        predicted = float(2 * (1 - np.cos(predict.normalized_angle(spec.hyper, tangential))))
        return _row("E||w'-w||^2/E||w||^2", value, se, predicted, bias=2.0 / (spec.d - 1),
                    note="2(1 - cos) of normalized SGD's rms angle (first order); bias bound 2/(d-1)")
    return _row("E||w'-w||^2/E||w||^2", value, se, eq["chord"], bias=0.0,
                note="2(1 - cos theta*) of theory.moments: a ratio of stationary moments, exact (no closure)")


def _tangential_C(spec: Spec, C: float) -> float:
    """``E||g_perp||^2`` at unit norm: the part of ``C`` orthogonal to ``w``."""
    if spec.model == "bn-unit":
        return C * (1 - predict.bn_radial_share(spec.d, spec.batch, spec.gamma, spec.beta, spec.backward))
    return C * (1 - (spec.variant == "isotropic") / spec.d)


def _angle_row(spec: Spec, e, C: float) -> dict:
    """The mean angle per step against the model's ``acos(cos theta*)`` (normalized SGD: its first-order rms).

    On the Section 4 model (Gaussian noise) the mean angle is below the moment ratio's angle by the step norm's
    spread, ``theta*/(4(d-1))`` by the delta method: compared with the bound ``theta*/d``. On the BN unit the step
    norm's spread is wider (the batch std, the ReLU gates) and not derived: shown, not compared (the chord ratio
    is the exact comparison).
    """
    eq = _equilibrium(spec, C)
    if spec.model == "bn-unit":
        predicted = eq["angle"] if eq else float(predict.normalized_angle(spec.hyper, _tangential_C(spec, C)))
        return _row("angle per step (rad)", e.mean, e.se, predicted,
                    note="acos(cos theta*) (theory.moments); E[theta] sits below it by the step norm's spread "
                         "(not derived for the BN unit): not compared")
    if eq is None:
        predicted = float(predict.normalized_angle(spec.hyper, _tangential_C(spec, C)))
        return _row("angle per step (rad)", e.mean, e.se, predicted, bias=1.0 / (spec.d - 1),
                    note="updates.normalized_sgd_angle (rms, first order); bias bound 1/(d-1) (mean vs rms of the "
                         "tangential step, and second order)")
    return _row("angle per step (rad)", e.mean, e.se, eq["angle"], bias=1.0 / spec.d,
                note="acos(cos theta*) of theory.moments (exact moment ratio); bias bound theta*/d (E[theta] vs the "
                     "moment ratio: the step norm's fluctuations)")


def _grad_ratio_row(spec: Spec, r: Run, C: float, N_star: float) -> dict:
    """``E||grad L||^2/E||w||^2`` (a ratio of means) against its stationary value."""
    value, se = _ratio_of_means(r, "grad_sq", "N")
    eq = _equilibrium(spec, C)
    if eq is None:
        return _row("E||grad L||^2/E||w||^2", value, se, C, bias=0.0, note="||w|| = 1: E||grad L||^2 = C exactly")
    exact = spec.rule in predict.EXACT_GRAD_RATIO
    return _row("E||grad L||^2/E||w||^2", value, se, eq["grad_ratio_sq"], bias=0.0 if exact else 2.0 / spec.d,
                note=("Defazio's identity in the linear model: 1/(eta^2 E||w||^2/q), exact (no closure)" if exact
                      else "C/N*^2 in the closure; bias bound 2/d"))


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
