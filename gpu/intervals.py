"""Intervals for the training checks: a measured quantity replicated over runs (cells and seeds), and its
comparison with the derived value as one :func:`normlaws.outcome.component`.

Torch-free. The replicate is a run: different (eta, lam) cells and seeds are independent trainings, while the
filters and layers of one run share its data and its errors, so they are averaged within the run first; their
spread is reported beside (quartiles), never used as if independent.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ..outcome import Z, component

LEVEL = 0.95


def mean_interval(values, level: float = LEVEL) -> dict:
    """``{"mean", "se", "ci", "n", "sd"}`` of replicate values: the t-interval of their mean (NaNs dropped).

    >>> r = mean_interval([1.0, 2.0, 3.0])
    >>> r["mean"], round(r["se"], 6), r["n"]
    (2.0, 0.57735, 3)
    """
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return {"mean": math.nan, "se": math.nan, "ci": [math.nan, math.nan], "n": 0, "sd": math.nan}
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "se": math.inf, "ci": [-math.inf, math.inf], "n": 1, "sd": math.nan}
    sd = float(x.std(ddof=1))
    se = sd / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    return {"mean": mean, "se": se, "ci": [mean - half, mean + half], "n": n, "sd": sd}


def quartiles(values) -> list:
    """``[q1, median, q3]`` of finite values (NaN when there are none)."""
    x = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    return [float(v) for v in np.percentile(x, [25, 50, 75])] if len(x) else [math.nan] * 3


def replicate_component(quantity: str, values, predicted: float, bias: float = 0.0, note: str = "",
                        **extra) -> dict:
    """``component`` of the mean of replicate ``values`` against ``predicted``: tolerance ``Z SE + |bias|`` with
    the SE over replicates; the t-interval (``ci``) and the number of replicates (``n``) beside."""
    r = mean_interval(values)
    return component(quantity, r["mean"], predicted, r["se"], bias, note, ci=r["ci"], n=r["n"], sd=r["sd"],
                     **extra)


def describe_component(c: dict, digits: int = 3) -> str:
    """One line for a component: measured [interval] vs derived, tolerance and its source."""
    ci = c.get("ci")
    interval = f" [{ci[0]:.{digits}g}, {ci[1]:.{digits}g}]" if ci and all(map(math.isfinite, ci)) else ""
    n = f" over {c['n']} runs" if c.get("n") is not None else ""
    verdict = "agrees" if c["agrees"] else "DISAGREES"
    return (f"{c['quantity']}: {c['measured']:.{digits + 1}g}{interval}{n} vs derived {c['predicted']:.{digits + 1}g} "
            f"(tolerance {Z:g} SE + bias = {c['tolerance']:.2g}; {verdict})")
