"""The train, sweep, figures and bench commands: results, JSON, and one clear line for bad input."""
import json

import pytest

from normlaws.cli import main

TINY = ["--epochs", "1", "--batch-size", "32", "--widths", "2", "3", "4", "5", "--n-train", "64", "--n-test", "32",
        "--device", "cpu", "--no-progress", "--no-verify"]


@pytest.fixture(scope="module")
def data_dir(synthetic_cifar):
    root = synthetic_cifar
    return root


def test_train_ensemble_json(data_dir, tmp_path, capsys):
    pytest.importorskip("torch")
    code = main(["train", "--optimizer", "adam", "--eta", "0.001", "0.01", "--lam", "1e-4", "--data", str(data_dir),
                 "--out", str(tmp_path), "--json"] + TINY)
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ran"] == 2 and len(out["records"]) == 2
    assert {r["config"]["eta"] for r in out["records"]} == {0.001, 0.01}
    assert all(r["config"]["optimizer"] == "adam" for r in out["records"])


def test_sweep_then_resume_then_figures(data_dir, tmp_path, capsys):
    pytest.importorskip("torch")
    args = ["sweep", "--optimizers", "nesterov_torch", "--etas", "0.01", "0.1", "--lams", "1e-4", "1e-2",
            "--data", str(data_dir), "--out", str(tmp_path / "res")] + TINY
    assert main(args) == 0
    assert "4 run, 0 already recorded" in capsys.readouterr().out
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ran"] == 0 and out["skipped"] == 4 and len(out["records"]) == 4
    assert main(["figures", "--results", str(tmp_path / "res"), "--json"]) == 0
    fig = json.loads(capsys.readouterr().out)
    assert fig["records"] == 4 and any(p.endswith("fig1_norm.png") for p in fig["figures"])


def test_bench_table(capsys):
    pytest.importorskip("torch")
    assert main(["bench", "--device", "cpu", "--models", "1", "2", "--steps", "1", "--widths", "2", "3", "4", "5",
                 "--batch-size", "16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["models"] for r in out["rows"]] == [1, 2] and out["device"] == "CPU"
    assert all(r["ensemble"] > 0 and r["separate"] > 0 for r in out["rows"])
    assert "projection" in out["projection"]["label"]


@pytest.mark.parametrize("argv, message", [
    (["train", "--eta", "-1"], "must be > 0"),
    (["train", "--optimizer", "sophia"], "invalid choice"),
    (["sweep", "--widths", "1", "2"], "expected 4 arguments"),
    (["train", "--data", "/nonexistent/cifar", "--device", "cpu"], "/nonexistent/cifar: no CIFAR-10 there"),
    (["train", "--n-train", "10", "--device", "cpu"], "smaller than one batch"),
    (["figures", "--results", "/nonexistent/results"], "no such results folder"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    if argv[0] != "figures":
        pytest.importorskip("torch")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cuda_without_gpu_is_one_line(data_dir, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    assert main(["train", "--data", str(data_dir)] + TINY + ["--device", "cuda"]) == 2   # the last --device wins
    assert "no CUDA GPU" in capsys.readouterr().err
