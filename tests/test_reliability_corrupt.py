"""Corrupt and wrong-schema files of every kind the tool reads: exit code 2, one line naming the file, no
traceback, no file changed or added.

Kinds: a sweep's ``records.jsonl`` (read by ``figures``, ``sweep`` on resume, ``verify --training-records``),
its ``traj/*.npz`` trajectories, verify's ``montecarlo.jsonl`` / ``exponents.jsonl`` / ``training.jsonl`` /
``runs.jsonl`` (read by ``report``), CIFAR-10 ``.npz`` shards and official batch files (read by ``train``), and
audit's FACTORY module. Each case starts from a valid file (``reliability_fixtures``) and damages one thing.
"""
import hashlib
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from normlaws.cli import main
from normlaws.records import append_record, dumps
from reliability_fixtures import grid_record, leg_record, run_record, sweep_record


def _set(path: str, value):
    """A damage: set the dotted field ``path`` of a record to ``value`` (``...`` removes it)."""
    def damage(record):
        *parents, last = path.split(".")
        target = record
        for name in parents:
            target = target[name]
        if value is ...:
            del target[last]
        else:
            target[last] = value
        return dumps(record)
    return damage


def _raw(line: str):
    return lambda record: line


def _nested(depth: int):
    return lambda record: "[" * depth + "]" * depth


SWEEP_LINES = {
    "not json": _raw("{not json}"),
    "object not a record": _raw('{"foo": 1}'),
    "list": _raw("[1, 2, 3]"),
    "number": _raw("42"),
    "null": _raw("null"),
    "string": _raw('"text"'),
    "config missing": _set("config", ...),
    "epochs missing": _set("epochs", ...),
    "eta a string": _set("config.eta", "abc"),
    "eta zero": _set("config.eta", 0),
    "eta negative": _set("config.eta", -0.1),
    "eta true": _set("config.eta", True),
    "lam nan string": _set("config.lam", "nan"),
    "lam NaN literal": lambda r: dumps(r).replace('"lam": 0.001', '"lam": NaN'),
    "eta Infinity literal": lambda r: dumps(r).replace('"eta": 0.02', '"eta": Infinity'),
    "eta 1e999": lambda r: dumps(r).replace('"eta": 0.02', '"eta": 1e999'),
    "unknown optimizer": _set("config.optimizer", "lion"),
    "extra config field": _set("config.extra", 1),
    "three widths": _set("config.widths", [2, 3, 4]),
    "key of another config": _set("key", "0123456789abcdef"),
    "unknown status": _set("status", "weird"),
    "short test_error": _set("epochs.test_error", [0.5]),
    "test_error of strings": _set("epochs.test_error", ["a", "b", "c"]),
    "no conv1 norms": _set("epochs.filter_norm_mean", {"conv2": [1, 2, 3]}),
    "norms a number": _set("epochs.filter_norm_mean", 3),
    "diverged_at a string": _set("diverged_at", "late"),
    "trajectory absolute": _set("trajectory", "/etc/hostname"),
    "trajectory up and out": _set("trajectory", "../../outside.npz"),
    "control character": _set("architecture", "evil\x1b[2J"),
    "invalid utf-8": lambda r: dumps(r)[:-1] + '"\udcff"}',
    "deeply nested": _nested(100_000),
    "nul bytes": _raw("\x00\x00\x00"),
}


def _write_line(path: Path, line: str) -> None:
    with open(path, "ab") as handle:
        handle.write(line.encode("utf-8", "surrogateescape") + b"\n")


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def refused(argv, root: Path, capsys, name_in_error: str = "") -> str:
    """``argv`` exits 2 with one line (naming ``name_in_error``), no traceback, nothing under ``root`` changed."""
    before = _snapshot(root)
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err and "\n" not in err and "Traceback" not in err, err
    assert name_in_error in err, err
    assert _snapshot(root) == before
    return err


def _sweep_folder(root: Path) -> Path:
    folder = root / "sweep"
    record = sweep_record()
    append_record(folder / "records.jsonl", record)
    _trajectory(folder / record["trajectory"])
    return folder


def _trajectory(path: Path, epochs: int = 3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, conv1_filter_norms=np.ones((epochs + 1, 2), np.float32),
             conv1_grad_unit_sq=np.ones((epochs, 2)))


@pytest.mark.parametrize("case", SWEEP_LINES, ids=list(SWEEP_LINES))
def test_corrupt_sweep_record_stops_figures(case, tmp_path, capsys):
    folder = _sweep_folder(tmp_path)
    _write_line(folder / "records.jsonl", SWEEP_LINES[case](sweep_record(eta=0.02)))
    refused(["figures", "--results", folder, "--out", tmp_path / "figs"], tmp_path, capsys, "records.jsonl:2")


