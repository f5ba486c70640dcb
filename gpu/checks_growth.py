"""Training checks of the norm's growth without weight decay, on the invariant network.

Torch-free. Runs with ``lam = 0`` are read over their whole constant-learning-rate phase.

- ``later.growth.sgd`` / ``later.growth.momentum``: the exact per-step increments of ``||w_j||^2``
  (``eta^2 ||grad L||^2`` for SGD; ``eta^2 ||b_t||^2 + 2 eta^2 sum_(k<t) rho^(t-k) ||b_k||^2`` for heavy ball),
  summed by the trainer (``sum_growth``), against the measured change of ``||w_j||^2`` over the phase. The bias
  bound is what the identity neglects, measured on the same steps: Euler's residual ``2 eta |sum <w_t, g_t>|``
  (``/(1 - rho)`` for the momentum's memory of it), plus the float32 rounding of ``T`` updates of ``||w||^2``.
- ``sec4.sgd.growth_no_decay``: ``||w_T||^4 - ||w_0||^4`` against ``2 eta^2 sum_t C_t``, the Section 4 bound
  with ``C`` (the loss gradient's second moment at unit scale) measured apart from the norms it predicts: on
  held-out probe batches at each epoch's end (``probe_unit_sq``), each epoch's steps counted at the mean of its
  two ends (the first epoch at its end). The bound is ``>=``, with equality to leading order; the bias bound is
  the leading correction ``eta^2 C/(2 N^2)`` plus the trapezoid's error, half the change of C across an epoch.
"""
from __future__ import annotations

import numpy as np

from ..outcome import result, skipped
from .analysis import load_records, steps_per_epoch, trajectory
from .checks_equilibrium import NETWORK
from .intervals import describe_component, quartiles, replicate_component
from .observables import LAYERS, cell_label, windows

#: float32's unit roundoff: each update of ||w||^2 is rounded at this relative size
U32 = 2.0**-24


def _increment_ratio(rec, w):
    c = rec["config"]
    measured = (w.n_end - w.n_start)[w.live]
    predicted = w.sums["sum_growth"][w.live]
    rho = c.get("momentum") or 0.0
    euler = 2 * c["eta"] * np.abs(w.sums["sum_euler"][w.live]).sum() / (1 - rho)
    rounding = 8 * w.steps * U32 * (w.sums["sum_sq"][w.live].sum() / w.steps)
    total = predicted.sum()
    return measured.sum() / total, (euler + rounding) / total, measured / predicted


def growth_check(claim_id: str, rule: str):
    """``later.growth.<rule>``: measured change of ``||w||^2`` over the summed derived increments."""

    def check(results_dir) -> dict:
        runs = windows(load_records(results_dir), rule, NETWORK, decay=False)
        if len(runs) < 1:
            return skipped(f"no {rule} run without decay on the {NETWORK} network; {claim_id} needs one",
                           seed=0, size="training")
        values, biases, filters = [], [], []
        for rec, wins in runs:
            parts = [_increment_ratio(rec, w) for w in wins]
            values += [p[0] for p in parts]               # layers as replicates: the identity is pathwise
            biases += [p[1] for p in parts]
            filters += [v for p in parts for v in p[2]]
        comp = replicate_component("change of ||w||^2 measured/derived", values, 1.0, float(np.max(biases)),
                                   "bias bound: Euler's residual 2 eta |sum <w_t, g_t>| (measured) plus float32 "
                                   "rounding of T updates, relative", filter_quartiles=quartiles(filters))
        q = comp["filter_quartiles"]
        cells = ', '.join(cell_label(r) for r, _ in runs)
        return result([comp], f"{rule} without decay, {NETWORK} network, {len(runs)} runs ({cells}), "
                      f"each layer's live filters pooled, layers as replicates (the identity holds step by step): "
                      f"{describe_component(comp, 6)}; per filter quartiles {q[0]:.6g}, {q[1]:.6g}, {q[2]:.6g}",
                      seed=0, size="training", rule=rule, derived=1.0, ci=comp["ci"])

    return check


def _bound_ratio(rec, layer: str):
    traj = trajectory(rec)
    norms, probe = traj[f"{layer}_filter_norms"], traj.get(f"{layer}_probe_unit_sq")
    if probe is None:
        return None
    e, per, eta = rec["config"]["epochs"], steps_per_epoch(rec), rec["config"]["eta"]
    ends = np.vstack([probe[:1], probe])                       # C at the start of epoch 0 taken as at its end
    c_epoch = (ends[:-1] + ends[1:]) / 2                         # (epochs, C)
    n0, n_t = norms[0] ** 2, norms[e] ** 2
    predicted = 2 * eta**2 * per * c_epoch.sum(0)
    measured = n_t**2 - n0**2
    n_mean = (norms[:e + 1] ** 2).mean(0)
    leading = float(np.mean(eta**2 * c_epoch.mean(0) / (2 * n_mean**2)))
    trapezoid = float(np.mean(np.abs(np.diff(ends, axis=0)).sum(0) / (2 * ends.sum(0) / len(ends) * e)))
    return measured.sum() / predicted.sum(), leading + trapezoid, measured / predicted


def growth_bound_check(results_dir) -> dict:
    """``sec4.sgd.growth_no_decay``: ``(||w_T||^4 - ||w_0||^4)/(2 eta^2 sum C_t)`` against 1, C from the probes."""
    claim_id, rule = "sec4.sgd.growth_no_decay", "sgd"
    runs = windows(load_records(results_dir), rule, NETWORK, decay=False)
    values, biases, filters = [], [], []
    for rec, _ in runs:
        parts = [p for p in (_bound_ratio(rec, layer) for layer in LAYERS) if p is not None]
        if parts:
            values.append(float(np.mean([p[0] for p in parts])))
            biases.append(float(np.mean([p[1] for p in parts])))
            filters += [v for p in parts for v in p[2]]
    if len(values) < 1:
        return skipped(f"no SGD run without decay with probe measurements of C on the {NETWORK} network; "
                       f"{claim_id} needs one", seed=0, size="training")
    if len(values) < 2:       # one run: its layers are the replicates (each a different unit of the bound)
        rec = runs[0][0]
        parts = [p for p in (_bound_ratio(rec, layer) for layer in LAYERS) if p is not None]
        values, biases = [p[0] for p in parts], [p[1] for p in parts]
    comp = replicate_component("(||w_T||^4 - ||w_0||^4)/(2 eta^2 sum_t C_t)", values, 1.0, float(np.mean(biases)),
                               "bias bound: the leading correction eta^2 C/(2 N^2) plus half the change of the "
                               "probe C across each epoch (trapezoid), relative", filter_quartiles=quartiles(filters))
    q = comp["filter_quartiles"]
    return result([comp], f"SGD without decay, {NETWORK} network, {len(runs)} runs: {describe_component(comp)}; "
                  f"per filter quartiles {q[0]:.3g}, {q[1]:.3g}, {q[2]:.3g}. C measured on held-out probe batches at "
                  "each epoch's end, never from the steps or norms it predicts; the law is a lower bound, equal to "
                  "leading order", seed=0, size="training", rule=rule, derived=1.0, ci=comp["ci"])
