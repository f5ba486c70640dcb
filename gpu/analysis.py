"""Reading sweep records and fitting them: norm exponents, optimal learning rates, equilibrium marks.

Torch-free (numpy and scipy). Conventions: ``lam`` is the paper's lambda; the norm of a layer is the mean norm of
its *live* filters (see :data:`COLLAPSED`) read at the record's fit epoch (the end of the first constant-learning-
rate phase, so that it belongs to the base ``eta``); test errors are read at the last epoch.

The Section 4 model takes the loss gradient at unit scale, ``C = E||grad L(w_hat)||^2``, as a constant; in a real
network it is not (it falls as the effective learning rate rises, and differs from filter to filter). Records
carry it per filter (``grad_unit_sq``), so that a derived law ``f(eta, lam, C)`` is tested filter by filter with
``C`` measured instead of assumed fixed (:func:`fit_filter_law`).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..records import read_records
from ..schema import read_trajectory

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

#: where the theory derives the norm's relaxation time tau (steps), a cell is equilibrated once its first phase
#: lasted this many tau: the memory of the initial norm is then down to exp(-3) ~ 5 %, the drift criterion's level
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


def of_family(records, rule: str) -> list:
    """The records of one update rule as the theory names it (our ``sgd`` with momentum is ``momentum``)."""
    return [r for r in records if family(r) == rule]


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
    """Per live filter at the fit epoch: ``(norms, C)``, two arrays; None without per-filter ``grad_unit_sq``.

    The Section 4 law is a law of one scale-invariant filter; a layer mean of unequal filters does not obey it
    (the mean of ``C_j^(1/4)`` is not the fourth root of the mean ``C_j``), so fits in ``C`` are per filter.
    """
    traj = trajectory(record)
    if traj is None or f"{layer}_grad_unit_sq" not in traj:
        return None
    e = fit_epoch(record)
    norms, unit_sq = traj[f"{layer}_filter_norms"], traj[f"{layer}_grad_unit_sq"]
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
    """The update rule as the theory names it: ``sgd`` with momentum is heavy-ball ``momentum``."""
    cfg = record["config"]
    if cfg["optimizer"] == "sgd" and cfg.get("momentum"):
        return "momentum"
    return cfg["optimizer"]


def steps_per_epoch(record) -> int:
    """Optimizer steps per epoch of the record's configuration (the last incomplete batch is dropped)."""
    cfg = record["config"]
    return cfg["n_train"] // cfg["batch_size"]


@functools.lru_cache(maxsize=None)
def _relaxation_function(rule: str):
    """``tau(eta, lam, rho)`` in steps from ``later.angle.<rule>``'s derived relaxation time, or None."""
    import sympy as sp
    from .. import registry
    from ..errors import UsageError
    from ..theory.symbols import eta, lam, rho
    try:
        tau = registry.get(f"later.angle.{rule}").derivation.extras.get("relaxation_leading")
    except UsageError:
        return None
    if tau is None or not sp.sympify(tau).free_symbols <= {eta, lam, rho}:
        return None
    return sp.lambdify((eta, lam, rho), sp.sympify(tau), "math")


def relaxation_steps(record) -> float | None:
    """The derived relaxation time (steps) of the norm for the record's rule and (eta, lam, momentum), or None.

    From ``later.angle.<rule>`` (leading order: ``1/(8 eta lam)`` for SGD, ``(1-rho)/(8 eta lam)`` with momentum
    rho); None for rules whose derived time depends on the gradient statistics (Adam, RMSProp).
    """
    cfg = record["config"]
    tau = _relaxation_function(family(record))
    if tau is None or cfg["lam"] <= 0:
        return None
    return float(tau(cfg["eta"], cfg["lam"], cfg.get("momentum") or 0.0))


