"""``normlaws audit`` on models whose answers are known by construction, and its command line.

Each model's expected classification is proved in a comment beside it; the audit finds it numerically (the
homogeneity probe of ``normlaws.testing``), never from the layer types. Predictions are compared with the
theory's own lambdified expressions (``simulate.predict``), not with re-typed formulas.
"""
import json
import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.nn.utils.parametrizations import weight_norm  # noqa: E402

from normlaws.audit import NO_EFFECT, REGULARIZES, SETS_LR, audit, predict_unit  # noqa: E402
from normlaws.cli import main  # noqa: E402
from normlaws.simulate import predict  # noqa: E402
from normlaws.theory import moments, section4  # noqa: E402


def _value(expr, eta, lam, **values) -> float:
    """A theory expression at numbers (``C = d = 1`` unless given), via ``simulate.predict.evaluate``."""
    return float(predict.evaluate(expr, eta=eta, lam=lam, **{"C": 1.0, "d": 1.0, "rho": 0.0, "beta1": 0.0, **values}))


# ---- the test models ------------------------------------------------------------------------------------------
class BNConvNet(nn.Module):
    """conv(bias) -> BN -> ReLU -> pool -> conv(bias) -> BN -> ReLU -> mean -> linear.

    Known answers (train-mode BN, eps -> 0): BN(z) is invariant under z_c -> a_c z_c + b_c (a_c > 0) per
    channel, so each conv weight is per-channel invariant and each conv bias (a per-channel constant, removed with
    the batch mean) has no effect at all. Scaling (gamma1, beta1) by a > 0 scales BN1's output; ReLU and max-pool
    are positively homogeneous and conv2 is linear up to its bias, which BN2 removes: jointly per-layer invariant
    (not per channel: conv2 mixes channels). (gamma2, beta2) reach the linear head unnormalized: regularized.
    """

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        return self.head(F.relu(self.bn2(self.conv2(x))).mean((2, 3)))


BN_CONVNET = {"conv1.weight": "per-channel", "conv1.bias": "no-effect", "bn1.weight": "joint-per-layer",
              "bn1.bias": "joint-per-layer", "conv2.weight": "per-channel", "conv2.bias": "no-effect",
              "bn2.weight": "none", "bn2.bias": "none", "head.weight": "none", "head.bias": "none"}


class ResNetBN(nn.Module):
    """stem conv -> BN0 -> ReLU -> [conv1 -> BN1 -> ReLU -> conv2 -> BN2] + identity -> ReLU -> mean -> linear.

    Every conv (no bias) feeds a train-mode BN directly: per-channel invariant. (gamma1, beta1) are jointly
    invariant per layer as in the ConvNet (ReLU, conv2 without bias, then BN2). (gamma0, beta0) scale x, which is
    added unnormalized to the branch (whose BN2 output does not scale): x + y -> a x + y, not invariant. BN2's
    (gamma, beta) scale the branch only: x + a y, not invariant. The head is regularized.
    """

    def __init__(self, c: int = 4):
        super().__init__()
        self.stem, self.bn0 = nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.head = nn.Linear(c, 3)

    def forward(self, x):
        x = F.relu(self.bn0(self.stem(x)))
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return self.head(F.relu(x + y).mean((2, 3)))


RESNET = {"stem.weight": "per-channel", "bn0.weight": "none", "bn0.bias": "none", "conv1.weight": "per-channel",
          "bn1.weight": "joint-per-layer", "bn1.bias": "joint-per-layer", "conv2.weight": "per-channel",
          "bn2.weight": "none", "bn2.bias": "none", "head.weight": "none", "head.bias": "none"}


