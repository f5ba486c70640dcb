"""A full disk, a read-only folder, a full or closed standard output: one line, exit code 2, nothing lost.

Real file systems where the machine allows it: a tiny ``tmpfs`` filled to the last byte, and a read-only bind
mount, each in a private mount namespace (``unshare``; skipped with the reason when it is not available). A
file-size limit (``RLIMIT_FSIZE``: writes fail with EFBIG) runs everywhere.
"""
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from normlaws.records import append_record
from reliability_fixtures import grid_record, leg_record, run_record, sweep_record

CLI = [sys.executable, "-m", "normlaws.cli"]
#: standard output buffered as it is by default (PYTHONUNBUFFERED would hide a failure left for the exit)
BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def _one_line(done, code=2):
    """The error is one line (after verify's progress lines, which start with '[n/4]'), with no traceback."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert lines and "Traceback" not in done.stderr, done.stderr
    assert all(line.startswith("[") for line in lines[:-1]), done.stderr
    return lines[-1]


# ---- standard output ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["claims", "--json"], ["claims", "--json", "--filter", "table1.sgd.norm"]],
                         ids=["large", "small (left in the buffer until exit)"])
def test_json_to_a_full_stdout_is_one_line(argv):
    with open("/dev/full", "w") as full:
        done = subprocess.run([*CLI, *argv], stdout=full, stderr=subprocess.PIPE, text=True, timeout=300,
                              env=BUFFERED)
    assert "No space left on device" in _one_line(done)


def test_closed_stdout_is_one_line():
    done = subprocess.run([*CLI, "claims", "--json"], stderr=subprocess.PIPE, text=True, timeout=300,
                          preexec_fn=lambda: os.close(1))
    assert "standard output is closed" in _one_line(done)


def test_a_reader_that_goes_away_is_not_an_error():
    proc = subprocess.Popen([*CLI, "claims", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()
    assert proc.wait(timeout=300) == 0
    assert b"Traceback" not in proc.stderr.read()


# ---- a seed folder with results of every kind -----------------------------------------------------------------

PAGE = 4096


def _append_to_page_end(path: Path, record: dict) -> None:
    """Append ``record`` padded so that the file ends on a page boundary: on a full tmpfs the next append then
    needs a new page (a partly filled last page would take a small record without any new space)."""
    append_record(path, {**record, "pad": ""})
    size = path.stat().st_size
    path.unlink()
    append_record(path, {**record, "pad": "x" * (-size % PAGE)})
    assert path.stat().st_size % PAGE == 0


@pytest.fixture
def seed(tmp_path):
    """``res/`` (simulate and verify results), ``sweep/`` (records and trajectories): data to keep intact."""
    root = tmp_path / "seed"
    _append_to_page_end(root / "res" / "simulate.jsonl", {"kind": "point", "result": {"x": 1}})
    for name, record in (("montecarlo.jsonl", leg_record()), ("exponents.jsonl", grid_record()),
                         ("runs.jsonl", run_record())):
        _append_to_page_end(root / "v" / "results" / name, record)
    for eta in (0.01, 0.03, 0.1):
        for lam in (1e-4, 1e-3, 1e-2):
            record = sweep_record(eta=eta, lam=lam)
            append_record(root / "sweep" / "records.jsonl", record)
            (root / "sweep" / "traj").mkdir(exist_ok=True)
            np.savez(root / "sweep" / record["trajectory"], conv1_filter_norms=np.ones((4, 2), np.float32))
    return root


def _contents(root: Path) -> dict:
    """Every file's hash, lock files and the filler aside."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock") and p.name != ".filler"}


# ---- a real full disk: a filled tmpfs in a private mount namespace ------------------------------------------

FULL_DISK = r"""
set -e
mount -t tmpfs -o size=4m tmpfs "$DISK"
cp -a "$SEED/." "$DISK/"
dd if=/dev/zero of="$DISK/.filler" bs=4k >/dev/null 2>&1 || true
cd "$DISK"
set +e
"$@" >"$OUT/stdout" 2>"$OUT/stderr"
echo $? >"$OUT/rc"
rm -f "$DISK/.filler"
mkdir -p "$OUT/after" && cp -a "$DISK/." "$OUT/after/"
"""
STDOUT_ON_FULL_DISK = FULL_DISK.replace('>"$OUT/stdout"', '>"$DISK/stdout.txt"')
READ_ONLY = r"""
set -e
mount --bind "$DISK" "$DISK"
mount -o remount,bind,ro "$DISK"
cd "$DISK"
set +e
"$@" >"$OUT/stdout" 2>"$OUT/stderr"
echo $? >"$OUT/rc"
"""


def _namespaces_work() -> str:
    if shutil.which("unshare") is None:
        return "no unshare"
    done = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    return "" if done.returncode == 0 else f"unshare/mount not allowed here: {done.stderr.decode().strip()}"


NO_NAMESPACES = _namespaces_work()


