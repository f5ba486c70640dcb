"""The report's Monte-Carlo figures: the steady-state norm against eta/lambda on log-log axes.

Each panel shows measured norms with their standard errors, and the derived power law drawn with the derived
slope (from the registry) through the geometric centre of the points: only the intercept is placed by the
data, the slope is the derivation's. Matplotlib with the Agg backend; no display needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class ScalingPanel:
    """One panel: measured ``y`` (± ``se``) at ``x``, and the derived slope of ``log y`` against ``log x``."""

    title: str
    x: list
    y: list
    se: list | None = None
    slope: float | None = None
    slope_label: str = ""
    xlabel: str = r"$\eta/\lambda$"
    ylabel: str = r"steady-state $\Vert w\Vert$"
    series: list = field(default_factory=list)  # extra (label, x, y, se) points drawn open on the same axes
    printed_slope: float | None = None          # the paper's slope, drawn dashed where it differs


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def derived_line(x, y, slope: float):
    """The line ``log y = slope * log x + c`` with ``c`` placed through the geometric centre of the points.

    >>> xs, ys = derived_line([1.0, 100.0], [1.0, 10.0], 0.5)
    >>> [round(float(v), 6) for v in ys]
    [1.0, 10.0]
    """
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    c = float(np.mean(ly - slope * lx))
    xs = np.exp(np.array([lx.min(), lx.max()]))
    return xs, np.exp(c + slope * np.log(xs))


def _draw_panel(ax, panel: ScalingPanel) -> None:
    x, y = np.asarray(panel.x, float), np.asarray(panel.y, float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    se = None if panel.se is None else np.asarray(panel.se, float)[keep]
    ax.errorbar(x[keep], y[keep], yerr=se, fmt="o", ms=4, capsize=2, label="Monte-Carlo (± 1 s.e.)")
    for label, sx, sy, sse in panel.series:
        ax.errorbar(sx, sy, yerr=sse, fmt="o", ms=4, mfc="none", capsize=2, label=label)
    if panel.slope is not None and keep.sum() >= 1 and math.isfinite(panel.slope):
        xs, ys = derived_line(x[keep], y[keep], panel.slope)
        ax.plot(xs, ys, "-", color="black", lw=1,
                label=panel.slope_label or f"derived slope {panel.slope:.4g}")
    if panel.printed_slope is not None and keep.sum() >= 1:
        xs, ys = derived_line(x[keep], y[keep], panel.printed_slope)
        ax.plot(xs, ys, "--", color="tab:red", lw=1, label=f"paper's slope {panel.printed_slope:.4g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)
    ax.set_title(panel.title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def scaling_figure(panels: list[ScalingPanel], path, columns: int = 2) -> Path | None:
    """Draw the panels (log-log, derived slopes) into one PNG at ``path``; ``None`` when there are none."""
    if not panels:
        return None
    plt = _pyplot()
    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.0 * columns, 3.3 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        _draw_panel(ax, panel)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