def equilibrated(record, layer: str = "conv1", fraction: float = EQUILIBRIUM_FRACTION) -> bool:
    """Whether the norm had forgotten its initial value by the fit epoch.

    Where the theory derives the relaxation time tau (:func:`relaxation_steps`): the first phase lasted at least
    :data:`RELAXATION_MULTIPLE` tau. A drift test would wrongly reject such cells: their norm goes on tracking
    the equilibrium of the current gradient scale, which moves as training proceeds. Elsewhere the drift test
    (see :data:`EQUILIBRIUM_FRACTION`): with ``k = max(1, E//5)``, ``|log n(E)/n(E-k)| < fraction *
    |log n(E)/n(0)|``; a norm still drifting fails, and so does one that moved by less than
    :data:`EQUILIBRIUM_MIN_MOVE` in log from its initial value, which cannot be told apart from one that never
    started to relax. Normalized runs have a fixed norm: they count as settled when they finished.
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
    tau = relaxation_steps(record)
    if tau is not None:
        return e * steps_per_epoch(record) >= RELAXATION_MULTIPLE * tau
    before = series[e - max(1, e // 5)]
    if not (math.isfinite(before) and before > 0):
        return False
    moved = abs(math.log(last / first))
    return moved >= EQUILIBRIUM_MIN_MOVE and abs(math.log(last / before)) < fraction * moved


@dataclass
class Fit:
    """An ordinary least-squares fit with coefficient standard errors and confidence intervals."""

    names: tuple
    coef: np.ndarray
    se: np.ndarray
    ci: np.ndarray            # (k, 2)
    n: int
    level: float
    residual_sd: float
    extra: dict = field(default_factory=dict)

    def get(self, name: str) -> dict:
        """One coefficient as ``{"value", "se", "ci"}``."""
        i = self.names.index(name)
        return {"value": float(self.coef[i]), "se": float(self.se[i]), "ci": [float(x) for x in self.ci[i]]}


def ols(columns: dict, y, level: float = 0.95, clusters=None) -> Fit | None:
    """Least squares ``y ~ intercept + sum_k b_k * columns[k]``; t-based intervals; None if too few points.

    With ``clusters`` (one label per point), the covariance is cluster-robust (CR1: the sandwich with the
    residuals summed per cluster, scaled by ``G/(G-1) (n-1)/(n-k)``) and the intervals use ``G - 1`` degrees of
    freedom: points of one cluster (the filters of one training run) share its errors and are not independent.

    >>> f = ols({"x": [0.0, 1.0, 2.0, 3.0]}, [1.0, 3.0, 5.0, 7.0])
    >>> round(f.get("x")["value"], 12), f.get("x")["ci"][1] - f.get("x")["ci"][0] < 1e-9
    (2.0, True)
    """
    from scipy import stats
    names = ("intercept",) + tuple(columns)
    y = np.asarray(y, dtype=float)
    x = np.column_stack([np.ones_like(y)] + [np.asarray(columns[k], dtype=float) for k in columns])
    n, k = x.shape
    if n <= k or np.linalg.matrix_rank(x) < k:
        return None
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    s2 = float(resid @ resid) / (n - k)
    bread = np.linalg.inv(x.T @ x)
    if clusters is None:
        cov, dof = s2 * bread, n - k
    else:
        labels = np.asarray(clusters)
        groups = np.unique(labels)
        if len(groups) <= k:
            return None
        scores = np.array([x[labels == g].T @ resid[labels == g] for g in groups])
        scale = len(groups) / (len(groups) - 1) * (n - 1) / (n - k)
        cov, dof = scale * bread @ (scores.T @ scores) @ bread, len(groups) - 1
    se = np.sqrt(np.diag(cov))
    half = stats.t.ppf(0.5 + level / 2, dof) * se
    return Fit(names, coef, se, np.column_stack([coef - half, coef + half]), n, level, math.sqrt(s2))


def angle_at_fit(record, layer: str = "conv1") -> float:
    """Mean angle per step (radians) of the layer's live filters during the fit epoch."""
    return as_float(record["epochs"]["angle_mean"][layer][fit_epoch(record) - 1])


@functools.lru_cache(maxsize=None)
def eff_lr_power(rule: str) -> int | None:
    """``k`` of the rule's effective learning rate ``eta/||w||^k`` (``theory.updates.effective_lr``), or None.

    >>> eff_lr_power("nesterov"), eff_lr_power("adam")
    (2, 1)
    """
    from ..theory.symbols import r
    from ..theory.updates import RULES, effective_lr
    base = {"nesterov": "momentum", "adamw": "adam"}.get(rule, rule)
    if base not in RULES:
        return None
    return int(-effective_lr(base).as_powers_dict()[r])


