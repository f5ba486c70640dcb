"""The training leg's checks, by claim id: ``CHECKS[claim_id](results_dir) -> dict``.

Imports no torch (it only reads records). Every check returns
``{"status": "agrees"|"disagrees"|"skipped", "measured", "ci": [lo, hi], "derived", "detail", ...}``:
measured exponents with their 95 % confidence intervals from the records under ``results_dir``, and the exponents
the theory derives, read from the registry (``derivation.extras``, or the leading order of a derived
expression), never typed here. "agrees" means every derived exponent lies inside its interval. Four kinds:

- ``table1.<rule>.norm``: ``||w|| ~ eta^p lam^q C^c`` (conv1's live-filter mean norm at the end of the first
  phase);
- ``table1.<rule>.eff_lr_eq``: the effective learning rate ``eta/||w||^k`` of the rule (``k`` from
  ``theory.updates``) at the same epoch, ``~ eta^p lam^q C^c``;
- ``later.angle.<rule>``: the mean angle per step between successive conv1 filters in the fit epoch, whose
  derived leading form ``~ sqrt(eta lam)`` has no ``C`` at all (the rotational equilibrium);
- ``lr.optimal.<rule>``: ``eta* ~ lam^s`` (test-error-minimising eta per lam).

``C`` is the second moment of the loss gradient at unit filter norm. The Section 4 model treats it as a
constant; in real training it moves with (eta, lam). Where the derived law contains ``C`` (or, for the angle,
claims independence of it) the fit has ``log C`` as a third regressor, measured in the same epoch: that tests the
law as derived. The fit without ``C`` (the law read as a pure power of eta and lam, as the paper reads it) and the
fitted drift of ``C`` itself are reported beside it in ``without_C`` and ``gradient_scale``.

Rules are the theory's: our ``sgd`` with momentum > 0 is heavy-ball ``momentum``. The harness's ``rmsprop``
adds epsilon outside the square root (torch); the theory's RMSProp claims put it inside: the exponents are
those of the small-epsilon limit either way. Our ``adamw`` shrinks by ``1 - 2*eta*lam`` per step, the theory's
AdamW claims by ``1 - eta*lam``: a constant factor in lam, which leaves every exponent unchanged.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .analysis import (angle_at_fit, derived_exponents, eff_lr_at_fit, equilibrated, fit_gradient_scale, fit_law,
                       fit_optimal_eta, load_records, norm_at_fit, of_family, optimal_eta)

MIN_CELLS = 5   # fewer cells than this leave a 3-parameter fit with too few degrees of freedom (one more with C)
NORM_RULES = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
EFF_LR_RULES = NORM_RULES
ANGLE_RULES = ("sgd", "momentum", "nesterov", "adamw")
LR_RULES = NORM_RULES
KEYS = ("exponent_eta", "exponent_lam", "exponent_C")


def _skipped(detail: str, **extra) -> dict:
    return {"status": "skipped", "measured": None, "ci": None, "derived": None, "detail": detail, **extra}


def _inside(value: float, ci) -> bool:
    return ci[0] <= value <= ci[1]


def _describe(fit, names) -> str:
    return "; ".join(f"{k} {fit.get(k)['value']:.3f} [{fit.get(k)['ci'][0]:.3f}, {fit.get(k)['ci'][1]:.3f}]"
                     for k in names)


@functools.lru_cache(maxsize=None)
def _leading_angle(rule: str):
    """``angle(eta, lam, rho, beta1)`` from ``later.angle.<rule>``'s derived leading angle, or None."""
    import sympy as sp
    from .. import registry
    from ..theory.symbols import beta1, eta, lam, rho
    expr = registry.get(f"later.angle.{rule}").derivation.extras.get("angle_leading")
    if expr is None or not sp.sympify(expr).free_symbols <= {eta, lam, rho, beta1}:
        return None
    return sp.lambdify((eta, lam, rho, beta1), sp.sympify(expr), "math")


def angle_constant(records, rule: str) -> dict | None:
    """Measured mean angle / derived leading angle over the settled cells: ``{"mean", "sd", "cells"}``."""
    law = _leading_angle(rule)
    if law is None:
        return None
    ratios = []
    for rec in records:
        cfg = rec["config"]
        angle = angle_at_fit(rec)
        if equilibrated(rec) and cfg["lam"] > 0 and math.isfinite(angle):
            ratios.append(angle / law(cfg["eta"], cfg["lam"], cfg.get("momentum") or 0.0, cfg.get("beta1", 0.9)))
    if not ratios:
        return None
    return {"mean": float(np.mean(ratios)), "sd": float(np.std(ratios, ddof=1)) if len(ratios) > 1 else 0.0,
            "cells": len(ratios)}


