"""The training leg's checks, by claim id: ``CHECKS[claim_id](results_dir) -> dict``.

Imports no torch (it only reads records). Every check returns
``{"status": "agrees"|"disagrees"|"skipped", "measured", "ci": [lo, hi], "derived", "detail", ...}``:
a measured exponent with its 95 % confidence interval from the records under ``results_dir``, and the exponent
the theory derives, read from the registry (``derivation.extras``, or the leading order of the derived
result), never typed here. "agrees" means every derived exponent lies inside its interval. Three kinds:

- ``table1.<rule>.norm``: ``||w|| ~ eta^p lam^q`` (conv1's mean filter norm at the end of the first phase);
- ``table1.<rule>.eff_lr_eq``: the effective step at equilibrium, measured as the mean angle per step
  between successive conv1 filters (``eta_eff`` times the gradient norm at unit scale, constant in the
  Section 4 model), ``~ eta^p lam^q``;
- ``lr.optimal.<rule>``: ``eta* ~ lam^s`` (test-error-minimising eta per lam).

Rules are the theory's: our ``sgd`` with momentum > 0 is heavy-ball ``momentum``. The harness's ``rmsprop``
adds epsilon outside the square root (torch); the theory's RMSProp claims put it inside: the exponents are
those of the small-epsilon limit either way. Our ``adamw`` shrinks by ``1 - 2*eta*lam`` per step, the theory's
AdamW claims by ``1 - eta*lam``: a constant factor in lam, which leaves every exponent unchanged.
"""
from __future__ import annotations

from .analysis import (angle_at_fit, derived_exponents, equilibrated, fit_norm_exponents, fit_optimal_eta,
                       fit_power_law, load_records, of_family, optimal_eta)

MIN_CELLS = 5   # fewer cells than this leave a 3-parameter fit with too few degrees of freedom
NORM_RULES = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
EFF_LR_RULES = NORM_RULES + ("normalized",)
LR_RULES = NORM_RULES


def _skipped(detail: str, **extra) -> dict:
    return {"status": "skipped", "measured": None, "ci": None, "derived": None, "detail": detail, **extra}


def _inside(value: float, ci) -> bool:
    return ci[0] <= value <= ci[1]



def power_law_check(claim_id: str, rule: str, fit_records, what: str):
    """A check of ``quantity ~ eta^p lam^q`` for ``rule`` against the derived (p, q) of ``claim_id``."""

    def check(results_dir) -> dict:
        derived = derived_exponents(claim_id)
        if derived is None:
            return _skipped(f"the registry gives no exponents in eta and lam for {claim_id}")
        records = of_family(load_records(results_dir), rule)
        if not records:
            return _skipped(f"no {rule} records under {results_dir} for {claim_id}")
        fit = fit_records(records)
        if fit is None or fit.n < MIN_CELLS:
            settled = sum(equilibrated(r) for r in records)
            return _skipped(f"{settled} of {len(records)} {rule} cells equilibrated; {claim_id} needs {MIN_CELLS}")
        comps = {k: {**fit.get(k), "derived": derived[k]} for k in ("exponent_eta", "exponent_lam")}
        agree = all(_inside(c["derived"], c["ci"]) for c in comps.values())
        lam = comps["exponent_lam"]
        detail = (f"{rule}, {what} over {fit.n} equilibrated of {len(records)} cells: "
                  + "; ".join(f"{k} {c['value']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] vs derived "
                              f"{c['derived']:.4g}" for k, c in comps.items()))
        return {"status": "agrees" if agree else "disagrees", "measured": lam["value"], "ci": lam["ci"],
                "derived": lam["derived"], "detail": detail, "components": comps, "rule": rule, "cells": fit.n}

    return check


def optimal_lr_check(claim_id: str, rule: str):
    """A check of ``eta* ~ lam^s`` for ``rule`` against the derived ``s`` of ``claim_id``."""

    def check(results_dir) -> dict:
        derived = derived_exponents(claim_id, ("exponent_lam",))
        if derived is None:
            return _skipped(f"the registry gives no exponent_lam for {claim_id}")
        points = optimal_eta(of_family(load_records(results_dir), rule))
        fit = fit_optimal_eta(points)
        if fit is None or fit.n < 3:
            return _skipped(f"{0 if fit is None else fit.n} lambdas with an interior optimal eta for {rule}; "
                            f"{claim_id} needs 3")
        s = fit.get("exponent_lam")
        return {"status": "agrees" if _inside(derived["exponent_lam"], s["ci"]) else "disagrees",
                "measured": s["value"], "ci": s["ci"], "derived": derived["exponent_lam"],
                "detail": f"{rule}: slope of log eta* on log lam over {fit.n} lambdas with an interior optimum: "
                          f"{s['value']:.3f} [{s['ci'][0]:.3f}, {s['ci'][1]:.3f}] vs derived "
                          f"{derived['exponent_lam']:.4g}",
                "rule": rule, "points": points}

    return check


#: claim id -> check(results_dir) -> dict
CHECKS = {}
for _rule in NORM_RULES:
    CHECKS[f"table1.{_rule}.norm"] = power_law_check(
        f"table1.{_rule}.norm", _rule, fit_norm_exponents, "conv1 norm at the end of the first phase")
for _rule in EFF_LR_RULES:
    CHECKS[f"table1.{_rule}.eff_lr_eq"] = power_law_check(
        f"table1.{_rule}.eff_lr_eq", _rule, lambda recs: fit_power_law(recs, angle_at_fit),
        "mean angle per step of conv1 filters in the last epoch of the first phase")
for _rule in LR_RULES:
    CHECKS[f"lr.optimal.{_rule}"] = optimal_lr_check(f"lr.optimal.{_rule}", _rule)
