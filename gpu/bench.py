"""Throughput of training: model-images per second of the ensemble for several M, and beside it the same M
models trained one at a time with ``torch.optim`` (Nesterov SGD), measured in one run on the same batches.

A "model-image" is one image passed forward and backward through one model with its update applied. The
figures are measurements on the device named in the output; any projection (the time of the paper's grid)
is labelled as one.
"""
from __future__ import annotations

import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from .batches import translate_flip
from .config import TrainConfig
from .presets import PAPER_BASE, PAPER_ETAS, PAPER_LAMS, PAPER_RULES
from .model import ConvNet, flops_per_image
from .optim import torch_optimizer
from .train import EnsembleTrainer, channels_last_for


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _batches(device, batch_size: int, count: int, seed: int = 0) -> list:
    """Synthetic augmented batches resident on the device (throughput does not depend on pixel values)."""
    g = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(batch_size * 2, 3, 32, 32, device=device, generator=g)
    y = torch.randint(0, 10, (batch_size * 2,), device=device, generator=g)
    out = []
    for i in range(count):
        idx = torch.randperm(len(y), generator=g, device=device)[:batch_size]
        out.append((translate_flip(x[idx], g, 4, True), y[idx]))
    return out


def time_ensemble(cfg: TrainConfig, models: int, device, steps: int, warmup: int = 2, amp=None,
                  channels_last: bool | None = None) -> float:
    """Model-images per second of :class:`EnsembleTrainer` steps with ``models`` models."""
    device = torch.device(device)
    configs = [replace(cfg, eta=cfg.eta * (1 + i / 100)) for i in range(models)]
    trainer = EnsembleTrainer(configs, device, amp=amp, channels_last=channels_last)
    batches = _batches(device, cfg.batch_size, warmup + steps)
    for x, y in batches[:warmup]:
        trainer.step(x, y)
    _sync(device)
    start = time.perf_counter()
    for x, y in batches[warmup:]:
        trainer.step(x, y)
    _sync(device)
    return models * cfg.batch_size * steps / (time.perf_counter() - start)


def time_separate(cfg: TrainConfig, models: int, device, steps: int, warmup: int = 2, amp=None) -> float:
    """Model-images per second of ``models`` separate :class:`ConvNet` s with ``torch.optim``, one at a time."""
    device = torch.device(device)
    amp = device.type == "cuda" if amp is None else amp
    nets = [ConvNet(cfg.widths).to(device) for _ in range(models)]
    opts = [torch_optimizer(n, cfg) for n in nets]
    batches = _batches(device, cfg.batch_size, warmup + steps)

    def one_step(x, y):
        for net, opt in zip(nets, opts):
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                loss = F.cross_entropy(net(x).float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    for x, y in batches[:warmup]:
        one_step(x, y)
    _sync(device)
    start = time.perf_counter()
    for x, y in batches[warmup:]:
        one_step(x, y)
    _sync(device)
    return models * cfg.batch_size * steps / (time.perf_counter() - start)


def paper_grid_model_images() -> int:
    """Model-images of the paper's grid: 3 rules x 7 x 7 cells x 100 epochs x 390 steps x 128 images."""
    cells = sum(len(PAPER_ETAS[o]) * len(PAPER_LAMS[o]) for o in PAPER_RULES)
    steps = PAPER_BASE.n_train // PAPER_BASE.batch_size
    return cells * PAPER_BASE.epochs * steps * PAPER_BASE.batch_size


def run_bench(models=(1, 4, 16, 64), device="cpu", steps: int = 10, widths=None, compare: bool = True,
              amp=None, channels_last: bool | None = None, batch_size: int = PAPER_BASE.batch_size) -> dict:
    """Measure the ensemble for each M (and the separate torch.optim models beside it); return a table."""
    cfg = TrainConfig(optimizer="nesterov_torch", eta=0.01, lam=5e-4, widths=widths or PAPER_BASE.widths,
                      batch_size=batch_size)
    device = torch.device(device)
    rows = []
    for m in models:
        row = {"models": m, "ensemble": time_ensemble(cfg, m, device, steps, amp=amp, channels_last=channels_last),
               "channels_last": channels_last_for(device, m, channels_last)}
        if compare:
            row["separate"] = time_separate(cfg, m, device, steps, amp=amp)
            row["per_model_speedup"] = row["ensemble"] / row["separate"]
        rows.append(row)
    best = max(rows, key=lambda r: r["ensemble"])
    grid = paper_grid_model_images()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    flops = 3 * flops_per_image(cfg.widths)       # forward + backward ~ 3x the forward multiply-adds
    return {
        "device": name, "device_type": device.type, "threads": torch.get_num_threads(), "widths": list(cfg.widths),
        "batch_size": cfg.batch_size, "steps": steps, "amp": bool(device.type == "cuda" if amp is None else amp),
        "rows": rows, "best_models": best["models"], "best_rate": best["ensemble"],
        "projection": {
            "label": f"projection from the measured best rate on {name}, not a measurement",
            "paper_grid_model_images": grid,
            "paper_grid_hours_at_best_rate": grid / best["ensemble"] / 3600,
            "rate_needed_for_45_min": grid / (45 * 60),
            "tflops_needed_for_45_min": grid / (45 * 60) * flops / 1e12,
            "flops_per_model_image": flops,
        },
    }
