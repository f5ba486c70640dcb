"""Reading sweep records: their series, their rule and network, and when a run is in equilibrium.

Torch-free (numpy). Fits are in :mod:`normlaws.gpu.fits`. Conventions: ``lam`` is the paper's lambda; the norm of a
layer is the mean norm of its *live* filters (see :data:`COLLAPSED`) read at the record's fit epoch (the end of the
first constant-learning-rate phase, so that it belongs to the base ``eta``); test errors are read at the last epoch.

The Section 4 model takes the loss gradient at unit scale, ``C = E||grad L(w_hat)||^2``, as a constant; in a real
network it is not (it falls as the effective learning rate rises, and differs from filter to filter). Records
carry it per filter (``grad_unit_sq``), so that a derived law ``f(eta, lam, C)`` is tested filter by filter with
``C`` measured instead of assumed fixed (:func:`fit_filter_law`).
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import sympy as sp

from ..records import read_records
from ..rules import RECORD_ALIASES, canonical
from ..schema import read_trajectory
from ..simulate.predict import evaluate, lion_Q
from ..theory.symbols import eta, lam, rho
from .derived import derivation
from .settling import COUPLED_RULES, approach_steps, coupled_relaxation, layer_fan_in

#: the claim whose derivation gives each rule's relaxation time (``extras["relaxation_leading"]``)
RELAXATION_CLAIMS = {"sgd": "later.angle.sgd", "momentum": "later.angle.momentum",
                     "nesterov_torch": "later.angle.nesterov_torch",
                     "adamw": "later.angle.adamw", "lion": "later.angle.lion"}
#: the claims that give the equilibrium norm without C
C_FREE_NORM_CLAIMS = {"adamw": "later.adamw.rms", "lion": "later.norm.lion"}

#: a cell is equilibrated when the last fifth of its first phase moved the log norm by at most this fraction
#: of the whole phase's movement. For an exponential approach with time constant tau over E epochs the
#: fraction is (exp(-(E-k)/tau) - exp(-E/tau)) / (1 - exp(-E/tau)) with k = E/5: 0.2 while tau >> E (still
#: drifting), 0.05 at E ~ 2.8 tau (95 % relaxed), and below for longer runs. Used for rules without a derived
#: relaxation time (see :func:`relaxation_steps`).
EQUILIBRIUM_FRACTION = 0.05

#: the drift test needs the norm to have moved by at least this much in log over the phase (10 %): a norm that
#: barely left its initial value passes any drift test by noise, yet cannot be told apart from one that never
#: started to relax
EQUILIBRIUM_MIN_MOVE = 0.1

#: where the theory derives the norm's relaxation time tau (steps), a run is in equilibrium this many tau after its
#: start was forgotten (:func:`settle_steps`): the memory of the initial norm is then down to exp(-3) ~ 5 %
RELAXATION_MULTIPLE = 3.0

#: a filter whose norm is below this fraction of its layer's initial mean filter norm counts as collapsed: it no
#: longer reaches the loss (a dead ReLU channel), gets no loss gradient, and L2 shrinks it towards zero, where its
#: angle and ``||grad L||/||w||`` are undefined
COLLAPSED = 1e-6


def layer_summary(norms: np.ndarray, unit_sq: np.ndarray) -> dict:
    """Per-epoch summaries of one layer from its per-filter norms (epochs + 1, C) and ``grad_unit_sq`` (epochs, C).

    ``filter_norm_mean`` over all filters; ``live_filter_norm_mean``, ``grad_unit_sq_mean`` over the filters
    live at the epoch's end; ``collapsed_filters`` the count of the others (a NaN epoch, after a divergence,
    counts none).
    """
    live = norms > COLLAPSED * norms[0].mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        live_norm = np.where(live, norms, 0.0).sum(1) / live.sum(1)
        live_unit_sq = np.where(live[1:], unit_sq, 0.0).sum(1) / live[1:].sum(1)
    mean_norm = norms.mean(1)
    return {"filter_norm_mean": mean_norm[1:].tolist(), "init_filter_norm_mean": float(mean_norm[0]),
            "live_filter_norm_mean": live_norm[1:].tolist(), "grad_unit_sq_mean": live_unit_sq.tolist(),
            "collapsed_filters": [int(n) for n in (np.isfinite(norms[1:]) & ~live[1:]).sum(1)]}


def as_float(value) -> float:
    """A record value as a float ('nan'/'inf' strings and None become NaN / inf)."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def load_records(results_dir) -> list:
    """Every record in ``records.jsonl`` files under ``results_dir`` (one per key; the last one wins).

    Each record gets ``_dir``, the folder of its file, where its ``trajectory`` path is relative to.
    """
    root = Path(results_dir)
    files = [root] if root.is_file() else sorted(root.rglob("records.jsonl"))
    by_key = {}
    for path in files:
        for record in read_records(path):
            by_key[record["key"]] = {**record, "_dir": str(path.parent)}
    return list(by_key.values())