def eff_lr_at_fit(record, layer: str = "conv1") -> float:
    """The effective learning rate ``eta/n^k`` at the fit epoch (``n`` the live-filter mean norm); NaN if unknown."""
    k = eff_lr_power(family(record))
    return math.nan if k is None else record["config"]["eta"] / norm_at_fit(record, layer) ** k


def fit_law(records, value, layer: str = "conv1") -> Fit | None:
    """Fit ``log value = a + p log eta + q log lam`` over the equilibrated cells with a positive value.

    ``value(record, layer)`` is e.g. :func:`norm_at_fit`, :func:`eff_lr_at_fit` or :func:`angle_at_fit`;
    coefficients are named ``exponent_eta`` and ``exponent_lam``; ``extra`` says how many cells entered.
    """
    cells = [(rec, value(rec, layer)) for rec in records if equilibrated(rec, layer) and rec["config"]["lam"] > 0]
    cells = [(rec, v) for rec, v in cells if math.isfinite(v) and v > 0]
    fit = ols({"exponent_eta": [math.log(rec["config"]["eta"]) for rec, _ in cells],
               "exponent_lam": [math.log(rec["config"]["lam"]) for rec, _ in cells]},
              [math.log(v) for _, v in cells]) if cells else None
    if fit is not None:
        fit.extra = {"cells": len(cells), "of": len(records), "layer": layer}
    return fit


def fit_filter_law(records, power: int = 1, layer: str = "conv1") -> Fit | None:
    """Fit ``log(eta^e / ||w_j||^power) = a + p log eta + q log lam + c log C_j`` over the live filters j of the
    equilibrated cells, with cluster-robust intervals (one cluster per cell); ``e = 1`` when ``power < 0``.

    ``power = -1`` fits the filter norm itself (``log ||w_j||``); ``power = k`` the effective learning rate
    ``eta/||w_j||^k``. None when the records carry no per-filter ``C`` or too few cells settled.
    """
    ys, etas, lams, cs, cells = [], [], [], [], []
    for index, rec in enumerate(records):
        if not (equilibrated(rec, layer) and rec["config"]["lam"] > 0):
            continue
        per_filter = filters_at_fit(rec, layer)
        if per_filter is None or len(per_filter[0]) == 0:
            continue
        w, c = per_filter
        eta, lam = rec["config"]["eta"], rec["config"]["lam"]
        ys += list(np.log(w) if power < 0 else math.log(eta) - power * np.log(w))
        etas += [math.log(eta)] * len(w)
        lams += [math.log(lam)] * len(w)
        cs += list(np.log(c))
        cells += [index] * len(w)
    if not ys:
        return None
    fit = ols({"exponent_eta": etas, "exponent_lam": lams, "exponent_C": cs}, ys, clusters=cells)
    if fit is not None:
        fit.extra = {"cells": len(set(cells)), "filters": len(ys), "of": len(records), "layer": layer}
    return fit


def fit_norm_exponents(records, layer: str = "conv1") -> Fit | None:
    """Fit ``log ||w|| = a + p log eta + q log lam`` (norm at the fit epoch) over the settled cells."""
    return fit_law(records, norm_at_fit, layer)


def fit_gradient_scale(records, layer: str = "conv1") -> Fit | None:
    """Fit ``log C = a + p log eta + q log lam`` over the settled cells: how the gradient scale moves."""
    return fit_law(records, lambda rec, lay: gradient_scale_at_fit(rec, lay), layer)


def grid_values(records, value) -> tuple:
    """``(etas, lams, table)`` with ``table[i, j] = value(record)`` at (etas[i], lams[j]); NaN where missing."""
    etas = sorted({r["config"]["eta"] for r in records})
    lams = sorted({r["config"]["lam"] for r in records})
    table = np.full((len(etas), len(lams)), np.nan)
    for r in records:
        table[etas.index(r["config"]["eta"]), lams.index(r["config"]["lam"])] = value(r)
    return np.array(etas), np.array(lams), table


