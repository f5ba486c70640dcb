"""Figures 1-4 of Section 6 redrawn from sweep records, and a fifth of our own (matplotlib, no torch).

1. ``fig1_norm.png``: conv1 mean filter norm at the fit epoch over the (eta, lam) grid, per update rule.
2. ``fig2_test_error.png``: final test error over the grid, with the lines along which the theory's effective
   learning rate at equilibrium ``eta^p lam^q`` is constant overlaid (p, q from ``table1.<rule>.eff_lr_eq``).
3. ``fig3_normalized.png``: final test error of the normalized-weight update over the grid, with its lines.
4. ``fig4_optimal_lr.png``: the optimal eta against lam, with the fitted slope and its 95 % interval beside the
   derived slope.
5. ``fig5_laws.png`` (not in the paper): the measured conv1 filter norms against the derived law
   ``eta^p lam^q C^c`` with each filter's measured gradient scale ``C``, and against the same law with ``C`` held
   fixed (the paper's reading); and the measured angle per step against the derived rotational-equilibrium
   angle. Records without per-filter ``C`` show the cells' mean norms against the law with ``C`` fixed only.

Cells marked "o" had not equilibrated by the fit epoch and are left out of the fits; "x" marks diverged runs.
A results folder is meant to hold one base configuration (one seed); where several records share a cell, the
last one read is drawn.
"""
from __future__ import annotations

import functools
import math
import textwrap
from pathlib import Path

import numpy as np

from .analysis import (RELAXATION_CLAIMS, equilibrated, family, filters_at_fit, final_test_error, load_records,
                       norm_at_fit, of_family)
from .checks import CHECKS
from .checks_laws import KEYS, _evaluate, leading_law
from .fits import (angle_at_fit, derived_exponents, fit_norm_exponents, fit_optimal_eta, grid_values, optimal_eta)

RULE_ORDER = ("sgd", "momentum", "nesterov_torch", "rmsprop_torch", "adam", "adamw", "normalized", "lion")
#: the claims each figure reads, per rule of the harness (torch's Nesterov and RMSprop have no Table 1 claims)
NORM_CLAIMS = {"sgd": "table1.sgd.norm", "momentum": "table1.momentum.norm", "adam": "table1.adam.norm",
               "adamw": "table1.adamw.norm"}
EFF_LR_CLAIMS = {"sgd": "table1.sgd.eff_lr_eq", "momentum": "table1.momentum.eff_lr_eq",
                 "adam": "table1.adam.eff_lr_eq", "adamw": "table1.adamw.eff_lr_eq"}
OPTIMAL_CLAIMS = {"sgd": "lr.optimal.sgd", "momentum": "lr.optimal.momentum",
                  "nesterov_torch": "lr.optimal.nesterov_torch", "rmsprop_torch": "lr.optimal.rmsprop_torch",
                  "adam": "lr.optimal.adam", "adamw": "lr.optimal.adamw"}


def constant_eff_lr_slope(rule: str) -> float | None:
    """Slope of log eta against log lam along which ``eta^p lam^q`` (the derived eff. lr) is constant: -q/p."""
    derived = derived_exponents(EFF_LR_CLAIMS[rule]) if rule in EFF_LR_CLAIMS else None
    if not derived or derived["exponent_eta"] == 0:
        return None
    return -derived["exponent_lam"] / derived["exponent_eta"]


#: the figures' type sizes (pt at the figure's own size): a row of four 3.4-inch panels is printed about 6.3 inches
#: wide, at 0.46 of its size, so 11-13 pt here read as 5-6 pt on the page
PRINT_RC = {"font.size": 12, "axes.titlesize": 12, "axes.labelsize": 12, "xtick.labelsize": 11,
            "ytick.labelsize": 11, "legend.fontsize": 10}
#: the size of a footnote, in the same units
FOOTNOTE_PT = 11