class PreLNBlock(nn.Module):
    """x -> x + O(attn(LN1 x)) -> x + FC2(gelu(FC1(LN2 x))) on (batch, tokens, features).

    Nothing is scale-invariant. The block's output is its input x plus two branches, and x does not depend on
    any parameter; so a scaling leaves the output unchanged only if it leaves both branches unchanged. The last
    layers of the branches (O, FC2) feed the sum directly (scaling them, with or without their bias, scales the
    branch); Q or K scales the attention logits (a softmax temperature); V scales the attention output; LN1's and
    LN2's (gamma, beta) scale their outputs, which then meet biased linear maps and a GELU (not homogeneous); FC1
    feeds the GELU. No linear layer feeds a LayerNorm directly: LN2's input is the residual sum x + O(...).
    One parameter has no effect at all: the key bias. logit_ij = q_i . (K h_j + b_k) = q_i . K h_j + q_i . b_k,
    and the second term is the same for every key j, which the softmax over j removes (the audit found this; a
    first version of this comment had missed it).
    """

    def __init__(self, d: int = 8, heads: int = 2, hidden: int = 16):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        b, t, d = x.shape
        h = self.ln1(x)
        split = lambda z: z.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        att = torch.softmax(split(self.q(h)) @ split(self.k(h)).transpose(-1, -2) / math.sqrt(d // self.heads), -1)
        x = x + self.o((att @ split(self.v(h))).transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class LinearLN(nn.Module):
    """Linear(bias) -> LayerNorm -> linear head. LN normalizes over all features of a sample, so scaling the
    whole (weight, bias) pair by a > 0 is invariant (per layer), scaling one row is not (not per channel), and
    the weight alone is not (the bias is not scaled with it)."""

    def __init__(self):
        super().__init__()
        self.fc, self.ln, self.head = nn.Linear(5, 6), nn.LayerNorm(6), nn.Linear(6, 2)

    def forward(self, x):
        return self.head(self.ln(self.fc(x)))


def wn_mlp():
    """Weight-normalized MLP: w = g v/||v|| row by row (dim 0), so v is per-channel invariant (exactly, no eps);
    g and the biases set the output's scale and offset: regularized (jointly too: scaling (g1, b1) scales the
    hidden layer, ReLU passes it and layer 2 is fixed)."""
    return nn.Sequential(weight_norm(nn.Linear(5, 6)), nn.ReLU(), weight_norm(nn.Linear(6, 3)))


WN_MLP = {"0.bias": "none", "0.parametrizations.weight.original0": "none",
          "0.parametrizations.weight.original1": "per-channel", "2.bias": "none",
          "2.parametrizations.weight.original0": "none", "2.parametrizations.weight.original1": "per-channel"}


def plain_mlp():
    """No normalization: every parameter (or module group) changes the output when scaled."""
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def bn_convnet():
    """Factory for the command-line test."""
    torch.manual_seed(0)
    return BNConvNet()


def _kinds(report):
    return {p.name: p.invariance for p in report.parameters}


@pytest.fixture(scope="module")
def bn_report():
    torch.manual_seed(0)
    return audit(BNConvNet(), torch.randn(4, 3, 8, 8), "sgd", 0.1, 5e-4)


# ---- the known answers --------------------------------------------------------------------------------------
def test_bn_convnet(bn_report):
    assert _kinds(bn_report) == BN_CONVNET
    wd = {p.name: p.weight_decay for p in bn_report.parameters}
    assert wd["conv1.weight"] == SETS_LR and wd["conv1.bias"] == NO_EFFECT and wd["head.weight"] == REGULARIZES
    assert {p.name: p.group for p in bn_report.parameters}["bn1.weight"] == ("bn1.weight", "bn1.bias")


def test_resnet_with_bn():
    torch.manual_seed(1)
    assert _kinds(audit(ResNetBN(), torch.randn(3, 3, 6, 6))) == RESNET


def test_pre_ln_transformer_block_has_nothing_invariant_and_a_useless_key_bias():
    torch.manual_seed(2)
    model = PreLNBlock()
    report = audit(model, torch.randn(2, 5, 8))
    expected = {n: "none" for n, _ in model.named_parameters()}
    expected["k.bias"] = "no-effect"
    assert _kinds(report) == expected
    assert all(p.weight_decay == (NO_EFFECT if p.name == "k.bias" else REGULARIZES) for p in report.parameters)


def test_linear_feeding_layernorm_is_jointly_invariant_per_layer():
    torch.manual_seed(3)
    kinds = _kinds(audit(LinearLN(), torch.randn(4, 5)))
    assert kinds == {"fc.weight": "joint-per-layer", "fc.bias": "joint-per-layer", "ln.weight": "none",
                     "ln.bias": "none", "head.weight": "none", "head.bias": "none"}


def test_weight_normalized_mlp():
    torch.manual_seed(4)
    assert _kinds(audit(wn_mlp(), torch.randn(6, 5))) == WN_MLP


def test_network_without_normalization_has_nothing_invariant():
    torch.manual_seed(5)
    model = plain_mlp()
    assert _kinds(audit(model, torch.randn(6, 5))) == {n: "none" for n, _ in model.named_parameters()}


def test_eval_mode_model_is_probed_in_train_mode_and_left_untouched():
    torch.manual_seed(6)
    model = BNConvNet().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = audit(model, torch.randn(4, 3, 8, 8))
    assert _kinds(report)["conv1.weight"] == "per-channel"
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ---- the predictions --------------------------------------------------------------------------------------------
def test_sgd_predictions_are_the_theory_evaluated(bn_report):
    row = {p.name: p for p in bn_report.parameters}["bn1.weight"]     # one unit: the (gamma, beta) group
    assert row.units == 1 and row.unit_dim == 8
    cos = _value(moments.cos_angle("sgd"), 0.1, 5e-4)
    assert row.predicted["angle"] == pytest.approx(math.acos(cos), rel=1e-12)
    assert row.predicted["tau"] == pytest.approx(predict.relaxation_time("sgd", 0.1, 5e-4), rel=1e-12)
    N = _value(section4.stationary_N("sgd"), 0.1, 5e-4, C=row.C)
    assert row.predicted["norm"] == pytest.approx(math.sqrt(N), rel=1e-12)


def test_adamw_norm_does_not_depend_on_the_gradient_scale():
    a = predict_unit("adamw", 1e-3, 0.1, 64, 1.0)
    b = predict_unit("adamw", 1e-3, 0.1, 64, 1e4)
    assert a == b
    N = _value(moments.stationary_N("adamw"), 1e-3, 0.1, d=64, beta1=0.9)
    assert a["norm"] == pytest.approx(math.sqrt(N), rel=1e-12)


def test_sgd_norm_scales_like_the_fourth_root_of_C():
    a, b = predict_unit("sgd", 0.1, 1e-3, 27, 1.0), predict_unit("sgd", 0.1, 1e-3, 27, 16.0)
    assert b["norm"] / a["norm"] == pytest.approx(2.0, rel=1e-12)
    assert a["angle"] == b["angle"]


def test_no_decay_means_no_equilibrium():
    p = predict_unit("sgd", 0.1, 0.0, 27, 1.0)
    assert p["norm"] == math.inf and "no equilibrium" in p["note"]


def test_every_optimizer_gives_finite_predictions():
    for opt in ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"):
        p = predict_unit(opt, 1e-3, 5e-4, 27, 2.0)
        assert all(math.isfinite(p[k]) and p[k] > 0 for k in ("norm", "angle", "tau")), opt


def test_param_groups_snippet_builds_a_working_optimizer(bn_report):
    model = BNConvNet()
    namespace = {"torch": torch, "model": model}
    exec(bn_report.snippet(), namespace)   # noqa: S102 - the snippet is ours
    opt = namespace["optimizer"]
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))
    decays = {g["weight_decay"] for g in opt.param_groups}
    assert decays == {0.0, 2 * 5e-4}


def test_gpu_convnet_small_widths():
    gpu_model = pytest.importorskip("normlaws.gpu.model")
    torch.manual_seed(7)
    model = gpu_model.ConvNet(widths=(4, 4, 6, 6))
    kinds = _kinds(audit(model, torch.randn(2, 3, 16, 16)))
    expected = {f"convs.{i}.weight": "per-channel" for i in range(4)}
    expected.update({f"bns.{i}.{p}": "joint-per-layer" for i in range(3) for p in ("weight", "bias")})
    expected.update({"bns.3.weight": "none", "bns.3.bias": "none", "head.weight": "none", "head.bias": "none"})
    assert kinds == expected


# ---- the command line -------------------------------------------------------------------------------------------
def test_cli_json(capsys):
    assert main(["audit", "test_audit:bn_convnet", "--input-shape", "4,3,8,8", "--optimizer", "adamw",
                 "--eta", "1e-3", "--lam", "0.05", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {p["name"]: p["invariance"] for p in payload["parameters"]} == BN_CONVNET
    assert payload["torch_weight_decay"] == 0.05 and "AdamW" in payload["snippet"]
    (group,) = payload["invariant_groups"]
    assert group["members"] == ["bn1.weight", "bn1.bias"] and group["removed_by"] == ["bn2"]


def test_cli_table(capsys):
    assert main(["audit", "test_audit:bn_convnet", "--input-shape", "4,3,8,8"]) == 0
    out = capsys.readouterr().out
    assert "conv1.bias" in out and "no effect" in out and "torch.optim.SGD" in out
    assert "Jointly scale-invariant groups" in out and "joint-per-layer G1" in out
    assert "not scale-invariant: decay is a real L2 penalty on it" in out


@pytest.mark.parametrize("argv, message", [
    (["audit", "no_colon", "--input-shape", "2,3"], "package.module:function"),
    (["audit", "no_such_module_xyz:f", "--input-shape", "2,3"], "cannot import"),
    (["audit", "test_audit:nothing_here", "--input-shape", "2,3"], "has no attribute"),
    (["audit", "test_audit:BN_CONVNET", "--input-shape", "2,3"], "not callable"),
    (["audit", "test_audit:bn_convnet", "--input-shape", "2,x"], "whole numbers"),
    (["audit", "test_audit:bn_convnet", "--input-shape", "2,0,8,8"], ">= 1"),
    (["audit", "test_audit:bn_convnet", "--input-shape", "2,5,8,8"], "fails on an input"),
    (["audit", "test_audit:bn_convnet", "--input-shape", "4,3,8,8", "--eta", "-1"], "must be > 0"),
    (["audit", "test_audit:bn_convnet", "--input-shape", "4,3,8,8", "--optimizer", "lion"], "invalid choice"),
    (["audit", "--input-shape", "4,3,8,8"], "needs FACTORY"),
    (["audit", "test_audit:bn_convnet"], "needs FACTORY and --input-shape"),
    (["audit", "--bench", "alexnet"], "unknown architecture 'alexnet'"),
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_cli_without_torch_is_one_line(monkeypatch, capsys):
    import sys
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(["audit", "test_audit:bn_convnet", "--input-shape", "4,3,8,8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs torch" in err


@pytest.mark.slow
def test_cli_on_the_gpu_convnet(capsys):
    pytest.importorskip("normlaws.gpu.model")
    assert main(["audit", "normlaws.gpu.model:ConvNet", "--input-shape", "2,3,32,32", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    kinds = {p["name"]: p["invariance"] for p in payload["parameters"]}
    assert all(kinds[f"convs.{i}.weight"] == "per-channel" for i in range(4))