def optimal_eta(records) -> list:
    """Per lam: the test-error-minimising eta, refined by a parabola in log eta through the best 3 cells.

    Returns dicts ``{"lam", "eta_star", "error", "interior", "settled"}``; ``interior`` is False when the
    minimum lies on the edge of the eta grid (then eta* is only bounded), ``settled`` when the best cell had not
    equilibrated (:func:`equilibrated`: the derived law is a law of the equilibrium). Fits use the points that
    are both.
    """
    etas, lams, errors = grid_values(records, final_test_error)
    by_cell = {(r["config"]["eta"], r["config"]["lam"]): r for r in records}
    out = []
    for j, lam in enumerate(lams):
        col = errors[:, j]
        if not np.isfinite(col).any():
            continue
        i = int(np.nanargmin(col))
        interior = 0 < i < len(etas) - 1 and np.isfinite(col[i - 1]) and np.isfinite(col[i + 1])
        star = float(etas[i])
        if interior:
            xs, ys = np.log(etas[i - 1:i + 2]), col[i - 1:i + 2]
            a, b, _ = np.polyfit(xs, ys, 2)
            if a > 0:
                star = math.exp(float(np.clip(-b / (2 * a), xs[0], xs[-1])))
        out.append({"lam": float(lam), "eta_star": star, "error": float(col[i]), "interior": bool(interior),
                    "settled": bool(equilibrated(by_cell[float(etas[i]), float(lam)]))})
    return out


def fit_optimal_eta(points) -> Fit | None:
    """Fit ``log eta* = a + s log lam`` over the interior optima of equilibrated cells."""
    pts = [p for p in points if p["interior"] and p.get("settled", True) and p["lam"] > 0]
    fit = ols({"exponent_lam": [math.log(p["lam"]) for p in pts]}, [math.log(p["eta_star"]) for p in pts])
    if fit is not None:
        fit.extra = {"points": len(pts), "of": len(points)}
    return fit


def derived_exponents(claim_id: str, keys=("exponent_eta", "exponent_lam"),
                      expression: str | None = None) -> dict | None:
    """The exponents the theory derives for a claim, as floats, from the registry.

    ``derivation.extras[key]`` when the claim has it; otherwise the leading-order exponent of the derived
    result (:func:`leading_exponent`). With ``expression``, the exponents of ``derivation.extras[expression]``
    instead (e.g. ``"angle_leading"``). None when the registry has no such claim or no exponent follows.
    """
    from .. import registry
    from ..errors import UsageError
    try:
        derivation = registry.get(claim_id).derivation
    except UsageError:
        return None
    out = {}
    for key in keys:
        if expression is None and key in derivation.extras:
            out[key] = float(derivation.extras[key])
            continue
        target = derivation.result if expression is None else derivation.extras.get(expression)
        value = leading_exponent(target, key)
        if value is None:
            return None
        out[key] = value
    return out


def leading_exponent(expr, key: str) -> float | None:
    """Exponent of ``eta``, ``lam`` or ``C`` (``key`` 'exponent_eta' / 'exponent_lam' / 'exponent_C') in ``expr``
    to leading order.

    The log-derivative ``x d(log expr)/dx`` in the small-step regime (``eta -> h*eta``, ``lam -> h*lam``,
    ``h -> 0``, as in :mod:`normlaws.theory.compare`); None unless that limit is a number.

    >>> from normlaws.theory.symbols import C, eta, lam
    >>> f = eta / (1 - 2 * eta * lam)
    >>> leading_exponent(f, "exponent_eta"), leading_exponent(f, "exponent_lam")
    (1.0, 0.0)
    >>> leading_exponent((C * eta / lam) ** 0.25, "exponent_C")
    0.25
    """
    import sympy as sp
    from ..theory.symbols import C, eta, lam
    var = {"exponent_eta": eta, "exponent_lam": lam, "exponent_C": C}.get(key)
    if var is None or expr is None:
        return None
    h = sp.Dummy("h", positive=True)
    log_derivative = var * sp.diff(sp.log(sp.sympify(expr)), var)
    value = sp.limit(log_derivative.subs({eta: h * eta, lam: h * lam}, simultaneous=True), h, 0)
    return float(value) if value.is_number and value.is_finite else None
