"""Sweeps: records and trajectories, resume without redoing finished work, divergence, and the executors."""
import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from normlaws.gpu import sweep  # noqa: E402
from normlaws.gpu.config import TrainConfig, group_configs  # noqa: E402
from normlaws.gpu.presets import grid_block  # noqa: E402
from normlaws.records import read_records  # noqa: E402

BASE = TrainConfig(optimizer="nesterov", epochs=2, milestones=(1,), batch_size=32, widths=(2, 3, 4, 5),
                   n_train=64, n_test=32, translate=2)


@pytest.fixture(scope="module")
def spec(synthetic_cifar):
    root = synthetic_cifar
    return sweep.DataSpec(str(root), 64, 32, verify=False)


def grid(etas=(0.01, 0.1), lams=(1e-4, 1e-2)):
    return grid_block("nesterov_torch", etas=etas, lams=lams).configs(BASE)


def test_records_and_trajectories(spec, tmp_path):
    outcome = sweep.run_sweep(grid(), spec, tmp_path, device="cpu", max_models=4)
    assert outcome["skipped"] == 0 and len(outcome["ran"]) == 4 and not outcome["failed"]
    records = read_records(tmp_path / sweep.RECORDS)
    assert {r["key"] for r in records} == {c.key for c in grid()}
    r = records[0]
    assert r["status"] == "done" and r["diverged_at"] is None
    assert len(r["epochs"]["test_error"]) == 2 and set(r["epochs"]["filter_norm_mean"]) == {"conv1", "conv2",
                                                                                           "conv3", "conv4"}
    assert r["epochs"]["lr"] == [r["config"]["eta"], r["config"]["eta"] / 10]
    assert r["provenance"]["device"] == "cpu" and "paper-l2" in r["convention"]
    traj = np.load(tmp_path / r["trajectory"])
    assert traj["conv1_filter_norms"].shape == (3, 2) and traj["conv4_filter_norms"].shape == (3, 5)
    np.testing.assert_allclose(traj["conv1_filter_norms"][1:].mean(1), r["epochs"]["filter_norm_mean"]["conv1"])
    assert np.all(np.asarray(r["epochs"]["angle_mean"]["conv2"]) > 0)
    # the velocity's moments at initialisation (no buffer yet) and after each epoch: |<w, v>| <= ||w|| ||v||
    dot, sq = traj["conv2_buffer_dot"], traj["conv2_buffer_sq"]
    assert dot.shape == sq.shape == (3, 3) and np.all(dot[0] == 0) and np.all(sq[1:] > 0)
    assert np.all(np.abs(dot) <= traj["conv2_filter_norms"] * np.sqrt(sq) * (1 + 1e-6))


def test_resume_skips_finished_configurations(spec, tmp_path, monkeypatch):
    configs = grid()
    first = sweep.run_sweep(configs[:3], spec, tmp_path, device="cpu", max_models=4)
    assert len(first["ran"]) == 3
    before = (tmp_path / sweep.RECORDS).read_text()
    trained = []
    real = sweep.run_group

    def spy(group, *args, **kwargs):
        trained.extend(c.key for c in group)
        return real(group, *args, **kwargs)
    monkeypatch.setattr(sweep, "run_group", spy)
    second = sweep.run_sweep(configs, spec, tmp_path, device="cpu", max_models=4)
    assert second["skipped"] == 3 and trained == [configs[3].key]
    assert (tmp_path / sweep.RECORDS).read_text().startswith(before)     # earlier records untouched


def test_a_claim_left_on_finished_work_by_a_killed_process_is_cleared(spec, tmp_path):
    """The kill can land after a group's records and before its claims are released (seen in CI's SIGKILL test);
    a later run skips that finished work, so it must clear the dead holder's claim itself."""
    import socket
    import subprocess
    import sys
    configs = grid()[:2]
    sweep.run_sweep(configs, spec, tmp_path, device="cpu", max_models=4)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    claim = tmp_path / sweep.CLAIMS_DIR / f"{configs[0].key}.claim"
    claim.write_text(f"{socket.gethostname()} {dead.stdout.strip()}")
    again = sweep.run_sweep(configs, spec, tmp_path, device="cpu", max_models=4)
    assert again["skipped"] == 2 and not claim.exists()


def test_a_crashed_group_is_redone_and_the_others_kept(spec, tmp_path, monkeypatch):
    configs = grid()
    import normlaws.gpu.train as train
    real = train.train_ensemble
    calls = []

    def crash_second(group, *args, **kwargs):
        calls.append(len(group))
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return real(group, *args, **kwargs)
    monkeypatch.setattr(train, "train_ensemble", crash_second)
    outcome = sweep.run_sweep(configs, spec, tmp_path, device="cpu", max_models=2)
    assert len(outcome["ran"]) == 2 and len(outcome["failed"]) == 1 and "simulated crash" in outcome["failed"][0][1]
    monkeypatch.setattr(train, "train_ensemble", real)
    again = sweep.run_sweep(configs, spec, tmp_path, device="cpu", max_models=2)
    assert again["skipped"] == 2 and len(again["ran"]) == 2 and not again["failed"]
    assert len(read_records(tmp_path / sweep.RECORDS)) == 4


