"""Reliability of result records: atomic appends, torn lines, concurrent writers, provenance."""
import json
import multiprocessing as mp
import os
import warnings

import pytest

from normlaws import records
from normlaws.errors import UsageError


def test_append_and_read_back(tmp_path):
    path = tmp_path / "r.jsonl"
    for i in range(5):
        records.append_record(path, {"i": i, "x": float("nan") if i == 3 else i / 2})
    rows = records.read_records(path)
    assert [r["i"] for r in rows] == list(range(5))
    assert rows[3]["x"] == "nan"  # non-finite floats are stored as strings: the file stays standard JSON


def test_torn_last_line_is_dropped_with_a_warning_and_repaired_on_next_append(tmp_path):
    path = tmp_path / "r.jsonl"
    records.append_record(path, {"i": 0})
    with open(path, "ab") as handle:          # a crash in the middle of a write
        handle.write(b'{"i": 1, "x"')
    with pytest.warns(UserWarning, match="dropped"):
        assert [r["i"] for r in records.read_records(path)] == [0]
    with pytest.warns(UserWarning, match="torn"):
        records.append_record(path, {"i": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [r["i"] for r in records.read_records(path)] == [0, 2]


def test_corrupt_middle_line_is_one_error_naming_the_line_not_dropped(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"i": 0}\n{not json}\n{"i": 2}\n')
    with pytest.raises(UsageError, match=r"r\.jsonl:2: not a JSON record"):
        records.read_records(path)


def _writer(path, tag, n):
    for i in range(n):
        records.append_record(path, {"tag": tag, "i": i, "pad": "x" * 5000})


def test_two_processes_appending_never_interleave(tmp_path):
    path = tmp_path / "r.jsonl"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, tag, 200)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 400
    rows = [json.loads(line) for line in lines]       # every line is a whole record
    for tag in ("a", "b"):
        assert [r["i"] for r in rows if r["tag"] == tag] == list(range(200))


def test_write_atomic_leaves_old_content_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    records.write_atomic(path, "old")

    def boom(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        records.write_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temporary left behind


def test_provenance_names_seed_versions_convention_and_device():
    from normlaws.conventions import CANONICAL
    prov = records.provenance(seed=7, convention=CANONICAL, device="cpu")
    assert prov["seed"] == 7 and prov["device"] == "cpu"
    assert prov["convention"]["penalty"] == "lambda_sq"
    assert {"python", "numpy", "sympy"} <= set(prov["libraries"])


def test_clear_stale_claims_removes_only_dead_holders(tmp_path):
    import socket
    import subprocess
    import sys
    from normlaws.leases import clear_stale_claims, try_claim
    assert try_claim(tmp_path, "mine")                              # held by this (live) process
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "gone.claim").write_text(f"{socket.gethostname()} {dead.stdout.strip()}")
    (tmp_path / "remote.claim").write_text("another-host 1")       # other hosts: alive while the file is fresh
    assert clear_stale_claims(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.glob("*.claim")) == ["mine.claim", "remote.claim"]


def test_provenance_records_the_thread_count(monkeypatch):
    """Reductions split over threads round differently (results move at ~1e-7): the count is part of how a
    record was made."""
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    threads = records.provenance(seed=0)["threads"]
    assert threads["torch"] == torch.get_num_threads() and threads["OMP_NUM_THREADS"] == "3"
    assert threads["cpus"] == os.cpu_count()


def test_sweep_records_carry_the_thread_count(tmp_path):
    pytest.importorskip("torch")
    from normlaws.gpu.config import TrainConfig
    from normlaws.gpu.sweep import DataSpec, run_sweep
    from normlaws.records import read_records
    import numpy as np
    rng = np.random.default_rng(0)
    for name, n in (("train_0.npz", 64), ("test.npz", 32)):
        np.savez(tmp_path / name, x=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                 y=rng.integers(0, 10, n).astype(np.uint8))
    cfg = TrainConfig(epochs=1, milestones=(), widths=(2, 3, 4, 5), n_train=64, n_test=32, batch_size=32)
    run_sweep([cfg], DataSpec(str(tmp_path), 64, 32, verify=False), tmp_path / "out", device="cpu")
    assert read_records(tmp_path / "out" / "records.jsonl")[0]["provenance"]["threads"]["torch"] >= 1


@pytest.mark.parametrize("name", ["normlaws.errors", "normlaws.commands.train", "normlaws.validate"])
def test_doctests_of_the_reliability_modules(name):
    import doctest
    import importlib
    failures, tried = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried and failures == 0


def test_a_key_is_recorded_once(tmp_path):
    """A process whose claim lapsed and was taken over may finish second: its record is not appended again."""
    path = tmp_path / "records.jsonl"
    record = {"key": "0123456789abcdef", "x": 1}
    assert records.append_record(path, record, unique_key=True)
    assert not records.append_record(path, {**record, "x": 2}, unique_key=True)
    assert path.read_text().count("\n") == 1 and '"x": 1' in path.read_text()