def in_namespace(script: str, disk: Path, seed: Path, out: Path, argv: list):
    """Run ``argv`` (in ``disk``, as the cwd) with ``script``'s mounts; what it left is copied to ``out/after``."""
    out.mkdir(parents=True, exist_ok=True)
    disk.mkdir(parents=True, exist_ok=True)
    env = {**BUFFERED, "DISK": str(disk), "SEED": str(seed), "OUT": str(out), "OMP_NUM_THREADS": "1"}
    subprocess.run(["unshare", "-rm", "bash", "-c", script, "script", *argv], env=env, timeout=900, check=True)
    return subprocess.CompletedProcess(argv, int((out / "rc").read_text()), (out / "stdout").read_text(),
                                       (out / "stderr").read_text())


FULL_CASES = {
    "simulate --results": ["simulate", "--rule", "sgd", "--eta", "0.1", "--lam", "0.01", "--steps", "100",
                           "--burn", "10", "--no-progress", "--results", "res"],
    "figures": ["figures", "--results", "sweep", "--out", "figs"],
    "report": ["report", "--out", "v", "--no-pdf", "--claims", "table1.sgd.norm"],
    "report into a new folder": ["report", "--out", "new", "--results", "v/results", "--no-pdf", "--claims",
                                 "table1.sgd.norm"],
    "verify": ["verify", "--out", "v", "--skip-montecarlo", "--skip-training", "--no-pdf", "--claims",
               "table1.sgd.norm"],
    "verify --training-records": ["verify", "--out", "v", "--training-records", "sweep", "--skip-montecarlo",
                                  "--no-pdf", "--claims", "lr.optimal.sgd"],
}


@pytest.mark.skipif(bool(NO_NAMESPACES), reason=NO_NAMESPACES or "-")
@pytest.mark.timeout(900)
@pytest.mark.parametrize("case", FULL_CASES, ids=list(FULL_CASES))
def test_full_disk_is_one_line_and_loses_nothing(case, seed, tmp_path):
    done = in_namespace(FULL_DISK, tmp_path / "disk", seed, tmp_path / "out", [*CLI, *FULL_CASES[case]])
    assert "No space left on device" in _one_line(done)
    after = _contents(tmp_path / "out" / "after")
    assert after == _contents(seed), f"{case}: files changed or partial files left: " \
                                     f"{sorted(set(after) ^ set(_contents(seed)))}"


@pytest.mark.skipif(bool(NO_NAMESPACES), reason=NO_NAMESPACES or "-")
def test_stdout_into_a_file_on_a_full_disk_is_one_line(seed, tmp_path):
    """A short output stays in the buffer until the end: it is flushed inside the command, not at exit."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stdout").write_text("")
    done = in_namespace(STDOUT_ON_FULL_DISK, tmp_path / "disk", seed, tmp_path / "out",
                        [*CLI, "claims", "--json", "--filter", "table1.sgd.norm"])
    assert "cannot write to standard output: No space left on device" in _one_line(done)


@pytest.mark.skipif(bool(NO_NAMESPACES), reason=NO_NAMESPACES or "-")
@pytest.mark.timeout(900)
def test_sweep_on_a_full_disk_stops_with_one_line_and_resumes(seed, tmp_path, synthetic_cifar):
    pytest.importorskip("torch")
    argv = [*CLI, "sweep", "--optimizers", "nesterov", "--etas", "0.02", "--lams", "1e-3", "--epochs", "1",
            "--batch-size", "32", "--widths", "2", "3", "4", "5", "--n-train", "64", "--n-test", "32", "--data",
            str(synthetic_cifar), "--no-verify", "--device", "cpu", "--out", "sweep", "--no-progress"]
    done = in_namespace(FULL_DISK, tmp_path / "disk", seed, tmp_path / "out", argv)
    assert "No space left on device" in _one_line(done)
    after = tmp_path / "out" / "after"
    assert _contents(after) == _contents(seed)
    assert not list((after / "sweep" / "claims").glob("*.claim"))
    resumed = subprocess.run(argv, cwd=after, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    assert len((after / "sweep" / "records.jsonl").read_text().splitlines()) == 10


@pytest.mark.skipif(bool(NO_NAMESPACES), reason=NO_NAMESPACES or "-")
@pytest.mark.parametrize("command", [["report", "--no-pdf", "--claims", "table1.sgd.norm"],
                                     ["verify", "--no-pdf", "--skip-montecarlo", "--skip-training", "--claims",
                                      "table1.sgd.norm"],
                                     ["simulate", "--rule", "sgd", "--eta", "0.1", "--lam", "0.01", "--results",
                                      "here"]])
def test_read_only_working_folder_is_one_line(command, seed, tmp_path):
    done = in_namespace(READ_ONLY, seed, seed, tmp_path / "out", [*CLI, *command])
    assert "read-only" in _one_line(done)


# ---- a file-size limit: writes fail with EFBIG (runs without namespaces) ------------------------------------

def _limited(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("case", ["simulate --results", "figures", "report"])
def test_file_size_limit_is_one_line_and_loses_nothing(case, seed, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(seed, work)
    before = _contents(work)
    done = subprocess.run([*CLI, *FULL_CASES[case]], cwd=work, capture_output=True, text=True, timeout=900,
                          preexec_fn=_limited(1000))
    assert "File too large" in _one_line(done)
    assert _contents(work) == before
