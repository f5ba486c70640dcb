"""Fits of sweep records: least squares with (cluster-robust) intervals, power laws over cells and filters,
optimal learning rates, and the exponents the theory derives for a claim.

Torch-free (numpy and scipy). Conventions as in :mod:`normlaws.gpu.analysis`.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from scipy import stats

from ..theory import symbols as S
from ..theory.updates import RULES, effective_lr
from .derived import derivation
from .analysis import (as_float, equilibrated, family, filters_at_fit, final_test_error, fit_epoch,
                       gradient_scale_at_fit, norm_at_fit)


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

    >>> eff_lr_power("nesterov_torch"), eff_lr_power("adam")
    (2, 1)
    """
    if rule not in RULES:
        return None
    return int(-effective_lr(rule).as_powers_dict()[S.r])


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
    dv = derivation(claim_id)
    if dv is None:
        return None
    out = {}
    for key in keys:
        if expression is None and key in dv.extras:
            out[key] = float(dv.extras[key])
            continue
        target = dv.result if expression is None else dv.extras.get(expression)
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
    var = {"exponent_eta": S.eta, "exponent_lam": S.lam, "exponent_C": S.C}.get(key)
    if var is None or expr is None:
        return None
    h = sp.Dummy("h", positive=True)
    log_derivative = var * sp.diff(sp.log(sp.sympify(expr)), var)
    value = sp.limit(log_derivative.subs({S.eta: h * S.eta, S.lam: h * S.lam}, simultaneous=True), h, 0)
    return float(value) if value.is_number and value.is_finite else None
