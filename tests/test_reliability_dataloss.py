"""Nothing written is ever lost: a command that reads a folder never deletes it, and a write that fails (a full
disk) leaves the file as it was, never a torn record or an empty file.

Full disks are simulated here by a failing ``os.write`` / ``os.fsync`` (short writes included); real full
file systems are in tests/test_reliability_disk.py.
"""
import errno
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from normlaws.cli import main
from normlaws.records import append_record, read_records, write_atomic
from reliability_fixtures import sweep_record


def _sweep(folder: Path, n: int = 2) -> list:
    out = []
    for i in range(n):
        record = sweep_record(eta=0.01 * (i + 1))
        append_record(folder / "records.jsonl", record)
        (folder / "traj").mkdir(parents=True, exist_ok=True)
        np.savez(folder / record["trajectory"], conv1_filter_norms=np.ones((4, 2), np.float32))
        out.append(record)
    return out


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


VERIFY = ["verify", "--skip-montecarlo", "--no-pdf", "--claims", "lr.optimal.sgd"]


def test_verify_with_training_records_inside_out_keeps_them(tmp_path, capsys):
    """The natural 'rebuild my report from my earlier training': OUT/results/sweep is used in place."""
    sweep = tmp_path / "out" / "results" / "sweep"
    _sweep(sweep)
    before = _digest(sweep)
    code = main([*VERIFY, "--out", str(tmp_path / "out"), "--training-records", str(sweep)])
    err = capsys.readouterr().err
    assert code in (0, 1) and "Traceback" not in err, err
    assert _digest(sweep) == before, "the records were changed or deleted"


@pytest.mark.parametrize("inside", ["results", "results/sweep/older"])
def test_verify_refuses_records_that_overlap_the_sweep_folder(tmp_path, capsys, inside):
    out = tmp_path / "out"
    source = out / inside
    _sweep(source)
    if inside == "results":
        _sweep(out / "results" / "sweep", 1)
    before = _digest(out)
    assert main([*VERIFY, "--out", str(out), "--training-records", str(source)]) == 2
    err = capsys.readouterr().err.strip()
    assert "inside one another" in err and "\n" not in err
    assert _digest(out) == before


def test_a_failed_copy_leaves_the_previous_sweep_folder(tmp_path, monkeypatch):
    from normlaws.commands.verify import copy_records
    source, sweep = tmp_path / "gpu", tmp_path / "out" / "results" / "sweep"
    _sweep(source, 2)
    _sweep(sweep, 1)
    before = _digest(sweep)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr("shutil.copytree", full)
    with pytest.raises(OSError):
        copy_records(source, sweep)
    assert _digest(sweep) == before
    assert sorted(p.name for p in sweep.parent.iterdir()) == ["sweep"]     # no half copy left beside it


def test_the_copy_replaces_the_sweep_folder_and_leaves_the_source(tmp_path):
    from normlaws.commands.verify import copy_records
    source, sweep = tmp_path / "gpu", tmp_path / "out" / "results" / "sweep"
    _sweep(source, 2)
    _sweep(sweep, 1)
    before = _digest(source)
    copy_records(source, sweep)
    assert _digest(source) == before and _digest(sweep) == before


# ---- appends and atomic files on a full disk ----------------------------------------------------------------

class FullDisk:
    """``os.write`` that accepts ``room`` bytes (a short write) and then fails with ENOSPC."""

    def __init__(self, monkeypatch, room: int):
        self.room, self.real = room, os.write
        monkeypatch.setattr(os, "write", self)

    def __call__(self, fd, data):
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = min(self.room, len(data))
        self.room -= n
        return self.real(fd, bytes(data[:n]))


@pytest.mark.parametrize("room", [0, 1, 40, 10_000])
def test_append_on_a_full_disk_leaves_no_torn_record(tmp_path, monkeypatch, room):
    path = tmp_path / "log.jsonl"
    for i in range(3):
        append_record(path, {"i": i, "pad": "x" * 100})
    before = path.read_bytes()
    FullDisk(monkeypatch, room)
    with pytest.raises(OSError) as caught:
        append_record(path, {"i": 3, "pad": "y" * 20_000})
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    assert path.read_bytes() == before
    assert [r["i"] for r in read_records(path)] == [0, 1, 2]


def test_a_failed_first_append_leaves_no_empty_file(tmp_path, monkeypatch):
    FullDisk(monkeypatch, 0)
    with pytest.raises(OSError):
        append_record(tmp_path / "simulate.jsonl", {"i": 0})
    assert not (tmp_path / "simulate.jsonl").exists()


def test_a_failed_fsync_takes_the_record_back(tmp_path, monkeypatch):
    path = tmp_path / "records.jsonl"
    append_record(path, {"i": 0})
    before = path.read_bytes()

    def fsync(fd):
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError):
        append_record(path, {"i": 1})
    assert path.read_bytes() == before


def test_write_atomic_on_a_full_disk_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "report.tex"
    write_atomic(path, "old")
    FullDisk(monkeypatch, 3)
    with pytest.raises(OSError):
        write_atomic(path, "new content that does not fit")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.tex"]


def test_short_writes_are_completed(tmp_path, monkeypatch):
    """A short write with room left is not an error: the rest is written."""
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data[:7])))
    append_record(tmp_path / "r.jsonl", {"text": "a" * 100})
    monkeypatch.undo()
    assert read_records(tmp_path / "r.jsonl") == [{"text": "a" * 100}]


def test_simulate_results_on_a_full_disk_is_one_line_and_keeps_earlier_records(tmp_path, monkeypatch, capsys):
    argv = ["simulate", "--rule", "sgd", "--eta", "0.1", "--lam", "0.01", "--steps", "100", "--burn", "10",
            "--no-progress", "--results", str(tmp_path)]
    assert main(argv) == 0
    before = (tmp_path / "simulate.jsonl").read_bytes()
    capsys.readouterr()
    FullDisk(monkeypatch, 50)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"normlaws: error: {tmp_path / 'simulate.jsonl'}: No space left on device"
    assert (tmp_path / "simulate.jsonl").read_bytes() == before


def _grid(folder: Path) -> None:
    for eta in (0.01, 0.03, 0.1):
        for lam in (1e-4, 1e-3, 1e-2):
            append_record(folder / "records.jsonl", sweep_record(eta=eta, lam=lam))


def test_figures_on_a_full_disk_leave_no_empty_png(tmp_path, monkeypatch, capsys):
    """matplotlib writes in place; a full disk midway left a 0-byte PNG. Figures are drawn aside now."""
    matplotlib = pytest.importorskip("matplotlib")
    _grid(tmp_path / "sweep")
    assert main(["figures", "--results", str(tmp_path / "sweep"), "--out", str(tmp_path / "ok")]) == 0
    assert list((tmp_path / "ok").glob("*.png"))
    capsys.readouterr()

    def savefig(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"")
        raise OSError(errno.ENOSPC, "No space left on device", str(fname))
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    assert main(["figures", "--results", str(tmp_path / "sweep"), "--out", str(tmp_path / "full")]) == 2
    err = capsys.readouterr().err.strip()
    assert "No space left on device" in err and "\n" not in err and "Traceback" not in err
    assert not [p for p in (tmp_path / "full").rglob("*") if p.is_file()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "ok", "sweep"]   # no drawing folder left
