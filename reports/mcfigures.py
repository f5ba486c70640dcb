"""Monte-Carlo figures from the stored records: the steady-state norm against eta/lambda with the derived slope.

The points come from the scaling grids ``normlaws verify`` stores in ``exponents.jsonl`` (the output of
``normlaws.simulate.exponents.exponents(rule)``: the mean norm ± s.e. along a line of fixed ``eta*lambda``
where ``eta/lambda`` varies over two decades, so every point needs the same number of steps to equilibrate).
The line drawn is the derived power law: the slope ``(p - q)/2`` from the claim's ``exponent_eta`` = p and
``exponent_lam`` = q in the registry, through the geometric centre of the points (only the intercept comes from
the data). Where the paper prints a different exponent, its slope is drawn dashed.

A Monte-Carlo check may also carry its own points under ``result["figure"]`` (``x``, ``y``, ``se``, optional
``slope``, ``xlabel``, ``ylabel``, ``title``); those are drawn as further panels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .figures import ScalingPanel, scaling_figure
from .views import Tex

FIGURE_NAME = "montecarlo_norm_scaling.png"


def registry_slope(claim) -> float | None:
    """The derived slope of ``log ||w||`` on ``log(eta/lambda)`` at fixed ``eta*lambda``: ``(p - q)/2``."""
    extras = claim.derivation.extras
    try:
        p, q = float(extras["exponent_eta"]), float(extras["exponent_lam"])
    except (KeyError, TypeError, ValueError):
        return None
    return (p - q) / 2


def grid_panel(record: dict, claim) -> ScalingPanel | None:
    """The panel of one scaling-grid record (its fixed-``eta*lambda`` line), or ``None`` without points."""
    result = record["result"]
    line = result.get("fixed_product") or {}
    if not line.get("x") or not line.get("measured"):
        return None
    slope = registry_slope(claim)
    printed = line.get("printed_slope")
    equilibrated = np.asarray(line.get("equilibrated", [True] * len(line["x"])), bool)
    fit = line.get("fit") or {}
    title = (f"{result.get('rule', claim.id)}: eta*lambda = {line.get('product', 0):g}"
             + (f"\nfitted slope {fit['slope']:.3f}" if fit.get("slope") is not None else ""))
    x, y, se = (np.asarray(line[k], float) for k in ("x", "measured", "se"))
    series = []
    if (~equilibrated).any():
        series.append(("not equilibrated (not fitted)", x[~equilibrated], y[~equilibrated], se[~equilibrated]))
    panel = ScalingPanel(title=title, x=x[equilibrated], y=y[equilibrated], se=se[equilibrated], slope=slope,
                         slope_label=f"derived slope {slope:.4g}" if slope is not None else "", series=series)
    if printed is not None and slope is not None and abs(printed - slope) > 1e-12:
        panel.printed_slope = printed
    return panel


def record_panels(record: dict, claim) -> list[ScalingPanel]:
    """Panels a Monte-Carlo check stored itself under ``result["figure"]``."""
    figure = record["result"].get("figure")
    out = []
    for spec in (figure if isinstance(figure, list) else [figure] if figure else []):
        if not spec.get("x") or not spec.get("y"):
            continue
        slope = spec.get("slope", registry_slope(claim))
        out.append(ScalingPanel(title=spec.get("title") or claim.id, x=spec["x"], y=spec["y"], se=spec.get("se"),
                                slope=slope, slope_label=f"derived slope {slope:.4g}" if slope is not None else "",
                                **{k: spec[k] for k in ("xlabel", "ylabel") if spec.get(k)}))
    return out


def montecarlo_figures(evidence, claims, figures_dir: Path) -> tuple[list, str]:
    """Draw the Monte-Carlo scaling figure from the stored records; return ``(figures, note when none)``."""
    panels, sources = [], []
    for claim in claims:
        found = []
        if claim.id in evidence.exponents:
            found += [p for p in [grid_panel(evidence.exponents[claim.id], claim)] if p is not None]
        if claim.id in evidence.montecarlo:
            found += record_panels(evidence.montecarlo[claim.id], claim)
        panels += found
        if found:
            sources.append(claim.id)
    if not panels:
        why = ("no Monte-Carlo scaling grid was recorded" if not evidence.exponents else
               "the recorded scaling grids hold no points for the claims of this report")
        return [], (f"No Monte-Carlo figure: {why} under {evidence.results_dir}. Run `normlaws verify` to "
                    "produce them.")
    path = scaling_figure(panels, Path(figures_dir) / FIGURE_NAME, columns=3)
    caption = ("Monte-Carlo (Section 4 model): the steady-state weight norm against $\\eta/\\lambda$ at fixed "
               "$\\eta\\lambda$, log-log axes. Points: mean over independent chains $\\pm$ one standard error "
               "(open: not equilibrated, left out of the fit); solid line: the derived slope (from the registry, "
               "intercept through the points); dashed: the paper's printed slope where it differs. Claims: "
               + ", ".join(sources).replace("_", "\\_") + ".")
    return [{"path": Tex(f"figures/{path.name}"), "caption": Tex(caption),
             "caption_plain": "Monte-Carlo: steady-state norm against eta/lambda at fixed eta*lambda, derived "
                              "slopes"}], ""
