"""Sweeps over (optimizer, eta, lam): grouping into ensembles, records, resume, and executors.

Layout of a results directory::

    records.jsonl        one JSON line per finished configuration (status "done" or "diverged")
    traj/<key>.npz       its trajectories (per layer: per-filter norms per epoch and per-filter grad_unit_sq,
                         the epoch's mean of (||grad_j L|| ||w_j||)^2; angles, gradient ratios, losses)

A record holds ``key``, ``status``, ``config`` (:meth:`TrainConfig.as_dict`), ``final`` (test error, conv1
norm at the fit epoch and at the end), ``diverged_at`` (``{"step", "epoch"}``, 0-based, or null), ``epochs``
(per-epoch lists: lr, train/test loss and error, and per layer conv1..conv4 the mean filter norm over all and
over the live filters, the number of collapsed filters, and over the live filters the mean angle per step, the
mean ||grad L||/||w|| and the mean grad_unit_sq; non-finite values as the strings 'nan'/'inf'), ``trajectory``
(the .npz path, relative), ``ensemble`` (its size, keys and wall time), ``architecture``, ``convention`` and
``provenance`` (seed, versions, device, host, time).

A configuration whose key (canonical hash of its :class:`TrainConfig`) already has a record is skipped, so a
sweep resumes after a crash without redoing finished work; a group that crashed is redone whole. While a
process trains a configuration it holds ``claims/<key>.claim`` with its host, PID and a heartbeat it renews
(:mod:`normlaws.leases`), so two sweeps pointed at one directory never train the same configuration twice; a
claim whose heartbeat is older than the lease (a process killed on any host) or whose process is gone is
taken over, or, when it was left on finished work (killed between writing records and releasing claims),
cleared at the end of the next run. A record is appended only when its key has none yet. The outcome names
every requested configuration that is neither recorded nor running elsewhere, and why.

Executors: ``inline`` (this process), ``local-gpus`` (one worker process per visible GPU; one CPU process
without GPUs), ``local-cpus`` (one one-thread worker process per CPU core: the CPU preset's default),
``submitit`` (SLURM, or submitit's local executor with ``cluster='local'``).
"""
from __future__ import annotations

import io
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..conventions import run_convention
from ..errors import UsageError, is_environment_error
from ..leases import LEASE_S, Heartbeat, clear_stale_claims, describe, live_claims, release_claim, try_claim
from ..records import append_record, provenance, read_records, write_atomic
from .config import TrainConfig, group_configs

RECORDS = "records.jsonl"
TRAJ_DIR = "traj"
CLAIMS_DIR = "claims"      # <key>.claim while a process trains that configuration
EXECUTORS = ("inline", "local-gpus", "local-cpus", "submitit")
#: torch threads of a CPU ensemble: the CPU preset's ensembles (9 models, 16 x 16 images, widths 4..32) are made of
#: small operations, for which a second thread costs more in synchronisation than it gives; on a loaded 2-core
#: machine one thread trained 50 steps of 9 models in 2.5 s against 17 s with two (``normlaws bench`` compares)
CPU_THREADS = 1
#: ``local-cpus``: one worker process (of one thread) per CPU core, at most this many
MAX_CPU_WORKERS = 8


@dataclass(frozen=True)
class DataSpec:
    """Where the data is and how much of it a group needs (picklable, for worker processes)."""

    root: str | None
    n_train: int
    n_test: int
    download: bool = False
    verify: bool = True       # checksums of the files (False: shapes and dtypes only, for synthetic data)


def finished_keys(out: Path) -> set:
    """Keys of configurations that already have a record in ``out`` (done or diverged)."""
    return {r["key"] for r in read_records(Path(out) / RECORDS) if r.get("status") in ("done", "diverged")}


def pending(configs, out: Path) -> list:
    """The configurations without a record yet, in order, duplicates removed."""
    done, seen, out_list = finished_keys(out), set(), []
    for cfg in configs:
        if cfg.key not in done and cfg.key not in seen:
            seen.add(cfg.key)
            out_list.append(cfg)
    return out_list


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; other names are checked by torch."""
    import torch
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"--device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: no CUDA GPU is visible to torch {torch.__version__}")
    return device


def device_label(device: str) -> str:
    """The device for records: ``cpu``, or ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    import torch
    dev = torch.device(device)
    if dev.type != "cuda":
        return dev.type
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


@lru_cache(maxsize=2)
def _host_data(spec: DataSpec):
    from .data import load_cifar10
    return load_cifar10(spec.root, spec.n_train, spec.n_test, download=spec.download,
                        checksums=None if spec.verify else {})


@lru_cache(maxsize=4)
def device_data(spec: DataSpec, device: str, image_size: int = 32):
    """The data of ``spec`` on ``device`` at ``image_size`` pixels (cached per process: a worker loads it once)."""
    from .batches import DeviceData
    return DeviceData(_host_data(spec), device, image_size)


