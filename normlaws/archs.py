"""Compact code-built versions of six widely used image classifiers, for the audit's tests and benchmark.

torchvision and timm are not needed (nor importable here): each architecture is written out in plain torch,
following the layer order and widths of timm's definitions (ResNet-18, ConvNeXt-atto, ViT-tiny/16, NF-ResNet-26,
MobileNetV3-small-100, RegNetX-200MF). Every constructor takes its widths and depths, so the tests build the
same graph at a few channels and the benchmark at the real widths (:data:`REAL`). Initialisations are torch's
defaults except where the zoo's own choice matters to the audit (ConvNeXt's layer scale ``1e-6``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

RELU_GAMMA = 1.7139588594436646   # NF-ResNet's gamma for ReLU: 1/std(relu(z)) for z ~ N(0, 1)


def make_divisible(v: float, divisor: int = 8) -> int:
    """timm's channel rounding: the nearest multiple of ``divisor``, never below 90 % of ``v``.

    >>> make_divisible(16 * 4.5), make_divisible(24 * 3.67), make_divisible(144 * 0.25)
    (72, 88, 40)
    """
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def conv_bn(cin, cout, k=1, stride=1, groups=1):
    """Conv (no bias, 'same' padding) followed by BatchNorm."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout))


# ---- ResNet ---------------------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the input (or conv1x1-BN of it when the shape changes), then ReLU."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.downsample = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """ResNet with basic blocks: 7x7 stem, BN, ReLU, max-pool, stages (stride 2 from the second), mean, linear."""

    def __init__(self, widths=(64, 128, 256, 512), depths=(2, 2, 2, 2), stem=64, num_classes=1000):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False), nn.BatchNorm2d(stem)
        cin, stages = stem, []
        for i, (width, depth) in enumerate(zip(widths, depths)):
            stages.append(nn.Sequential(*(BasicBlock(cin if j == 0 else width, width, 2 if i and j == 0 else 1)
                                          for j in range(depth))))
            cin = width
        self.layers = nn.Sequential(*stages)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        return self.fc(self.layers(x).mean((2, 3)))


# ---- ConvNeXt ---------------------------------------------------------------------------------------------------
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) tensor, at every position."""

    def forward(self, x):
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """x + gamma * fc2(GELU(fc1(LN(dwconv7x7(x))))), 1x1 convs for the MLP (timm's ``conv_mlp``)."""

    def __init__(self, c, mlp_ratio=4, ls_init=1e-6):
        super().__init__()
        self.conv_dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = LayerNorm2d(c)
        self.fc1, self.fc2 = nn.Conv2d(c, mlp_ratio * c, 1), nn.Conv2d(mlp_ratio * c, c, 1)
        self.gamma = nn.Parameter(torch.full((c,), ls_init))

    def forward(self, x):
        y = self.fc2(F.gelu(self.fc1(self.norm(self.conv_dw(x)))))
        return x + y * self.gamma.reshape(1, -1, 1, 1)


class ConvNeXt(nn.Module):
    """Patchify stem (conv4x4/4, LN), stages (LN + conv2x2/2 between them), mean, LN, linear."""

    def __init__(self, dims=(40, 80, 160, 320), depths=(2, 2, 6, 2), num_classes=1000, ls_init=1e-6):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0]))
        stages = []
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            down = [LayerNorm2d(dims[i - 1]), nn.Conv2d(dims[i - 1], dim, 2, 2)] if i else []
            stages.append(nn.Sequential(*down, *(ConvNeXtBlock(dim, ls_init=ls_init) for _ in range(depth))))
        self.stages = nn.Sequential(*stages)
        self.head_norm, self.fc = nn.LayerNorm(dims[-1]), nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        return self.fc(self.head_norm(self.stages(self.stem(x)).mean((2, 3))))


# ---- ViT ----------------------------------------------------------------------------------------------------------
class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection (with bias) and an output projection."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(b, t, d))


