"""``normlaws monitor --bench``: what a :class:`~normlaws.monitor.Monitor` costs per training step.

Three loops, each timed in paired blocks of ``block`` steps with the monitor attached and detached in turn (the
order alternating). The overhead reported is the process CPU time spent inside the monitor's hooks per step over the
CPU time of a step without it: CPU time, unlike wall-clock time, barely moves when other jobs load the machine (on the
shared 2-core development machine the wall-clock ratio of paired blocks ranged over -25 % .. +270 % between pairs).
The wall-clock and CPU-time ratios of the paired blocks (medians over the pairs) are reported beside it:

* ``plain``: a plain torch loop, an MLP with BatchNorm (784-512-512-512-10), batch 256, ``torch.optim.AdamW``;
* ``harness``: the training harness's Section 6 ConvNet (``normlaws.gpu.model.ConvNet``, widths 32-64-128-256) with
  its ``torch.optim`` optimizer (``gpu.optim.torch_optimizer``: Nesterov, decay on the convolutions and the head),
  CIFAR-shaped batches of 128;
* ``ensemble``: the harness's own ``EnsembleTrainer`` (``models`` networks in one module, per-model eta and lam)
  with the monitor's model-axis watches on its four BN-followed convolutions, per filter, driven through
  ``before_step``/``after_step`` around the ensemble optimizer's step (it has no step hooks).

The batches are random (the cost does not depend on pixel values); the audit of the first two runs before timing.
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np

from .monitor import Monitor
from .monitor_harness import watch_ensemble


def _sync(device) -> None:
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _plain(torch, device):
    layers, width = [], 784
    for _ in range(3):
        layers += [torch.nn.Linear(width, 512, bias=False), torch.nn.BatchNorm1d(512), torch.nn.ReLU()]
        width = 512
    model = torch.nn.Sequential(*layers, torch.nn.Linear(512, 10)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    x, y = torch.randn(256, 784, device=device), torch.randint(0, 10, (256,), device=device)
    return model, opt, x, y, "MLP 784-512x3-10 + BatchNorm, AdamW, batch 256"


def _harness(torch, device):
    from .gpu.config import TrainConfig
    from .gpu.model import ConvNet
    from .gpu.optim import torch_optimizer
    cfg = TrainConfig(optimizer="nesterov", eta=0.1, lam=5e-4)
    model = ConvNet(cfg.widths).to(device)
    x = torch.randn(cfg.batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (cfg.batch_size,), device=device)
    return model, torch_optimizer(model, cfg), x, y, "gpu ConvNet 32-64-128-256, torch.optim Nesterov, batch 128"


def _torch_loop(model, opt, x, y):
    import torch.nn.functional as F

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def _ensemble(torch, device, models: int, every: int):
    """The harness's EnsembleTrainer with a monitor on its filters (``monitor_harness.watch_ensemble``)."""
    from dataclasses import replace

    from .gpu.config import TrainConfig
    from .gpu.train import EnsembleTrainer
    cfg = TrainConfig(optimizer="nesterov_torch", eta=0.1, lam=5e-4)
    trainer = EnsembleTrainer([replace(cfg, eta=cfg.eta * 2 ** (i / 2)) for i in range(models)], device)
    plain_step = trainer.opt.step
    monitor = watch_ensemble(trainer, every)
    monitored_step = trainer.opt.step
    x = torch.randn(cfg.batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (cfg.batch_size,), device=device)

    def switch(on: bool):
        trainer.opt.step = monitored_step if on else plain_step
    return (lambda: trainer.step(x, y)), switch, monitor, f"gpu EnsembleTrainer, {models} models, batch 128"


def _time(step, steps: int, device) -> tuple[float, float]:
    """Wall-clock and process CPU seconds per step over ``steps`` steps."""
    _sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


class _Stopwatch:
    """Process CPU time spent inside the monitor's ``before_step``/``after_step`` (wraps them on the instance)."""

    def __init__(self, monitor):
        self.seconds, self.records = 0.0, 0
        for name in ("before_step", "after_step"):
            setattr(monitor, name, self._timed(getattr(monitor, name), name == "after_step"))

    def _timed(self, method, counts):
        def run(*args, **kwargs):
            start = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - start
                self.records += counts
        return run


def measure(step, switch, device, block: int, pairs: int, watch: _Stopwatch) -> dict:
    """Paired blocks with and without the monitor, in alternating order: wall and CPU time per step; and the CPU time
    spent inside the monitor itself. Two steps with the monitor recording first, so that one-time costs (the
    theory's formulas compiled) are not timed."""
    switch(True)
    step()
    step()
    switch(False)
    watch.seconds, watch.records, monitored_steps = 0.0, 0, 0
    times = {False: [], True: []}
    for i in range(pairs):
        for on in ((False, True) if i % 2 == 0 else (True, False)):
            switch(on)
            times[on].append(_time(step, block, device))
            monitored_steps += block if on else 0
        switch(False)
    wall = {on: [t[0] for t in times[on]] for on in times}
    cpu = {on: [t[1] for t in times[on]] for on in times}
    inside = watch.seconds / monitored_steps
    return {"step_ms": 1e3 * statistics.median(wall[False]), "step_ms_monitored": 1e3 * statistics.median(wall[True]),
            "wall_overhead": statistics.median(b / a - 1 for a, b in zip(wall[False], wall[True])),
            "cpu_step_ms": 1e3 * statistics.median(cpu[False]),
            "cpu_overhead": statistics.median(b / a - 1 for a, b in zip(cpu[False], cpu[True])),
            "monitor_cpu_ms_per_step": 1e3 * inside, "overhead": inside / statistics.median(cpu[False]),
            "records": watch.records}


def run_bench(cases=("plain", "harness", "ensemble"), device: str = "cpu", every: int = 10, block: int = 10,
              pairs: int = 3, models: int = 2, threads: int | None = None) -> dict:
    """Time each case; rows with the step time without and with the monitor and the overhead."""
    import torch
    dev = torch.device(device)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    rows = []
    for case in cases:
        if case == "ensemble":
            step, switch, monitor, what = _ensemble(torch, dev, models, every)
        else:
            model, opt, x, y, what = (_plain if case == "plain" else _harness)(torch, dev)
            monitor = Monitor(model, opt, x[:8].detach().cpu(), every=every, attach=False)
            step = _torch_loop(model, opt, x, y)
            switch = (lambda m: lambda on: m.attach() if on and not m._handles else (m.detach() if not on else None)
                      )(monitor)
        watch = _Stopwatch(monitor)
        row = {"case": case, "what": what, "watches": len(monitor.watches),
               "units": int(sum(w.units for w in monitor.watches)), **measure(step, switch, dev, block, pairs, watch)}
        row["record_ms"] = row["monitor_cpu_ms_per_step"] * every
        rows.append(row)
    return {"rows": rows, "device": str(dev), "every": every, "block": block, "pairs": pairs,
            "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
            "torch": torch.__version__, "median_overhead": float(np.median([r["overhead"] for r in rows]))}
