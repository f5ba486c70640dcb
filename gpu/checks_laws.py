"""Training checks of the Table 1 laws that contain C: ``||w|| ~ eta^p lam^q C^c`` and ``eta/||w||^k``.

Torch-free. Measured exponents with their 95 % confidence intervals from the records under ``results_dir`` (the
invariant network's where the records have it -- the laws are laws of scale-invariant units --, else the
standard one's, e.g. older records), against the exponents the theory derives, read from the registry
(``derivation.extras``, or the leading order of a derived expression), never typed here. "agrees" means every
derived exponent lies inside its interval.

- ``table1.<rule>.norm``: conv1's filter norms at the end of the first phase, ``||w_j|| ~ eta^p lam^q C_j^c``;
- ``table1.<rule>.eff_lr_eq``: the effective learning rate ``eta/||w_j||^k`` (``k`` from ``theory.updates``).

``C_j`` is the second moment of the loss gradient at unit filter norm, measured apart from the norm it predicts:
on held-out probe batches at the epoch's end (``probe_unit_sq``; older records: the mean over the epoch's
training steps). Where the law contains ``C`` and the records carry it per filter, the fit is over the live
filters of the settled cells (``log ||w_j||`` on ``log eta``, ``log lam``, ``log C_j``; intervals cluster-robust
by cell); the fit per cell without ``C`` (the law read as a pure power of eta and lam, as the paper reads it) and
the drift of the cell-mean ``C`` are reported beside it.
"""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from ..outcome import component, result, skipped
from ..theory.symbols import C, beta1, eta, lam, rho
from .derived import derivation
from .analysis import equilibrated, filters_at_fit, load_records, network_of, of_family
from .fits import derived_exponents, fit_filter_law, fit_gradient_scale, fit_law

MIN_CELLS = 5   # fewer cells than this leave a 3-parameter fit with too few degrees of freedom (one more with C)
#: the rules whose Table 1 norm and effective-learning-rate claims the harness trains (the vocabulary's names:
#: torch's Nesterov and RMSprop are other rules, with claims of their own)
NORM_RULES = ("sgd", "momentum", "adam", "adamw")
KEYS = ("exponent_eta", "exponent_lam", "exponent_C")


def _skipped(detail: str, **extra) -> dict:
    return skipped(detail, seed=0, size="training", **extra)


def _exponent_component(name: str, coefficient: dict, derived: float) -> dict:
    """The fitted exponent against the derived one: agrees when the derived value lies in the 95 % interval
    (the tolerance is the interval's half-width, ``t`` standard errors)."""
    half = (coefficient["ci"][1] - coefficient["ci"][0]) / 2
    z = half / coefficient["se"] if coefficient["se"] > 0 else 0.0
    return component(name, coefficient["value"], derived, coefficient["se"], 0.0,
                     "95 % t-interval of the fit (cluster-robust by cell for per-filter fits)", z=z,
                     ci=coefficient["ci"])


def _describe(fit, names) -> str:
    return "; ".join(f"{k} {fit.get(k)['value']:.3f} [{fit.get(k)['ci'][0]:.3f}, {fit.get(k)['ci'][1]:.3f}]"
                     for k in names)


@functools.lru_cache(maxsize=None)
def leading_law(claim_id: str, expression: str | None = None):
    """``f(eta, lam, rho, beta1, C)`` from the claim's derived result (or ``extras[expression]``), or None when
    the claim is missing or the law has other free symbols (a dimension d, an unsolved c_L2)."""
    dv = derivation(claim_id)
    if dv is None:
        return None
    expr = dv.result if expression is None else dv.extras.get(expression)
    if expr is None or not sp.sympify(expr).free_symbols <= {eta, lam, rho, beta1, C}:
        return None
    return sp.lambdify((eta, lam, rho, beta1, C), sp.sympify(expr), "math")


def _evaluate(law, record, c=1.0) -> float:
    cfg = record["config"]
    return float(law(cfg["eta"], cfg["lam"], cfg.get("momentum") or 0.0, cfg.get("beta1", 0.9), c))


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
    adds the measured / derived ratio of the law's size.
    """

    def check(results_dir) -> dict:
        derived = derived_exponents(claim_id, KEYS, expression)
        if derived is None:
            return _skipped(f"the registry gives no exponents in eta, lam and C for {claim_id}")
        records = preferred_network(of_family(load_records(results_dir), rule))
        if not records:
            return _skipped(f"no {rule} records under {results_dir} for {claim_id}")
        in_C = derived["exponent_C"] != 0 and filter_power is not None
        power = filter_power(rule) if callable(filter_power) else filter_power
        fit = fit_filter_law(records, power) if in_C and power is not None else None
        if fit is not None and fit.extra["cells"] >= MIN_CELLS + 1:
            names, unit = KEYS, (f"per filter ({fit.extra['filters']} live filters of {fit.extra['cells']} "
                                 f"equilibrated cells, cluster-robust intervals), with each filter's measured C")
        else:
            why = ("these records carry no per-filter C" if fit is None else
                   f"too few equilibrated cells for the per-filter fit (it needs {MIN_CELLS + 1})")
            fit, names = fit_law(records, value), KEYS[:2]
            unit = f"over {0 if fit is None else fit.n} equilibrated cells"
            if in_C:
                unit += f", in eta and lam alone ({why}), so C is taken to be the same in every cell"
            if fit is None or fit.n < MIN_CELLS:
                settled = sum(equilibrated(r) for r in records)
                return _skipped(f"{settled} of {len(records)} {rule} cells equilibrated; {claim_id} needs "
                                f"{MIN_CELLS}")
        order = ("exponent_lam",) + tuple(k for k in names if k != "exponent_lam")
        comps = [_exponent_component(k, fit.get(k), derived[k]) for k in order]
        detail = (f"{rule}, {network_of(records[0])} network, {what}, {unit}: "
                  + "; ".join(f"{c['quantity']} {c['measured']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] vs derived "
                              f"{c['predicted']:.4g}" for c in comps))
        out = result(comps, detail, seed=0, size="training", rule=rule, derived=comps[0]["predicted"],
                     ci=comps[0]["ci"], cells=fit.n)
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



def preferred_network(records) -> list:
    """The invariant network's records when there are any (the laws' own setting), else all of them."""
    invariant = [r for r in records if network_of(r) == "invariant"]
    return invariant or list(records)
