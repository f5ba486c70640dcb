"""Claims with host, PID and heartbeat: a claim whose heartbeat is older than the lease is taken over whatever
host wrote it, so a grid never silently shrinks; a sweep names what it did not run and exits non-zero."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from normlaws import leases
from normlaws.leases import Heartbeat, claim_state, read_claim, try_claim


def _claim(path, host, pid, age):
    now = time.time()
    path.write_text(json.dumps({"host": host, "pid": pid, "heartbeat": now - age, "started": now - age}))


def test_remote_claim_with_a_fresh_heartbeat_is_respected(tmp_path):
    _claim(tmp_path / "k.claim", "slurm-node-17", 4242, age=5)
    assert not try_claim(tmp_path, "k")


def test_remote_claim_older_than_the_lease_is_taken_over(tmp_path):
    """A process killed on another host (a SLURM node) left it: it must not hold the work forever."""
    _claim(tmp_path / "k.claim", "slurm-node-17", 4242, age=leases.LEASE_S + 1)
    assert try_claim(tmp_path, "k")
    assert read_claim(tmp_path / "k.claim")["pid"] == os.getpid()


def test_live_pid_with_a_stale_heartbeat_is_taken_over(tmp_path):
    """A PID alive for another reason (reused, or our own parent) does not keep a lapsed claim."""
    _claim(tmp_path / "k.claim", socket.gethostname(), os.getppid(), age=leases.LEASE_S + 1)
    assert try_claim(tmp_path, "k")


def test_dead_local_process_is_taken_over_at_once(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _claim(tmp_path / "k.claim", socket.gethostname(), int(dead.stdout), age=0)
    assert try_claim(tmp_path, "k")


def test_old_text_claims_and_damaged_claims_are_judged_by_their_age(tmp_path):
    path = tmp_path / "k.claim"
    path.write_text("another-host 1")                       # the previous format: 'host pid'
    assert claim_state(read_claim(path)) == "live"
    old = time.time() - leases.LEASE_S - 10
    os.utime(path, (old, old))
    assert claim_state(read_claim(path)) == "stale"
    path.write_bytes(b"\x00\xff garbage")
    assert claim_state(read_claim(path)) == "live"          # fresh file: someone may be writing it
    assert try_claim(tmp_path, "k", lease=1e-9) is True


def test_the_lease_is_configurable(tmp_path):
    _claim(tmp_path / "k.claim", "elsewhere", 1, age=30)
    assert not try_claim(tmp_path, "k", lease=60)
    assert try_claim(tmp_path, "k", lease=10)


def test_heartbeat_keeps_a_claim_fresh(tmp_path):
    assert try_claim(tmp_path, "k")
    first = read_claim(tmp_path / "k.claim")["heartbeat"]
    with Heartbeat(tmp_path, ["k"], lease=0.2):
        deadline = time.time() + 10
        while read_claim(tmp_path / "k.claim")["heartbeat"] == first and time.time() < deadline:
            time.sleep(0.01)
    claim = read_claim(tmp_path / "k.claim")
    assert claim["heartbeat"] > first and claim["started"] == pytest.approx(first)


def test_heartbeat_never_takes_back_a_claim_taken_over(tmp_path):
    assert try_claim(tmp_path, "k")
    _claim(tmp_path / "k.claim", "other", 7, age=0)
    leases.refresh_claims(tmp_path, ["k"])
    assert read_claim(tmp_path / "k.claim")["host"] == "other"


# ---- the sweep's summary --------------------------------------------------------------------------------------

torch = pytest.importorskip("torch")


def _argv(data_dir, out):
    return ["sweep", "--optimizers", "nesterov", "--etas", "0.01", "0.05", "--lams", "1e-3", "--epochs", "1",
            "--batch-size", "32", "--widths", "2", "3", "4", "5", "--n-train", "64", "--n-test", "32",
            "--models-per-run", "1", "--data", str(data_dir), "--no-verify", "--device", "cpu", "--out", str(out),
            "--no-progress", "--json"]


def _keys(argv):
    from normlaws.cli import build_parser
    from normlaws.commands.sweep import grid_configs
    return [c.key for c in grid_configs(build_parser().parse_args(argv))[0]]


@pytest.mark.timeout(900)
def test_sweep_lists_work_running_elsewhere_and_takes_over_lapsed_claims(synthetic_cifar, tmp_path):
    out = tmp_path / "out"
    argv = _argv(synthetic_cifar, out)
    (out / "claims").mkdir(parents=True)
    held, lapsed = _keys(argv)
    _claim(out / "claims" / f"{held}.claim", "slurm-node-3", 99, age=2)
    _claim(out / "claims" / f"{lapsed}.claim", "slurm-node-4", 98, age=400)
    done = subprocess.run([sys.executable, "-m", "normlaws.cli", *argv], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert [r["key"] for r in payload["records"]] == [lapsed]          # the lapsed claim was taken over
    assert list(payload["running"]) == [held] and "slurm-node-3" in payload["running"][held]
    assert payload["not_run"] == []


@pytest.mark.timeout(900)
def test_sweep_exits_non_zero_naming_what_it_did_not_run(synthetic_cifar, tmp_path, monkeypatch, capsys):
    """A group that fails leaves its configurations unrecorded: they are named, and the exit code is 1."""
    from normlaws.cli import main
    from normlaws.gpu import train
    out = tmp_path / "out"
    argv = _argv(synthetic_cifar, out)
    real = train.train_ensemble
    first, second = _keys(argv)

    def flaky(configs, *args, **kwargs):
        if configs[0].key == second:
            raise RuntimeError("CUDA out of memory")
        return real(configs, *args, **kwargs)
    monkeypatch.setattr(train, "train_ensemble", flaky)
    assert main(argv) == 1
    payload = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in payload["records"]] == [first]
    assert payload["not_run"] == [{"key": second, "config": "nesterov_torch (standard, seed 0) eta=0.05 lam=0.001",
                                   "why": "RuntimeError: CUDA out of memory"}]


def test_unfinished_names_a_claim_that_vanished_without_a_record(tmp_path):
    from normlaws.gpu import sweep
    from normlaws.gpu.config import TrainConfig
    cfg = TrainConfig(optimizer="nesterov", eta=0.01, lam=1e-3)
    running, not_run = sweep.unfinished([cfg], tmp_path, [])
    assert running == {} and not_run[0][0] == cfg.key and "stopped without recording" in not_run[0][1]


def test_work_finished_elsewhere_between_two_reads_is_not_reported_as_not_run(tmp_path, monkeypatch):
    """Two sweeps on one folder: the other process appends its record and releases its claim while this one
    collects its summary (seen in CI: the second sweep exited 1 naming a configuration the first had just
    finished). The claims are read before the records, so a released claim's record is always seen."""
    from normlaws.gpu import sweep
    from normlaws.gpu.config import TrainConfig
    cfg = TrainConfig(optimizer="sgd", eta=0.1, lam=1e-3)
    reads = iter([set(), {cfg.key}, {cfg.key}, {cfg.key}])           # the record lands after the first read
    monkeypatch.setattr(sweep, "finished_keys", lambda out: next(reads))
    monkeypatch.setattr(sweep, "live_claims", lambda folder, keys, lease: {})   # and the claim is gone
    running, not_run = sweep.unfinished([cfg], tmp_path, [])
    assert running == {} and not_run == []