class ViTBlock(nn.Module):
    """Pre-LN transformer block: x + attn(LN x), then x + fc2(GELU(fc1(LN x)))."""

    def __init__(self, dim, heads, mlp_ratio=4):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, mlp_ratio * dim), nn.Linear(mlp_ratio * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """Patch embedding (conv), class token, learned position embedding, pre-LN blocks, final LN, class-token head."""

    def __init__(self, img_size=224, patch=16, dim=192, depth=12, heads=3, num_classes=1000):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        tokens = (img_size // patch) ** 2 + 1
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.Sequential(*(ViTBlock(dim, heads) for _ in range(depth)))
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


# ---- NF-ResNet ------------------------------------------------------------------------------------------------------
class ScaledStdConv2d(nn.Conv2d):
    """Conv whose weight is standardised per output channel (mean 0, variance 1/fan-in) times a 4-D gain."""

    def __init__(self, cin, cout, k=1, stride=1, groups=1, eps=1e-8):
        super().__init__(cin, cout, k, stride, ((stride - 1) + (k - 1)) // 2, groups=groups, bias=True)
        self.gain = nn.Parameter(torch.ones(cout, 1, 1, 1))
        self.scale, self.eps = RELU_GAMMA * self.weight[0].numel() ** -0.5, eps

    def forward(self, x):
        w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None,
                         weight=(self.gain * self.scale).reshape(-1), training=True, momentum=0.0, eps=self.eps)
        return F.conv2d(x, w.reshape_as(self.weight), self.bias, self.stride, self.padding, 1, self.groups)


class NFBottleneck(nn.Module):
    """Normalizer-free pre-activation bottleneck: alpha * conv3(act(conv2(act(conv1(act(x) beta))))) + shortcut."""

    def __init__(self, cin, cout, stride, beta, alpha=0.2, ratio=0.25):
        super().__init__()
        mid = int(cout * ratio)
        self.beta, self.alpha = beta, alpha
        self.conv1, self.conv2 = ScaledStdConv2d(cin, mid), ScaledStdConv2d(mid, mid, 3, stride)
        self.conv3 = ScaledStdConv2d(mid, cout)
        self.pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
        self.downsample = ScaledStdConv2d(cin, cout) if stride != 1 or cin != cout else None

    def forward(self, x):
        out = F.relu(x) * RELU_GAMMA * self.beta
        shortcut = x if self.downsample is None else self.downsample(self.pool(out))
        out = self.conv2(F.relu(self.conv1(out)) * RELU_GAMMA)
        return self.conv3(F.relu(out) * RELU_GAMMA) * self.alpha + shortcut


class NFResNet(nn.Module):
    """NF-ResNet: scaled weight-standardised 7x7 stem, max-pool, bottleneck stages, ReLU, mean, linear."""

    def __init__(self, widths=(256, 512, 1024, 2048), depths=(2, 2, 2, 2), stem=64, num_classes=1000, alpha=0.2):
        super().__init__()
        self.stem = ScaledStdConv2d(3, stem, 7, 2)
        blocks, cin, expected_var = [], stem, 1.0
        for i, (width, depth) in enumerate(zip(widths, depths)):
            for j in range(depth):
                blocks.append(NFBottleneck(cin, width, 2 if i and j == 0 else 1, expected_var ** -0.5, alpha))
                expected_var = (1.0 if j == 0 else expected_var) + alpha ** 2
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.blocks(F.max_pool2d(self.stem(x), 3, 2, 1))
        return self.fc((F.relu(x) * RELU_GAMMA).mean((2, 3)))


# ---- MobileNetV3 ----------------------------------------------------------------------------------------------------
class SqueezeExcite(nn.Module):
    """x * gate(conv_expand(ReLU(conv_reduce(mean x)))), 1x1 convs with bias; gate hard-sigmoid (or sigmoid)."""

    def __init__(self, c, reduced, gate=F.hardsigmoid):
        super().__init__()
        self.conv_reduce, self.conv_expand = nn.Conv2d(c, reduced, 1), nn.Conv2d(reduced, c, 1)
        self.gate = gate

    def forward(self, x):
        return x * self.gate(self.conv_expand(F.relu(self.conv_reduce(x.mean((2, 3), keepdim=True)))))


class InvertedResidual(nn.Module):
    """1x1 expand-BN-act, kxk depthwise-BN-act, SE, 1x1 project-BN; plus the input when the shape is kept."""

    def __init__(self, cin, mid, cout, k, stride, act, se: bool):
        super().__init__()
        self.expand = conv_bn(cin, mid) if mid != cin else None
        self.dw = conv_bn(mid, mid, k, stride, groups=mid)
        self.se = SqueezeExcite(mid, make_divisible(mid * 0.25)) if se else None
        self.project = conv_bn(mid, cout)
        self.act, self.skip = act, stride == 1 and cin == cout

    def forward(self, x):
        y = x if self.expand is None else self.act(self.expand(x))
        y = self.act(self.dw(y))
        y = self.project(y if self.se is None else self.se(y))
        return x + y if self.skip else y


#: MobileNetV3-small: (kernel, expansion, out channels, SE, hard-swish, stride) per block, timm's arch_def
MOBILENETV3_SMALL = ((3, 1, 16, True, False, 2), (3, 4.5, 24, False, False, 2), (3, 3.67, 24, False, False, 1),
                     (5, 4, 40, True, True, 2), (5, 6, 40, True, True, 1), (5, 6, 40, True, True, 1),
                     (5, 3, 48, True, True, 1), (5, 3, 48, True, True, 1), (5, 6, 96, True, True, 2),
                     (5, 6, 96, True, True, 1), (5, 6, 96, True, True, 1))


class MobileNetV3(nn.Module):
    """Stem conv3x3/2-BN-hardswish, inverted residual blocks, 1x1 conv-BN-hardswish, mean, 1x1 conv head, linear."""

    def __init__(self, blocks=MOBILENETV3_SMALL, stem=16, last=576, head=1024, num_classes=1000):
        super().__init__()
        self.stem = conv_bn(3, stem, 3, 2)
        layers, cin = [], stem
        for k, e, cout, se, hs, stride in blocks:
            act = F.hardswish if hs else F.relu
            layers.append(InvertedResidual(cin, make_divisible(cin * e), cout, k, stride, act, se))
            cin = cout
        self.blocks = nn.Sequential(*layers)
        self.last = conv_bn(cin, last)
        self.conv_head, self.classifier = nn.Conv2d(last, head, 1), nn.Linear(head, num_classes)

    def forward(self, x):
        x = F.hardswish(self.last(self.blocks(F.hardswish(self.stem(x)))))
        return self.classifier(F.hardswish(self.conv_head(x.mean((2, 3), keepdim=True))).flatten(1))


# ---- RegNetX ------------------------------------------------------------------------------------------------------
class RegNetBottleneck(nn.Module):
    """1x1 conv-BN-ReLU, 3x3 grouped conv-BN-ReLU, 1x1 conv-BN, plus the input (or conv1x1-BN), then ReLU."""

    def __init__(self, cin, cout, stride, group_width):
        super().__init__()
        self.conv1, self.conv2 = conv_bn(cin, cout), conv_bn(cout, cout, 3, stride, groups=cout // group_width)
        self.conv3 = conv_bn(cout, cout)
        self.downsample = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.conv3(F.relu(self.conv2(F.relu(self.conv1(x)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class RegNet(nn.Module):
    """RegNetX: stem conv3x3/2-BN-ReLU, stages of bottlenecks (stride 2 at each stage's start), mean, linear."""

    def __init__(self, widths=(24, 56, 152, 368), depths=(1, 1, 4, 7), group_width=8, stem=32, num_classes=1000):
        super().__init__()
        self.stem = conv_bn(3, stem, 3, 2)
        blocks, cin = [], stem
        for width, depth in zip(widths, depths):
            for j in range(depth):
                blocks.append(RegNetBottleneck(cin, width, 2 if j == 0 else 1, min(group_width, width)))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.blocks(F.relu(self.stem(x))).mean((2, 3)))


# ---- the six at their real widths -------------------------------------------------------------------------------
def resnet18(num_classes=1000):
    """ResNet-18 (11.7M parameters at 1000 classes)."""
    return ResNet(num_classes=num_classes)


def convnext_atto(num_classes=1000):
    """ConvNeXt-atto (3.7M)."""
    return ConvNeXt(num_classes=num_classes)


def vit_tiny(img_size=64, num_classes=1000):
    """ViT-tiny/16 (5.7M) for ``img_size`` inputs (the position embedding fixes the number of patches)."""
    return ViT(img_size=img_size, num_classes=num_classes)


def nf_resnet26(num_classes=1000):
    """NF-ResNet-26 (16M)."""
    return NFResNet(num_classes=num_classes)


def mobilenetv3_small(num_classes=1000):
    """MobileNetV3-small-100 (2.5M)."""
    return MobileNetV3(num_classes=num_classes)


def regnetx_002(num_classes=1000):
    """RegNetX-200MF (2.7M)."""
    return RegNet(num_classes=num_classes)


#: the benchmark's architectures: name -> factory (real widths, 1000 classes)
REAL = {"resnet18": resnet18, "convnext_atto": convnext_atto, "vit_tiny": vit_tiny, "nf_resnet26": nf_resnet26,
        "mobilenetv3_small": mobilenetv3_small, "regnetx_002": regnetx_002}
