"""The training leg's checks, by claim id: ``CHECKS[claim_id](results_dir) -> dict``.

Imports no torch (it only reads records). Every check returns
``{"status": "agrees"|"disagrees"|"skipped", "measured", "ci": [lo, hi], "derived", "detail", ...}``:
measured exponents with their 95 % confidence intervals from the records under ``results_dir``, and the exponents
the theory derives, read from the registry (``derivation.extras``, or the leading order of a derived
expression), never typed here. "agrees" means every derived exponent lies inside its interval. Four kinds:

- ``table1.<rule>.norm``: ``||w|| ~ eta^p lam^q C^c`` (conv1's filter norms at the end of the first phase: per
  filter where the records carry C, else the mean over the live filters per cell);
- ``table1.<rule>.eff_lr_eq``: the effective learning rate ``eta/||w||^k`` of the rule (``k`` from
  ``theory.updates``) at the same epoch, ``~ eta^p lam^q C^c``;
- ``later.angle.<rule>``: the mean angle per step between successive conv1 filters in the fit epoch, whose
  derived leading form ``~ sqrt(eta lam)`` has no ``C`` at all (the rotational equilibrium);
- ``lr.optimal.<rule>``: ``eta* ~ lam^s`` (test-error-minimising eta per lam).

``C`` is the second moment of the loss gradient at unit filter norm. The Section 4 model treats it as a
constant; in real training it moves with (eta, lam) and differs from filter to filter. Each fit uses the
variables of its derived law: where the law contains ``C`` and the records carry it per filter, the fit is over
the live filters of the settled cells (``log ||w_j||`` on ``log eta``, ``log lam``, ``log C_j``; intervals
cluster-robust by cell), which tests the law as derived, for the unit it describes; the fit per cell without
``C`` (the law read as a pure power of eta and lam, as the paper reads it) and the drift of the cell-mean ``C``
are reported beside it in ``without_C`` and ``gradient_scale``. Records without per-filter ``C`` are fitted in
eta and lam alone, with a note.

Rules are the theory's: our ``sgd`` with momentum > 0 is heavy-ball ``momentum``. The harness's ``rmsprop``
adds epsilon outside the square root (torch); the theory's RMSProp claims put it inside: the exponents are
those of the small-epsilon limit either way. Our ``adamw`` shrinks by ``1 - eta*lam`` per step, the decoupled
convention of the theory's AdamW claims (``conventions.adamw_weight_decay``): its lam is theirs.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .analysis import (angle_at_fit, derived_exponents, eff_lr_at_fit, eff_lr_power, equilibrated, filters_at_fit,
                       fit_filter_law, fit_gradient_scale, fit_law, fit_optimal_eta, load_records, norm_at_fit,
                       of_family, optimal_eta)

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
def leading_law(claim_id: str, expression: str | None = None):
    """``f(eta, lam, rho, beta1, C)`` from the claim's derived result (or ``extras[expression]``), or None when
    the claim is missing or the law has other free symbols (a dimension d, an unsolved c_L2)."""
    import sympy as sp
    from .. import registry
    from ..errors import UsageError
    from ..theory.symbols import C, beta1, eta, lam, rho
    try:
        derivation = registry.get(claim_id).derivation
    except UsageError:
        return None
    expr = derivation.result if expression is None else derivation.extras.get(expression)
    if expr is None or not sp.sympify(expr).free_symbols <= {eta, lam, rho, beta1, C}:
        return None
    return sp.lambdify((eta, lam, rho, beta1, C), sp.sympify(expr), "math")


def _evaluate(law, record, c=1.0) -> float:
    cfg = record["config"]
    return float(law(cfg["eta"], cfg["lam"], cfg.get("momentum") or 0.0, cfg.get("beta1", 0.9), c))


def angle_constant(records, claim_id: str) -> dict | None:
    """Measured mean angle / derived leading angle over the settled cells: ``{"mean", "sd", "cells", "text"}``."""
    law = leading_law(claim_id, "angle_leading")
    if law is None:
        return None
    ratios = [angle_at_fit(r) / _evaluate(law, r) for r in records
              if equilibrated(r) and r["config"]["lam"] > 0 and math.isfinite(angle_at_fit(r))]
    if not ratios:
        return None
    mean, sd = float(np.mean(ratios)), float(np.std(ratios, ddof=1)) if len(ratios) > 1 else 0.0
    return {"mean": mean, "sd": sd, "cells": len(ratios),
            "text": f"Measured mean angle / derived leading angle: {mean:.3f} (sd {sd:.3f} over {len(ratios)} "
                    f"cells; the derived angle is the root mean square, which a mean underestimates)"}


def norm_constant(records, claim_id: str) -> dict | None:
    """Per live filter of the settled cells: measured norm / derived leading norm at its own C (quartiles)."""
    law = leading_law(claim_id)
    if law is None:
        return None
    ratios = []
    for rec in records:
        per_filter = filters_at_fit(rec) if equilibrated(rec) and rec["config"]["lam"] > 0 else None
        if per_filter is not None:
            ratios += [w / _evaluate(law, rec, c) for w, c in zip(*per_filter)]
    if not ratios:
        return None
    q1, median, q3 = (float(v) for v in np.percentile(ratios, [25, 50, 75]))
    return {"median": median, "quartiles": [q1, q3], "filters": len(ratios),
            "text": f"Measured / derived leading norm per filter: median {median:.3f} (quartiles {q1:.3f}, "
                    f"{q3:.3f}; {len(ratios)} filters)"}


def law_check(claim_id: str, rule: str, value, what: str, expression: str | None = None, filter_power=None,
              constant=None):
    """A check of ``value ~ eta^p lam^q [C^c]`` for ``rule`` against the derived exponents of ``claim_id``.

    ``expression`` names the ``derivation.extras`` entry that holds the law (default: the derived result). When
    the law contains ``C`` and the records carry it per filter, the fit is per filter (:func:`fit_filter_law`
    with ``filter_power``: -1 for the norm, ``k`` for ``eta/||w||^k``); without per-filter ``C`` it falls back
    to the fit in eta and lam, and says so. ``constant(records, claim_id)`` (:func:`norm_constant`,
    :func:`angle_constant`) adds the measured / derived ratio of the law's size.
    """

    def check(results_dir) -> dict:
        derived = derived_exponents(claim_id, KEYS, expression)
        if derived is None:
            return _skipped(f"the registry gives no exponents in eta, lam and C for {claim_id}")
        records = of_family(load_records(results_dir), rule)
        if not records:
            return _skipped(f"no {rule} records under {results_dir} for {claim_id}")
        in_C = derived["exponent_C"] != 0 and filter_power is not None
        power = filter_power(rule) if callable(filter_power) else filter_power
        fit = fit_filter_law(records, power) if in_C and power is not None else None
        if fit is not None and fit.extra["cells"] >= MIN_CELLS + 1:
            names, unit = KEYS, (f"per filter ({fit.extra['filters']} live filters of {fit.extra['cells']} "
                                 f"equilibrated cells, cluster-robust intervals), with each filter's measured C")
        else:
            fit, names = fit_law(records, value), KEYS[:2]
            unit = f"over {0 if fit is None else fit.n} equilibrated cells"
            if in_C:
                unit += (", in eta and lam alone: these records carry no per-filter C, so C is taken to be the "
                         "same in every cell")
            if fit is None or fit.n < MIN_CELLS:
                settled = sum(equilibrated(r) for r in records)
                return _skipped(f"{settled} of {len(records)} {rule} cells equilibrated; {claim_id} needs "
                                f"{MIN_CELLS}")
        comps = {k: {**fit.get(k), "derived": derived[k]} for k in names}
        agree = all(_inside(c["derived"], c["ci"]) for c in comps.values())
        lam = comps["exponent_lam"]
        detail = (f"{rule}, {what}, {unit}: "
                  + "; ".join(f"{k} {c['value']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] vs derived "
                              f"{c['derived']:.4g}" for k, c in comps.items()))
        out = {"status": "agrees" if agree else "disagrees", "measured": lam["value"], "ci": lam["ci"],
               "derived": lam["derived"], "detail": detail, "components": comps, "rule": rule, "cells": fit.n}
        if names == KEYS:
            out.update(_without_C(records, value, derived))
            out["detail"] += out.pop("_detail")
        const = constant(records, claim_id) if constant else None
        if const is not None:
            out["constant"] = {k: v for k, v in const.items() if k != "text"}
            out["detail"] += ". " + const["text"]
        return out

    return check


def _without_C(records, value, derived: dict) -> dict:
    """The fit in eta and lam alone, and the drift of C, for a check whose main fit had C as a regressor."""
    plain, drift = fit_law(records, value), fit_gradient_scale(records)
    out, text = {}, ""
    if plain is not None:
        out["without_C"] = {k: {**plain.get(k), "derived_if_C_fixed": derived[k]} for k in KEYS[:2]}
        text += f". Per cell, without C (C taken to be the same in every cell): {_describe(plain, KEYS[:2])}"
    if drift is not None:
        out["gradient_scale"] = {k: drift.get(k) for k in KEYS[:2]}
        text += f". The cell-mean C itself moved as eta^p lam^q with {_describe(drift, KEYS[:2])}"
    out["_detail"] = text
    return out


def angle_check(rule: str):
    """The rotational equilibrium ``later.angle.<rule>``: the angle per step against its derived leading law."""
    return law_check(f"later.angle.{rule}", rule, angle_at_fit, "mean angle per step of conv1 filters in the fit "
                     "epoch", expression="angle_leading", constant=angle_constant)


def optimal_lr_check(claim_id: str, rule: str):
    """A check of ``eta* ~ lam^s`` for ``rule`` against the derived ``s`` of ``claim_id``."""

    def check(results_dir) -> dict:
        derived = derived_exponents(claim_id, ("exponent_lam",))
        if derived is None:
            return _skipped(f"the registry gives no exponent_lam for {claim_id}")
        points = optimal_eta(of_family(load_records(results_dir), rule))
        fit = fit_optimal_eta(points)
        if fit is None or fit.n < 3:
            return _skipped(f"{0 if fit is None else fit.n} lambdas with an interior optimal eta in an equilibrated "
                            f"cell for {rule}; "
                            f"{claim_id} needs 3")
        s = fit.get("exponent_lam")
        return {"status": "agrees" if _inside(derived["exponent_lam"], s["ci"]) else "disagrees",
                "measured": s["value"], "ci": s["ci"], "derived": derived["exponent_lam"],
                "detail": f"{rule}: slope of log eta* on log lam over {fit.n} of {len(points)} lambdas (those with "
                          f"an interior optimum in an equilibrated cell): "
                          f"{s['value']:.3f} [{s['ci'][0]:.3f}, {s['ci'][1]:.3f}] vs derived "
                          f"{derived['exponent_lam']:.4g}",
                "rule": rule, "points": points}

    return check


#: claim id -> check(results_dir) -> dict
CHECKS = {}
for _rule in NORM_RULES:
    CHECKS[f"table1.{_rule}.norm"] = law_check(
        f"table1.{_rule}.norm", _rule, norm_at_fit, "conv1 filter norm at the end of the first phase",
        filter_power=-1, constant=norm_constant)
for _rule in EFF_LR_RULES:
    CHECKS[f"table1.{_rule}.eff_lr_eq"] = law_check(
        f"table1.{_rule}.eff_lr_eq", _rule, eff_lr_at_fit,
        "effective learning rate eta/||w||^k of conv1 at the end of the first phase", filter_power=eff_lr_power)
for _rule in ANGLE_RULES:
    CHECKS[f"later.angle.{_rule}"] = angle_check(_rule)
for _rule in LR_RULES:
    CHECKS[f"lr.optimal.{_rule}"] = optimal_lr_check(f"lr.optimal.{_rule}", _rule)