def trajectory(record) -> dict | None:
    """The record's ``.npz`` trajectories as a dict of arrays, or None when the file is not there."""
    name, folder = record.get("trajectory"), record.get("_dir")
    if not name or folder is None or not (Path(folder) / name).is_file():
        return None
    return read_trajectory(Path(folder) / name, record["config"]["epochs"])   # checked, never unpickled


def _summary_series(record, layer: str, key: str) -> list | None:
    """``epochs[key][layer]`` when the record has it, else the same from its trajectory (older records)."""
    stored = record["epochs"].get(key)
    if stored is not None:
        return [as_float(v) for v in stored[layer]]
    traj = trajectory(record)
    if traj is None or f"{layer}_filter_norms" not in traj:
        return None
    norms = traj[f"{layer}_filter_norms"]
    unit_sq = traj.get(f"{layer}_grad_unit_sq", np.full((len(norms) - 1, norms.shape[1]), np.nan))
    return layer_summary(norms, unit_sq)[key]


def of_family(records, rule: str, network: str | None = None) -> list:
    """The records of one update rule as the vocabulary names it (older records' names read through
    ``rules.RECORD_ALIASES``), of one network if ``network`` is given."""
    return [r for r in records if family(r) == rule and (network is None or network_of(r) == network)]


def network_of(record) -> str:
    """The record's network: ``standard`` (the paper's; also every record written before the option) or
    ``invariant``."""
    return record["config"].get("network", "standard")


def norm_series(record, layer: str = "conv1") -> np.ndarray:
    """Mean norm of the live filters of ``layer`` at initialisation and after each epoch: (epochs + 1,).

    Falls back to the mean over all filters for records without per-filter data.
    """
    init = as_float(record["epochs"]["init_filter_norm_mean"][layer])
    live = _summary_series(record, layer, "live_filter_norm_mean")
    if live is None:
        live = [as_float(v) for v in record["epochs"]["filter_norm_mean"][layer]]
    return np.array([init] + live)


def collapsed_at_fit(record, layer: str = "conv1") -> int | None:
    """How many filters of ``layer`` had collapsed by the fit epoch (None without per-filter data)."""
    counts = _summary_series(record, layer, "collapsed_filters")
    return None if counts is None else int(counts[fit_epoch(record) - 1])


def gradient_scale_at_fit(record, layer: str = "conv1") -> float:
    """``C``: the mean over the fit epoch's steps and the live filters of ``||grad_j L(w_hat_j)||^2``.

    Read from the records' per-filter ``grad_unit_sq``; NaN for records written before normlaws recorded it.
    (No estimate from the layer's mean ``||grad L||/||w||``: with filters of unequal norms that estimate is
    off by factors up to 100 on CIFAR-10, the more the larger eta*lam, which would bias every fit against C.)
    """
    stored = _summary_series(record, layer, "grad_unit_sq_mean")
    return stored[fit_epoch(record) - 1] if stored is not None else math.nan


def filters_at_fit(record, layer: str = "conv1") -> tuple | None:
    """Per live filter at the fit epoch: ``(norms, C)``, two arrays; None without a per-filter ``C``.

    ``C`` is the held-out probe's (``probe_unit_sq``: measured at the epoch's end on test images, apart from the
    training steps, so no noise of the steps that set the norm enters it) where the record has it, else the
    mean over the epoch's training steps (``grad_unit_sq``, older records). The Section 4 law is a law of one
    scale-invariant filter; a layer mean of unequal filters does not obey it (the mean of ``C_j^(1/4)`` is not
    the fourth root of the mean ``C_j``), so fits in ``C`` are per filter.
    """
    traj = trajectory(record)
    name = next((f"{layer}_{k}" for k in ("probe_unit_sq", "grad_unit_sq") if traj and f"{layer}_{k}" in traj), None)
    if name is None:
        return None
    e = fit_epoch(record)
    norms, unit_sq = traj[f"{layer}_filter_norms"], traj[name]
    w, c = norms[e], unit_sq[e - 1]
    keep = (w > COLLAPSED * norms[0].mean()) & np.isfinite(w) & np.isfinite(c) & (c > 0)
    return w[keep], c[keep]


