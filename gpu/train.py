"""Train M configurations at once (one :class:`EnsembleConvNet`) and record what the theory talks about.

Per model and epoch: per-filter norms of every BN-followed conv layer (the trajectory), the mean angle per step
between successive weights of each filter, the mean ``||grad L||/||w||`` per filter (loss gradient alone,
without the L2 term), the per-filter mean over the epoch's steps of ``(||grad_j L|| * ||w_j||)^2`` (the second
moment of the loss gradient at unit scale: the ``C`` of the Section 4 model, which it takes as a constant), the
number of collapsed filters, train loss and error (on the augmented batches), test loss and error (BN running
statistics).

A filter is *collapsed* when its norm fell below :data:`COLLAPSED` times its layer's initial mean filter norm: a
filter whose BN output no longer reaches the loss (a dead ReLU channel) gets no loss gradient and L2 shrinks it
towards zero, where its angle and ``||grad L||/||w||`` are undefined. Per-layer means of those two are taken over
the live filters only. A model whose loss turns NaN or inf is marked diverged at that step, reset to its initial weights
and frozen (learning rate 0), so that it cannot disturb the others; its later epochs are recorded as NaN.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .analysis import COLLAPSED, layer_summary
from .batches import DeviceData
from .config import TrainConfig
from .model import EnsembleConvNet
from .optim import EnsembleOptimizer, filter_norms

LAYERS = ("conv1", "conv2", "conv3", "conv4")


@dataclass
class RunResult:
    """The outcome of one configuration: status, per-epoch logs (lists) and trajectories (arrays)."""

    config: TrainConfig
    status: str                 # "done" or "diverged"
    diverged_at: dict | None    # {"step": global step (0-based), "epoch": 0-based epoch} when diverged
    epochs: dict
    trajectory: dict
    wall_s: float


def check_compatible(configs) -> TrainConfig:
    """The shared configuration of an ensemble; a ValueError if the configs differ beyond ``eta`` and ``lam``."""
    base = configs[0]
    for cfg in configs[1:]:
        if cfg.shared() != base.shared():
            raise ValueError("configurations of one ensemble may differ only in eta and lam")
    return base


@torch.no_grad()
def angle_per_filter(old: torch.Tensor, new: torch.Tensor, old_norms: torch.Tensor | None = None) -> torch.Tensor:
    """Angle (radians) between each filter before and after a step, (M, C_out), accurate for tiny angles.

    Uses ``atan2(|perpendicular part of the step|, |w_old| + radial part)`` instead of ``acos`` of a cosine,
    which cannot resolve angles below ~1e-4 rad in float32. ``old_norms``: ``filter_norms(old)`` if at hand.
    """
    o, delta = old.flatten(2), (new - old).flatten(2)
    norm = torch.linalg.vector_norm(o, dim=2) if old_norms is None else old_norms
    u = o / norm[..., None]
    radial = (delta * u).sum(2)
    perp = torch.linalg.vector_norm(delta - radial[..., None] * u, dim=2)
    return torch.atan2(perp, norm + radial)


@torch.no_grad()
def live_mean(values: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """Mean over the filter axis of ``values`` (M, C) where ``live`` (M, C): (M,), NaN where no filter is live."""
    return torch.where(live, values, 0.0).sum(1) / live.sum(1)


@torch.no_grad()
def gradient_statistics(weight: torch.Tensor, norms: torch.Tensor | None = None) -> tuple:
    """Per filter j: ``||grad_j L|| / ||w_j||`` and ``(||grad_j L|| * ||w_j||)^2``, two (M, C_out) tensors.

    For a scale-invariant filter ``grad L(w) = grad L(w/|w|) / |w|``, so the second is ``||grad L(w_hat)||^2``:
    the loss gradient at unit scale, independent of the filter's norm. ``norms``: ``filter_norms(weight)`` if
    at hand.
    """
    g, w = filter_norms(weight.grad), filter_norms(weight) if norms is None else norms
    return g / w, (g * w) ** 2


@torch.no_grad()
def reset_inactive_(model: EnsembleConvNet, initial: list, active: torch.Tensor) -> None:
    """Put the weights of models that are not ``active`` back to their initial values (finite, frozen)."""
    for p, p0 in zip(model.parameters(), initial):
        p.copy_(torch.where(active.view(-1, *([1] * (p.dim() - 1))), p, p0))
    for i in range(4):
        model.running_mean(i).copy_(torch.where(active[:, None], model.running_mean(i), 0.0))
        model.running_var(i).copy_(torch.where(active[:, None], model.running_var(i), 1.0))


def per_model_losses(logits: torch.Tensor, y: torch.Tensor) -> tuple:
    """Mean cross-entropy and error rate of each model over the batch: two (M,) tensors."""
    m = logits.shape[0]
    logits = logits.float()
    loss = F.cross_entropy(logits.flatten(0, 1), y.repeat(m), reduction="none").view(m, -1).mean(1)
    err = (logits.argmax(-1) != y).float().mean(1)
    return loss, err


@torch.no_grad()
def evaluate(model: EnsembleConvNet, data: DeviceData, batch: int, autocast) -> tuple:
    """Test loss and test error of each model (BN in eval mode): two (M,) tensors."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros(model.models, device=data.device)
    err_sum = torch.zeros(model.models, device=data.device)
    for x, y in data.test_batches(batch):
        with autocast():
            logits = model(x)
        loss, err = per_model_losses(logits, y)
        loss_sum += loss * len(y)
        err_sum += err * len(y)
    model.train(was_training)
    n = len(data.y_test)
    return loss_sum / n, err_sum / n


