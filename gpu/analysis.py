"""Reading sweep records and fitting them: norm exponents, optimal learning rates, equilibrium marks.

Torch-free (numpy and scipy). Conventions: ``lam`` is the paper's lambda; the norm is the mean per-filter norm
of a BN-followed conv layer read at the record's fit epoch (the end of the first constant-learning-rate phase,
so that it belongs to the base ``eta``); test errors are read at the last epoch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..records import read_records

#: a cell is equilibrated when the last fifth of its first phase moved the log norm by at most this fraction
#: of the whole phase's movement. For an exponential approach with time constant tau over E epochs the
#: fraction is (exp(-(E-k)/tau) - exp(-E/tau)) / (1 - exp(-E/tau)) with k = E/5: 0.2 while tau >> E (still
#: drifting), 0.05 at E ~ 2.8 tau (95 % relaxed), and below for longer runs.
EQUILIBRIUM_FRACTION = 0.05

def as_float(value) -> float:
    """A record value as a float ('nan'/'inf' strings and None become NaN / inf)."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def load_records(results_dir) -> list:
    """Every record in ``records.jsonl`` files under ``results_dir`` (one per key; the last one wins)."""
    root = Path(results_dir)
    files = [root] if root.is_file() else sorted(root.rglob("records.jsonl"))
    by_key = {}
    for path in files:
        for record in read_records(path):
            by_key[record["key"]] = record
    return list(by_key.values())


def of_family(records, rule: str) -> list:
    """The records of one update rule as the theory names it (our ``sgd`` with momentum is ``momentum``)."""
    return [r for r in records if family(r) == rule]


def norm_series(record, layer: str = "conv1") -> np.ndarray:
    """Mean per-filter norm of ``layer`` at initialisation and after each epoch: (epochs + 1,)."""
    init = as_float(record["epochs"]["init_filter_norm_mean"][layer])
    return np.array([init] + [as_float(v) for v in record["epochs"]["filter_norm_mean"][layer]])


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


def equilibrated(record, layer: str = "conv1", fraction: float = EQUILIBRIUM_FRACTION) -> bool:
    """Whether the norm had settled by the fit epoch (see :data:`EQUILIBRIUM_FRACTION`).

    With ``k = max(1, E//5)``: ``|log n(E)/n(E-k)| < fraction * |log n(E)/n(0)|``. A norm still drifting
    (relaxation slower than the run) fails, and so does one that barely moved from its initial value, which
    cannot be told apart from one that never started to relax. Normalized runs have a fixed norm: they count
    as settled when they finished.
    """
    if record["status"] != "done":
        return False
    if family(record) == "normalized":
        return True
    e = fit_epoch(record)
    series = norm_series(record, layer)
    k = max(1, e // 5)
    first, before, last = series[0], series[e - k], series[e]
    if not (np.all(np.isfinite([first, before, last])) and min(first, before, last) > 0):
        return False
    return abs(math.log(last / before)) < fraction * abs(math.log(last / first))


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


def ols(columns: dict, y, level: float = 0.95) -> Fit | None:
    """Least squares ``y ~ intercept + sum_k b_k * columns[k]``; t-based intervals; None if too few points.

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
    dof = n - k
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(x.T @ x)
    se = np.sqrt(np.diag(cov))
    half = stats.t.ppf(0.5 + level / 2, dof) * se
    return Fit(names, coef, se, np.column_stack([coef - half, coef + half]), n, level, math.sqrt(s2))


def angle_at_fit(record, layer: str = "conv1") -> float:
    """Mean angle per step (radians) of the layer's filters during the fit epoch: the effective step."""
    return as_float(record["epochs"]["angle_mean"][layer][fit_epoch(record) - 1])


def fit_power_law(records, value, layer: str = "conv1") -> Fit | None:
    """Fit ``log value = a + p log eta + q log lam`` over the equilibrated cells with a positive value.

    ``value(record, layer)`` is e.g. :func:`norm_at_fit` or :func:`angle_at_fit`; coefficients are named
    ``exponent_eta`` and ``exponent_lam``; ``extra`` says how many cells entered.
    """
    cells = [(r, value(r, layer)) for r in records if equilibrated(r, layer) and r["config"]["lam"] > 0]
    cells = [(r, v) for r, v in cells if math.isfinite(v) and v > 0]
    fit = ols({"exponent_eta": [math.log(r["config"]["eta"]) for r, _ in cells],
               "exponent_lam": [math.log(r["config"]["lam"]) for r, _ in cells]},
              [math.log(v) for _, v in cells]) if cells else None
    if fit is not None:
        fit.extra = {"cells": len(cells), "of": len(records), "layer": layer}
    return fit


def fit_norm_exponents(records, layer: str = "conv1") -> Fit | None:
    """Fit ``log ||w|| = a + p log eta + q log lam`` (norm at the fit epoch) over the equilibrated cells."""
    return fit_power_law(records, norm_at_fit, layer)


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

    Returns dicts ``{"lam", "eta_star", "error", "interior"}``; ``interior`` is False when the minimum lies on
    the edge of the eta grid (then eta* is only bounded, and fits leave the point out).
    """
    etas, lams, errors = grid_values(records, final_test_error)
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
        out.append({"lam": float(lam), "eta_star": star, "error": float(col[i]), "interior": bool(interior)})
    return out


def fit_optimal_eta(points) -> Fit | None:
    """Fit ``log eta* = a + s log lam`` over the interior optima."""
    pts = [p for p in points if p["interior"] and p["lam"] > 0]
    fit = ols({"exponent_lam": [math.log(p["lam"]) for p in pts]}, [math.log(p["eta_star"]) for p in pts])
    if fit is not None:
        fit.extra = {"points": len(pts), "of": len(points)}
    return fit


def derived_exponents(claim_id: str, keys=("exponent_eta", "exponent_lam")) -> dict | None:
    """The exponents the theory derives for a claim, as floats, from the registry.

    ``derivation.extras[key]`` when the claim has it; otherwise the leading-order exponent of the derived
    result (:func:`leading_exponent`). None when the registry has no such claim or no exponent follows.
    """
    from .. import registry
    from ..errors import UsageError
    try:
        derivation = registry.get(claim_id).derivation
    except UsageError:
        return None
    out = {}
    for key in keys:
        if key in derivation.extras:
            out[key] = float(derivation.extras[key])
            continue
        value = leading_exponent(derivation.result, key)
        if value is None:
            return None
        out[key] = value
    return out


def leading_exponent(expr, key: str) -> float | None:
    """Exponent of ``eta`` or ``lam`` (``key`` 'exponent_eta' / 'exponent_lam') in ``expr`` to leading order.

    The log-derivative ``x d(log expr)/dx`` in the small-step regime (``eta -> h*eta``, ``lam -> h*lam``,
    ``h -> 0``, as in :mod:`normlaws.theory.compare`); None unless that limit is a number.

    >>> from normlaws.theory.symbols import eta, lam
    >>> f = eta / (1 - 2 * eta * lam)
    >>> leading_exponent(f, "exponent_eta"), leading_exponent(f, "exponent_lam")
    (1.0, 0.0)
    """
    import sympy as sp
    from ..theory.symbols import eta, lam
    var = {"exponent_eta": eta, "exponent_lam": lam}.get(key)
    if var is None or expr is None:
        return None
    h = sp.Dummy("h", positive=True)
    log_derivative = var * sp.diff(sp.log(sp.sympify(expr)), var)
    value = sp.limit(log_derivative.subs({eta: h * eta, lam: h * lam}, simultaneous=True), h, 0)
    return float(value) if value.is_number and value.is_finite else None
