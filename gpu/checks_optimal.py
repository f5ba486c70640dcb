"""Training checks of the optimal-learning-rate laws (``lr.optimal.<rule>``) and of Figure 2's lines of constant
effective learning rate (``sec6.fig2.diagonals``), on the invariant network with seeds, the standard one beside.

Torch-free. The derivation (``updates.optimal_lr_law``): at equilibrium the initial norm is forgotten, so the test
error depends on (eta, lam) only through the rule's invariant monomial ``eta^a lam^b``: it is constant on the
lines ``log eta = s log lam + const`` with ``s = -b/a``, and the optimal eta scales as ``lam^s``. Measured by a
collapse fit, per seed: over the equilibrated cells, the test error (averaged over the epochs of the run's
equilibrium window) is fitted as a quadratic in ``x = log eta - s log lam``, and ``s`` is the value that
minimises the residual sum of squares (scanned on a fine grid, refined by a parabola). The seeds' estimates give
the mean and its t-interval; the derived ``s`` must lie within ``Z`` standard errors. The fit uses every
equilibrated cell, whether or not the optimum lies inside the grid (the collapse is what the derivation asserts;
where the fitted parabola has an interior minimum, the optimal eta per lam follows the same lines).

The standard network (the paper's setting: BN gains and shifts and a decayed head, not scale-invariant) gets the
same fit; its deviation from the derived slope is reported with its interval, never as a verdict on a law it
does not satisfy.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..outcome import component, result, skipped
from ..theory.updates import optimal_lr_law
from .derived import derivation
from .analysis import equilibrium_epochs, family, load_records, network_of
from .intervals import mean_interval

#: the slope is scanned over [S_LO, S_HI] in steps of S_STEP
S_LO, S_HI, S_STEP = -3.0, 2.0, 0.01
#: a seed needs at least this many equilibrated cells, with at least two learning rates on some lambda line
MIN_CELLS = 6
MIN_SEEDS = 3


@functools.lru_cache(maxsize=None)
def derived_slope(rule: str) -> float:
    """``s = d log eta*/d log lam`` from the rule's equivariance (``updates.optimal_lr_law``)."""
    return float(optimal_lr_law(rule).extras["exponent_lam"])


def cell_error(record) -> float:
    """The test error averaged over the epochs of the run's equilibrium window (NaN without one)."""
    epochs = equilibrium_epochs(record)
    errors = [record["epochs"]["test_error"][e] for e in epochs]
    values = [float(v) for v in errors if v is not None and math.isfinite(float(v))]
    return float(np.mean(values)) if values else math.nan


def _rss(log_eta, log_lam, y, s: float) -> float:
    x = log_eta - s * log_lam
    coef = np.polyfit(x, y, 2)
    return float(((np.polyval(coef, x) - y) ** 2).sum())


def collapse_slope(cells: list) -> dict | None:
    """The ``s`` whose lines ``log eta - s log lam`` collapse ``cells`` (``[(eta, lam, error)]``) best, with the
    fitted parabola's minimum; None with fewer than :data:`MIN_CELLS` cells."""
    if len(cells) < MIN_CELLS:
        return None
    le, ll, y = (np.array([math.log(c[i]) if i < 2 else c[i] for c in cells]) for i in range(3))
    grid = np.arange(S_LO, S_HI + S_STEP / 2, S_STEP)
    rss = np.array([_rss(le, ll, y, s) for s in grid])
    i = int(np.argmin(rss))
    s = float(grid[i])
    if 0 < i < len(grid) - 1:          # refine by the parabola through the three best points
        a, b, _ = np.polyfit(grid[i - 1:i + 2], rss[i - 1:i + 2], 2)
        if a > 0:
            s = float(np.clip(-b / (2 * a), grid[i - 1], grid[i + 1]))
    coef = np.polyfit(le - s * ll, y, 2)
    spread = float(np.var(y)) * len(y)
    return {"s": s, "rss": _rss(le, ll, y, s), "explained": 1 - _rss(le, ll, y, s) / spread if spread else math.nan,
            "interior": bool(coef[0] > 0 and (le - s * ll).min() < -coef[1] / (2 * coef[0]) < (le - s * ll).max()),
            "cells": len(cells)}


def seed_slopes(records, rule: str, network: str) -> dict:
    """``{seed: collapse_slope(...)}`` of one rule and network over the equilibrated cells of each seed."""
    by_seed: dict = {}
    for rec in records:
        if family(rec) != rule or network_of(rec) != network or rec["config"]["lam"] <= 0:
            continue
        err = cell_error(rec)
        if math.isfinite(err):
            by_seed.setdefault(rec["config"]["seed"], []).append((rec["config"]["eta"], rec["config"]["lam"], err))
    return {seed: fit for seed, fit in ((s, collapse_slope(c)) for s, c in sorted(by_seed.items())) if fit}


