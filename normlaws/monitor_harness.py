"""The monitor on the training harness's ensembles (``gpu.train.EnsembleTrainer``, which has no step hooks).

:func:`watch_ensemble` watches every BN-followed conv layer of every model (one entry per model and layer,
``conv1/m0``), wired by wrapping the trainer's optimizer step, with each model's own (eta, lam) and the step's
learning-rate factor. ``normlaws sweep --monitor N`` attaches it to every ensemble it trains
(:class:`SweepMonitor`), ``normlaws monitor --bench`` times it, and the test
``tests/test_monitor_harness.py`` holds its angles and gradient ratios to the harness's own per-step statistics.
"""
from __future__ import annotations

from pathlib import Path

from .monitor import Monitor
from .records import append_record
from .monitor_units import Watch
from .rules import RECORD_ALIASES, canonical


def ensemble_watches(trainer) -> list:
    """One watch per BN-followed conv layer of the ensemble, per channel, with the models on the first axis."""
    return [Watch(f"conv{i + 1}", (f"conv_weights.{i}",), [w], "channel", "per-channel", model_axis=True)
            for i, w in enumerate(trainer.filters)]


def watch_ensemble(trainer, every: int = 10, jsonl=None) -> Monitor:
    """A :class:`~normlaws.monitor.Monitor` of ``trainer``'s filters, recording every ``every`` steps (to ``jsonl``
    if given); the learning rate it predicts with is ``eta * lr_factor`` of the step, per model."""
    cfg, opt = trainer.base, trainer.opt
    factor = {"value": 1.0}

    def hyper(watch):
        return {"eta": (opt.eta * factor["value"]).cpu().numpy(), "lam": opt.lam.cpu().numpy(),
                "rho": float(cfg.momentum or 0.0), "beta1": float(cfg.beta1), "beta2": float(cfg.beta2 or 0.999)}

    monitor = Monitor(trainer.model, opt, rule=canonical(cfg.optimizer, RECORD_ALIASES), every=every,
                      watches=ensemble_watches(trainer), hyper=hyper, attach=False, jsonl=jsonl)
    plain_step = opt.step

    def monitored_step(lr_factor: float = 1.0, *args, **kwargs):
        factor["value"] = float(lr_factor)
        monitor.before_step()
        plain_step(lr_factor, *args, **kwargs)
        monitor.after_step()

    opt.step = monitored_step
    return monitor


class SweepMonitor:
    """The sweep's per-step hook (``gpu.sweep.run_sweep(on_step=...)``; picklable for the process executors): at an
    ensemble's first step it writes ``OUT/monitor/<key of its first configuration>.jsonl``, whose first line names
    the models' configuration keys in order (``m0``, ``m1``, ...), and attaches :func:`watch_ensemble` to it, so
    the monitor's records start at the second step."""

    def __init__(self, out, every: int = 10):
        self.folder, self.every = Path(out) / "monitor", int(every)
        self._watched: set = set()

    def __call__(self, trainer, stats) -> None:
        if id(trainer) in self._watched:
            return
        self._watched.add(id(trainer))
        path = self.folder / f"{trainer.configs[0].key}.jsonl"
        append_record(path, {"models": [c.key for c in trainer.configs], "every": self.every})
        watch_ensemble(trainer, self.every, jsonl=path)