def printed(figure_function):
    """Draw ``figure_function``'s figure with :data:`PRINT_RC`."""
    @functools.wraps(figure_function)
    def draw(*args, **kwargs):
        import matplotlib
        with matplotlib.rc_context(PRINT_RC):
            return figure_function(*args, **kwargs)
    return draw


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges on a log axis: geometric midpoints, extended by half a step at both ends."""
    logs = np.log(values)
    if len(logs) == 1:
        return np.exp(np.array([logs[0] - 0.5, logs[0] + 0.5]))
    mids = (logs[1:] + logs[:-1]) / 2
    return np.exp(np.concatenate([[2 * logs[0] - mids[0]], mids, [2 * logs[-1] - mids[-1]]]))


def _heatmap(ax, records, value, title, log_color=False):
    # runs without decay (lam = 0, the preset's growth runs) have no cell on a log-lambda axis
    records = [r for r in records if r["config"]["lam"] > 0]
    etas, lams, table = grid_values(records, value)
    shown = np.log10(table) if log_color else table
    mesh = ax.pcolormesh(_edges(lams), _edges(etas), np.ma.masked_invalid(shown), cmap="viridis", shading="flat")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _grid_ticks(ax.xaxis, lams)
    _grid_ticks(ax.yaxis, etas)
    ax.set_xlabel("lambda (penalty lambda*||w||^2)")
    ax.set_ylabel("eta (base learning rate)")
    ax.set_title(title)
    for r in records:
        cfg = r["config"]
        if r["status"] == "diverged":
            ax.text(cfg["lam"], cfg["eta"], "x", ha="center", va="center", color="red")
        elif not equilibrated(r):
            ax.text(cfg["lam"], cfg["eta"], "o", ha="center", va="center", color="white")
    return mesh, etas, lams


#: a heatmap axis labels at most this many of its grid values (every k-th), so that they fit on a panel
GRID_LABELS = 4


def _grid_ticks(axis, values) -> None:
    """Ticks at the grid's own values (2 significant digits), no minor ticks: a log axis spanning less than a
    decade otherwise labels its minor ticks, which run into each other on a narrow panel."""
    from matplotlib import ticker
    step = -(-len(values) // GRID_LABELS)
    axis.set_ticks(values[::step], [f"{v:.2g}" for v in values[::step]])
    axis.set_minor_locator(ticker.NullLocator())


def _constant_lr_lines(ax, etas, lams, slope):
    """Lines log eta = slope * log lam + c through the grid (constant effective learning rate)."""
    x = np.array([lams.min(), lams.max()])
    step = math.log(etas[1] / etas[0]) if len(etas) > 1 else 1.0
    span = math.log(etas.max()) - slope * math.log(lams.min()), math.log(etas.min()) - slope * math.log(lams.max())
    for c in np.arange(min(span), max(span) + step / 2, step):
        ax.plot(x, np.exp(c + slope * np.log(x)), color="white", lw=0.8, ls="--", alpha=0.8)
    ax.set_xlim(_edges(lams)[[0, -1]])
    ax.set_ylim(_edges(etas)[[0, -1]])


#: characters of a footnote per inch of figure width (a glyph is at most about 0.55 of its type size wide)
FOOTNOTE_CHARS_PER_INCH = int(72 / (0.55 * FOOTNOTE_PT))


def _footnote_and_layout(fig, text: str) -> None:
    """Write ``text`` at the figure's foot, wrapped to its width, and lay the panels out above it."""
    width, height = fig.get_size_inches()
    lines = textwrap.wrap(text, int(width * FOOTNOTE_CHARS_PER_INCH))
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=FOOTNOTE_PT, va="bottom")
    foot = (len(lines) * 1.25 * FOOTNOTE_PT + 6) / (72 * height)      # 1.25 lines of type per line, 6 pt margin
    fig.tight_layout(rect=(0, foot, 1, 1))


def _rules(records, exclude=()):
    present = {family(r) for r in records}
    return [o for o in RULE_ORDER if o in present and o not in exclude]


#: panels per row: more rules than this wrap onto further rows, so that each panel stays legible when printed
PANELS_PER_ROW = 4
#: a panel's width and height (inches)
PANEL_INCHES = (3.4, 3.3)


