"""Crash safety and concurrency of sweeps, with real processes: SIGKILL at several points, two writers at once.

Each sweep runs as ``normlaws sweep`` in a subprocess on tiny synthetic data (one configuration per ensemble, so
records appear one at a time). A killed sweep is resumed with the same command; the end result must equal an
uninterrupted run: no finished configuration lost, none duplicated, the same numbers bit for bit (CPU, one
thread, fixed seed).
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from normlaws.records import read_records  # noqa: E402

ETAS, LAMS = ("0.01", "0.05", "0.1"), ("1e-4", "1e-2")
N_CONFIGS = len(ETAS) * len(LAMS)
DETERMINISTIC = ("key", "status", "final", "epochs", "diverged_at")


@pytest.fixture(scope="module")
def data_dir(synthetic_cifar):
    root = synthetic_cifar
    return root


def _command(data_dir, out):
    return [sys.executable, "-m", "normlaws.cli", "sweep", "--optimizers", "nesterov", "--etas", *ETAS,
            "--lams", *LAMS, "--epochs", "2", "--milestones", "1", "--batch-size", "32", "--widths", "2", "3",
            "4", "5", "--n-train", "64", "--n-test", "32", "--translate", "2", "--models-per-run", "1",
            "--data", str(data_dir), "--no-verify", "--device", "cpu", "--out", str(out), "--no-progress"]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _start(data_dir, out):
    return subprocess.Popen(_command(data_dir, out), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _records(out):
    return read_records(Path(out) / "records.jsonl")


def _deterministic(records):
    return sorted(({k: r[k] for k in DETERMINISTIC} for r in records), key=lambda r: r["key"])


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    proc = _start(data_dir, out)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()
    records = _records(out)
    assert len(records) == N_CONFIGS
    return _deterministic(records)


def _kill_after(proc, out, n_records, timeout=300):
    """SIGKILL ``proc`` as soon as ``out`` holds ``n_records`` records (0: as soon as it has started work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        have = len(_records(out)) if (Path(out) / "records.jsonl").exists() else 0
        started = (Path(out) / "claims").exists()
        if have >= n_records and (n_records or started):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return have
        time.sleep(0.02)
    pytest.fail("the sweep finished before the kill point")


KILL_POINTS = [0, 2, 4]


@pytest.mark.timeout(900)
def test_sigkill_at_several_points_then_resume_equals_uninterrupted_run(data_dir, reference, tmp_path):
    for point in KILL_POINTS:
        out = tmp_path / f"killed_at_{point}"
        had = _kill_after(_start(data_dir, out), out, point)
        kept = _records(out)
        assert len(kept) >= had                      # nothing written before the kill is lost
        resumed = _start(data_dir, out)
        assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()
        final = _records(out)
        keys = [r["key"] for r in final]
        assert len(keys) == len(set(keys)) == N_CONFIGS, f"kill at {point}: lost or duplicated configurations"
        assert _deterministic(final) == reference, f"kill at {point}: records differ from an uninterrupted run"
        assert not list((out / "claims").glob("*.claim")), "claims left behind after a clean finish"


@pytest.mark.timeout(900)
def test_two_sweeps_on_one_directory_never_run_a_configuration_twice(data_dir, reference, tmp_path):
    out = tmp_path / "shared"
    first, second = _start(data_dir, out), _start(data_dir, out)
    assert first.wait(timeout=600) == 0 and second.wait(timeout=600) == 0
    final = _records(out)
    keys = [r["key"] for r in final]
    assert len(keys) == len(set(keys)) == N_CONFIGS
    assert _deterministic(final) == reference


RANDOM_KILLS = 20


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_sigkill_at_random_moments_then_resume_loses_nothing(data_dir, reference, tmp_path):
    """RANDOM_KILLS sweeps killed after a random delay (during start-up, training, a trajectory write, an append
    or a heartbeat), each resumed at once: the final records equal the uninterrupted run's."""
    import random
    rng = random.Random(16)
    out = tmp_path / "killed"
    kills = 0
    while kills < RANDOM_KILLS:
        proc = _start(data_dir, out)
        time.sleep(rng.uniform(0.0, 6.0))
        if proc.poll() is not None:                 # finished before the kill: start over in a fresh folder
            assert proc.returncode == 0, proc.stderr.read().decode()
            assert _deterministic(_records(out)) == reference
            out = tmp_path / f"killed_{kills}"
            continue
        kept = len(_records(out)) if (out / "records.jsonl").exists() else 0
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        assert len(_records(out)) >= kept
    resumed = _start(data_dir, out)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()
    final = _records(out)
    assert len({r["key"] for r in final}) == len(final) == N_CONFIGS
    assert _deterministic(final) == reference