#: on CUDA, ensembles of at least this many models take channels-last inputs by default: on an H100 that was
#: 5-18 % faster at M = 64-128 and slower at M = 16 (reports/cifar10-h100/bench/*.json)
CHANNELS_LAST_MIN_MODELS = 32


def channels_last_for(device: torch.device, models: int, requested: bool | None) -> bool:
    """Whether inputs go channels-last: ``requested`` when given, else CUDA with at least
    :data:`CHANNELS_LAST_MIN_MODELS` models.

    >>> channels_last_for(torch.device("cpu"), 64, None), channels_last_for(torch.device("cpu"), 1, True)
    (False, True)
    """
    if requested is not None:
        return bool(requested)
    return device.type == "cuda" and models >= CHANNELS_LAST_MIN_MODELS


def autocast_for(device: torch.device, amp: bool | None):
    """bf16 autocast for activations on CUDA (default there), nothing on CPU; weights stay fp32."""
    if amp is None:
        amp = device.type == "cuda"
    if amp:
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


class EnsembleTrainer:
    """One ensemble, its optimizer and its divergence bookkeeping; :meth:`step` syncs nothing to the host."""

    def __init__(self, configs, device, *, amp: bool | None = None, channels_last: bool | None = None):
        self.base = check_compatible(configs)
        self.configs, self.models, self.device = list(configs), len(configs), torch.device(device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True     # fixed shapes: let cuDNN pick the fastest convolutions
        self.model = EnsembleConvNet.initialised(self.models, self.base.widths, self.base.seed).to(self.device)
        self.model.train()
        self.opt = EnsembleOptimizer.for_model(self.model, self.base, [c.eta for c in configs],
                                               [c.lam for c in configs])
        self.initial = [p.detach().clone() for p in self.model.parameters()]   # after the normalized rescale
        self.filters = self.model.bn_followed_weights()
        self.collapse_floor = [COLLAPSED * filter_norms(w).mean(1, keepdim=True) for w in self.filters]  # (M, 1)
        self.autocast = autocast_for(self.device, amp)
        self.channels_last = channels_last_for(self.device, self.models, channels_last)
        self.active = torch.ones(self.models, dtype=torch.bool, device=self.device)
        self.first_bad = torch.full((self.models,), -1, dtype=torch.long, device=self.device)
        self.steps = 0

    def step(self, x, y, lr_factor: float = 1.0) -> dict:
        """One training step of every model on the batch; per-model statistics as device tensors.

        Returns ``loss``, ``err`` (M,); ``angle``, ``ratio`` (M, 4), each the mean over a layer's live filters
        (:meth:`live`); ``grad_unit_sq`` (M, sum of widths), per filter; all zero for models no longer active.
        """
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            logits = self.model(x)
        loss, err = per_model_losses(logits, y)
        finite = torch.isfinite(loss)
        self.first_bad = torch.where(self.active & ~finite & (self.first_bad < 0), self.steps, self.first_bad)
        self.active = self.active & finite
        self.opt.zero_grad()
        loss.sum().backward()
        with torch.no_grad():
            norms = [filter_norms(w) for w in self.filters]       # once per step, for all three statistics
            live = self.live(norms)
            stats = [gradient_statistics(w, n) for w, n in zip(self.filters, norms)]
            ratio = torch.stack([live_mean(r, a) for (r, _), a in zip(stats, live)], 1)
            unit_sq = torch.cat([torch.where(a, c, 0.0) for (_, c), a in zip(stats, live)], 1)
            old = [w.detach().clone() for w in self.filters]
        self.opt.step(lr_factor, self.active)
        self.steps += 1
        with torch.no_grad():
            angle = torch.stack([live_mean(angle_per_filter(o, w, n), a)
                                 for o, w, n, a in zip(old, self.filters, norms, live)], 1)
            reset_inactive_(self.model, self.initial, self.active)
            keep = self.active[:, None]
            return {"loss": torch.where(self.active, loss.detach(), 0.0), "err": torch.where(self.active, err, 0.0),
                    "angle": torch.where(keep, angle, 0.0), "ratio": torch.where(keep, ratio, 0.0),
                    "grad_unit_sq": torch.where(keep, unit_sq, 0.0)}

    def live(self, norms: list | None = None) -> list:
        """Per layer, which filters are not collapsed (norm above :data:`COLLAPSED` x the initial mean): (M, C_i).

        ``norms``: the layers' current ``filter_norms`` if at hand.
        """
        norms = norms if norms is not None else [filter_norms(w) for w in self.filters]
        return [n > floor for n, floor in zip(norms, self.collapse_floor)]

    def evaluate(self, data: DeviceData, batch: int) -> tuple:
        """Test loss and error per model (M,) each."""
        return evaluate(self.model, data, batch, self.autocast)

    def filter_norms(self) -> list:
        """Per-filter norms of the four BN-followed conv layers, (M, C_i) each (copies)."""
        return [filter_norms(w).detach().clone() for w in self.filters]

    def first_bad_steps(self) -> torch.Tensor:
        """Per model the first step whose loss was not finite, or whose final weights are not finite; else -1."""
        finite = torch.stack([torch.isfinite(p.detach().flatten(1)).all(1) for p in self.model.parameters()]).all(0)
        return torch.where(finite | (self.first_bad >= 0), self.first_bad, self.steps - 1)


def train_ensemble(configs, data: DeviceData, *, amp: bool | None = None, progress=None,
                   eval_batch: int | None = None, channels_last: bool | None = None) -> list:
    """Train the configurations (equal but for eta and lam) as one ensemble; one :class:`RunResult` each."""
    start = time.monotonic()
    trainer = EnsembleTrainer(configs, data.device, amp=amp, channels_last=channels_last)
    base, m = trainer.base, trainer.models
    eval_batch = eval_batch or max(128, min(2000, 32768 // m))
    generator = torch.Generator(device=data.device).manual_seed(base.seed)
    steps_per_epoch = data.steps_per_epoch(base.batch_size)
    if steps_per_epoch == 0:
        raise ValueError(f"{len(data.y_train)} training images make no batch of {base.batch_size}")
    norms = [[n] for n in trainer.filter_norms()]          # per layer: (M, C) at init and after each epoch
    logs = {k: [] for k in ("train_loss", "train_error", "test_loss", "test_error", "angle", "grad_ratio",
                            "grad_unit_sq")}
    for epoch in range(base.epochs):
        factor = base.lr_factor(epoch)
        sums = None
        for x, y in data.train_batches(generator, base.batch_size, base.translate, base.flip):
            stats = trainer.step(x, y, factor)
            sums = stats if sums is None else {k: sums[k] + v for k, v in stats.items()}
            if progress is not None:
                progress.advance(1)
        test_loss, test_err = trainer.evaluate(data, eval_batch)
        for layer, n in zip(norms, trainer.filter_norms()):
            layer.append(n)
        for key, value in (("train_loss", sums["loss"]), ("train_error", sums["err"]), ("angle", sums["angle"]),
                           ("grad_ratio", sums["ratio"]), ("grad_unit_sq", sums["grad_unit_sq"])):
            logs[key].append(value / steps_per_epoch)
        logs["test_loss"].append(test_loss)
        logs["test_error"].append(test_err)
        if progress is not None:
            best = float(torch.where(trainer.active, test_err, 1.0).min())
            progress.advance(0, note=f"epoch {epoch + 1}/{base.epochs}, best test error {best:.3f}")
    first_bad = trainer.first_bad_steps()
    wall = time.monotonic() - start
    return [_result(i, cfg, logs, norms, int(first_bad[i]), steps_per_epoch, wall)
            for i, cfg in enumerate(configs)]


def _result(i: int, cfg: TrainConfig, logs: dict, norms: list, bad_step: int, steps_per_epoch: int,
            wall: float) -> RunResult:
    """Collect model ``i``'s logs into a :class:`RunResult`; epochs from a divergence on become NaN."""
    series = {k: torch.stack([v[i] for v in vals]).cpu().numpy().astype(np.float64) for k, vals in logs.items()}
    traj = {f"{name}_filter_norms": torch.stack([n[i] for n in layer]).cpu().numpy()
            for name, layer in zip(LAYERS, norms)}
    bounds = np.cumsum([0] + [traj[f"{name}_filter_norms"].shape[1] for name in LAYERS])
    unit_sq = series.pop("grad_unit_sq")
    traj.update({f"{name}_grad_unit_sq": unit_sq[:, a:b] for name, a, b in zip(LAYERS, bounds, bounds[1:])})
    diverged = None
    if bad_step >= 0:
        bad_epoch = bad_step // steps_per_epoch
        diverged = {"step": bad_step, "epoch": bad_epoch}
        for arr in series.values():
            arr[bad_epoch:] = np.nan
        for name, arr in traj.items():
            arr[bad_epoch + (1 if name.endswith("_filter_norms") else 0):] = np.nan
    layers = {name: layer_summary(traj[f"{name}_filter_norms"], traj[f"{name}_grad_unit_sq"]) for name in LAYERS}
    epochs = {
        "epoch": list(range(1, cfg.epochs + 1)),
        "lr": [cfg.eta * cfg.lr_factor(e) for e in range(cfg.epochs)],
        "train_loss": series["train_loss"].tolist(),
        "train_error": series["train_error"].tolist(),
        "test_loss": series["test_loss"].tolist(),
        "test_error": series["test_error"].tolist(),
        "angle_mean": {k: series["angle"][:, j].tolist() for j, k in enumerate(LAYERS)},
        "grad_ratio_mean": {k: series["grad_ratio"][:, j].tolist() for j, k in enumerate(LAYERS)},
        **{key: {name: layers[name][key] for name in LAYERS} for key in next(iter(layers.values()))},
    }
    traj.update({"angle_mean": series["angle"], "grad_ratio_mean": series["grad_ratio"],
                 "train_loss": series["train_loss"], "test_error": series["test_error"],
                 "test_loss": series["test_loss"], "train_error": series["train_error"]})
    status = "diverged" if diverged else "done"
    return RunResult(cfg, status, diverged, epochs, traj, wall)


def final_summary(result: RunResult) -> dict:
    """Headline numbers of a run: final test error, first-layer norm at the fit epoch and at the end."""
    cfg, ep = result.config, result.epochs
    norm1 = ep["filter_norm_mean"]["conv1"]
    nan = float("nan")
    return {
        "test_error": ep["test_error"][-1] if ep["test_error"] else nan,
        "conv1_norm_fit_epoch": norm1[cfg.fit_epoch - 1] if norm1 else nan,
        "conv1_norm_final": norm1[-1] if norm1 else nan,
        "fit_epoch": cfg.fit_epoch,
    }

