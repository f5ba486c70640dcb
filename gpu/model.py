"""The 4-layer BN ConvNet, alone (:class:`ConvNet`) and as M networks in one module (:class:`EnsembleConvNet`).

Architecture (see :func:`normlaws.gpu.architecture_description`): four blocks conv3x3 (no bias, padding 1)
-> BatchNorm -> ReLU, a 2x2 max-pool after blocks 1-3, global average pooling, a linear head with bias.

The ensemble holds every parameter with a leading model axis of size M. Block 1 is one convolution from the
3 shared input channels to M*C1 channels (the same as M convolutions of the same input); blocks 2-4 are grouped
convolutions (``groups=M``); BatchNorm over M*C channels is M independent BNs since every model sees the same
batch; the head is a batched matrix product. Logits come out as (M, B, 10).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import DEFAULT_WIDTHS

NUM_CLASSES = 10
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
POOL_AFTER = (True, True, True, False)


class ConvNet(nn.Module):
    """One 4-layer BN ConvNet (the reference for the ensemble and for ``torch.optim`` baselines)."""

    def __init__(self, widths=DEFAULT_WIDTHS, num_classes: int = NUM_CLASSES):
        super().__init__()
        chans = (3,) + tuple(widths)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1, bias=False) for a, b in zip(chans, chans[1:]))
        self.bns = nn.ModuleList(nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM) for c in widths)
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        """Logits (B, 10) for images (B, 3, H, W)."""
        for conv, bn, pool in zip(self.convs, self.bns, POOL_AFTER):
            x = F.relu(bn(conv(x)))
            if pool:
                x = F.max_pool2d(x, 2)
        return self.head(x.mean((2, 3)))


def _stack(tensors) -> torch.Tensor:
    return torch.stack([t.detach().clone() for t in tensors])


class EnsembleConvNet(nn.Module):
    """M independent ConvNets evaluated on the same batch in one pass; parameters have shape (M, ...)."""

    def __init__(self, models: int, widths=DEFAULT_WIDTHS, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.models, self.widths = int(models), tuple(widths)
        chans = (3,) + self.widths
        m = self.models
        self.conv_weights = nn.ParameterList(nn.Parameter(torch.empty(m, b, a, 3, 3)) for a, b in zip(chans, chans[1:]))
        self.bn_weights = nn.ParameterList(nn.Parameter(torch.ones(m, c)) for c in self.widths)
        self.bn_biases = nn.ParameterList(nn.Parameter(torch.zeros(m, c)) for c in self.widths)
        for i, c in enumerate(self.widths):
            self.register_buffer(f"running_mean{i}", torch.zeros(m, c))
            self.register_buffer(f"running_var{i}", torch.ones(m, c))
        self.head_weight = nn.Parameter(torch.empty(m, num_classes, self.widths[-1]))
        self.head_bias = nn.Parameter(torch.empty(m, num_classes))

    @classmethod
    def from_models(cls, nets) -> "EnsembleConvNet":
        """An ensemble holding copies of the given :class:`ConvNet` s (weights and BN running statistics)."""
        nets = list(nets)
        ens = cls(len(nets), tuple(bn.num_features for bn in nets[0].bns), nets[0].head.out_features)
        with torch.no_grad():
            for i in range(4):
                ens.conv_weights[i].copy_(_stack(n.convs[i].weight for n in nets))
                ens.bn_weights[i].copy_(_stack(n.bns[i].weight for n in nets))
                ens.bn_biases[i].copy_(_stack(n.bns[i].bias for n in nets))
                ens.running_mean(i).copy_(_stack(n.bns[i].running_mean for n in nets))
                ens.running_var(i).copy_(_stack(n.bns[i].running_var for n in nets))
            ens.head_weight.copy_(_stack(n.head.weight for n in nets))
            ens.head_bias.copy_(_stack(n.head.bias for n in nets))
        return ens.to(nets[0].head.weight.device)

    @classmethod
    def initialised(cls, models: int, widths=DEFAULT_WIDTHS, seed: int = 0) -> "EnsembleConvNet":
        """M copies of the ConvNet that ``torch.manual_seed(seed)`` initialises (torch's default init)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = ConvNet(widths)
        return cls.from_models([net] * models)

    def running_mean(self, i: int) -> torch.Tensor:
        """BN running means of block ``i`` (M, C)."""
        return getattr(self, f"running_mean{i}")

    def running_var(self, i: int) -> torch.Tensor:
        """BN running variances of block ``i`` (M, C)."""
        return getattr(self, f"running_var{i}")

    def extract(self, index: int) -> ConvNet:
        """Model ``index`` as a separate :class:`ConvNet` (a copy)."""
        net = ConvNet(self.widths, self.head_weight.shape[1]).to(self.head_weight.device)
        with torch.no_grad():
            for i in range(4):
                net.convs[i].weight.copy_(self.conv_weights[i][index])
                net.bns[i].weight.copy_(self.bn_weights[i][index])
                net.bns[i].bias.copy_(self.bn_biases[i][index])
                net.bns[i].running_mean.copy_(self.running_mean(i)[index])
                net.bns[i].running_var.copy_(self.running_var(i)[index])
            net.head.weight.copy_(self.head_weight[index])
            net.head.bias.copy_(self.head_bias[index])
        return net

    def forward(self, x):
        """Logits (M, B, 10) of the M models for the shared images (B, 3, H, W)."""
        m = self.models
        for i, (w, pool) in enumerate(zip(self.conv_weights, POOL_AFTER)):
            _, c_out, c_in = w.shape[:3]
            x = F.conv2d(x, w.reshape(m * c_out, c_in, 3, 3), padding=1, groups=1 if i == 0 else m)
            x = F.batch_norm(x, self.running_mean(i).view(-1), self.running_var(i).view(-1),
                             self.bn_weights[i].view(-1), self.bn_biases[i].view(-1),
                             training=self.training, momentum=BN_MOMENTUM, eps=BN_EPS)
            x = F.relu(x)
            if pool:
                x = F.max_pool2d(x, 2)
        features = x.mean((2, 3)).view(x.shape[0], m, -1)            # (B, M, C4)
        logits = torch.einsum("bmc,mkc->mbk", features, self.head_weight)
        return logits + self.head_bias[:, None, :]

    # --- which tensors the optimizer treats how -------------------------------------------------------
    def bn_followed_weights(self) -> list:
        """The conv weights (M, C_out, C_in, 3, 3): each output filter is scale-invariant through its BN."""
        return list(self.conv_weights)

    def decayed_parameters(self, head: bool = True) -> list:
        """Parameters that get the L2 term: conv weights, and the head weight if ``head`` (never BN, biases)."""
        return self.bn_followed_weights() + ([self.head_weight] if head else [])

    def per_model_buffers(self) -> list:
        """BN running statistics, (M, C) each."""
        return [b for i in range(4) for b in (self.running_mean(i), self.running_var(i))]


def flops_per_image(widths=DEFAULT_WIDTHS, size: int = 32) -> int:
    """Multiply-adds x 2 of one forward pass of the convolutions and the head (BN, ReLU, pooling left out).

    >>> flops_per_image((1, 1, 1, 1), 32)  # 2 * (27*1024 + 9*256 + 9*64 + 9*16 + 1*10)
    61364
    """
    total, chans = 0, (3,) + tuple(widths)
    for i, (a, b) in enumerate(zip(chans, chans[1:])):
        total += 2 * size * size * a * 9 * b
        if POOL_AFTER[i]:
            size //= 2
    return total + 2 * widths[-1] * NUM_CLASSES