RESUME_CASES = ["object not a record", "list", "null", "eta a string", "lam NaN literal", "eta zero"]


@pytest.mark.parametrize("case", RESUME_CASES)
def test_corrupt_sweep_record_stops_resume_and_verify(case, tmp_path, capsys, synthetic_cifar):
    """The other readers of records.jsonl: a sweep resuming into the folder, verify taking it as evidence."""
    pytest.importorskip("torch")
    folder = _sweep_folder(tmp_path)
    _write_line(folder / "records.jsonl", SWEEP_LINES[case](sweep_record(eta=0.02)))
    refused(["sweep", "--optimizers", "nesterov", "--etas", "0.05", "--lams", "1e-3", "--epochs", "1", "--n-train",
             "64", "--n-test", "32", "--batch-size", "32", "--widths", "2", "3", "4", "5", "--device", "cpu",
             "--data", synthetic_cifar, "--no-verify", "--no-progress", "--out", folder], tmp_path, capsys,
            "records.jsonl:2")
    refused(["verify", "--out", tmp_path / "v", "--training-records", folder, "--skip-montecarlo", "--no-pdf"],
            tmp_path, capsys, "records.jsonl:2")


def test_trajectory_linked_out_of_the_folder_is_refused(tmp_path, capsys):
    folder = _sweep_folder(tmp_path)
    outside = tmp_path / "elsewhere"
    record = sweep_record(eta=0.02)
    _trajectory(outside / record["trajectory"])
    (folder / "traj").rename(tmp_path / "old_traj")
    (folder / "traj").symlink_to(outside / "traj")
    append_record(folder / "records.jsonl", record)
    refused(["figures", "--results", folder, "--out", tmp_path / "figs"], tmp_path, capsys, "trajectory")


NPZ_DAMAGE = {
    "not a zip": lambda path: path.write_bytes(b"garbage"),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:100]),
    "object array (a pickle)": lambda path: np.savez(path, conv1_filter_norms=np.array([{"a": 1}], dtype=object)),
    "wrong shape": lambda path: np.savez(path, conv1_filter_norms=np.ones(4), conv1_grad_unit_sq=np.ones((3, 2))),
    "strings": lambda path: np.savez(path, conv1_filter_norms=np.array([["a"]])),
    "filters disagree": lambda path: np.savez(path, conv1_filter_norms=np.ones((4, 2)),
                                              conv1_grad_unit_sq=np.ones((3, 5))),
    "zip bomb": lambda path: _zip_bomb(path),
}


def _zip_bomb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("conv1_filter_norms.npy", "w", force_zip64=True) as member:
            member.write(b"\0" * (300 * 2**20))


@pytest.mark.parametrize("case", NPZ_DAMAGE, ids=list(NPZ_DAMAGE))
def test_corrupt_trajectory_stops_figures(case, tmp_path, capsys):
    folder = _sweep_folder(tmp_path)
    NPZ_DAMAGE[case](folder / sweep_record()["trajectory"])
    refused(["figures", "--results", folder, "--out", tmp_path / "figs"], tmp_path, capsys, ".npz")


LEG_FILES = {
    "montecarlo.jsonl": leg_record, "exponents.jsonl": grid_record, "training.jsonl": leg_record,
    "runs.jsonl": run_record,
}
LEG_DAMAGE = {
    ("montecarlo.jsonl", "result missing"): _set("result", ...),
    ("montecarlo.jsonl", "status unknown"): _set("result.status", "maybe"),
    ("montecarlo.jsonl", "claim a list"): _set("claim", ["a"]),
    ("montecarlo.jsonl", "figure title with $"): _set("result.figure", {"x": [1, 2], "y": [1, 2], "title": "$\\foo$"}),
    ("montecarlo.jsonl", "figure x and y differ"): _set("result.figure", {"x": [1, 2], "y": [1]}),
    ("montecarlo.jsonl", "figures a number"): _set("result.figures", 3),
    ("montecarlo.jsonl", "detail with NUL"): _set("result.detail", "a\x00b"),
    ("exponents.jsonl", "x of strings"): _set("result.fixed_product.x", ["a", "b", "c"]),
    ("exponents.jsonl", "slope a string"): _set("result.fixed_product.fit.slope", "steep"),
    ("exponents.jsonl", "se too short"): _set("result.fixed_product.se", [0.1]),
    ("exponents.jsonl", "rule with $"): _set("result.rule", "$x"),
    ("training.jsonl", "not json"): _raw("{"),
    ("training.jsonl", "a list"): _raw("[]"),
    ("runs.jsonl", "stages a dict"): _set("stages", {"a": 1}),
    ("runs.jsonl", "stage seconds a string"): lambda r: dumps({**r, "stages": [{**r["stages"][0], "seconds": "x"}]}),
    ("runs.jsonl", "stage status unknown"): lambda r: dumps({**r, "stages": [{**r["stages"][0], "status": "meh"}]}),
}


