"""One result type for every numeric check (Monte-Carlo and training legs): the check protocol.

A check is a function ``check(size="quick", seed=0) -> dict`` registered under a claim id (``CHECKS`` of a leg
module). Its dict is :func:`result` of one or more :func:`component` comparisons: each states the measured value,
its standard error, the prediction, the tolerance and where that tolerance comes from (``Z`` standard errors plus
a stated bias bound), and whether it agrees. The result agrees when every component does; a check that could not
compare (not equilibrated, no records) is :func:`skipped`, with the reason. Part of the core: no project imports.
"""
from __future__ import annotations

import math

AGREES, DISAGREES, SKIPPED = "agrees", "disagrees", "skipped"
#: the z of the tolerances: with ~100 comparisons run routinely, 4 sigma keeps a false alarm under 1 % overall
Z = 4.0


def component(quantity: str, measured: float, predicted: float, se: float, bias: float = 0.0, note: str = "",
              z: float = Z, **extra) -> dict:
    """One comparison: ``|measured - predicted| <= z SE + |bias|``; ``note`` says where the bias bound comes from.

    >>> component("E||w||^2", 1.02, 1.0, 0.004, 0.01)["agrees"]
    True
    """
    measured, predicted, se, bias = float(measured), float(predicted), float(se), abs(float(bias))
    tolerance = z * se + bias
    agrees = math.isfinite(measured) and abs(measured - predicted) <= tolerance
    return {"quantity": quantity, "measured": measured, "predicted": predicted, "se": se, "bias_bound": bias,
            "tolerance": tolerance, "agrees": bool(agrees), "note": note, **extra}


def refutation(quantity: str, measured: float, rejected: float, tolerance: float, note: str = "") -> dict:
    """A comparison that must *fail*: a wrong value (a printed formula, a missing term) kept out by the tolerance."""
    far = abs(float(measured) - float(rejected)) > tolerance
    return {"quantity": quantity, "measured": float(measured), "predicted": float(rejected), "se": 0.0,
            "bias_bound": 0.0, "tolerance": float(tolerance), "agrees": bool(far), "note": note, "must_differ": True}


def result(components: list, detail: str, seed: int, size: str, params: dict | None = None, **extra) -> dict:
    """The check's outcome: agrees when every component agrees; the first component is repeated at the top level
    (``predicted``, ``measured``, ``se``, ``tolerance``, ``relative_error``) for one-line tables."""
    first = components[0]
    rel = (first["measured"] - first["predicted"]) / first["predicted"] if first["predicted"] else None
    return {"status": AGREES if all(c["agrees"] for c in components) else DISAGREES,
            "predicted": first["predicted"], "measured": first["measured"], "se": first["se"],
            "tolerance": first["tolerance"], "relative_error": rel, "detail": detail, "seed": seed, "size": size,
            "params": params or {}, "Z": Z, "components": components, **extra}


def skipped(detail: str, seed: int, size: str, params: dict | None = None, **extra) -> dict:
    """A check that could not compare (the reason in ``detail``): never counted as agreeing."""
    return {"status": SKIPPED, "predicted": None, "measured": None, "se": None, "tolerance": None,
            "relative_error": None, "detail": detail, "seed": seed, "size": size, "params": params or {},
            "Z": Z, "components": [], **extra}
