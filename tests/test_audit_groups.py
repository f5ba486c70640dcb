"""Whole-network scale invariance: the audit's groups on architectures built in code, against answers derived
by hand (in each model's docstring), each group confirmed independently with ``normlaws.testing`` and each
control (a group minus a member, or the same architecture without the normalization that removes the scale)
refused."""
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import normlaws.testing as nt  # noqa: E402
from normlaws import archs  # noqa: E402
from normlaws.audit import audit  # noqa: E402
from normlaws.audit_report import WHY_REGULARIZED, WHY_ZERO_GRADIENT  # noqa: E402


def exact(model, seed=11):
    """A float64 train-mode copy at a generic point with every normalization eps at 1e-30 (below the float
    resolution of every variance here), for the independent checks."""
    m = copy.deepcopy(model).double().train()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            scale = float(p.pow(2).mean().sqrt()) or 1.0
            p.add_(0.2 * scale * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    for mod in m.modules():
        if isinstance(getattr(mod, "eps", None), float):
            mod.eps = 1e-30
    return m


def assert_invariant(model, x, members, per="layer"):
    """The group is invariant (two factors per layer, or two factor vectors per channel)."""
    m = exact(model)
    if per == "layer":
        alphas = (0.5, 3.0)
    else:
        c = dict(m.named_parameters())[members[0]].shape[0]
        alphas = (np.linspace(0.4, 2.5, c), np.linspace(2.5, 0.4, c))
    for a in alphas:
        nt.assert_scale_invariant(m, x, a, param=tuple(members), per=per)


def refused(model, x, members, per="layer"):
    """The control is not invariant: the assertion fails."""
    with pytest.raises(AssertionError, match="not scale-invariant"):
        assert_invariant(model, x, members, per)
    return True


def groups_of(report):
    return {frozenset(g.members): g for g in report.invariant_groups}


def kinds(report):
    return {p.name: p.invariance for p in report.parameters}


# ---- a ResNet stage ---------------------------------------------------------------------------------------------
def small_resnet():
    """Stem conv-BN-ReLU-pool, stage 1 (two basic blocks, width 4), stage 2 (one block, width 6, stride 2, with a
    downsample conv-BN), stage 3 (one block, width 8), mean, linear.

    By hand (train-mode BN removes any positive per-channel scale of its input):
    * every conv (no bias) feeds a BN directly: per-channel invariant alone;
    * each block's bn1 (gain, shift): ReLU is positively homogeneous, conv2 is linear, bn2 removes the scale:
      jointly invariant per layer (not per channel: conv2 mixes channels);
    * stage 1's stream x0 = pool(ReLU(bn_stem)); each block adds its bn2 output and applies ReLU. Scaling the stem
      BN and every bn2 of the stage by a > 0 scales every block's input and output by a; the stream then meets
      only convolutions into BNs (the next blocks' conv1, stage 2's conv1 and downsample conv): the six tensors
      are jointly invariant, and no fewer (drop one and the sum x + y is no longer scaled);
    * stage 2's stream starts at its downsample BN: {downsample BN, bn2} likewise, removed by stage 3's BNs;
    * stage 3's stream {downsample BN, bn2} reaches the linear head unnormalized: not invariant.
    """
    torch.manual_seed(0)
    return archs.ResNet(widths=(4, 6, 8), depths=(2, 1, 1), stem=4, num_classes=5)


RESNET_X = (4, 3, 16, 16)
STAGE1 = ("bn1.weight", "bn1.bias", "layers.0.0.bn2.weight", "layers.0.0.bn2.bias", "layers.0.1.bn2.weight",
          "layers.0.1.bn2.bias")
STAGE2 = ("layers.1.0.bn2.weight", "layers.1.0.bn2.bias", "layers.1.0.downsample.1.weight",
          "layers.1.0.downsample.1.bias")
STAGE3 = ("layers.2.0.bn2.weight", "layers.2.0.bn2.bias", "layers.2.0.downsample.1.weight",
          "layers.2.0.downsample.1.bias")


@pytest.fixture(scope="module")
def resnet_report():
    torch.manual_seed(1)
    return audit(small_resnet(), torch.randn(RESNET_X))


def test_resnet_stage_groups(resnet_report):
    found = groups_of(resnet_report)
    blocks = ("layers.0.0", "layers.0.1", "layers.1.0", "layers.2.0")
    expected = {frozenset(STAGE1), frozenset(STAGE2)} | {frozenset((f"{b}.bn1.weight", f"{b}.bn1.bias"))
                                                         for b in blocks}
    assert set(found) == expected
    assert all(g.per == "layer" for g in found.values())
    assert set(found[frozenset(STAGE1)].removed_by) == {"layers.0.0.bn1", "layers.0.1.bn1", "layers.1.0.bn1",
                                                       "layers.1.0.downsample.1"}
    k = kinds(resnet_report)
    convs = [n for n in k if n.endswith("weight") and ("conv" in n or "downsample.0" in n)]
    assert len(convs) == 11 and all(k[n] == "per-channel" for n in convs)
    assert all(k[n] == "none" for n in STAGE3 + ("fc.weight", "fc.bias"))
    x = torch.randn(RESNET_X, dtype=torch.float64)
    for members in expected:
        assert_invariant(small_resnet(), x, sorted(members))


def test_resnet_controls_are_refused():
    x = torch.randn(RESNET_X, dtype=torch.float64)
    assert refused(small_resnet(), x, STAGE3)                       # reaches the head
    assert refused(small_resnet(), x, STAGE1[2:])                   # without the stem's BN
    assert refused(small_resnet(), x, STAGE1[:2])                   # the stem's BN alone


def test_joint_groups_are_decayed_together_not_as_one_dimensional_gains(resnet_report):
    groups = resnet_report.groups()
    assert set(STAGE1) <= set(groups["decay_invariant"]["params"])
    assert not set(STAGE1) & set(groups["no_decay"]["params"])
    assert set(STAGE3[1::2]) <= set(groups["no_decay"]["params"])  # biases of a stage that is not invariant


# ---- a pre-LN transformer stack ---------------------------------------------------------------------------------
def small_vit(final_norm=True):
    """Patch embedding (conv), class token, position embedding, two pre-LN blocks, final LN, class-token head.

    By hand: the residual stream is x0 = cat(cls, patches) + pos, then x += proj(attn(LN1 x)), x += fc2(GELU(fc1(
    LN2 x))). Scaling the patch embedding (weight and bias), the class token, the position embedding and every
    block's attention output and MLP output projections (weights and biases) by a > 0 scales x0 and every branch
    output (each branch reads its input through a LayerNorm, so only its last layer's scale shows): the whole
    stream scales by a and the final LayerNorm removes it. The branches' other tensors are not invariant
    (attention logits and GELU are not homogeneous; a LayerNorm's gain and shift meet a biased linear map).
    Without the final LayerNorm the stream reaches the head: nothing is invariant.
    """
    torch.manual_seed(2)
    model = archs.ViT(img_size=8, patch=4, dim=8, depth=2, heads=2, num_classes=5)
    if not final_norm:
        model.norm = nn.Identity()
    return model


VIT_X = (3, 3, 8, 8)
STREAM = ("cls_token", "pos_embed", "patch_embed.weight", "patch_embed.bias") + tuple(
    f"blocks.{i}.{layer}.{p}" for i in range(2) for layer in ("attn.proj", "fc2") for p in ("weight", "bias"))


def test_pre_ln_stack_with_final_layernorm():
    torch.manual_seed(3)
    report = audit(small_vit(), torch.randn(VIT_X))
    found = groups_of(report)
    assert set(found) == {frozenset(STREAM)}
    norms = {f"blocks.{i}.norm{j}" for i in range(2) for j in (1, 2)} | {"norm"}
    assert set(found[frozenset(STREAM)].removed_by) == norms
    assert all(v == "none" for n, v in kinds(report).items() if n not in STREAM)
    x = torch.randn(VIT_X, dtype=torch.float64)
    assert_invariant(small_vit(), x, STREAM)
    assert refused(small_vit(), x, STREAM[1:])                        # without the class token
    assert refused(small_vit(final_norm=False), x, STREAM)


def test_pre_ln_stack_without_final_layernorm_has_no_group():
    torch.manual_seed(3)
    report = audit(small_vit(final_norm=False), torch.randn(VIT_X))
    assert report.invariant_groups == []


# ---- a ConvNeXt stage --------------------------------------------------------------------------------------------
def small_convnext():
    """Patchify stem (conv 4x4/4 with bias, LN), stage 1 (two blocks, width 4), downsample (LN, conv 2x2/2 with
    bias), stage 2 (one block, width 8), mean, LN, linear. A block is x + gamma * fc2(GELU(fc1(LN(dwconv(x))))).

    By hand: the stem conv's (weight, bias) and each block's depthwise conv (weight, bias) feed a LayerNorm
    directly: jointly invariant per layer. Stage 1's stream starts at the stem's LN: scaling its (gain, shift)
    scales the stream; each block's depthwise conv then sees a scaled input, and its output is scaled too only if
    its bias is (a bias is not scaled by the input), after which the LN removes the scale; the branch comes back
    multiplied by gamma. So {stem LN gain and shift, every gamma, every depthwise bias} is jointly invariant,
    removed by the blocks' LNs and the downsample's LN. Stage 2's stream starts at the downsample conv (weight,
    bias): {it, the block's gamma and depthwise bias}, removed by the block's LN and the head's LN. Equivalent
    groups exchange a gamma for its block's fc2 (weight, bias), or the downsample conv's weight for the
    downsample LN's (gain, shift); the audit reports the smallest.
    """
    torch.manual_seed(4)
    return archs.ConvNeXt(dims=(4, 8), depths=(2, 1), num_classes=5)


CONVNEXT_X = (2, 3, 16, 16)
CN_STAGE1 = ("stem.1.weight", "stem.1.bias", "stages.0.0.gamma", "stages.0.0.conv_dw.bias", "stages.0.1.gamma",
             "stages.0.1.conv_dw.bias")
CN_STAGE2 = ("stages.1.1.weight", "stages.1.1.bias", "stages.1.2.gamma", "stages.1.2.conv_dw.bias")


def test_convnext_stage_groups():
    torch.manual_seed(5)
    report = audit(small_convnext(), torch.randn(CONVNEXT_X))
    found = groups_of(report)
    pairs = {frozenset((f"{b}.conv_dw.weight", f"{b}.conv_dw.bias"))
             for b in ("stages.0.0", "stages.0.1", "stages.1.2")}
    assert set(found) == pairs | {frozenset(("stem.0.weight", "stem.0.bias")), frozenset(CN_STAGE1),
                                  frozenset(CN_STAGE2)}
    assert (("stages.1.2.gamma",), ("stages.1.2.fc2.weight", "stages.1.2.fc2.bias")) in \
        found[frozenset(CN_STAGE2)].alternatives
    assert set(found[frozenset(CN_STAGE2)].removed_by) == {"stages.1.2.norm", "head_norm"}
    x = torch.randn(CONVNEXT_X, dtype=torch.float64)
    for members in (CN_STAGE1, CN_STAGE2, ("stages.1.0.weight", "stages.1.0.bias", "stages.1.1.bias",
                                           "stages.1.2.gamma", "stages.1.2.conv_dw.bias")):
        assert_invariant(small_convnext(), x, members)
    assert refused(small_convnext(), x, [m for m in CN_STAGE1 if "conv_dw" not in m])   # without the dw biases


# ---- squeeze-and-excitation ---------------------------------------------------------------------------------------
class SEBlock(nn.Module):
    """conv-BN-ReLU, squeeze-and-excitation (or nothing), conv-BN-ReLU, mean, linear.

    By hand: both convs feed a BN: per-channel invariant. Without the SE, bn1's (gain, shift) are jointly invariant
    (ReLU, a bias-free conv, bn2). With it they are not: the gate sigmoid(W2 ReLU(W1 mean(h) + b1) + b2) sees the
    scale of h (the biases are not scaled, and the sigmoid is not homogeneous), so the block's output changes. The
    SE's own convolutions reach the output through the sigmoid: not invariant. bn2 reaches the head: regularized.
    """

    def __init__(self, se=True):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6)
        self.se = archs.SqueezeExcite(6, 4, gate=torch.sigmoid) if se else nn.Identity()
        self.conv2, self.bn2 = nn.Conv2d(6, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        h = self.se(torch.relu(self.bn1(self.conv1(x))))
        return self.head(torch.relu(self.bn2(self.conv2(h))).mean((2, 3)))


def test_squeeze_excitation_breaks_the_invariance_of_what_it_gates():
    torch.manual_seed(6)
    x = torch.randn(4, 3, 6, 6)
    with_se, without = audit(SEBlock(), x), audit(SEBlock(se=False), x)
    assert kinds(with_se) == {"conv1.weight": "per-channel", "bn1.weight": "none", "bn1.bias": "none",
                              "se.conv_reduce.weight": "none", "se.conv_reduce.bias": "none",
                              "se.conv_expand.weight": "none", "se.conv_expand.bias": "none",
                              "conv2.weight": "per-channel", "bn2.weight": "none", "bn2.bias": "none",
                              "head.weight": "none", "head.bias": "none"}
    assert set(groups_of(without)) == {frozenset(("bn1.weight", "bn1.bias"))}
    x64 = x.double()
    torch.manual_seed(7)
    assert_invariant(SEBlock(se=False), x64, ("bn1.weight", "bn1.bias"))
    assert refused(SEBlock(), x64, ("bn1.weight", "bn1.bias"))


# ---- per channel where it holds per channel: MobileNetV3's first stages -----------------------------------------
def small_mobilenet():
    """MobileNetV3-small's stem and first three blocks at their real widths, then a 1x1 conv-BN-hardswish (16),
    mean, 1x1 conv head, linear.

    By hand: every conv is bias-free and feeds a BN: per-channel invariant. Block 0 (depthwise, SE, project): the
    depthwise BN's (gain, shift) feed ReLU and the SE gate: not invariant. Its project BN feeds block 1's expand
    conv and BN: its shift adds a constant the BN removes (no effect) and its gain alone is invariant per layer.
    Blocks 1 and 2 (ReLU): the expand BN's (gain, shift) feed ReLU and a depthwise conv (per channel) into a BN:
    jointly invariant *per channel*; the depthwise BN's pair feeds ReLU and the project conv (mixing channels)
    into a BN: per layer. Block 2 adds its project BN's output to block 1's (same shape): the two project gains
    are jointly invariant (the stream meets the last conv and BN), their shifts have no effect. The stem BN and
    the last BN feed hard-swish (not homogeneous): not invariant.
    """
    torch.manual_seed(8)
    return archs.MobileNetV3(blocks=archs.MOBILENETV3_SMALL[:3], last=16, head=16, num_classes=5)


def test_mobilenet_groups_per_channel_where_they_hold():
    torch.manual_seed(9)
    report = audit(small_mobilenet(), torch.randn(2, 3, 32, 32))
    found = {frozenset(g.members): g.per for g in report.invariant_groups}
    pair = lambda m: frozenset((f"{m}.weight", f"{m}.bias"))  # noqa: E731
    assert found == {pair("blocks.1.expand.1"): "channel", pair("blocks.2.expand.1"): "channel",
                     pair("blocks.1.dw.1"): "layer", pair("blocks.2.dw.1"): "layer",
                     frozenset(("blocks.1.project.1.weight", "blocks.2.project.1.weight")): "layer"}
    k = kinds(report)
    assert k["blocks.0.project.1.weight"] == "per-layer"
    assert {n for n, v in k.items() if v == "no-effect"} == {f"blocks.{i}.project.1.bias" for i in range(3)}
    assert k["stem.1.weight"] == k["last.1.weight"] == k["blocks.0.dw.1.weight"] == "none"
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    assert_invariant(small_mobilenet(), x, sorted(pair("blocks.1.expand.1")), per="channel")
    assert refused(small_mobilenet(), x, sorted(pair("blocks.1.dw.1")), per="channel")


# ---- gains of any layout, zero gradients, lazy layers --------------------------------------------------------------
def test_nf_resnet_four_dimensional_gains_are_kept_out_of_decay():
    """Weight-standardized convs: each weight is invariant per output channel (standardized per channel); the
    (C, 1, 1, 1) gains and the biases reach the logits without a normalization: regularized, and gains."""
    torch.manual_seed(10)
    model = archs.NFResNet(widths=(8, 16), depths=(1, 1), stem=4, num_classes=5)
    report = audit(model, torch.randn(2, 3, 32, 32))
    k = kinds(report)
    gains = [n for n in k if n.endswith(".gain")]
    assert gains and all(k[n] == "none" for n in gains)
    assert all(k[n] == "per-channel" for n in k if n.endswith(".weight") and n != "fc.weight")
    groups = report.groups()
    assert set(gains) <= set(groups["no_decay"]["params"])
    assert not set(gains) & set(groups["decay_regularized"]["params"])
    assert refused(model, torch.randn(2, 3, 32, 32, dtype=torch.float64), ("stem.gain",))


def test_every_dash_in_the_table_says_why():
    """A block whose last BN gain starts at zero: conv2's gradient is zero at the sample input."""
    model = small_resnet()
    with torch.no_grad():
        model.layers[0][0].bn2.weight.zero_()
    torch.manual_seed(12)
    report = audit(model, torch.randn(RESNET_X))
    rows = {r[0]: r for r in report.table_rows()}
    assert WHY_ZERO_GRADIENT in rows["layers.0.0.conv2.weight"][-1] and rows["layers.0.0.conv2.weight"][5] == "-"
    assert rows["fc.weight"][-1] == WHY_REGULARIZED
    assert all(r[-1] for r in report.table_rows() + report.group_rows() if "-" in r[5:8])


def test_lazy_layers_are_materialised_with_the_sample_input():
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
    report = audit(model, torch.randn(4, 3, 6, 6))
    assert kinds(report)["0.weight"] == "per-channel"
    assert not any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters())


