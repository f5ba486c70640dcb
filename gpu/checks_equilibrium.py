"""Training checks of equilibrium quantities the theory fixes without a gradient constant C.

Torch-free. Each check reads the invariant network's records of one rule (every trained tensor there is a
scale-invariant unit, as the laws assume), sums each run's per-filter step moments over its equilibrium window
(:mod:`normlaws.gpu.observables`) and compares the ratio measured/derived -- the derived value evaluated from the
claim's own derivation at the run's (eta, lam, rho, beta1, d) through ``normlaws.simulate.predict`` -- with 1.
Replicates are runs (cells and seeds); a run's four layers are averaged first. The tolerance is ``Z`` standard
errors over runs plus a bias bound measured on the same windows: the boundary terms ``S_end - S_start`` by which a
stationary moment identity fails over a finite window (``theory.windows``: the norm's measured, a momentum or
Adam buffer's measured where the record has its ends, else bounded by its stationary size at both ends).
Per-filter quartiles are reported beside.

- ``later.angle.<rule>``: ``1 - cos theta* = 1 - sum<w_t, w_(t+1)>/sqrt(sum ||w_t||^2 sum ||w_(t+1)||^2)`` (the
  moment ratio, normalised by both ends so that a slow drift of the norm cancels to first order) and the chord ratio
  ``sum ||w_(t+1) - w_t||^2/sum ||w_t||^2``;
- ``later.defazio.<rule>``: ``sum ||grad L||^2/sum ||w||^2``;
- ``later.adamw.rms``: ``RMS(w)^2`` over the window, and the relaxation time of ``sum_j ||w_j||^2`` fitted to
  the per-step trace from initialisation;
- ``later.<rule>.l2_identity``: ``4 lam sum_j w_j^2 P_j/(eta d)`` (``P_j = 1/(sqrt(v_j) + eps)``), and the
  normalized noise power ``sum_j (P_j g_j)^2/d`` it assumes to be 1;
- ``later.norm.lion``: Lion's ``||w||^2``.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp
from scipy.optimize import curve_fit

from ..outcome import result, skipped
from ..simulate.predict import evaluate, lion_Q
from ..theory import symbols as S
from ..theory.moments import c_l2
from ..theory.windows import boundary_coefficients, end_moment_ratios, lion_chord_coefficient
from .analysis import family, fit_epoch, load_records, steps_per_epoch, trajectory
from .derived import derivation
from .intervals import describe_component, quartiles, replicate_component
from .observables import LAYERS, cell_label, windows
from .settling import moment_model

NETWORK = "invariant"
#: fewer equilibrated runs than this leave no interval worth the name
MIN_RUNS = 3


def _values(record, d: int) -> dict:
    """The numbers a derived expression of ``record``'s run needs (the bridge's names)."""
    c = record["config"]
    values = {"eta": c["eta"], "lam": c["lam"], "rho": c.get("momentum") or 0.0, "beta1": c.get("beta1", 0.9),
              "beta2": c.get("beta2", 0.999), "d": float(d)}
    if family(record) == "lion":
        values["Q"] = lion_Q(c["eta"], c["lam"], values["beta1"], values["beta2"])
    return values


@functools.lru_cache(maxsize=None)
def _boundary_terms(model: str, observable: str) -> tuple:
    """``((ij, k_ij, end ratio), ...)`` of ``theory.windows``, each a function of ``(eta, lam, rho, beta1, c_L2)``,
    compiled once per model."""
    names = (S.eta, S.lam, S.rho, S.beta1, c_l2)
    ends = end_moment_ratios(model)
    return tuple((ij, sp.lambdify(names, k, "math"), sp.lambdify(names, ends[ij], "math"))
                 for ij, k in boundary_coefficients(model, observable).items())


def boundary_bias(observable: str, record, w, c: float = 0.0) -> float:
    """The relative shift a window's boundary terms can give ``observable`` of the run's rule (``theory.windows``):
    ``sum_ij |k_ij| |D_ij|/N`` with the norm's ``D_00`` measured (``w.drift()``), the buffer's measured where the
    record has its ends (``Window.buffer_boundary``), else bounded by their stationary magnitudes at both ends.
    'grad_ratio' is also the shift of the level ``sum N`` at a given noise power (RMS^2, Adam's L2 identity); ``c``
    is the coupled rules' ``c_L2``."""
    v = _values(record, w.d)
    at = (v["eta"], v["lam"], v["rho"], v["beta1"], c)
    both_ends = float((w.n_start + w.n_end)[w.live].sum()) / w.pooled("sum_sq")
    measured = w.buffer_boundary() or {}
    total = 0.0
    for ij, k, end in _boundary_terms(moment_model(family(record)), observable):
        if ij == (0, 0):
            size = w.drift()
        elif ij in measured:                      # the buffer's ends as recorded
            size = abs(measured[ij])
        else:                                     # bounded by their stationary size at both ends
            size = end(*at) * both_ends
        total += abs(k(*at)) * size
    return total


@functools.lru_cache(maxsize=None)
def _lion_chord_function():
    return sp.lambdify((S.eta, S.lam), lion_chord_coefficient(), "math")


def _lion_chord(eta: float, lam: float) -> float:
    """Lion's chord per unit boundary ``D_00/N`` (``theory.windows.lion_chord_coefficient``)."""
    return float(_lion_chord_function()(eta, lam))


def derived_value(claim_id: str, record, d: int, extra: str | None = None, **more) -> float:
    """The claim's derived result (or ``extras[extra]``) at ``record``'s hyperparameters, through the bridge."""
    dv = derivation(claim_id)
    expr = dv.result if extra is None else dv.extras[extra]
    return float(evaluate(expr, **_values(record, d), **more))


def _runs(results_dir, rule: str, decay: bool = True) -> list:
    return windows(load_records(results_dir), rule, NETWORK, decay)


def _not_enough(claim_id: str, rule: str, runs: list, what: str = "an equilibrium window") -> dict:
    return skipped(f"{len(runs)} {rule} runs of the {NETWORK} network with {what} under the results folder; "
                   f"{claim_id} needs {MIN_RUNS}", seed=0, size="training")


def _finish(claim_id: str, rule: str, components: list, runs: list, detail: str, **extra) -> dict:
    lines = "; ".join(describe_component(c) for c in components)
    cells = ", ".join(cell_label(rec) for rec, _ in runs)
    first = components[0]
    return result(components, f"{rule}, {NETWORK} network, {len(runs)} equilibrated runs ({cells}): {lines}. "
                  f"{detail}", seed=0, size="training", rule=rule, derived=first["predicted"],
                  ci=first.get("ci"), **extra)


def _per_run(runs: list, measure) -> tuple:
    """``(run values, run biases, filter values)``: ``measure(record, window) -> (value, bias, per-filter array)``
    averaged over each run's layers."""
    values, biases, filters = [], [], []
    for rec, wins in runs:
        parts = [measure(rec, w) for w in wins]
        parts = [p for p in parts if p is not None and math.isfinite(p[0])]
        if not parts:
            continue
        values.append(float(np.mean([p[0] for p in parts])))
        biases.append(float(np.mean([p[1] for p in parts])))
        filters += [v for p in parts for v in np.atleast_1d(p[2])]
    return values, biases, filters


# ---- the angle and the chord ---------------------------------------------------------------------------------
def angle_check(claim_id: str, rule: str):
    """``later.angle.<rule>``: ``1 - cos theta*`` and the chord ratio, measured over derived."""

    def one_minus_cos(rec, w):
        predicted = 1 - derived_value(claim_id, rec, w.d)
        measured = 1 - w.cos_angle()
        return measured / predicted, w.drift() ** 2 / predicted, (1 - w.cos_angle(per_filter=True)) / predicted

    def chord(rec, w):
        if rule == "lion":                       # no moment model: the pathwise identity's boundary term
            predicted = 2 * (1 - derived_value(claim_id, rec, w.d))
            shift = abs(_lion_chord(rec["config"]["eta"], rec["config"]["lam"])) * w.drift() / predicted
            return w.ratio("sum_chord") / predicted, shift, w.per_filter("sum_chord") / predicted
        predicted = derived_value(claim_id, rec, w.d, "chord_ratio")
        return (w.ratio("sum_chord") / predicted, boundary_bias("chord", rec, w),
                w.per_filter("sum_chord") / predicted)

    def check(results_dir) -> dict:
        runs = _runs(results_dir, rule)
        if len(runs) < MIN_RUNS:
            return _not_enough(claim_id, rule, runs)
        comps = []
        for name, measure in (("(1 - cos theta) measured/derived", one_minus_cos),
                              ("chord ratio measured/derived", chord)):
            values, biases, filters = _per_run(runs, measure)
            q = quartiles(filters)
            comps.append(replicate_component(name, values, 1.0, float(np.mean(biases)),
                                             "bias bound: the windows' mean drift delta = |N_end - N_start|/sum N, "
                                             "relative: delta^2 for the normalised cosine (first order cancels); "
                                             "for the chord, the boundary terms of the window identity "
                                             "(theory.windows: the norm's measured, the buffer's measured where "
                                             "recorded, else at its stationary size at both ends)",
                                             filter_quartiles=q))
        q = comps[0]["filter_quartiles"]
        return _finish(claim_id, rule, comps, runs, f"Per filter, (1 - cos) measured/derived has quartiles "
                       f"{q[0]:.3g}, {q[1]:.3g}, {q[2]:.3g}; cos theta* = sum<w_t, w_(t+1)>/sqrt(sum||w_t||^2 "
                       "sum||w_(t+1)||^2) over each run's equilibrium window (the claim's moment ratio), C-free")

    return check


# ---- Defazio ---------------------------------------------------------------------------------------------------
def defazio_check(claim_id: str, rule: str):
    """``later.defazio.<rule>``: ``sum ||grad L||^2/sum ||w||^2`` over the window, measured/derived."""

    def measure(rec, w):
        predicted = derived_value(claim_id, rec, w.d)
        return w.ratio("sum_grad") / predicted, boundary_bias("grad_ratio", rec, w), w.per_filter("sum_grad") / predicted

    def check(results_dir) -> dict:
        runs = _runs(results_dir, rule)
        if len(runs) < MIN_RUNS:
            return _not_enough(claim_id, rule, runs)
        values, biases, filters = _per_run(runs, measure)
        comp = replicate_component("||grad L||^2/||w||^2 measured/derived", values, 1.0, float(np.mean(biases)),
                                   "bias bound: the boundary terms of the window identity (theory.windows: the "
                                   "norm's |N_end - N_start| measured, the buffer's measured where recorded, else "
                                   "at its stationary size at both ends)",
                                   filter_quartiles=quartiles(filters))
        return _finish(claim_id, rule, [comp], runs, "The loss gradient alone (no L2 term), summed over the steps "
                       "of each run's equilibrium window; C-free")

    return check


# ---- AdamW's RMS and relaxation --------------------------------------------------------------------------------
def relaxation_fit(steps: np.ndarray, n_sq: np.ndarray, end: int) -> float | None:
    """Time constant (steps) of ``N(t) = N_inf + (N_0 - N_inf) exp(-t/tau)`` fitted to a trace up to step ``end``
    (``N_0`` the trace at step 0), or None when the fit fails or the trace barely moved."""
    keep = (steps <= end) & np.isfinite(n_sq)
    t, n = steps[keep], n_sq[keep]
    if len(t) < 8 or not n[0] > 0:
        return None
    n0 = n[0]
    tail = n[len(n) * 3 // 4:].mean()
    if abs(math.log(tail / n0)) < 0.5:        # less than a factor e^0.5 of relaxation: tau not identifiable
        return None

    def model(x, n_inf, log_tau):
        return n_inf + (n0 - n_inf) * np.exp(-x / math.exp(log_tau))

    try:
        (n_inf, log_tau), _ = curve_fit(model, t, n, p0=(tail, math.log(max(t[-1] / 5, 1.0))), maxfev=4000)
    except (RuntimeError, ValueError):
        return None
    return math.exp(log_tau)


def adamw_rms_check(results_dir) -> dict:
    """``later.adamw.rms``: RMS(w)^2 over the window and the relaxation time, measured/derived."""
    claim_id, rule = "later.adamw.rms", "adamw"
    runs = _runs(results_dir, rule)
    if len(runs) < MIN_RUNS:
        return _not_enough(claim_id, rule, runs)

    def rms(rec, w):
        predicted = derived_value(claim_id, rec, w.d, "rms_sq")
        per_filter = w.sums["sum_sq"][w.live] / (w.steps * w.d)
        return float(per_filter.mean()) / predicted, boundary_bias("grad_ratio", rec, w), per_filter / predicted

    values, biases, filters = _per_run(runs, rms)
    comps = [replicate_component("RMS(w)^2 measured/derived", values, 1.0, float(np.mean(biases)),
                                 "bias bound: the window identity's boundary terms (theory.windows, AdamW's moment "
                                 "model)", filter_quartiles=quartiles(filters))]
    taus = []
    for rec, wins in runs:
        traj, end = trajectory(rec), fit_epoch(rec) * steps_per_epoch(rec)
        derived = derived_value(claim_id, rec, 1, "relaxation")
        fits = [relaxation_fit(traj["trace_step"], traj["trace_norm_sq"][:, LAYERS.index(w.layer)], end)
                for w in wins]
        fits = [f / derived for f in fits if f is not None]
        if fits:
            taus.append(float(np.mean(fits)))
    comps.append(replicate_component("relaxation time measured/derived", taus, 1.0, 0.0,
                                     "N(t) = N_inf + (N_0 - N_inf) exp(-t/tau) fitted per layer to the per-step "
                                     "trace of sum_j ||w_j||^2 from initialisation"))
    return _finish(claim_id, rule, comps, runs, "RMS over the coordinates of the live filters of each layer; the "
                   "derived RMS^2 and time constant are exact in AdamW's moment model and C-free")


# ---- Adam + L2 ----------------------------------------------------------------------------------------------------
def l2_identity_check(claim_id: str, rule: str):
    """``later.<rule>.l2_identity``: ``4 lam sum_j P_j w_j^2/(eta d)`` per step over the window, against the claim's
    value at the measured ``c = 2 lam P`` (1 to leading order); and the noise power the identity assumes."""

    def identity(rec, w):
        c = rec["config"]
        p_bar = w.pooled("sum_precond") / w.pooled("sum_sq")
        predicted = derived_value(claim_id, rec, w.d, c=2 * c["lam"] * p_bar)
        per_filter = 4 * c["lam"] * w.sums["sum_precond"][w.live] / (c["eta"] * w.d * w.steps)
        bias = boundary_bias("grad_ratio", rec, w, c=2 * c["lam"] * p_bar)
        return float(per_filter.mean()) / predicted, bias, per_filter / predicted

    def noise(rec, w):
        per_filter = w.sums["sum_noise"][w.live] / (w.d * w.steps)
        return float(per_filter.mean()), w.drift(), per_filter

    def check(results_dir) -> dict:
        runs = _runs(results_dir, rule)
        if len(runs) < MIN_RUNS:
            return _not_enough(claim_id, rule, runs)
        comps = []
        for name, measure in (("4 lam sum P_j w_j^2/(eta d) measured/derived", identity),
                              ("normalized noise power sum (P_j g_j)^2/d (assumed 1)", noise)):
            values, biases, filters = _per_run(runs, measure)
            comps.append(replicate_component(name, values, 1.0, float(np.mean(biases)),
                                             "bias bound: the identity's, the window identity's boundary terms "
                                             "(theory.windows, the coupled moment model at the measured c); the "
                                             "noise power's, the windows' relative drift",
                                             filter_quartiles=quartiles(filters)))
        return _finish(claim_id, rule, comps, runs, "P_j = 1/(sqrt(v_hat_j) + eps) as the optimizer applied it, "
                       "summed over each run's equilibrium window; C-free")

    return check


# ---- Lion's norm --------------------------------------------------------------------------------------------------
def lion_norm_check(results_dir) -> dict:
    """``later.norm.lion``: the mean ``||w_j||^2`` over the window, measured/derived."""
    claim_id, rule = "later.norm.lion", "lion"
    runs = _runs(results_dir, rule)
    if len(runs) < MIN_RUNS:
        return _not_enough(claim_id, rule, runs)

    def measure(rec, w):
        predicted = derived_value(claim_id, rec, w.d)
        per_filter = w.sums["sum_sq"][w.live] / w.steps
        return float(per_filter.mean()) / predicted, w.drift(), per_filter / predicted

    values, biases, filters = _per_run(runs, measure)
    comp = replicate_component("||w||^2 measured/derived", values, 1.0, float(np.mean(biases)),
                               "bias bound: the windows' relative drift", filter_quartiles=quartiles(filters))
    return _finish(claim_id, rule, [comp], runs, "Q (the sign updates' time correlation) from the derived series "
                   "at each run's (eta, lam, beta1, beta2); C-free")
