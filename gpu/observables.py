"""What a record says about one run at equilibrium, per filter and layer: the measured side of the C-free checks.

Torch-free. Reads the per-filter step sums of :mod:`normlaws.gpu.stats` from a record's trajectory and sums them
over its equilibrium window (:func:`normlaws.gpu.analysis.equilibrium_epochs`), so that a ratio of moments is a
ratio of sums over the same steps. Every layer's filters are scale-invariant units of their own dimension
``d = C_in * 9``; a run's layers are read separately (their fan-ins differ) and the checks average them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .analysis import COLLAPSED, equilibrium_epochs, family, network_of, steps_per_epoch, trajectory
from .settling import layer_fan_in

LAYERS = ("conv1", "conv2", "conv3", "conv4")


def fan_in(record, layer: str) -> int:
    """``d`` of a filter of ``layer``: input channels x 3 x 3 (3 x 9 = 27 for conv1).

    >>> fan_in({"config": {"widths": [8, 16, 32, 64]}}, "conv3")
    144
    """
    return layer_fan_in(record["config"], layer)


@dataclass
class Window:
    """The step sums of one layer of one run over its equilibrium window: per live filter (arrays of shape (C,))."""

    record: dict
    layer: str
    epochs: list          # 0-based epochs of the window
    steps: int            # steps in the window
    sums: dict            # name -> (C,) sum over the window's steps
    n_start: np.ndarray   # ||w_j||^2 at the window's start
    n_end: np.ndarray     # ||w_j||^2 at its end
    live: np.ndarray      # (C,) bool: not collapsed through the window
    buffer_start: tuple | None = None   # (<w_j, v_j>, ||v_j||^2) of the rule's buffer at the start, if recorded
    buffer_end: tuple | None = None     # and at the end

    @property
    def d(self) -> int:
        """Coordinates per filter."""
        return fan_in(self.record, self.layer)

    def pooled(self, name: str) -> float:
        """The sum over the live filters of ``sums[name]``."""
        return float(self.sums[name][self.live].sum())

    def ratio(self, top: str, bottom: str = "sum_sq") -> float:
        """``sum_live top / sum_live bottom``: a moment ratio of the layer over the window."""
        below = self.pooled(bottom)
        return self.pooled(top) / below if below else math.nan

    def per_filter(self, top: str, bottom: str = "sum_sq") -> np.ndarray:
        """``top/bottom`` per live filter."""
        return self.sums[top][self.live] / self.sums[bottom][self.live]

    def cos_angle(self, per_filter: bool = False):
        """``sum <w_t, w_(t+1)> / sqrt(sum ||w_t||^2 sum ||w_(t+1)||^2)`` over the window (per live filter, or pooled):
        the claim's moment ratio ``E<w_t, w_(t+1)>/E||w_t||^2`` at stationarity, where the two second moments are
        equal; normalised by both, a slow drift of the norm cancels to first order."""
        after = self.sums["sum_sq"] + (self.n_end - self.n_start)
        if per_filter:
            return self.sums["sum_dot"][self.live] / np.sqrt(self.sums["sum_sq"][self.live] * after[self.live])
        return self.pooled("sum_dot") / math.sqrt(self.pooled("sum_sq") * float(after[self.live].sum()))

    def buffer_boundary(self) -> dict | None:
        """``{(0, 1): D_01/sum N, (1, 1): D_11/sum N}``: the window's boundary terms ``S_end - S_start`` of the
        buffer (``<w, v>`` and ``||v||^2``) summed over the live filters, relative to ``sum_t N_t`` (the norm's own,
        ``D_00``, is :meth:`drift`); None where the buffer's ends were not recorded."""
        if self.buffer_start is None or self.buffer_end is None:
            return None
        total = self.pooled("sum_sq")
        return {ij: float((end - start)[self.live].sum()) / total
                for ij, start, end in zip(((0, 1), (1, 1)), self.buffer_start, self.buffer_end)}

    def drift(self) -> float:
        """``|sum_live (N_end - N_start)| / sum_live sum_t N_t``: how far the window is from stationary (it is the
        boundary term by which moment identities of a stationary state fail over a finite window)."""
        total = self.pooled("sum_sq")
        return abs(float((self.n_end - self.n_start)[self.live].sum())) / total if total else math.nan


def window(record, layer: str, epochs: list | None = None) -> Window | None:
    """The :class:`Window` of ``layer`` over ``epochs`` (default: the equilibrium window), or None when the
    record has no step sums (written before them), no such epochs, or no live filter."""
    epochs = equilibrium_epochs(record, layer) if epochs is None else list(epochs)
    if not epochs:
        return None
    traj = trajectory(record) if epochs else None
    if traj is None or f"{layer}_sum_sq" not in traj:
        return None
    norms = traj[f"{layer}_filter_norms"]
    first, last = epochs[0], epochs[-1]
    sums = {name[len(layer) + 1:]: traj[name][epochs].sum(0) for name in traj
            if name.startswith(f"{layer}_sum_")}
    floor = COLLAPSED * norms[0].mean()
    live = np.all(norms[first:last + 2] > floor, axis=0) & np.all(np.isfinite(norms[first:last + 2]), axis=0)
    if not live.any():
        return None
    buffers = [traj.get(f"{layer}_buffer_{k}") for k in ("dot", "sq")]
    start, end = ((None, None) if any(b is None for b in buffers)
                  else (tuple(b[first] for b in buffers), tuple(b[last + 1] for b in buffers)))
    return Window(record, layer, epochs, len(epochs) * steps_per_epoch(record), sums, norms[first] ** 2,
                  norms[last + 1] ** 2, live, start, end)


def windows(records, rule: str, network: str = "invariant", decay: bool = True) -> list:
    """``[(record, [Window per layer])]`` of the records of ``rule`` on ``network`` that have an equilibrium
    window (``decay=False``: the runs without decay, over their whole first phase)."""
    out = []
    for rec in records:
        if family(rec) != rule or network_of(rec) != network or rec["status"] != "done":
            continue
        if (rec["config"]["lam"] > 0) != decay:
            continue
        epochs = None if decay else list(range(rec["config"]["epochs"]))
        found = [w for w in (window(rec, layer, epochs) for layer in LAYERS) if w is not None]
        if found:
            out.append((rec, found))
    return out


def cell_label(record) -> str:
    """``eta=..., lam=..., seed=...`` of a record, for details."""
    c = record["config"]
    return f"eta={c['eta']:g}, lam={c['lam']:g}, seed={c['seed']}"