def test_lazy_layers_that_cannot_be_materialised_are_refused_in_one_line():
    from normlaws.errors import UsageError
    model = nn.Sequential(nn.LazyLinear(4), nn.Linear(5, 2))
    with pytest.raises(UsageError, match="lazy layers") as info:
        audit(model, torch.randn(3, 6))
    assert "\n" not in str(info.value)


def test_confirmation_rejects_a_false_claim_among_true_ones():
    """The audit's rescaling test, all claims at once and bisected: the head weight is not invariant."""
    from normlaws.audit_groups import confirm
    from normlaws.audit_probe import Rescaler, probe_model

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn1 = nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4)
            self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, bias=False), nn.BatchNorm2d(4)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            h = self.bn2(self.conv2(torch.relu(self.bn1(self.conv(x)))))
            return self.head(h.mean((2, 3)))

    torch.manual_seed(0)
    probe = probe_model(torch, Net())
    x = torch.randn(4, 3, 7, 7, dtype=torch.float64)
    shapes = {n: tuple(p.shape) for n, p in probe.named_parameters()}
    claims = [(("conv.weight",), "channel"), (("head.weight",), "layer"), (("bn1.weight", "bn1.bias"), "layer"),
              (("bn1.weight", "bn1.bias"), "channel")]
    assert confirm(Rescaler(torch, probe, x), claims, shapes) == [True, False, True, False]


