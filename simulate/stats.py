"""Estimates with standard errors from block means, an equilibration test, jackknife ratios, and line fits.

A run keeps, for every observable, block means of shape ``(..., n_chains, n_blocks)``: the measurement window
of each chain cut into consecutive blocks. Two standard errors are computed:

- over chains: the chains are independent, so the spread of the per-chain window means gives an exact SE
  whatever the time correlation inside a chain;
- batch means: every (chain, block) mean as one sample, valid when a block is much longer than the
  correlation time.

The reported SE is the larger of the two (the batch-means one alone when there are fewer than 8 chains).
Equilibration: the second half of the window minus the first, per chain; a drift beyond ``Z_DRIFT`` of its own
standard error means the window had not equilibrated, and the estimate is flagged, not used.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

#: z for the drift test: a 4-sigma drift has probability 6e-5 under equilibrium (one false alarm in ~16000)
Z_DRIFT = 4.0
MIN_CHAINS_FOR_CHAIN_SE = 8


@dataclass(frozen=True)
class Estimate:
    """A mean with its standard error, and whether its measurement window was in equilibrium."""

    mean: float
    se: float
    se_chains: float
    se_blocks: float
    drift: float
    drift_se: float
    equilibrated: bool
    chains: int
    blocks: int

    def as_dict(self) -> dict:
        """JSON-ready."""
        return {k: (bool(v) if isinstance(v, (bool, np.bool_)) else float(v) if isinstance(v, float) else v)
                for k, v in asdict(self).items()}

    def __format__(self, spec: str) -> str:
        spec = spec or ".5g"
        return f"{self.mean:{spec}} ± {self.se:.2g}"


def estimate(blocks: np.ndarray) -> Estimate:
    """The estimate of one quantity from its block means ``(n_chains, n_blocks)``."""
    blocks = np.asarray(blocks, float)
    n, k = blocks.shape
    chain_means = blocks.mean(1)
    mean = float(chain_means.mean())
    se_blocks = float(blocks.std(ddof=1) / np.sqrt(n * k)) if n * k > 1 else float("nan")
    se_chains = float(chain_means.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    se = max(se_chains, se_blocks) if n >= MIN_CHAINS_FOR_CHAIN_SE else se_blocks
    half = k // 2
    if half >= 1:
        diff = blocks[:, k - half:].mean(1) - blocks[:, :half].mean(1)
        drift = float(diff.mean())
        if n >= MIN_CHAINS_FOR_CHAIN_SE:
            drift_se = float(diff.std(ddof=1) / np.sqrt(n))
        else:
            drift_se = float(blocks.std(ddof=1) * np.sqrt(2.0 / (n * half)))
        equilibrated = bool(abs(drift) <= Z_DRIFT * drift_se) if np.isfinite(drift_se) else True
    else:
        drift, drift_se, equilibrated = float("nan"), float("nan"), True
    return Estimate(mean, se, se_chains, se_blocks, drift, drift_se, equilibrated, n, k)


def estimate_grid(blocks: np.ndarray) -> np.ndarray:
    """:func:`estimate` for every grid point of ``blocks`` ``(*grid, n_chains, n_blocks)``: an object array."""
    grid = blocks.shape[:-2]
    out = np.empty(grid, object)
    for index in np.ndindex(grid):
        out[index] = estimate(blocks[index])
    return out


def jackknife(function, *blocks: np.ndarray) -> tuple[float, float]:
    """``function`` of the means of several observables, with a delete-one-chain jackknife standard error.

    ``blocks`` are ``(n_chains, n_blocks)`` arrays of the same chains; ``function`` takes their means
    (vectorised: it is called on arrays of leave-one-out means).
    """
    means = [np.asarray(b, float).mean(1) for b in blocks]
    n = means[0].size
    totals = [m.sum() for m in means]
    value = float(function(*[t / n for t in totals]))
    loo = function(*[(t - m) / (n - 1) for t, m in zip(totals, means)])
    se = float(np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2)))
    return value, se


@dataclass(frozen=True)
class LineFit:
    """Weighted least squares ``y = intercept + slope x`` with a 95 % confidence interval for the slope."""

    slope: float
    intercept: float
    se: float
    ci: tuple
    chi2_red: float
    points: int

    def as_dict(self) -> dict:
        """JSON-ready."""
        return {"slope": self.slope, "intercept": self.intercept, "se": self.se, "ci": list(self.ci),
                "chi2_red": self.chi2_red, "points": self.points}


def fit_line(x, y, se_y) -> LineFit:
    """Weighted fit of ``y`` on ``x`` (weights ``1/se_y**2``).

    The slope's SE is the weighted-least-squares one, inflated by ``sqrt(chi2_red)`` when the points scatter
    more than their SEs allow (a misfit, or underestimated SEs); the interval uses Student's t with
    ``n - 2`` degrees of freedom.
    """
    x, y, se_y = (np.asarray(v, float) for v in (x, y, se_y))
    if x.size < 3:
        raise ValueError("a line fit with a confidence interval needs at least 3 points")
    w = 1.0 / se_y**2
    X = np.column_stack([np.ones_like(x), x])
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    intercept, slope = cov @ (X.T @ (w * y))
    resid = y - intercept - slope * x
    chi2_red = float(np.sum(w * resid**2) / (x.size - 2))
    se = float(np.sqrt(cov[1, 1] * max(1.0, chi2_red)))
    half = float(sps.t.ppf(0.975, x.size - 2) * se)
    return LineFit(float(slope), float(intercept), se, (float(slope - half), float(slope + half)), chi2_red,
                   int(x.size))