@pytest.mark.parametrize("name, case", LEG_DAMAGE, ids=[f"{n}: {c}" for n, c in LEG_DAMAGE])
def test_corrupt_results_stop_the_report(name, case, tmp_path, capsys):
    results = tmp_path / "results"
    append_record(results / name, LEG_FILES[name]())
    _write_line(results / name, LEG_DAMAGE[(name, case)](LEG_FILES[name]()))
    refused(["report", "--out", tmp_path, "--no-pdf", "--claims", "table1.sgd.norm"], tmp_path, capsys,
            f"{name}:2")


def test_blank_line_inside_a_results_string_still_compiles(tmp_path, capsys):
    """A blank line would end a paragraph inside a LaTeX command (latexmk failed): it prints as a space."""
    import shutil
    if shutil.which("latexmk") is None:
        pytest.skip("no latexmk")
    append_record(tmp_path / "results" / "montecarlo.jsonl", leg_record(detail="first\n\nsecond",
                                                                         measured="a value\n\nin two paragraphs"))
    assert main(["report", "--out", str(tmp_path), "--claims", "table1.sgd.norm"]) == 0, capsys.readouterr().err
    assert (tmp_path / "report.pdf").exists()


# ---- CIFAR-10 files --------------------------------------------------------------------------------------------

TRAIN = ["train", "--epochs", "1", "--n-train", "64", "--n-test", "32", "--batch-size", "32", "--widths", "2",
         "3", "4", "5", "--device", "cpu", "--no-progress", "--no-verify"]


def _shards(root: Path, **change) -> None:
    rng = np.random.default_rng(0)
    arrays = {"train_0.npz": {"x": rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8),
                              "y": rng.integers(0, 10, 64).astype(np.uint8)},
              "test.npz": {"x": rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8),
                           "y": rng.integers(0, 10, 32).astype(np.uint8)}}
    arrays["train_0.npz"].update(change)
    root.mkdir(parents=True, exist_ok=True)
    for name, data in arrays.items():
        np.savez(root / name, **data)


SHARD_DAMAGE = {
    "labels out of range": lambda root: _shards(root, y=np.full(64, 12, np.uint8)),
    "float images": lambda root: _shards(root, x=np.zeros((64, 32, 32, 3), np.float32)),
    "wrong image shape": lambda root: _shards(root, x=np.zeros((64, 3, 32, 32), np.uint8)),
    "object labels": lambda root: _shards(root, y=np.array([object()] * 64)),
    "not a zip": lambda root: (_shards(root), (root / "train_0.npz").write_bytes(b"PK\x03\x04junk")),
    "missing y": lambda root: (_shards(root), np.savez(root / "train_0.npz", x=np.zeros((64, 32, 32, 3), np.uint8))),
}


@pytest.mark.parametrize("case", SHARD_DAMAGE, ids=list(SHARD_DAMAGE))
def test_corrupt_cifar_shard_stops_training(case, tmp_path, capsys):
    pytest.importorskip("torch")
    data = tmp_path / "data"
    SHARD_DAMAGE[case](data)
    refused([*TRAIN, "--data", data, "--out", tmp_path / "out"], data, capsys, "train_0.npz")
    assert not list((tmp_path / "out").rglob("*.jsonl")) and not (tmp_path / "out" / "claims").exists()


class _Boom:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))    # what unpickling would run: creating a file


BATCH_DAMAGE = {
    "runs code when unpickled": lambda marker: pickle.dumps({b"data": _Boom(marker)}, protocol=2),
    "truncated": lambda marker: python2_batch(4)[:-50],
    "not a pickle": lambda marker: b"hello world",
    "data not an array": lambda marker: pickle.dumps({b"data": [1, 2], b"labels": [0]}, protocol=2),
    "no labels": lambda marker: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2),
    "a list, not a dict": lambda marker: pickle.dumps([1, 2, 3], protocol=2),
    "object array": lambda marker: pickle.dumps({b"data": np.array([None, 1], dtype=object), b"labels": [0]},
                                                protocol=2),
}


@pytest.mark.parametrize("case", BATCH_DAMAGE, ids=list(BATCH_DAMAGE))
def test_bad_cifar_batch_file_is_refused_and_never_run(case, tmp_path, capsys):
    pytest.importorskip("torch")
    batches = tmp_path / "data" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    marker = tmp_path / "pwned"
    (batches / "data_batch_1").write_bytes(BATCH_DAMAGE[case](str(marker)))
    (batches / "test_batch").write_bytes(python2_batch(32))
    refused([*TRAIN, "--data", tmp_path / "data", "--out", tmp_path / "out"], batches, capsys, "data_batch_1")
    assert not marker.exists(), "the batch file ran code"


