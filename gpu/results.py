"""One model's logs of an ensemble run, collected into its record's per-epoch lists and its trajectory arrays.

Trajectory arrays (``traj/<key>.npz``; every array float, NaN from a divergence on), per layer ``L`` of
``conv1..conv4``: ``L_filter_norms`` (epochs + 1, C) at initialisation and after each epoch; ``L_grad_unit_sq``
(epochs, C) the epoch's mean of ``(||grad_j L|| ||w_j||)^2`` over its steps; ``L_probe_unit_sq`` (epochs, C) the
same at the epoch's end on held-out probe batches; ``L_buffer_dot``, ``L_buffer_sq`` (epochs + 1, C) the rule's
buffer ``v_j`` in its moment model's units at initialisation and after each epoch, ``<w_j, v_j>`` and
``||v_j||^2`` (zeros for rules without one); ``L_<sum>`` (epochs, C) for each sum of
:data:`normlaws.gpu.stats.SUMS`. Per run: ``trace_step`` (P,) and ``trace_norm_sq`` (P, 4), each layer's
``sum_j ||w_j||^2`` every few steps; ``angle_mean``, ``grad_ratio_mean`` (epochs, 4) and the losses and errors
(epochs,).
"""
from __future__ import annotations

import numpy as np
import torch

from ..schema import AT_EPOCH_ENDS
from .analysis import layer_summary
from .stats import SUMS

LAYERS = ("conv1", "conv2", "conv3", "conv4")


def _host(tensors) -> np.ndarray:
    return torch.stack(tensors).detach().cpu().numpy().astype(np.float64)


def _trajectory(i: int, logs: dict, norms: list, trace: dict) -> dict:
    traj = {f"{name}_filter_norms": _host([n[i] for n in layer]) for name, layer in zip(LAYERS, norms)}
    widths = [traj[f"{name}_filter_norms"].shape[1] for name in LAYERS]
    bounds = np.cumsum([0] + widths)
    unit_sq = _host([v[i] for v in logs["grad_unit_sq"]])
    for j, (name, a, b) in enumerate(zip(LAYERS, bounds, bounds[1:])):
        traj[f"{name}_grad_unit_sq"] = unit_sq[:, a:b]
        traj[f"{name}_probe_unit_sq"] = _host([epoch[j][i] for epoch in logs["probe_unit_sq"]])
        for s in SUMS:
            traj[f"{name}_{s}"] = _host([epoch[s][j][i] for epoch in logs["sums"]])
        for key in ("buffer_dot", "buffer_sq"):
            if logs.get(key):
                traj[f"{name}_{key}"] = _host([epoch[j][i] for epoch in logs[key]])
    traj["trace_step"] = np.asarray(trace["step"], dtype=np.float64)
    traj["trace_norm_sq"] = _host([t[i] for t in trace["norm_sq"]])
    for key in ("angle", "grad_ratio"):
        traj[f"{key}_mean"] = _host([v[i] for v in logs[key]])
    for key in ("train_loss", "test_error", "test_loss", "train_error"):
        traj[key] = _host([v[i] for v in logs[key]])
    return traj


def _blank_after_divergence(traj: dict, bad_step: int, steps_per_epoch: int) -> dict | None:
    """NaN every epoch from the diverged one on; the ``{"step", "epoch"}`` of the divergence, or None."""
    if bad_step < 0:
        return None
    bad_epoch = bad_step // steps_per_epoch
    for name, arr in traj.items():
        if name == "trace_step":
            continue
        if name == "trace_norm_sq":
            arr[traj["trace_step"] > bad_step] = np.nan
        else:
            arr[bad_epoch + (1 if name.endswith(AT_EPOCH_ENDS) else 0):] = np.nan
    return {"step": bad_step, "epoch": bad_epoch}


def collect_result(i: int, cfg, logs: dict, norms: list, trace: dict, bad_step: int, steps_per_epoch: int) -> tuple:
    """``(config, status, diverged_at, epochs, trajectory)`` of model ``i``; epochs from a divergence on are NaN."""
    traj = _trajectory(i, logs, norms, trace)
    diverged = _blank_after_divergence(traj, bad_step, steps_per_epoch)
    layers = {name: layer_summary(traj[f"{name}_filter_norms"], traj[f"{name}_grad_unit_sq"]) for name in LAYERS}
    epochs = {
        "epoch": list(range(1, cfg.epochs + 1)),
        "lr": [cfg.eta * cfg.lr_factor(e) for e in range(cfg.epochs)],
        **{key: traj[key].tolist() for key in ("train_loss", "train_error", "test_loss", "test_error")},
        "angle_mean": {k: traj["angle_mean"][:, j].tolist() for j, k in enumerate(LAYERS)},
        "grad_ratio_mean": {k: traj["grad_ratio_mean"][:, j].tolist() for j, k in enumerate(LAYERS)},
        **{key: {name: layers[name][key] for name in LAYERS} for key in next(iter(layers.values()))},
    }
    return cfg, ("diverged" if diverged else "done"), diverged, epochs, traj
