"""The monitor on the harness (``normlaws.monitor_harness``): its measurements are the harness's own per-step
statistics, and its derived angle is the equilibrium at the model's own eta and lam."""
import math

import numpy as np

import pytest

torch = pytest.importorskip("torch")

from normlaws.gpu.config import TrainConfig  # noqa: E402
from normlaws.gpu.train import EnsembleTrainer  # noqa: E402
from normlaws.monitor_harness import watch_ensemble  # noqa: E402
from normlaws.simulate import predict  # noqa: E402

WIDTHS = (4, 6, 8, 10)


def _trainer(optimizer="nesterov_torch", models=2):
    cfgs = [TrainConfig(optimizer=optimizer, eta=0.05 * (k + 1), lam=1e-3, widths=WIDTHS, batch_size=16)
            for k in range(models)]
    return EnsembleTrainer(cfgs, "cpu", dtype=torch.float64)


def _batch(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 3, 32, 32, generator=g, dtype=torch.float64), torch.randint(0, 10, (16,), generator=g)


@pytest.mark.parametrize("optimizer", ["nesterov_torch", "adamw"])
def test_every_recorded_angle_and_ratio_is_the_harness_statistic_of_that_step(optimizer):
    trainer = _trainer(optimizer)
    monitor = watch_ensemble(trainer, every=1)
    for step in range(4):
        x, y = _batch(step)
        out = trainer.step(x, y, lr_factor=0.5 if step >= 2 else 1.0)
        groups = monitor.last["groups"]
        for layer in range(4):
            for m in range(trainer.models):
                entry = groups[f"conv{layer + 1}/m{m}"]
                # the monitor works in float32: agreement to its rounding
                assert entry["angle"] == pytest.approx(float(out["angle"][m, layer]), rel=1e-5, abs=1e-9)
                assert entry["grad_ratio"] == pytest.approx(float(out["ratio"][m, layer]), rel=1e-5)
        eta = float(trainer.opt.eta[1]) * (0.5 if step >= 2 else 1.0)
        assert groups["conv1/m1"]["eta"] == pytest.approx(eta)


def test_the_predicted_angle_is_the_equilibrium_of_the_models_own_eta_and_lam():
    trainer = _trainer()
    monitor = watch_ensemble(trainer, every=1)
    trainer.step(*_batch(0))
    entry = monitor.last["groups"]["conv2/m1"]
    eq = predict.equilibrium("nesterov_torch", float(trainer.opt.eta[1]), float(trainer.opt.lam[1]),
                             float(entry["d"]), entry["C"], 0.9, 0.9, 0.999)
    assert entry["angle_eq"] == pytest.approx(eq["angle"], rel=1e-9)
    assert math.isfinite(entry["angle_eq"]) and entry["angle_eq"] > 0


def test_the_sweep_records_the_monitor_beside_its_records(synthetic_cifar, tmp_path, capsys):
    from normlaws.cli import main
    from normlaws.records import read_records
    out = tmp_path / "res"
    args = ["sweep", "--optimizers", "nesterov_torch", "--etas", "0.01", "0.1", "--lams", "1e-3", "--epochs", "2",
            "--batch-size", "32", "--widths", "2", "3", "4", "5", "--n-train", "64", "--n-test", "32",
            "--device", "cpu", "--no-progress", "--no-verify", "--data", str(synthetic_cifar), "--out", str(out),
            "--executor", "inline", "--monitor", "1"]
    assert main(args) == 0
    capsys.readouterr()
    [path] = (out / "monitor").glob("*.jsonl")
    header, *lines = read_records(path)
    records = {r["key"]: r for r in read_records(out / "records.jsonl")}
    assert sorted(header["models"]) == sorted(records)
    # 2 steps per epoch; the monitor starts at the second step, so it saw both steps of epoch 2
    assert len(lines) == 3
    for m, key in enumerate(header["models"]):
        for layer in ("conv1", "conv4"):
            measured = np.mean([line["groups"][f"{layer}/m{m}"]["angle"] for line in lines[-2:]])
            assert measured == pytest.approx(records[key]["epochs"]["angle_mean"][layer][1], rel=1e-5)