def law_check(claim_id: str, rule: str, value, what: str, expression: str | None = None,
              always_with_C: bool = False):
    """A check of ``value ~ eta^p lam^q C^c`` for ``rule`` against the derived exponents of ``claim_id``.

    ``expression`` names the ``derivation.extras`` entry that holds the law (default: the derived result);
    ``C`` enters the fit when its derived exponent is not 0, or always with ``always_with_C``.
    """

    def check(results_dir) -> dict:
        derived = derived_exponents(claim_id, KEYS, expression)
        if derived is None:
            return _skipped(f"the registry gives no exponents in eta, lam and C for {claim_id}")
        records = of_family(load_records(results_dir), rule)
        if not records:
            return _skipped(f"no {rule} records under {results_dir} for {claim_id}")
        with_C = always_with_C or derived["exponent_C"] != 0
        names = KEYS if with_C else KEYS[:2]
        fit = fit_law(records, value, with_C=with_C)
        needed = MIN_CELLS + with_C
        if fit is None or fit.n < needed:
            settled = sum(equilibrated(r) for r in records)
            return _skipped(f"{settled} of {len(records)} {rule} cells equilibrated; {claim_id} needs {needed}")
        comps = {k: {**fit.get(k), "derived": derived[k]} for k in names}
        agree = all(_inside(c["derived"], c["ci"]) for c in comps.values())
        lam = comps["exponent_lam"]
        detail = (f"{rule}, {what} over {fit.n} equilibrated of {len(records)} cells"
                  + (", with the measured gradient scale C as a regressor" if with_C else "") + ": "
                  + "; ".join(f"{k} {c['value']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] vs derived "
                              f"{c['derived']:.4g}" for k, c in comps.items()))
        out = {"status": "agrees" if agree else "disagrees", "measured": lam["value"], "ci": lam["ci"],
               "derived": lam["derived"], "detail": detail, "components": comps, "rule": rule, "cells": fit.n}
        if with_C:
            out.update(_without_C(records, value, derived))
            out["detail"] += out.pop("_detail")
        return out

    return check


def _without_C(records, value, derived: dict) -> dict:
    """The fit in eta and lam alone, and the drift of C, for a check whose main fit had C as a regressor."""
    plain, drift = fit_law(records, value), fit_gradient_scale(records)
    out, text = {}, ""
    if plain is not None:
        out["without_C"] = {k: {**plain.get(k), "derived_if_C_fixed": derived[k]} for k in KEYS[:2]}
        text += f". Without C (C assumed the same in every cell): {_describe(plain, KEYS[:2])}"
    if drift is not None:
        out["gradient_scale"] = {k: drift.get(k) for k in KEYS[:2]}
        text += f". C itself moved as eta^p lam^q with {_describe(drift, KEYS[:2])}"
    out["_detail"] = text
    return out


def angle_check(rule: str):
    """The rotational equilibrium ``later.angle.<rule>``: the angle per step against its derived leading law."""
    inner = law_check(f"later.angle.{rule}", rule, angle_at_fit, "mean angle per step of conv1 filters in the "
                      "fit epoch", expression="angle_leading", always_with_C=True)

    def check(results_dir) -> dict:
        out = inner(results_dir)
        if out["status"] != "skipped":
            const = angle_constant(of_family(load_records(results_dir), rule), rule)
            if const is not None:
                out["constant"] = const
                out["detail"] += (f". Measured mean angle / derived leading angle: {const['mean']:.3f} "
                                  f"(sd {const['sd']:.3f} over {const['cells']} cells; the derived angle is the "
                                  f"root mean square, which a mean underestimates)")
        return out

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
    CHECKS[f"table1.{_rule}.norm"] = law_check(
        f"table1.{_rule}.norm", _rule, norm_at_fit, "conv1 live-filter mean norm at the end of the first phase")
for _rule in EFF_LR_RULES:
    CHECKS[f"table1.{_rule}.eff_lr_eq"] = law_check(
        f"table1.{_rule}.eff_lr_eq", _rule, eff_lr_at_fit,
        "effective learning rate eta/||w||^k of conv1 at the end of the first phase")
for _rule in ANGLE_RULES:
    CHECKS[f"later.angle.{_rule}"] = angle_check(_rule)
for _rule in LR_RULES:
    CHECKS[f"lr.optimal.{_rule}"] = optimal_lr_check(f"lr.optimal.{_rule}", _rule)
