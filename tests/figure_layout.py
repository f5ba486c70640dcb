"""What a reader would see wrong on a rendered figure: text cut at the canvas's edge, tick labels that run into
each other. Checked on the figure as drawn at its saved size (the renderer's pixel extents)."""
from __future__ import annotations

import itertools

#: pixels a label may touch the edge or its neighbour by (anti-aliasing)
SLACK = 1.0


def _in_view(axis, loc: float) -> bool:
    lo, hi = sorted(axis.get_view_interval())
    return lo - 1e-12 * abs(hi - lo) <= loc <= hi + 1e-12 * abs(hi - lo)


def _tick_labels(axis) -> list:
    """The tick labels the axis draws: visible, non-empty, at a tick inside the view."""
    ticks = axis.get_major_ticks() + axis.get_minor_ticks()
    return [label for tick in ticks if tick.get_visible() and _in_view(axis, tick.get_loc())
            for label in (tick.label1, tick.label2) if label.get_visible() and label.get_text().strip()]


def _axes_texts(ax) -> list:
    texts = [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
    legend = ax.get_legend()
    if legend is not None and legend.get_visible():
        texts += [*legend.get_texts(), legend.get_title()]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def layout_problems(fig) -> list[str]:
    """Every text drawn outside the figure's canvas, and every pair of tick labels of one axis that overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    problems = []
    texts = [t for t in fig.texts if t.get_visible() and t.get_text().strip()]
    for legend in fig.legends:
        texts += [t for t in legend.get_texts() if t.get_text().strip()]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += _axes_texts(ax)
        for axis, along in ((ax.xaxis, 0), (ax.yaxis, 1)):
            labels = _tick_labels(axis)
            texts += labels
            extents = sorted(((label.get_window_extent(renderer), label.get_text()) for label in labels),
                             key=lambda e: e[0].x0 if along == 0 else e[0].y0)
            for (a, ta), (b, tb) in itertools.pairwise(extents):
                gap = (b.x0 - a.x1) if along == 0 else (b.y0 - a.y1)
                if gap < -SLACK and a.overlaps(b):
                    problems.append(f"overlapping tick labels {ta!r} and {tb!r} ({gap:.1f} px)")
    for text in texts:
        e = text.get_window_extent(renderer)
        if e.x0 < canvas.x0 - SLACK or e.y0 < canvas.y0 - SLACK or e.x1 > canvas.x1 + SLACK or \
                e.y1 > canvas.y1 + SLACK:
            problems.append(f"cut at the edge: {text.get_text()!r}")
    return problems