def _npz_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def write_result(out: Path, result, device: str, group_keys: list) -> dict:
    """Write one run's trajectory (atomically) and then its record (one appended line, unless its key has a
    record already: another process that took over a lapsed claim finished first); return the record."""
    from . import architecture_description
    from .train import final_summary
    cfg = result.config
    traj_rel = f"{TRAJ_DIR}/{cfg.key}.npz"
    write_atomic(Path(out) / traj_rel, _npz_bytes(result.trajectory))
    record = {
        "key": cfg.key,
        "status": result.status,
        "config": cfg.as_dict(),
        "final": final_summary(result),
        "diverged_at": result.diverged_at,
        "epochs": result.epochs,
        "trajectory": traj_rel,
        "ensemble": {"models": len(group_keys), "keys": group_keys, "wall_s": round(result.wall_s, 3)},
        "architecture": architecture_description(cfg.widths, cfg.network, cfg.image_size),
        "convention": run_convention(cfg.optimizer).describe(),
        "provenance": provenance(seed=cfg.seed, convention=run_convention(cfg.optimizer), device=device_label(device)),
    }
    append_record(Path(out) / RECORDS, record, unique_key=True)
    return record


def run_group(configs, spec: DataSpec, out: str, device: str = "auto", amp=None, progress=None,
              lease: float = LEASE_S, on_step=None) -> list:
    """Train one ensemble and write its records; return short summaries (picklable; the workers' entry).

    ``on_step(trainer, stats)``: the per-step hook of :func:`normlaws.gpu.train.train_ensemble`."""
    device = resolve_device(device if device != "worker" else _worker_device())
    configs = [c if isinstance(c, TrainConfig) else TrainConfig.from_dict(c) for c in configs]
    if not pending(configs, Path(out)):
        return []
    with cpu_threads(device):
        return _run_group(configs, spec, out, device, amp, progress, lease, on_step)


@contextmanager
def cpu_threads(device: str):
    """On the CPU, train with :data:`CPU_THREADS` torch threads (restored afterwards); elsewhere nothing."""
    import torch
    before = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(min(CPU_THREADS, before))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_group(configs, spec, out, device, amp, progress, lease, on_step) -> list:
    from .train import final_summary, train_ensemble
    claims = Path(out) / CLAIMS_DIR
    data = device_data(spec, device, configs[0].image_size)   # before claiming: bad data leaves no claims behind
    # another worker may have finished some meanwhile, or be running them now (claimed): skip those
    todo = [c for c in pending(configs, Path(out)) if try_claim(claims, c.key, lease)]
    if not todo:
        return []
    keys = [c.key for c in todo]
    try:
        with Heartbeat(claims, keys, lease):
            results = train_ensemble(todo, data, amp=amp, progress=progress, on_step=on_step)
            for result in results:
                write_result(Path(out), result, device, keys)
    finally:
        for key in keys:
            release_claim(claims, key)
    return [{"key": r.config.key, "optimizer": r.config.optimizer, "eta": r.config.eta, "lam": r.config.lam,
             "status": r.status, **final_summary(r)} for r in results]


# --- executors ---------------------------------------------------------------------------------------

_WORKER_DEVICE = None


def _init_worker(queue) -> None:
    global _WORKER_DEVICE
    _WORKER_DEVICE = queue.get()


def _worker_device() -> str:
    return _WORKER_DEVICE or "auto"


def local_devices(device: str) -> list:
    """One device name per worker: every visible GPU for ``auto``/``cuda``; ``cpu`` once per core (at most
    :data:`MAX_CPU_WORKERS`) for ``cpu-workers`` (the ``local-cpus`` executor); else the one device given."""
    import torch
    if device == "cpu-workers":
        return ["cpu"] * max(1, min(MAX_CPU_WORKERS, os.cpu_count() or 1))
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [resolve_device(device)]


def run_sweep(configs, spec: DataSpec, out, *, executor: str = "inline", device: str = "auto",
              max_models: int = 64, amp=None, progress_factory=None, submitit_options: dict | None = None,
              lease: float = LEASE_S, on_step=None) -> dict:
    """Run every configuration without a record, grouped into ensembles of at most ``max_models``; ``on_step``
    (picklable for the process executors) is every ensemble's per-step hook (:func:`run_group`).

    Returns ``{"skipped": n already recorded, "ran": summaries, "failed": [(keys, error)], "running": {key:
    'host pid, heartbeat'} held by other live processes, "not_run": [(key, why)]}``: every requested
    configuration is recorded, running elsewhere, or named in ``not_run``. A failure of one group is reported
    and the others go on; its configurations stay pending for the next run. A full or read-only disk (and any
    :class:`UsageError`) ends the sweep at once.
    """
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = pending(configs, out)
    skipped = len({c.key for c in configs}) - len(todo)
    groups = group_configs(todo, max_models)
    runner = {"inline": _run_inline, "local-gpus": _run_local, "local-cpus": _run_local,
              "submitit": _run_submitit}[executor]
    if executor == "local-cpus":
        device = "cpu-workers"
    ran, failed = runner(groups, spec, str(out), device, amp, progress_factory,
                         {**(submitit_options or {}), "lease": lease, "on_step": on_step})
    clear_stale_claims(out / CLAIMS_DIR, lease)  # left on finished work by a process killed before releasing them
    running, not_run = unfinished(configs, out, failed, lease)
    return {"skipped": skipped, "ran": ran, "failed": failed, "groups": len(groups), "running": running,
            "not_run": not_run}


