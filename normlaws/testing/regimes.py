"""Power-law regimes in a log-log curve: where one exponent fits, and where it changes.

An optimizer's angular step can follow ``angle ~ alpha**-k`` with one ``k`` over some range of norms ``alpha``
and another elsewhere: a clamped trust ratio, an accumulator meeting its epsilon, a learning-rate-free method
adapting its step. One line fitted across such a break gives a ``k`` that holds nowhere, with a small interval.
:func:`regimes` splits the points instead: a regime is a maximal run of at least four consecutive scales that
one power law fits to within a tolerance in ``log angle``; points inside a smooth transition belong to no
regime. The tolerance of a point is :data:`RESIDUAL_TOL` plus the largest angle turned in reaching it: the runs
at two scales are the same run at two learning rates, so the measured step follows one power law only to first
order in the angles turned before it (the warm-up steps move ``w`` on the sphere, where the gradient's
direction changes at a rate of order one per radian), plus the small-angle bias ``angle**2/3``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: the |residual| in natural log of the angle that one power law may leave at vanishing angles
RESIDUAL_TOL = 0.005
#: a regime spans at least this many consecutive scales (a factor 8 on the default grid); a shorter run that one
#: power law fits is a transition between regimes (three points on a smooth bend nearly always fit a line)
MIN_POINTS = 4


@dataclass
class Regime:
    """``angle ~ alpha**-k`` for ``alpha`` in ``[lo, hi]``, fitted on ``points`` scales."""

    k: float
    k_stderr: float
    lo: float
    hi: float
    points: int

    def __str__(self) -> str:
        return f"k = {self.k:.3f} +- {self.k_stderr:.3f} for alpha in [{self.lo:.4g}, {self.hi:.4g}]"


def line_fit(x, y, tol=None) -> tuple:
    """``(slope, its standard error, max |residual|/tol)`` of the least-squares line through the points.

    >>> s, se, r = line_fit(np.log([1., 2., 4.]), np.log([1., 0.25, 0.0625]))
    >>> round(s, 12), round(se, 12), round(r, 12)
    (-2.0, 0.0, 0.0)
    """
    coef, cov = np.polyfit(x, y, 1, cov="unscaled")
    resid = y - np.polyval(coef, x)
    se = math.sqrt(float(resid @ resid) / max(len(x) - 2, 1) * cov[0, 0])
    return float(coef[0]), se, float(np.abs(resid / (1.0 if tol is None else tol)).max())


def regimes(alphas, angles, turned=None) -> list:
    """The power-law regimes of ``angles`` against ``alphas`` (both positive, ``alphas`` increasing); ``turned``:
    the largest angle turned up to each measurement (default: the angle itself).

    >>> a = 2.0 ** np.arange(10)
    >>> [round(r.k, 6) for r in regimes(a, np.where(a < 20, 1e-3 / a**2, 5e-5 / a))]   # a kink at alpha = 20
    [2.0, 1.0]
    """
    x, y = np.log(np.asarray(alphas, float)), np.log(np.asarray(angles, float))
    tol = RESIDUAL_TOL + np.asarray(angles if turned is None else turned, float)

    def fits(a, b):
        return line_fit(x[a:b], y[a:b], tol[a:b])[2] <= 1.0

    out, start = [], 0
    while len(x) - start >= MIN_POINTS:
        end = start + MIN_POINTS
        if not fits(start, end):
            start += 1                           # a transition point: in no regime
            continue
        while end < len(x) and fits(start, end + 1):
            end += 1
        slope, se, _ = line_fit(x[start:end], y[start:end])
        out.append(Regime(-slope, se, float(np.exp(x[start])), float(np.exp(x[end - 1])), end - start))
        start = end - 1                          # a kink between grid points: its last point may start the next
    return out
