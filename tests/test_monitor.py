"""``normlaws.monitor.Monitor``: what it finds, what it measures (against an independent float64 computation), what it
derives (against ``simulate.predict`` at the same numbers), how it follows a schedule, and its outputs.

A scale-invariant unit under pure gradient noise is the Section 4 model itself: there the monitor's measured angle
must come to the derived equilibrium angle, within the standard error over records and the mean-angle bias.
"""
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from normlaws.audit import audit  # noqa: E402
from normlaws.cli import main  # noqa: E402
from normlaws.errors import UsageError  # noqa: E402
from normlaws.gpu.model import ConvNet  # noqa: E402
from normlaws.monitor import Monitor  # noqa: E402
from normlaws.monitor_predict import WHY_NO_DECAY  # noqa: E402
from normlaws.monitor_rules import infer_rule  # noqa: E402
from normlaws.monitor_units import Watch  # noqa: E402
from normlaws.simulate import predict  # noqa: E402

WIDTHS = (4, 8, 8, 8)


def _convnet_run(opt_factory, steps=11, every=5, **options):
    torch.manual_seed(0)
    net = ConvNet(WIDTHS)
    opt = opt_factory(net)
    x, y = torch.randn(16, 3, 16, 16), torch.randint(0, 10, (16,))
    monitor = Monitor(net, opt, x[:4], every=every, **options)
    records = []
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if monitor.last is not None and (not records or records[-1]["step"] != monitor.last["step"]):
            records.append(monitor.last)
    return net, opt, monitor, records, x


def _split_sgd(net, wd=1e-3, momentum=0.9, nesterov=True):
    convs = [c.weight for c in net.convs]
    rest = [p for n, p in net.named_parameters() if not n.startswith("convs")]
    return torch.optim.SGD([{"params": convs, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}], lr=0.1,
                           momentum=momentum, nesterov=nesterov)


def test_watches_are_the_audits_invariances():
    net, _, monitor, records, x = _convnet_run(_split_sgd)
    report = audit(net, x[:4])
    singles = {p.name for p in report.parameters if p.invariance in ("per-channel", "per-layer")}
    groups = {g.id: tuple(g.members) for g in report.invariant_groups}
    assert {w.name for w in monitor.watches} == singles | set(groups)
    assert {w.name: w.members for w in monitor.watches if w.name in groups} == groups
    assert [r["step"] for r in records] == [0, 5, 10]


def test_measured_statistics_match_a_float64_computation():
    torch.manual_seed(1)
    net = ConvNet(WIDTHS)
    opt = _split_sgd(net)
    x, y = torch.randn(16, 3, 16, 16), torch.randint(0, 10, (16,))
    monitor = Monitor(net, opt, x[:4], every=1)
    w = net.convs[1].weight
    loss = torch.nn.functional.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    before, grad = w.detach().double().flatten(1).clone(), w.grad.double().flatten(1).clone()
    opt.step()
    after = w.detach().double().flatten(1)
    cos = (before * after).sum(1) / (before.norm(dim=1) * after.norm(dim=1))
    entry = monitor.last["groups"]["convs.1.weight"]
    assert entry["angle"] == pytest.approx(float(torch.acos(cos.clamp(max=1)).mean()), rel=1e-3)
    assert entry["norm"] == pytest.approx(float(np.median(before.norm(dim=1).numpy())), rel=1e-5)
    assert entry["grad_ratio"] == pytest.approx(float((grad.norm(dim=1) / before.norm(dim=1)).mean()), rel=1e-5)
    chord = ((after - before) ** 2).sum(1) / (before**2).sum(1)
    assert entry["chord"] == pytest.approx(float(chord.mean()), rel=1e-3)
    assert entry["units"] == 8 and entry["d"] == 4 * 9 and entry["collapsed"] == 0