def fit_epoch(record) -> int:
    """Epochs after which the norm is read: the end of the first constant-learning-rate phase."""
    cfg = record["config"]
    firsts = [m for m in cfg["milestones"] if 0 < m <= cfg["epochs"]]
    return min(firsts) if firsts else cfg["epochs"]


def norm_at_fit(record, layer: str = "conv1") -> float:
    """The layer's mean filter norm at the fit epoch (NaN for a diverged run)."""
    return float(norm_series(record, layer)[fit_epoch(record)])


def final_test_error(record) -> float:
    """Test error after the last epoch (NaN for a diverged run)."""
    errors = record["epochs"]["test_error"]
    return as_float(errors[-1]) if errors and record["status"] == "done" else math.nan


def family(record) -> str:
    """The update rule in the vocabulary (:mod:`normlaws.rules`): an older record's ``nesterov`` is
    ``nesterov_torch``, its ``rmsprop`` ``rmsprop_torch``, its ``sgd`` with momentum heavy-ball ``momentum``."""
    cfg = record["config"]
    name = canonical(cfg["optimizer"], RECORD_ALIASES)
    return "momentum" if name == "sgd" and cfg.get("momentum") else name


def steps_per_epoch(record) -> int:
    """Optimizer steps per epoch of the record's configuration (the last incomplete batch is dropped)."""
    cfg = record["config"]
    return cfg["n_train"] // cfg["batch_size"]


@functools.lru_cache(maxsize=None)
def _relaxation_function(rule: str):
    """``tau(eta, lam, rho)`` in steps from ``later.angle.<rule>``'s derived relaxation time, or None."""
    dv = derivation(RELAXATION_CLAIMS[rule]) if rule in RELAXATION_CLAIMS else None
    tau = None if dv is None else dv.extras.get("relaxation_leading")
    if tau is None or not sp.sympify(tau).free_symbols <= {eta, lam, rho}:
        return None
    return sp.lambdify((eta, lam, rho), sp.sympify(tau), "math")


def relaxation_steps(record, layer: str = "conv1") -> float | None:
    """The derived relaxation time (steps) of the norm for the record's rule and (eta, lam, momentum), or None.

    From ``later.angle.<rule>`` (leading order: ``1/(8 eta lam)`` for SGD, ``(1-rho)/(8 eta lam)`` with momentum
    rho, ``1/(2 eta lam)`` for AdamW and Lion); for Adam and RMSProp with L2, whose time depends on the gradient
    statistics, the moment model's ``1/(3 c eta)`` at the layer's measured ``C`` and fan-in
    (:func:`~normlaws.gpu.settling.coupled_relaxation`; None for records without ``C``, or where the closure has
    no equilibrium at the measured ``C``: those cells fall back to the drift test). None without decay.
    """
    cfg, rule = record["config"], family(record)
    if cfg["lam"] <= 0:
        return None
    if rule in COUPLED_RULES:
        tau = coupled_relaxation(rule, cfg["eta"], cfg["lam"], layer_fan_in(cfg, layer),
                                 gradient_scale_at_fit(record, layer), cfg.get("beta1", 0.9))
        return tau if math.isfinite(tau) else None
    tau = _relaxation_function(rule)
    return None if tau is None else float(tau(cfg["eta"], cfg["lam"], cfg.get("momentum") or 0.0))


def settle_steps(record, layer: str = "conv1") -> float | None:
    """Steps after which the run's ``layer`` is in equilibrium, where the theory gives its relaxation time tau:
    :data:`RELAXATION_MULTIPLE` tau after the initial norm has been left behind, or None.

    The start: for AdamW and Lion, whose equilibrium ``N*`` is C-free and whose relaxation is linear
    (``N_t - N* = (N_0 - N*) (1 - eta lam)^(2t)``), ``tau ln|N_0/N* - 1|`` more for a start far from ``N*``; for
    Adam and RMSProp with L2, the steps their decay alone needs from the initial RMS of the weights to the fit
    epoch's (:func:`~normlaws.gpu.settling.approach_steps`, a lower bound of the real approach).
    """
    tau = relaxation_steps(record, layer)
    if tau is None:
        return None
    need = RELAXATION_MULTIPLE * tau
    start = as_float(record["epochs"].get("init_filter_norm_mean", {}).get(layer, math.nan))
    if family(record) in COUPLED_RULES:
        d = math.sqrt(layer_fan_in(record["config"], layer))
        return need + approach_steps(record["config"], family(record), start / d, norm_at_fit(record, layer) / d)
    target = c_free_norm_sq(record, layer)
    if target and math.isfinite(start) and abs(start**2 / target - 1) > 1:
        need += tau * math.log(abs(start**2 / target - 1))
    return need


