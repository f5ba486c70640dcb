"""Train M configurations at once (one :class:`EnsembleConvNet`) and record what the theory talks about.

Per model and epoch: per-filter norms of every BN-followed conv layer (the trajectory), the mean angle per step
between successive weights of each filter, the mean ``||grad L||/||w||`` per filter (loss gradient alone,
without the L2 term), the per-filter mean over the epoch's steps of ``(||grad_j L|| * ||w_j||)^2`` (the second
moment of the loss gradient at unit scale: the ``C`` of the Section 4 model, which it takes as a constant), the
same ``C`` measured apart from training on held-out probe batches at the epoch's end (``probe_unit_sq``: the
gradient of the model at its end-of-epoch weights on the first test images, BN in batch mode, running
statistics untouched; by degree -1 homogeneity ``||w_j|| grad_j L(w)`` is the gradient of the unit-norm copy),
the per-filter step sums of :mod:`normlaws.gpu.stats` (the moments whose ratios the theory fixes), a trace of
each layer's ``sum_j ||w_j||^2`` every few steps (relaxation times), the number of collapsed filters, train loss
and error (on the augmented batches), test loss and error (BN running statistics).

A filter is *collapsed* when its norm fell below :data:`COLLAPSED` times its layer's initial mean filter norm: a
filter whose BN output no longer reaches the loss (a dead ReLU channel) gets no loss gradient and L2 shrinks it
towards zero, where its angle and ``||grad L||/||w||`` are undefined. Per-layer means of those two are taken over
the live filters only. A model whose loss turns NaN or inf is marked diverged at that step, reset to its initial
weights and frozen (learning rate 0), so that it cannot disturb the others; its later epochs are recorded as NaN.

**Hook.** ``EnsembleTrainer(..., on_step=f)`` (and ``train_ensemble(..., on_step=f)``) calls ``f(trainer,
stats)`` after every step, with ``stats`` the step's dict of device tensors (see :meth:`EnsembleTrainer.step`)
and ``trainer.steps`` the number of steps done: a training monitor attaches there (it reads, never writes).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .analysis import COLLAPSED
from .batches import DeviceData
from .config import TrainConfig
from .model import EnsembleConvNet
from .optim import EnsembleOptimizer, filter_norms
from .results import collect_result
from .stats import FilterSums, angle_per_filter, gradient_statistics, live_mean

LAYERS = ("conv1", "conv2", "conv3", "conv4")
#: at most this many points of the per-step norm trace are kept per run (every ``ceil(steps/N)``-th step)
TRACE_POINTS = 2048
#: probe batches of the held-out gradient scale at each epoch's end (each ``batch_size`` test images)
PROBE_BATCHES = 2


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
    logits = logits if logits.dtype == torch.float64 else logits.float()
    loss = F.cross_entropy(logits.flatten(0, 1), y.repeat(m), reduction="none").view(m, -1).mean(1)
    err = (logits.argmax(-1) != y).to(logits.dtype).mean(1)
    return loss, err


@torch.no_grad()
def evaluate(model: EnsembleConvNet, data: DeviceData, batch: int, autocast) -> tuple:
    """Test loss and test error of each model (BN in eval mode): two (M,) tensors."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros(model.models, device=data.device, dtype=model.conv_weights[0].dtype)
    err_sum = torch.zeros_like(loss_sum)
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

    def __init__(self, configs, device, *, amp: bool | None = None, channels_last: bool | None = None,
                 dtype=torch.float32, on_step=None):
        self.base = check_compatible(configs)
        self.configs, self.models, self.device = list(configs), len(configs), torch.device(device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True     # fixed shapes: let cuDNN pick the fastest convolutions
        b = self.base
        self.model = EnsembleConvNet.initialised(self.models, b.widths, b.seed, b.network,
                                                 b.bn_eps).to(device=self.device, dtype=dtype)
        self.model.scale_filters_(b.init_scale)
        self.model.train()
        self.opt = EnsembleOptimizer.for_model(self.model, b, [c.eta for c in configs], [c.lam for c in configs])
        self.initial = [p.detach().clone() for p in self.model.parameters()]   # after the normalized rescale
        self.filters = self.model.bn_followed_weights()
        self.collapse_floor = [COLLAPSED * filter_norms(w).mean(1, keepdim=True) for w in self.filters]  # (M, 1)
        self.sums = FilterSums(self.filters)
        self.autocast = autocast_for(self.device, amp)
        self.channels_last = channels_last_for(self.device, self.models, channels_last)
        self.active = torch.ones(self.models, dtype=torch.bool, device=self.device)
        self.first_bad = torch.full((self.models,), -1, dtype=torch.long, device=self.device)
        self.steps = 0
        self.on_step = on_step

    def step(self, x, y, lr_factor: float = 1.0) -> dict:
        """One training step of every model on the batch; per-model statistics as device tensors.

        Returns ``loss``, ``err`` (M,); ``angle``, ``ratio`` (M, 4), each the mean over a layer's live filters
        (:meth:`live`); ``grad_unit_sq`` (M, sum of widths), per filter; ``norm_sq`` (M, 4), each layer's
        ``sum_j ||w_j||^2`` after the step; all zero for models no longer active.
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
            before = self.sums.before()
            norms = [n for _, n, _, _ in before]
            live = self.live(norms)
            stats = [gradient_statistics(w, n) for w, n in zip(self.filters, norms)]
            ratio = torch.stack([live_mean(r, a) for (r, _), a in zip(stats, live)], 1)
            unit_sq = torch.cat([torch.where(a, c, 0.0) for (_, c), a in zip(stats, live)], 1)
        self.opt.step(lr_factor, self.active)
        self.steps += 1
        with torch.no_grad():
            self.sums.after(before, self.opt, self.opt.eta * lr_factor * self.active, self.active)
            angle = torch.stack([live_mean(angle_per_filter(o, w, n), a)
                                 for (o, n, _, _), w, a in zip(before, self.filters, live)], 1)
            reset_inactive_(self.model, self.initial, self.active)
            keep = self.active[:, None]
            norm_sq = torch.stack([w.detach().flatten(1).pow(2).sum(1) for w in self.filters], 1)
            out = {"loss": torch.where(self.active, loss.detach(), 0.0), "err": torch.where(self.active, err, 0.0),
                   "angle": torch.where(keep, angle, 0.0), "ratio": torch.where(keep, ratio, 0.0),
                   "grad_unit_sq": torch.where(keep, unit_sq, 0.0), "norm_sq": torch.where(keep, norm_sq, 0.0)}
        if self.on_step is not None:
            self.on_step(self, out)
        return out

    def live(self, norms: list | None = None) -> list:
        """Per layer, which filters are not collapsed (norm above :data:`COLLAPSED` x the initial mean): (M, C_i).

        ``norms``: the layers' current ``filter_norms`` if at hand.
        """
        norms = norms if norms is not None else [filter_norms(w) for w in self.filters]
        return [n > floor for n, floor in zip(norms, self.collapse_floor)]

    def evaluate(self, data: DeviceData, batch: int) -> tuple:
        """Test loss and error per model (M,) each."""
        return evaluate(self.model, data, batch, self.autocast)

    def probe_unit_sq(self, batches) -> list:
        """Per layer (M, C): the mean over ``batches`` of ``(||grad_j L|| ||w_j||)^2`` at the current weights, BN
        in batch mode with its running statistics untouched; the model, its gradients and the optimizer are left
        as they were. A measurement of ``C`` that no training step and no norm enters."""
        total = [torch.zeros(w.shape[:2], dtype=w.dtype, device=w.device) for w in self.filters]
        for x, y in batches:
            self.opt.zero_grad()
            with self.autocast():
                logits = self.model(x, update_stats=False)
            per_model_losses(logits, y)[0].sum().backward()
            with torch.no_grad():
                for t, w in zip(total, self.filters):
                    t += gradient_statistics(w)[1] / len(batches)
        self.opt.zero_grad()
        return total

    def buffer_moments(self) -> tuple:
        """Per layer, per filter ``<w_j, v_j>`` and ``||v_j||^2`` of the rule's buffer in its moment model's units
        (:meth:`EnsembleOptimizer.model_buffer`; zeros without one), (M, C_i) each: the boundary terms of a
        window's moment identities (``theory.windows``)."""
        dots, squares = [], []
        for w in self.filters:
            v = self.opt.model_buffer(w)
            if v is None:
                v = torch.zeros_like(w)
            dots.append((w.detach() * v).flatten(2).sum(2).clone())
            squares.append(v.pow(2).flatten(2).sum(2).clone())
        return dots, squares

    def filter_norms(self) -> list:
        """Per-filter norms of the four BN-followed conv layers, (M, C_i) each (copies)."""
        return [filter_norms(w).detach().clone() for w in self.filters]

    def first_bad_steps(self) -> torch.Tensor:
        """Per model the first step whose loss was not finite, or whose final weights are not finite; else -1."""
        finite = torch.stack([torch.isfinite(p.detach().flatten(1)).all(1) for p in self.model.parameters()]).all(0)
        return torch.where(finite | (self.first_bad >= 0), self.first_bad, self.steps - 1)


def _probe_batches(data: DeviceData, batch: int) -> list:
    """The held-out probe batches: the first ``PROBE_BATCHES * batch`` test images (fewer if the set is small)."""
    size = min(batch, len(data.y_test) // PROBE_BATCHES) or len(data.y_test)
    return [(data.x_test[i * size:(i + 1) * size], data.y_test[i * size:(i + 1) * size])
            for i in range(min(PROBE_BATCHES, max(1, len(data.y_test) // size)))]


def train_ensemble(configs, data: DeviceData, *, amp: bool | None = None, progress=None,
                   eval_batch: int | None = None, channels_last: bool | None = None, on_step=None) -> list:
    """Train the configurations (equal but for eta and lam) as one ensemble; one :class:`RunResult` each.

    ``on_step(trainer, stats)`` is called after every step (the monitor's hook; see the module docstring).
    """
    start = time.monotonic()
    trainer = EnsembleTrainer(configs, data.device, amp=amp, channels_last=channels_last,
                              dtype=data.x_train.dtype, on_step=on_step)
    base, m = trainer.base, trainer.models
    eval_batch = eval_batch or max(128, min(2000, 32768 // m))
    generator = torch.Generator(device=data.device).manual_seed(base.seed)
    steps_per_epoch = data.steps_per_epoch(base.batch_size)
    if steps_per_epoch == 0:
        raise ValueError(f"{len(data.y_train)} training images make no batch of {base.batch_size}")
    stride = max(1, -(-steps_per_epoch * base.epochs // TRACE_POINTS))
    probes = _probe_batches(data, base.batch_size)
    norms = [[n] for n in trainer.filter_norms()]          # per layer: (M, C) at init and after each epoch
    trace = {"step": [0], "norm_sq": [torch.stack([w.detach().flatten(1).pow(2).sum(1) for w in trainer.filters], 1)]}
    logs = {k: [] for k in ("train_loss", "train_error", "test_loss", "test_error", "angle", "grad_ratio",
                            "grad_unit_sq", "sums", "probe_unit_sq", "buffer_dot", "buffer_sq")}
    _log_buffers(logs, trainer)
    for epoch in range(base.epochs):
        factor = base.lr_factor(epoch)
        sums = None
        trainer.sums.reset()
        for x, y in data.train_batches(generator, base.batch_size, base.translate, base.flip):
            stats = trainer.step(x, y, factor)
            sums = stats if sums is None else {k: sums[k] + v for k, v in stats.items()}
            if trainer.steps % stride == 0:
                trace["step"].append(trainer.steps)
                trace["norm_sq"].append(stats["norm_sq"])
            if progress is not None:
                progress.advance(1)
        test_loss, test_err = trainer.evaluate(data, eval_batch)
        for layer, n in zip(norms, trainer.filter_norms()):
            layer.append(n)
        for key, value in (("train_loss", sums["loss"]), ("train_error", sums["err"]), ("angle", sums["angle"]),
                           ("grad_ratio", sums["ratio"]), ("grad_unit_sq", sums["grad_unit_sq"])):
            logs[key].append(value / steps_per_epoch)
        logs["sums"].append(trainer.sums.epoch())
        logs["probe_unit_sq"].append(trainer.probe_unit_sq(probes))
        _log_buffers(logs, trainer)
        logs["test_loss"].append(test_loss)
        logs["test_error"].append(test_err)
        if progress is not None:
            best = float(torch.where(trainer.active, test_err, 1.0).min())
            progress.advance(0, note=f"epoch {epoch + 1}/{base.epochs}, best test error {best:.3f}")
    first_bad = trainer.first_bad_steps()
    wall = time.monotonic() - start
    return [RunResult(*collect_result(i, cfg, logs, norms, trace, int(first_bad[i]), steps_per_epoch), wall)
            for i, cfg in enumerate(configs)]


def _log_buffers(logs: dict, trainer: EnsembleTrainer) -> None:
    dots, squares = trainer.buffer_moments()
    logs["buffer_dot"].append(dots)
    logs["buffer_sq"].append(squares)


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