def test_derived_values_are_predicts_at_the_groups_hyperparameters():
    _, _, monitor, records, _ = _convnet_run(_split_sgd)
    entry = records[-1]["groups"]["convs.2.weight"]
    assert monitor.rule == "nesterov_torch"
    assert entry["eta"] == 0.1 and entry["lam"] == pytest.approx(5e-4)       # torch wd 1e-3 = 2 lam
    eq = predict.equilibrium("nesterov_torch", 0.1, 5e-4, entry["d"], entry["C_average"], 0.9, 0.9, 0.999)
    for key in ("angle", "chord", "norm"):
        assert entry[f"{key}_eq"] == pytest.approx(eq[key], rel=0.05)      # refreshed when C moved by 5 %
    assert entry["angle_eq"] == pytest.approx(eq["angle"], rel=1e-12)       # the angle does not depend on C
    assert entry["grad_ratio_eq"] == pytest.approx(math.sqrt(eq["grad_ratio_sq"]), rel=1e-12)
    assert entry["tau"] == pytest.approx(eq["tau"], rel=1e-12)
    assert entry["eff_lr"] == pytest.approx(0.1 / entry["norm"] ** 2, rel=1e-9)    # k = 2 for momentum rules
    assert records[-1]["groups"]["G1"]["note"] == WHY_NO_DECAY                    # BN gain+shift, no decay


def test_adamw_lambda_is_torchs_weight_decay_and_k_is_one():
    _, _, monitor, records, _ = _convnet_run(
        lambda net: torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.05))
    entry = records[-1]["groups"]["convs.1.weight"]
    assert monitor.rule == "adamw" and entry["lam"] == 0.05
    assert entry["eff_lr"] == pytest.approx(1e-3 / entry["norm"], rel=1e-9)
    assert entry["tau_source"] == "schedules.drop.adamw"


def test_a_group_decayed_unalike_gets_no_prediction():
    def unalike(net):
        bn = net.bns[0]
        rest = [p for p in net.parameters() if p is not bn.weight]
        return torch.optim.SGD([{"params": [bn.weight], "weight_decay": 1e-3}, {"params": rest}], lr=0.1)
    _, _, _, records, _ = _convnet_run(unalike)
    assert "different lr or weight_decay" in records[-1]["groups"]["G1"]["note"]


def test_a_learning_rate_drop_restarts_the_relaxation_clock():
    torch.manual_seed(0)
    net = ConvNet(WIDTHS)
    opt = _split_sgd(net, momentum=0.0, nesterov=False)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[20], gamma=0.1)
    x, y = torch.randn(16, 3, 16, 16), torch.randint(0, 10, (16,))
    monitor = Monitor(net, opt, x[:4], every=5)
    seen = []
    for _ in range(31):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if monitor.last["step"] not in [s for s, _ in seen]:
            seen.append((monitor.last["step"], monitor.last["groups"]["convs.0.weight"]))
    before, after = dict(seen)[15], dict(seen)[20]
    assert monitor.rule == "sgd" and after["eta"] == pytest.approx(0.01)
    assert before["elapsed"] == pytest.approx(15 / before["tau"], rel=1e-9)   # 15 steps at one tau
    assert after["elapsed"] == 0.0 and dict(seen)[30]["elapsed"] == pytest.approx(10 / after["tau"], rel=1e-9)
    assert not after["at_equilibrium"]


class _NoisyUnit(torch.nn.Module):
    """A Batch-Normalized linear layer of 8 units whose loss is a fresh random projection of its output: zero-mean
    gradient noise, the Section 4 model with a real BN layer."""

    def __init__(self, d=32):
        super().__init__()
        self.lin = torch.nn.Linear(d, 8, bias=False)
        self.bn = torch.nn.BatchNorm1d(8, affine=False)

    def forward(self, x):
        return self.bn(self.lin(x))


