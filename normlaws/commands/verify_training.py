"""The training leg of ``normlaws verify``: the CPU ``--quick`` sweep (or the paper's grid with ``--full`` on CUDA),
or the records of an earlier sweep (``--training-records``), then the training checks.

The sweep runs as a child process (``normlaws sweep``, its output in ``training.log``) started before the other
stages, so that it trains while the symbolic, property and Monte-Carlo legs run; the checks run when it is done.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from .. import registry, validate
from ..errors import UsageError
from ..records import append_record, read_records
from . import verify_jobs as jobs
from .verify_stages import Stage, leg_record, run_check, tally
from .verify_summary import FAILED, SKIPPED
from ..reports.evidence import SWEEP
from ..reports.evidence import TRAINING

LOG_FILE = "training.log"


def unavailable(args) -> str:
    """Why the training leg cannot run here ('' when it can)."""
    if args.skip_training:
        return "left out with --skip-training"
    if getattr(args, "training_records", None):
        return ""
    try:
        import torch  # noqa: F401 - a broken or missing install must skip the leg, not crash it
    except ImportError:
        return "torch is not installed (pip install 'normlaws[torch]')"
    from ..gpu.data import BATCHES_DIR, TRAIN_SHARDS, default_data_dir
    data = default_data_dir()
    if not ((data / TRAIN_SHARDS[0]).exists() or (data / BATCHES_DIR).is_dir() or (data / "data_batch_1").exists()):
        return f"CIFAR-10 not found in {data} (set NORMLAWS_DATA, or run 'normlaws sweep --download')"
    return ""


def sweep_argv(args, sweep_dir: Path) -> list[str]:
    """The ``normlaws sweep`` command line of the training leg: --quick unless --full on CUDA."""
    argv = ["sweep", "--out", str(sweep_dir), "--device", args.device]
    return argv if (args.full and args.device == "cuda") else argv + ["--quick"]


def check_records_source(source: Path, sweep_dir: Path) -> bool:
    """Whether ``source`` must be copied to ``sweep_dir`` (False: it is that folder); one line when the two lie
    inside one another or a record of ``source`` is not valid."""
    read_records(Path(source) / "records.jsonl")
    if Path(sweep_dir).exists() and Path(source).resolve() == Path(sweep_dir).resolve():
        return False
    if validate.overlaps(source, sweep_dir):
        raise UsageError(f"--training-records {source} and {sweep_dir} lie inside one another; pass a folder "
                         "outside OUT/results/sweep, or that folder itself")
    return True


def copy_records(source: Path, sweep_dir: Path) -> None:
    """Replace the sweep folder's records and trajectories with those of ``source`` (records.jsonl, traj/).

    ``source`` is never changed: when it is ``sweep_dir`` itself nothing is copied; when one lies inside the
    other, one line (exit 2). The records are checked (schema) first, the copy is made beside ``sweep_dir`` and
    swapped in by renames, so a failure (a full disk) leaves the previous folder as it was.
    """
    source, sweep_dir = Path(source), Path(sweep_dir)
    if not check_records_source(source, sweep_dir):
        return
    sweep_dir.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=".sweep.", dir=sweep_dir.parent))
    old = fresh.with_name(fresh.name + ".old")
    try:
        shutil.copy2(source / "records.jsonl", fresh / "records.jsonl")
        if (source / "traj").is_dir():
            shutil.copytree(source / "traj", fresh / "traj", symlinks=True)
        if sweep_dir.exists():
            os.rename(sweep_dir, old)
        try:
            os.rename(fresh, sweep_dir)
        except OSError:
            if old.exists():
                os.rename(old, sweep_dir)
            raise
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def sweep_command(args, sweep_dir: Path) -> list:
    """The child process of the training leg: ``normlaws sweep`` with :func:`sweep_argv`, no progress bar."""
    return [sys.executable, "-m", "normlaws", *sweep_argv(args, sweep_dir), "--no-progress"]


def start(args, results_dir: Path):
    """Begin the training leg: start the sweep in the background (a :class:`~verify_jobs.Job`), or copy the given
    records (``"records"``), or say why the leg cannot run (a string)."""
    why = unavailable(args)
    if why:
        return why
    sweep_dir = Path(results_dir) / SWEEP
    if getattr(args, "training_records", None):
        copy_records(Path(args.training_records), sweep_dir)
        return "records"
    return jobs.start("training", sweep_command(args, sweep_dir), Path(results_dir) / LOG_FILE)


def stage(job, claims, args, results_dir: Path, run_id: str) -> Stage:
    """Wait for the sweep (when one runs), then run each training check of the selected claims on its records."""
    if isinstance(job, str) and job != "records":
        return Stage("training", SKIPPED, detail=job)
    sweep_dir = Path(results_dir) / SWEEP
    stage = Stage("training")
    if isinstance(job, jobs.Job):
        done = jobs.finish(job)
        stage.seconds, stage.cpu_seconds = done.seconds, done.cpu_seconds
        if done.code != 0:
            how = "was stopped" if done.timed_out else f"exited with {done.code}"
            stage.status, stage.detail = FAILED, f"'{' '.join(job.argv[1:])}' {how}: {jobs.last_line(job.log)}"
            stage.failures.append(stage.detail)
            return stage
    source = getattr(args, "training_records", None)
    checks = {k: v for k, v in registry.leg_checks("training").items() if k in {c.id for c in claims}}
    results = {}
    for claim_id, check in checks.items():
        results[claim_id] = run_check(check, sweep_dir)
        append_record(Path(results_dir) / TRAINING, leg_record(
            "training", claim_id, results[claim_id], run_id, results_dir=str(sweep_dir), device=args.device,
            records_from=str(source) if source else None))
    tally(stage, results)
    if not checks:
        stage.detail = "sweep done; no training check for the selected claims"
    return stage