def equilibrated(record, layer: str = "conv1", fraction: float = EQUILIBRIUM_FRACTION) -> bool:
    """Whether the norm read at the fit epoch is an equilibrium one: its whole last epoch was in equilibrium.

    Where the theory derives the relaxation time (:func:`settle_steps`): the equilibrium window
    (:func:`equilibrium_epochs`) is not empty. A drift test would wrongly reject such cells: their norm goes on
    tracking the equilibrium of the current gradient scale, which moves as training proceeds. Elsewhere (records
    without the gradient scale Adam's and RMSProp's time needs) the drift test (see :data:`EQUILIBRIUM_FRACTION`):
    with ``k = max(1, E//5)``, ``|log n(E)/n(E-k)| < fraction * |log n(E)/n(0)|``; a norm still drifting fails,
    and so does one that moved by less than :data:`EQUILIBRIUM_MIN_MOVE` in log from its initial value, which
    cannot be told apart from one that never started to relax. Normalized runs have a fixed norm: they count as
    settled when they finished.
    """
    if record["status"] != "done":
        return False
    if family(record) == "normalized":
        return True
    e = fit_epoch(record)
    series = norm_series(record, layer)
    first, last = series[0], series[e]
    if not (np.all(np.isfinite([first, last])) and min(first, last) > 0):
        return False
    window = _derived_window(record, layer)
    if window is not None:
        return bool(window)
    before = series[e - max(1, e // 5)]
    if not (math.isfinite(before) and before > 0):
        return False
    moved = abs(math.log(last / first))
    return moved >= EQUILIBRIUM_MIN_MOVE and abs(math.log(last / before)) < fraction * moved


def c_free_norm_sq(record, layer: str) -> float | None:
    """The derived equilibrium ``||w_j||^2`` of a filter of ``layer`` where the theory gives it without C (AdamW:
    ``d RMS^2``, ``later.adamw.rms``; Lion: ``later.norm.lion``), else None."""
    rule, c = family(record), record["config"]
    claim = C_FREE_NORM_CLAIMS.get(rule)
    if claim is None or c["lam"] <= 0:
        return None
    d = layer_fan_in(c, layer)
    dv = derivation(claim)
    values = {"eta": c["eta"], "lam": c["lam"], "beta1": c.get("beta1", 0.9), "d": float(d)}
    if rule == "lion":
        return float(evaluate(dv.result, **values, Q=lion_Q(c["eta"], c["lam"], values["beta1"], c.get("beta2", 0.99))))
    return d * float(evaluate(dv.extras["rms_sq"], **values))


def equilibrium_epochs(record, layer: str = "conv1") -> list:
    """The 0-based epochs of the first constant-learning-rate phase in which the run is in equilibrium.

    Where the theory derives the relaxation time: the epochs that start at least :func:`settle_steps` after the
    first step. Elsewhere (records without Adam's and RMSProp's gradient scale): the last fifth of the phase when
    the drift test of :func:`equilibrated` passes. Normalized runs: every epoch after the first. None of a
    diverged run or one without decay (it has no equilibrium).
    """
    if record["status"] != "done" or record["config"]["lam"] <= 0:
        return []
    e = fit_epoch(record)
    if family(record) == "normalized":
        return list(range(1, e))
    window = _derived_window(record, layer)
    if window is not None:
        return window
    return list(range(e - max(1, e // 5), e)) if equilibrated(record, layer) else []


def _derived_window(record, layer: str) -> list | None:
    """The epochs of the first phase that begin :func:`settle_steps` or more after the start (none when the fit
    epoch's norm is not finite); None where the theory gives no relaxation time."""
    need = settle_steps(record, layer)
    if need is None:
        return None
    if not math.isfinite(norm_at_fit(record, layer)):
        return []
    per = steps_per_epoch(record)
    return [k for k in range(fit_epoch(record)) if k * per >= need]