def test_divergence_is_recorded_and_does_not_disturb_the_others(spec, tmp_path):
    healthy = replace(BASE, eta=0.05, lam=1e-3)
    exploding = replace(BASE, eta=1e39, lam=1e-3)     # float32 eta = inf: the first step makes weights non-finite
    outcome = sweep.run_sweep([healthy, exploding], spec, tmp_path / "pair", device="cpu")
    assert not outcome["failed"]
    by_key = {r["key"]: r for r in read_records(tmp_path / "pair" / sweep.RECORDS)}
    bad, good = by_key[exploding.key], by_key[healthy.key]
    assert bad["status"] == "diverged" and bad["diverged_at"] == {"step": 1, "epoch": 0}
    assert bad["epochs"]["test_error"] == ["nan", "nan"]
    assert good["status"] == "done"
    sweep.run_sweep([healthy], spec, tmp_path / "alone", device="cpu")
    alone = read_records(tmp_path / "alone" / sweep.RECORDS)[0]
    for key in ("test_error", "train_loss"):
        np.testing.assert_allclose(good["epochs"][key], alone["epochs"][key], rtol=1e-4)
    np.testing.assert_allclose(good["epochs"]["filter_norm_mean"]["conv3"],
                               alone["epochs"]["filter_norm_mean"]["conv3"], rtol=1e-4)


def test_grouping_keeps_only_eta_and_lam_free():
    configs = grid() + [replace(c, seed=1) for c in grid()] + grid(etas=(0.3,))
    groups = group_configs(configs, max_models=3)
    for g in groups:
        assert len(g) <= 3 and len({c.shared() for c in g}) == 1
    assert sorted(c.key for g in groups for c in g) == sorted(c.key for c in configs)


def test_keys_are_canonical():
    assert TrainConfig(eta=0.1).key == TrainConfig(eta=0.1, momentum=0.9).key
    assert TrainConfig(eta=0.1).key != TrainConfig(eta=0.1, lam=1e-3).key
    assert json.loads(json.dumps(TrainConfig().as_dict())) == TrainConfig().as_dict()
    assert TrainConfig.from_dict(TrainConfig(widths=(1, 2, 3, 4)).as_dict()).key == \
        TrainConfig(widths=(1, 2, 3, 4)).key


def test_local_process_executor(spec, tmp_path):
    outcome = sweep.run_sweep(grid(lams=(1e-3,)), spec, tmp_path, executor="local-gpus", device="cpu",
                              max_models=1)                                               # 2 groups, 1 worker
    assert len(outcome["ran"]) == 2 and not outcome["failed"]
    assert len(read_records(tmp_path / sweep.RECORDS)) == 2


def test_cpu_workers_write_the_records_of_one_inline_process(spec, tmp_path, monkeypatch):
    """``local-cpus``: one one-thread worker per core (2 here), each group's records bitwise those of the same
    groups trained inline with one thread."""
    monkeypatch.setattr(sweep.os, "cpu_count", lambda: 2)
    assert sweep.local_devices("cpu-workers") == ["cpu", "cpu"]
    configs = grid(lams=(1e-3,))
    outcome = sweep.run_sweep(configs, spec, tmp_path / "w", executor="local-cpus", device="cpu", max_models=1)
    assert len(outcome["ran"]) == 2 and not outcome["failed"]
    sweep.run_sweep(configs, spec, tmp_path / "i", executor="inline", device="cpu", max_models=1)
    final = {name: {r["key"]: r["final"] for r in read_records(tmp_path / name / sweep.RECORDS)} for name in "wi"}
    assert final["w"] == final["i"] and len(final["w"]) == 2


def test_submitit_local_executor(spec, tmp_path):
    pytest.importorskip("submitit")
    configs = grid(etas=(0.05,), lams=(1e-3, 1e-2))
    outcome = sweep.run_sweep(configs, spec, tmp_path, executor="submitit", device="cpu", max_models=2,
                              submitit_options={"cluster": "local", "timeout_min": 5})     # one job of 2 models
    assert not outcome["failed"], outcome["failed"]
    assert {r["key"] for r in read_records(tmp_path / sweep.RECORDS)} == {c.key for c in configs}
    again = sweep.run_sweep(configs, spec, tmp_path, executor="submitit", device="cpu",
                            submitit_options={"cluster": "local"})
    assert again["skipped"] == 2 and again["groups"] == 0