# ---- the real shapes ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, count", [
    # published parameter counts of the reference implementations (torchvision resnet18 and mobilenet_v3_small,
    # timm vit_tiny_patch16_224 and regnetx_002): an independent check that the code-built shapes are the real ones
    ("resnet18", 11_689_512), ("mobilenetv3_small", 2_542_856), ("regnetx_002", 2_684_792), ("vit_tiny", 5_717_416),
])
def test_code_built_architectures_have_the_published_sizes(name, count):
    model = archs.vit_tiny(img_size=224) if name == "vit_tiny" else archs.REAL[name]()
    assert sum(p.numel() for p in model.parameters()) == count


def test_bench_of_one_architecture_reports_its_cost():
    from normlaws.audit_bench import bench_one
    row = bench_one("regnetx_002", threads=1)
    assert row["tensors"] == 134 and row["groups"] > 0 and row["forward_backward_s"] > 0
    assert row["ratio"] == pytest.approx(row["audit_s"] / row["forward_backward_s"])
    assert row["peak_rss_mb"] >= row["rss_before_audit_mb"] > 0


@pytest.mark.parametrize("module", ["normlaws.archs", "normlaws.audit_report"])
def test_doctests(module):
    import doctest
    import importlib
    failures, _ = doctest.testmod(importlib.import_module(module))
    assert failures == 0