def test_measured_angle_reaches_the_derived_equilibrium_angle():
    torch.manual_seed(0)
    model = _NoisyUnit()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.1)    # lam = 0.05: tau ~ 1/(8 eta lam) = 25
    x = torch.randn(64, 32)
    monitor = Monitor(model, opt, x[:16], every=1)
    angles = []
    for step in range(600):
        out = model(torch.randn(64, 32))
        (out * torch.randn_like(out)).sum().backward()
        opt.step()
        opt.zero_grad()
        entry = monitor.last["groups"]["lin.weight"]
        if entry["at_equilibrium"]:
            angles.append(entry["angle"])
    entry = monitor.last["groups"]["lin.weight"]
    assert monitor.criterion.startswith("at least 3 derived relaxation times") and len(angles) > 500
    a = np.asarray(angles)
    blocks = a[: len(a) // 20 * 20].reshape(20, -1).mean(1)             # 20 blocks of ~25 records: ~independent
    se = blocks.std(ddof=1) / math.sqrt(len(blocks))
    bias = entry["angle_eq"] / entry["d"]                               # mean angle vs acos(moment ratio)
    assert abs(a.mean() - entry["angle_eq"]) <= 4 * se + bias, (a.mean(), entry["angle_eq"], se, bias)


def test_model_axis_watches_give_one_entry_per_model():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(3, 5, 4))           # 3 models x 5 units x d = 4
    opt = torch.optim.SGD([w], lr=0.1)
    hyper = {"eta": np.array([0.1, 0.2, 0.4]), "lam": np.array([1e-3, 1e-3, 2e-3]), "rho": 0.0, "beta1": 0.9,
             "beta2": 0.999}
    monitor = Monitor(torch.nn.Module(), opt, rule="sgd", every=1, hyper=lambda watch: hyper,
                      watches=[Watch("W", ("w",), [w], "channel", "per-channel", model_axis=True)])
    w.grad = torch.randn_like(w)
    opt.step()
    groups = monitor.last["groups"]
    assert list(groups) == ["W/m0", "W/m1", "W/m2"]
    assert [groups[k]["eta"] for k in groups] == [0.1, 0.2, 0.4] and groups["W/m2"]["units"] == 5
    norms = torch.linalg.vector_norm(w.detach(), dim=2)   # after the step; the record holds the norms before it
    assert groups["W/m1"]["d"] == 4 and norms.shape == (3, 5)


def test_rule_inference_and_refusals():
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert infer_rule(torch.optim.SGD(p, lr=0.1)) == "sgd"
    assert infer_rule(torch.optim.SGD(p, lr=0.1, momentum=0.9)) == "momentum"
    assert infer_rule(torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)) == "nesterov_torch"
    assert infer_rule(torch.optim.Adam(p)) == "adam" and infer_rule(torch.optim.AdamW(p)) == "adamw"
    assert infer_rule(torch.optim.RMSprop(p)) == "rmsprop_torch"
    with pytest.raises(UsageError, match="dampening"):
        infer_rule(torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5))
    with pytest.raises(UsageError, match="pass rule="):
        infer_rule(torch.optim.Adagrad(p))
    with pytest.raises(UsageError, match="sample_input"):
        Monitor(torch.nn.Linear(2, 2), torch.optim.SGD(p, lr=0.1))
    with pytest.raises(UsageError, match="unknown update rule"):
        Monitor(torch.nn.Linear(2, 2), torch.optim.Adagrad(p), rule="adagrad", watches=[])


def test_json_lines_and_tensorboard_outputs(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    _, _, monitor, records, _ = _convnet_run(_split_sgd, jsonl=tmp_path / "m.jsonl", tensorboard=tmp_path / "tb")
    monitor.close()
    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [0, 5, 10]
    assert lines[-1]["groups"]["convs.1.weight"]["angle"] == pytest.approx(records[-1]["groups"]["convs.1.weight"]
                                                                          ["angle"])
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    scalars = events.Scalars("monitor/convs.1.weight/angle_eq")
    assert [s.step for s in scalars] == [0, 5, 10]
    assert scalars[-1].value == pytest.approx(records[-1]["groups"]["convs.1.weight"]["angle_eq"], rel=1e-6)


def test_lightning_callback_logs_the_records(tmp_path):
    lightning = pytest.importorskip("lightning")
    from normlaws.monitor_lightning import lightning_callback

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = ConvNet(WIDTHS)

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, _):
            x, y = batch
            return torch.nn.functional.cross_entropy(self(x), y)

        def configure_optimizers(self):
            return _split_sgd(self.net)

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(64, 3, 16, 16), torch.randint(0, 10, (64,)))
    callback = lightning_callback(every=2)
    trainer = lightning.Trainer(max_steps=5, callbacks=[callback], logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                                accelerator="cpu")
    trainer.fit(Module(), torch.utils.data.DataLoader(data, batch_size=16))
    assert callback.monitor.last["step"] == 4 and callback.monitor.rule == "nesterov_torch"
    logged = trainer.logged_metrics
    assert float(logged["monitor/net.convs.1.weight/angle_eq"]) == pytest.approx(
        callback.monitor.last["groups"]["net.convs.1.weight"]["angle_eq"], rel=1e-6)


def test_bench_command_runs_and_reports_rows(capsys):
    assert main(["monitor", "--bench", "--cases", "plain", "--pairs", "1", "--block", "2", "--every", "2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    row = out["rows"][0]
    assert row["case"] == "plain" and row["watches"] >= 3 and row["step_ms"] > 0 and row["overhead"] > 0 and row["records"] >= 1