def slope_component(quantity: str, fits: dict, derived: float) -> dict:
    """The mean over seeds of the collapse slope against ``derived`` (``Z`` SE over seeds)."""
    r = mean_interval([f["s"] for f in fits.values()])
    return component(quantity, r["mean"], derived, r["se"], 0.0, "standard error over seeds", ci=r["ci"], n=r["n"],
                     per_seed=[round(f["s"], 4) for f in fits.values()])


def _describe(name: str, fits: dict, derived: float) -> str:
    r = mean_interval([f["s"] for f in fits.values()])
    explained = np.mean([f["explained"] for f in fits.values()])
    interior = sum(f["interior"] for f in fits.values())
    return (f"{name}: slope {r['mean']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] over {r['n']} seeds (per seed "
            + ", ".join(f"{f['s']:.2f}" for f in fits.values()) + f"; derived {derived:.4g}; the parabola explains "
            f"{explained:.0%} of the error's variance; interior optimum in {interior} of {len(fits)} seeds)")


def _standard_beside(records, rule: str, derived: float) -> tuple:
    fits = seed_slopes(records, rule, "standard")
    if len(fits) < 2:
        return {}, "The standard network has too few seeds here to compare."
    r = mean_interval([f["s"] for f in fits.values()])
    deviation = {"slope": r["mean"], "ci": r["ci"], "seeds": r["n"], "deviation": r["mean"] - derived}
    return deviation, ("Beside it, the paper's setting (standard network, not scale-invariant, so the law is not "
                       "claimed for it): " + _describe("standard", fits, derived)
                       + f"; deviation from the derived slope {r['mean'] - derived:+.3f}")


def optimal_check(claim_id: str, rule: str):
    """``lr.optimal.<rule>``: the collapse slope of the invariant network's test error against the derived one."""

    def check(results_dir) -> dict:
        records = load_records(results_dir)
        derived = derived_slope(rule)
        fits = seed_slopes(records, rule, "invariant")
        if len(fits) < MIN_SEEDS:
            return skipped(f"{len(fits)} seeds of {rule} on the invariant network with {MIN_CELLS} equilibrated cells; "
                           f"{claim_id} needs {MIN_SEEDS}", seed=0, size="training")
        comp = slope_component("s of the lines of constant test error (eta* ~ lam^s)", fits, derived)
        beside, text = _standard_beside(records, rule, derived)
        return result([comp], _describe(f"{rule}, invariant network", fits, derived) + ". " + text, seed=0,
                      size="training", rule=rule, derived=derived, ci=comp["ci"], standard_network=beside)

    return check


#: Figure 2's two rules and the harness's rule that trains each (torch's Nesterov iterate has the paper's Nesterov
#: equivariance, ``update.nesterov_torch.equivariance``: the same slope)
DIAGONAL_RULES = (("nesterov", "nesterov_torch"), ("adam", "adam"))


def diagonals_check(results_dir) -> dict:
    """``sec6.fig2.diagonals``: the collapse slopes of Nesterov and Adam against the derived ``(-1, -1/2)``."""
    claim_id = "sec6.fig2.diagonals"
    derived = [float(v) for v in derivation(claim_id).result]
    records = load_records(results_dir)
    comps, lines, beside = [], [], {}
    for (paper_rule, rule), slope in zip(DIAGONAL_RULES, derived):
        if derived_slope(rule) != slope:
            return skipped(f"{rule}'s derived slope {derived_slope(rule)} is not Figure 2's {slope} for {paper_rule}",
                           seed=0, size="training")
        fits = seed_slopes(records, rule, "invariant")
        if len(fits) < MIN_SEEDS:
            return skipped(f"{len(fits)} seeds of {rule} on the invariant network with {MIN_CELLS} equilibrated "
                           f"cells; {claim_id} needs {MIN_SEEDS}", seed=0, size="training")
        comps.append(slope_component(f"{rule}: slope of the lines of constant test error", fits, slope))
        lines.append(_describe(f"{rule}, invariant network", fits, slope))
        beside[rule], text = _standard_beside(records, rule, slope)
        lines.append(text)
    return result(comps, "; ".join(lines), seed=0, size="training", derived=derived[0], ci=comps[0]["ci"],
                  standard_network=beside)
