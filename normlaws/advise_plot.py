"""The plot of ``normlaws advise``: the predicted angle per step and norm of an invariant unit over the schedule.

matplotlib is imported only here, when a plot is asked for; the figure is rendered in memory and written whole
(``records.write_atomic``), so a failed write leaves no partial file.
"""
from __future__ import annotations

import io
from pathlib import Path

from .errors import UsageError
from .records import write_atomic


def _pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise UsageError("the plot needs matplotlib: pip install 'normlaws[reports]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot(advice, path) -> Path:
    """Draw the predicted path (solid) and each phase's equilibrium (dashed), angle above and norm below; write
    ``path`` (its suffix picks the format: .png, .pdf, .svg)."""
    plt = _pyplot()
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    if fmt not in ("png", "pdf", "svg"):
        raise UsageError(f"{str(path)!r}: the plot's format comes from its suffix: .png, .pdf or .svg")
    p = advice.path
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    for ax, key, label in ((top, "angle", "angle per step (rad)"), (bottom, "norm", "||w|| of a unit")):
        ax.plot(p["epoch"], p[key], lw=1.6, label="predicted")
        ax.plot(p["epoch"], p[f"{key}_eq"], "--", lw=1, label="equilibrium of the phase")
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    top.legend(loc="best", fontsize=8)
    bottom.set_xlabel("epoch")
    top.set_title(f"{advice.rule}, eta = {advice.eta:g}, lam = {advice.lam:g} ({advice.schedule.kind}); "
                  f"d = {advice.d}, C = {advice.C:g}", fontsize=9)
    fig.text(0.01, 0.005, f"path: {p['status']}"[:150], fontsize=6)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=120)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return path
