"""``normlaws audit --bench``: the audit's time, peak memory and cost in forward+backward passes, per architecture.

Each architecture of :data:`normlaws.archs.REAL` (built in code at its real width, 1000 classes) is audited in a
fresh process, so that one model's memory does not count against the next. Timed: the audit itself, after the
start-up (imports, the theory's lambdified formulas, building the model), which is reported separately. The
unit of cost is one float64 forward and backward pass of the same model on the same input, in train mode, the
median of five after one warm-up, at the same number of torch threads as the audit.
"""
from __future__ import annotations

import multiprocessing
import resource
import time

import numpy as np

from .audit import audit, warm_up

DEFAULT_SHAPE = (2, 3, 64, 64)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def forward_backward_seconds(torch, model, x, repeats: int = 5) -> float:
    """Median seconds of one float64 train-mode forward and backward pass (a sum of the outputs as the loss)."""
    import copy
    m = copy.deepcopy(model).double().train()
    times = []
    for _ in range(repeats + 1):
        m.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        m(x).sum().backward()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]))


def bench_one(name: str, threads: int, shape=DEFAULT_SHAPE, seed: int = 0) -> dict:
    """Audit one architecture in this process; returns times, peak memory and the cost ratio."""
    t_start = time.perf_counter()
    import torch

    from . import archs
    torch.set_num_threads(threads)                # for the baseline; the audit is given the same number
    warm_up()
    torch.manual_seed(seed)
    model = archs.REAL[name]()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    startup = time.perf_counter() - t_start
    fb = forward_backward_seconds(torch, model, x)
    before = _peak_mb()
    t0 = time.perf_counter()
    report = audit(model, x, threads=threads)
    seconds = time.perf_counter() - t0
    joint = [g for g in report.invariant_groups]
    return {"model": name, "threads": threads, "input_shape": list(shape),
            "parameters": sum(p.numel() for p in model.parameters()), "tensors": len(report.parameters),
            "startup_s": startup, "forward_backward_s": fb, "audit_s": seconds, "ratio": seconds / fb,
            "peak_rss_mb": _peak_mb(), "rss_before_audit_mb": before,
            "invariant_tensors": sum(p.invariant for p in report.parameters),
            "groups": len(joint), "largest_group": max((len(g.members) for g in joint), default=0)}


def run_bench(names, threads: int, shape=DEFAULT_SHAPE, seed: int = 0) -> list:
    """:func:`bench_one` for each name, each in a fresh (spawned) process."""
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for name in names:
        with ctx.Pool(1) as pool:
            rows.append(pool.apply(bench_one, (name, threads, tuple(shape), seed)))
    return rows