def python2_batch(n: int, seed: int = 0) -> bytes:
    """A batch file as the official ones are written (Python 2 cPickle, protocol 2): a dict of byte strings,
    a label list and a uint8 array rebuilt by numpy.core.multiarray._reconstruct."""
    rng = np.random.default_rng(seed)
    data, labels = rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n).tolist()

    def short(b: bytes) -> bytes:                                   # SHORT_BINSTRING / BINSTRING
        return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + len(b).to_bytes(4, "little")) + b

    def integer(i: int) -> bytes:
        return b"K" + bytes([i]) if i < 256 else b"M" + i.to_bytes(2, "little")
    out = b"\x80\x02}q\x01(" + short(b"data")
    out += b"cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\nq\x03K\x00\x85U\x01b\x87Rq\x04("
    out += b"K\x01" + integer(n) + b"M\x00\x0c\x86cnumpy\ndtype\nq\x05U\x02u1K\x00K\x01\x87Rq\x06("
    out += b"K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89" + short(data.tobytes()) + b"tb"
    out += short(b"labels") + b"](" + b"".join(integer(v) for v in labels) + b"e"
    out += short(b"batch_label") + short(b"training batch 1 of 5")
    out += short(b"filenames") + b"](" + b"".join(short(f"f{i}.png".encode()) for i in range(n)) + b"e"
    return out + b"u."


def test_official_batch_layout_is_read_without_unpickling(tmp_path):
    """The Python 2 layout decodes to the same arrays as pickle would give (checked here with pickle, on a file
    we wrote ourselves)."""
    from normlaws.gpu.batchfile import read_batch
    from normlaws.gpu.data import load_batch_file
    raw = python2_batch(5)
    expected = pickle.loads(raw, encoding="bytes")
    got = read_batch(raw)
    assert np.array_equal(got[b"data"], expected[b"data"]) and got[b"labels"] == expected[b"labels"]
    assert got[b"filenames"] == expected[b"filenames"]
    (tmp_path / "b").write_bytes(raw)
    x, y = load_batch_file(tmp_path / "b", None)
    assert x.shape == (5, 32, 32, 3) and list(y) == expected[b"labels"]
    assert np.array_equal(x[1, :, :, 0].reshape(-1), expected[b"data"][1, :1024])


def test_batch_reader_never_imports_pickle():
    import ast
    import normlaws.gpu.batchfile as batchfile
    import normlaws.gpu.data as data
    for module in (batchfile, data):
        tree = ast.parse(Path(module.__file__).read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not names & {"pickle", "_pickle", "cPickle", "dill", "joblib"}, module.__name__


# ---- audit's FACTORY module --------------------------------------------------------------------------------

FACTORIES = {
    "syntax error": "def model(:\n",
    "raises at import": "raise RuntimeError('no GPU here')\n",
    "sys.exit at import": "import sys\nsys.exit(0)\n",
    "sys.exit in the factory": "import sys\ndef model():\n    sys.exit(0)\n",
    "raises in the factory": "def model():\n    raise ValueError('bad width')\n",
    "returns a number": "def model():\n    return 3\n",
}


@pytest.mark.parametrize("case", FACTORIES, ids=list(FACTORIES))
def test_broken_factory_module_is_one_line(case, tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    name = f"factory_{abs(hash(case))}"
    (tmp_path / f"{name}.py").write_text(FACTORIES[case])
    monkeypatch.chdir(tmp_path)                   # the current directory is importable (like pytest's rootdir)
    monkeypatch.syspath_prepend(str(tmp_path))
    refused(["audit", f"{name}:model", "--input-shape", "2,3,8,8"], tmp_path, capsys, name)


def test_factory_in_the_current_directory_is_found_without_pythonpath(tmp_path):
    pytest.importorskip("torch")
    import os
    import subprocess
    import sys
    (tmp_path / "mymodels.py").write_text("import torch\ndef net():\n    return torch.nn.Sequential("
                                          "torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))\n")
    script = Path(sys.executable).parent / "normlaws"      # the console script: its folder, not ., is on sys.path
    if not script.exists():
        pytest.skip("no normlaws console script beside this Python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(script), "audit", "mymodels:net", "--input-shape", "8,3", "--json"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["factory"] == "mymodels:net"


def test_audit_help_says_the_factory_is_imported_and_run(capsys):
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "imported" in text and "run" in text and "conftest" in text


def test_at_least_40_corrupt_files():
    cases = (len(SWEEP_LINES) + 1 + len(RESUME_CASES) + len(NPZ_DAMAGE) + len(LEG_DAMAGE) + len(SHARD_DAMAGE) + len(BATCH_DAMAGE)
             + len(FACTORIES))
    assert cases >= 40, cases