def unfinished(configs, out: Path, failed: list, lease: float = LEASE_S) -> tuple:
    """``(running, not_run)``: the requested configurations without a record that another live process holds
    (``{key: holder}``), and the others with the reason they were not run (``[(key, why)]``)."""
    requested = list(dict.fromkeys(c.key for c in configs))
    before = finished_keys(out)
    live = live_claims(Path(out) / CLAIMS_DIR, [k for k in requested if k not in before], lease)
    # the records again, after the claims: another process appends its record before it releases its claim, so
    # one released since the first read has left its record for this one
    recorded = finished_keys(out)
    missing = [key for key in requested if key not in recorded]
    reasons = {key: error for keys, error in failed for key in keys}
    not_run = [(key, reasons.get(key, "claimed by another process that stopped without recording it; run "
                                     "the sweep again to train it")) for key in missing if key not in live]
    return {key: describe(claim) for key, claim in live.items() if key not in recorded}, not_run


def _run_inline(groups, spec, out, device, amp, progress_factory, opts):
    ran, failed = [], []
    steps = sum(g[0].epochs * (g[0].n_train // g[0].batch_size) for g in groups)
    bar = progress_factory(steps, "sweep") if progress_factory else None
    for group in groups:
        try:
            ran += run_group(group, spec, out, device, amp, bar, opts["lease"], opts.get("on_step"))
        except Exception as exc:  # noqa: BLE001 - one failing group must not stop the sweep
            if is_environment_error(exc):
                raise
            failed.append(([c.key for c in group], f"{type(exc).__name__}: {exc}"))
    if bar:
        bar.close()
    return ran, failed


def _gather(outcomes, bar, describe=lambda exc: str(exc)) -> tuple:
    """``(ran, failed)`` from ``(result(), group)`` pairs: a group whose ``result()`` raises is reported with
    ``describe(exc)`` and the others go on; the bar advances by each group's size."""
    ran, failed = [], []
    for result, group in outcomes:
        try:
            ran += result()
        except Exception as exc:  # noqa: BLE001
            if is_environment_error(exc):
                raise
            failed.append(([c.key for c in group], f"{type(exc).__name__}: {describe(exc)}"))
        if bar:
            bar.advance(len(group))
    if bar:
        bar.close()
    return ran, failed


def _collect(futures: dict, bar) -> tuple:
    return _gather(((future.result, futures[future]) for future in as_completed(futures)), bar)


def _run_local(groups, spec, out, device, amp, progress_factory, opts):
    devices = local_devices(device)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    for d in devices:
        queue.put(d)
    bar = progress_factory(sum(len(g) for g in groups), f"sweep on {len(devices)} worker(s)") \
        if progress_factory else None
    with ProcessPoolExecutor(max_workers=len(devices), mp_context=ctx, initializer=_init_worker,
                             initargs=(queue,)) as pool:
        futures = {pool.submit(run_group, [c.as_dict() for c in g], spec, out, "worker", amp, None, opts["lease"],
                               opts.get("on_step")): g for g in groups}
        return _collect(futures, bar)


def _run_submitit(groups, spec, out, device, amp, progress_factory, opts):
    try:
        import submitit
    except ImportError:
        raise UsageError("the submitit executor needs submitit: pip install submitit") from None
    folder = Path(out) / "submitit" / time.strftime("%Y%m%d-%H%M%S")
    cluster = opts.get("cluster")
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    params = {"timeout_min": int(opts.get("timeout_min", 240))}
    if executor.cluster == "slurm":
        params.update(gpus_per_node=1, tasks_per_node=1, cpus_per_task=int(opts.get("cpus_per_task", 4)))
        if opts.get("partition"):
            params["slurm_partition"] = opts["partition"]
    executor.update_parameters(**params)
    if not groups:
        return [], []
    n = len(groups)
    jobs = executor.map_array(run_group, [[c.as_dict() for c in g] for g in groups], [spec] * n, [out] * n,
                              [device] * n, [amp] * n, [None] * n, [opts["lease"]] * n, [opts.get("on_step")] * n)
    bar = progress_factory(sum(len(g) for g in groups), f"sweep via submitit ({executor.cluster})") \
        if progress_factory else None
    last_line = lambda exc: (str(exc).strip().splitlines() or [""])[-1]  # noqa: E731 - submitit wraps tracebacks
    return _gather(((job.result, group) for job, group in zip(jobs, groups)), bar, last_line)
