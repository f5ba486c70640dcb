"""The training leg's checks, by claim id: ``CHECKS[claim_id](results_dir) -> dict``.

Imports no torch (it only reads records). Every check returns
``{"status": "agrees"|"disagrees"|"skipped", "measured", "ci": [lo, hi], "derived", "detail", ...}``:
the measured exponent with its 95 % confidence interval from the records under ``results_dir``, and the
exponent the theory derives, read from the registry (``derivation.extras``), never typed here. "agrees"
means the derived value lies inside the interval. AdamW has no check: no claim states its norm law.
"""
from __future__ import annotations

import math

from .analysis import (as_float, derived_exponents, fit_epoch, fit_norm_exponents, fit_optimal_eta, load_records,
                       of_optimizer, ols, optimal_eta)

MIN_CELLS = 5   # fewer equilibrated cells than this leave a 3-parameter fit with too few degrees of freedom


def _skipped(detail: str, **extra) -> dict:
    return {"status": "skipped", "measured": None, "ci": None, "derived": None, "detail": detail, **extra}


def _inside(value: float, ci) -> bool:
    return ci[0] <= value <= ci[1]


def norm_exponent_check(claim_id: str, optimizer: str):
    """A check of ``||w|| ~ eta^p lam^q`` for ``optimizer`` against the derived (p, q) of ``claim_id``."""

    def check(results_dir) -> dict:
        derived = derived_exponents(claim_id)
        if derived is None:
            return _skipped(f"the registry has no exponent_eta/exponent_lam for {claim_id}")
        records = of_optimizer(load_records(results_dir), optimizer)
        if not records:
            return _skipped(f"no {optimizer} records under {results_dir}")
        fit = fit_norm_exponents(records)
        if fit is None or fit.n < MIN_CELLS:
            n = 0 if fit is None else fit.n
            return _skipped(f"{n} of {len(records)} {optimizer} cells equilibrated; need {MIN_CELLS}")
        comps = {k: {**fit.get(k), "derived": derived[k]} for k in ("exponent_eta", "exponent_lam")}
        agree = all(_inside(c["derived"], c["ci"]) for c in comps.values())
        lam = comps["exponent_lam"]
        detail = (f"{optimizer}, conv1 norm at the fit epoch over {fit.n} equilibrated of {len(records)} cells: "
                  + "; ".join(f"{k} {c['value']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] vs derived "
                              f"{c['derived']:.4g}" for k, c in comps.items()))
        return {"status": "agrees" if agree else "disagrees", "measured": lam["value"], "ci": lam["ci"],
                "derived": lam["derived"], "detail": detail, "components": comps, "optimizer": optimizer,
                "cells": fit.n}

    return check


def optimal_lr_check(claim_id: str, optimizers: tuple):
    """A check of ``eta* ~ lam^s`` (s from the registry) on the first of ``optimizers`` with a fit."""

    def check(results_dir) -> dict:
        derived = derived_exponents(claim_id, ("exponent_lam",))
        if derived is None:
            return _skipped(f"the registry has no exponent_lam for {claim_id}")
        records = load_records(results_dir)
        for optimizer in optimizers:
            points = optimal_eta(of_optimizer(records, optimizer))
            fit = fit_optimal_eta(points)
            if fit is None or fit.n < 3:
                continue
            s = fit.get("exponent_lam")
            return {"status": "agrees" if _inside(derived["exponent_lam"], s["ci"]) else "disagrees",
                    "measured": s["value"], "ci": s["ci"], "derived": derived["exponent_lam"],
                    "detail": f"{optimizer}: slope of log eta* on log lam over {fit.n} lambdas with an interior "
                              f"optimum: {s['value']:.3f} [{s['ci'][0]:.3f}, {s['ci'][1]:.3f}] vs derived "
                              f"{derived['exponent_lam']:.4g}",
                    "optimizer": optimizer, "points": points}
        return _skipped(f"fewer than 3 lambdas with an interior optimal eta for {' or '.join(optimizers)}")

    return check


def normalized_lr_check(results_dir) -> dict:
    """Normalized SGD: the lam-exponent of the angular step (the effective step) against the derived one."""
    claim_id = "table1.normalized.lr"
    derived = derived_exponents(claim_id, ("exponent_lam",))
    if derived is None:
        return _skipped(f"the registry has no exponent_lam for {claim_id}")
    records = [r for r in of_optimizer(load_records(results_dir), "normalized") if r["status"] == "done"]
    angles = [as_float(r["epochs"]["angle_mean"]["conv1"][fit_epoch(r) - 1]) for r in records]
    cells = [(r, a) for r, a in zip(records, angles) if math.isfinite(a) and a > 0 and r["config"]["lam"] > 0]
    fit = ols({"log_eta": [math.log(r["config"]["eta"]) for r, _ in cells],
               "exponent_lam": [math.log(r["config"]["lam"]) for r, _ in cells]},
              [math.log(a) for _, a in cells]) if cells else None
    if fit is None or fit.n < MIN_CELLS:
        return _skipped(f"{len(cells)} finished normalized cells; need {MIN_CELLS}")
    q = fit.get("exponent_lam")
    return {"status": "agrees" if _inside(derived["exponent_lam"], q["ci"]) else "disagrees",
            "measured": q["value"], "ci": q["ci"], "derived": derived["exponent_lam"],
            "detail": f"normalized: exponent of lam in the mean angle per step of conv1 at the fit epoch over "
                      f"{fit.n} cells: {q['value']:.3f} [{q['ci'][0]:.3f}, {q['ci'][1]:.3f}] vs derived "
                      f"{derived['exponent_lam']:.4g}",
            "optimizer": "normalized", "cells": fit.n}


#: claim id -> check(results_dir) -> dict
CHECKS = {
    "table1.sgd.norm": norm_exponent_check("table1.sgd.norm", "sgd"),
    "table1.momentum.norm": norm_exponent_check("table1.momentum.norm", "nesterov"),
    "table1.rmsprop.norm": norm_exponent_check("table1.rmsprop.norm", "rmsprop"),
    "table1.adam.norm": norm_exponent_check("table1.adam.norm", "adam"),
    "lr.optimal.sgd": optimal_lr_check("lr.optimal.sgd", ("sgd", "nesterov")),
    "lr.optimal.adam": optimal_lr_check("lr.optimal.adam", ("adam", "rmsprop")),
    "table1.normalized.lr": normalized_lr_check,
}