def _panels(plt, n):
    n = max(n, 1)
    cols = min(n, PANELS_PER_ROW)
    rows = -(-n // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(PANEL_INCHES[0] * cols, PANEL_INCHES[1] * rows), squeeze=False)
    for ax in grid.flat[n:]:
        ax.set_visible(False)
    return fig, grid.flatten()[:n]


#: the heatmaps' footnote
CELL_MARKS = ("o: not equilibrated (the first phase's last epoch begins less than 3 derived relaxation times after "
              "the start is forgotten, or, where none is derived, the norm still drifts; left out of fits); "
              "x: diverged")


def _rule_figure(records, path: Path, rules, draw) -> Path | None:
    """One panel per rule, ``draw(fig, ax, records_of_rule, rule)`` each, saved to ``path``; None without rules."""
    if not rules:
        return None
    plt = _pyplot()
    fig, axes = _panels(plt, len(rules))
    for ax, rule in zip(axes, rules):
        draw(fig, ax, of_family(records, rule), rule)
    _footnote_and_layout(fig, CELL_MARKS)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _norm_panel(fig, ax, records, rule):
    fit = fit_norm_exponents(records)
    sub = "" if fit is None else (f"\nfit: eta^{fit.get('exponent_eta')['value']:.2f} "
                                  f"lam^{fit.get('exponent_lam')['value']:.2f}, {fit.n} cells")
    mesh, _, _ = _heatmap(ax, records, norm_at_fit, f"{rule}: log10 conv1 norm{sub}", log_color=True)
    fig.colorbar(mesh, ax=ax)


@printed
def figure_norms(records, path: Path) -> Path | None:
    """Figure 1: log10 of the conv1 norm at the fit epoch over the grid, one panel per rule."""
    return _rule_figure(records, path, _rules(records, exclude=("normalized",)), _norm_panel)


@printed
def figure_errors(records, path: Path) -> Path | None:
    """Figure 2: final test error over the grid with lines of constant effective learning rate."""
    return _rule_figure(records, path, _rules(records, exclude=("normalized",)), _error_panel)


def _error_panel(fig, ax, records, rule):
    slope = constant_eff_lr_slope(rule)
    note = "\n(dashed: constant derived eff. lr)" if slope is not None else "\n(no derived eff. lr)"
    mesh, etas, lams = _heatmap(ax, records, final_test_error, f"{rule}: test error{note}")
    if slope is not None and len(etas) > 1:
        _constant_lr_lines(ax, etas, lams, slope)
    fig.colorbar(mesh, ax=ax)


@printed
def figure_normalized(records, path: Path) -> Path | None:
    """Figure 3: final test error of the normalized-weight update over the grid."""
    return _rule_figure(records, path, ["normalized"] if of_family(records, "normalized") else [], _error_panel)


@printed
def figure_optimal_lr(records, path: Path) -> Path | None:
    """Figure 4: optimal eta against lam per rule, fitted slope with its interval and the derived slope."""
    rules = _rules(records)
    if not rules:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for rule in rules:
        points = optimal_eta(of_family(records, rule))
        if not points:
            continue
        lam = np.array([p["lam"] for p in points])
        star = np.array([p["eta_star"] for p in points])
        inner = np.array([p["interior"] and p["settled"] for p in points])
        fit = fit_optimal_eta(points)
        label = rule
        if fit is not None:
            s = fit.get("exponent_lam")
            label += f": slope {s['value']:.2f} [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}]"
        derived = derived_exponents(OPTIMAL_CLAIMS[rule], ("exponent_lam",)) if rule in OPTIMAL_CLAIMS else None
        if derived:
            label += f", derived {derived['exponent_lam']:.3g} (dashed)"
        line = ax.plot(lam[inner], star[inner], "o", label=label)[0]
        ax.plot(lam[~inner], star[~inner], "o", mfc="none", color=line.get_color())
        if fit is not None:           # the fitted line in the colour of its points
            ax.plot(lam, np.exp(fit.coef[0] + fit.coef[1] * np.log(lam)), lw=1, color=line.get_color())
        if derived and inner.any():   # the derived slope through the centre of the fitted points
            x0, y0 = np.log(lam[inner]).mean(), np.log(star[inner]).mean()
            ax.plot(lam, np.exp(y0 + derived["exponent_lam"] * (np.log(lam) - x0)), ls="--", lw=1,
                    color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("lambda")
    ax.set_ylabel("optimal eta")
    ax.legend()
    _footnote_and_layout(fig, "filled: optimum inside the grid in an equilibrated cell (fitted); open: at the grid's "
                         "edge or not equilibrated (not fitted); dashed: the derived slope")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _law_points(records, rule: str) -> tuple | None:
    """``(measured, with C, C fixed)`` norms of the live filters of the settled cells, or of the cells' mean
    norms when the records carry no per-filter C (then ``with C`` is None); each law scaled to the measurements
    by one constant, fitted in log."""
    derived = derived_exponents(NORM_CLAIMS[rule], KEYS) if rule in NORM_CLAIMS else None
    if derived is None:
        return None
    n, with_c, fixed = [], [], []
    for rec in records:
        if not (equilibrated(rec) and rec["config"]["lam"] > 0):
            continue
        base = rec["config"]["eta"] ** derived["exponent_eta"] * rec["config"]["lam"] ** derived["exponent_lam"]
        per_filter = filters_at_fit(rec)
        if per_filter is not None:
            w, c = per_filter
            n += list(w)
            with_c += list(base * c ** derived["exponent_C"])
            fixed += [base] * len(w)
        elif math.isfinite(norm_at_fit(rec)) and norm_at_fit(rec) > 0:
            n.append(norm_at_fit(rec))
            fixed.append(base)
    if len(n) < 2:
        return None
    n = np.array(n)
    scale = lambda law: law * np.exp(np.mean(np.log(n / law)))  # noqa: E731 - one constant, fitted in log
    return n, scale(np.array(with_c)) if len(with_c) == len(n) else None, scale(np.array(fixed))


def _angle_points(records, rule: str) -> tuple | None:
    """``(measured, derived)`` angles per step of the settled cells (the derived angle is absolute: no fit)."""
    law = leading_law(RELAXATION_CLAIMS[rule], "angle_leading") if rule in RELAXATION_CLAIMS else None
    if law is None:
        return None
    rows = [(angle_at_fit(r), _evaluate(law, r)) for r in records if equilibrated(r) and r["config"]["lam"] > 0]
    rows = [(a, b) for a, b in rows if math.isfinite(a) and a > 0]
    return tuple(np.array(col) for col in zip(*rows)) if len(rows) >= 2 else None


def _identity(ax, *arrays):
    lo, hi = min(a.min() for a in arrays), max(a.max() for a in arrays)
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        _sparse_log_labels(axis, lo, hi)


#: a log axis spanning at most this many decades gets three or four plain labels, a wider one its powers of ten only
#: (matplotlib's default labels the minor ticks of a narrow axis, or falls back to linear ticks, which collide)
NARROW_DECADES = 1.5


def _sparse_log_labels(axis, lo: float, hi: float) -> None:
    """Label ``axis`` (log, data from ``lo`` to ``hi``) at major ticks only, spaced so that labels do not meet."""
    from matplotlib import ticker
    narrow = math.log10(hi / lo) <= NARROW_DECADES if lo > 0 and hi > lo else True
    if narrow:        # over a decade or so a log axis looks linear: three or four plain labels
        axis.set_major_locator(ticker.MaxNLocator(nbins=3))
        axis.set_major_formatter(ticker.FormatStrFormatter("%.3g"))
    else:
        axis.set_major_locator(ticker.LogLocator(subs=(1.0,)))
    axis.set_minor_formatter(ticker.NullFormatter())


@printed
def figure_laws(records, path: Path) -> Path | None:
    """Figure 5: measured against derived, per rule: the norm law with and without the measured C; the angle."""
    panels = []
    for rule in _rules(records, exclude=("normalized",)):
        recs = of_family(records, rule)
        norms, angles = _law_points(recs, rule), _angle_points(recs, rule)
        panels += [(rule, "norm", norms)] if norms else []
        panels += [(rule, "angle", angles)] if angles else []
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = _panels(plt, len(panels))
    for ax, (rule, kind, pts) in zip(axes, panels):
        if kind == "norm":
            n, with_c, fixed = pts
            unit = "cell means" if with_c is None else "live filters"
            ax.plot(fixed, n, "o", mfc="none", color="grey", ms=3, alpha=0.5,
                    label="law with C fixed (paper's reading)")
            if with_c is not None:
                ax.plot(with_c, n, "o", ms=3, alpha=0.5, label="law with each filter's measured C")
            _identity(ax, *[a for a in (n, with_c, fixed) if a is not None])
            ax.set_xlabel("derived eta^p lam^q C^c")
            ax.set_ylabel(f"measured conv1 norm ({unit})")
            ax.set_title(f"{rule}: norm at the\nend of the first phase")
            ax.legend(fontsize=8)
        else:
            measured, derived = pts
            ax.plot(derived, measured, "o")
            _identity(ax, measured, derived)
            ax.set_xlabel("derived leading angle")
            ax.set_ylabel("measured mean angle per step")
            ax.set_title(f"{rule}: rotational\nequilibrium")
    _footnote_and_layout(fig, "settled cells only; black: measured = derived. Norm panels: the derived law times "
                         "one fitted constant; angle panels: no fitted constant")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def make_figures(results_dir, out_dir) -> dict:
    """Draw every figure the records allow into ``out_dir``; return the paths and the registry checks."""
    records = load_records(results_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    drawn = [figure_norms(records, out / "fig1_norm.png"), figure_errors(records, out / "fig2_test_error.png"),
             figure_normalized(records, out / "fig3_normalized.png"),
             figure_optimal_lr(records, out / "fig4_optimal_lr.png"), figure_laws(records, out / "fig5_laws.png")]
    checks = {claim: check(results_dir) for claim, check in CHECKS.items()}
    return {"records": len(records), "figures": [str(p) for p in drawn if p is not None], "checks": checks}