# ---- the real widths: the groups the issue counted ----------------------------------------------------------------
def stream_groups(report):
    """Sizes of the groups that are not a single module's tensors."""
    owner = lambda name: name.rsplit(".", 1)[0]  # noqa: E731
    return sorted(len(g.members) for g in report.invariant_groups if len({owner(m) for m in g.members}) > 1)


@pytest.mark.parametrize("name, streams, pairs", [
    # ResNet-18: stages 1-3 each {first BN (stem or downsample), both blocks' bn2} (6 tensors, 18 in all), stage 4
    # reaches the head; every block's bn1 pair (8). ViT-tiny: patch embedding (2), class token, position embedding,
    # 12 blocks x (attention output, MLP output) x (weight, bias): 52. ConvNeXt-atto: per stage the stream's first
    # module (2) and each block's (gamma, depthwise bias): 6, 6, 14, 6; the stem conv pair and 12 depthwise pairs.
    ("resnet18", [6, 6, 6], 8), ("vit_tiny", [52], 0), ("convnext_atto", [6, 6, 6, 14], 13),
])
def test_real_width_groups(name, streams, pairs):
    torch.manual_seed(0)
    model = archs.REAL[name]()
    report = audit(model, torch.randn(2, 3, 64, 64))
    assert stream_groups(report) == streams
    assert len(report.invariant_groups) - len(streams) == pairs


class InPlaceBlock(nn.Module):
    """A basic block written the way model zoos write it: ReLU(inplace=True) and ``out += identity``.

    Same answer as any residual stage: the conv weights per channel, bn1's pair jointly (by bn2 of the next
    conv), and {stem BN, bn2} jointly (the stream then meets only a bias-free conv into a BN)."""

    def __init__(self):
        super().__init__()
        self.conv0, self.bn0 = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.conv1, self.bn1 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.conv3, self.bn3 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        identity = self.relu(self.bn0(self.conv0(x)))
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(identity)))))
        out += identity
        out = self.relu(out)
        return self.head(self.bn3(self.conv3(out)).mean((2, 3)))


def test_in_place_operations_are_followed():
    torch.manual_seed(13)
    report = audit(InPlaceBlock(), torch.randn(4, 3, 6, 6))
    assert set(groups_of(report)) == {frozenset(("bn1.weight", "bn1.bias")),
                                      frozenset(("bn0.weight", "bn0.bias", "bn2.weight", "bn2.bias"))}
    assert_invariant(InPlaceBlock(), torch.randn(4, 3, 6, 6, dtype=torch.float64),
                     ("bn0.weight", "bn0.bias", "bn2.weight", "bn2.bias"))
