"""The 4-layer BN ConvNet, alone (:class:`ConvNet`) and as M networks in one module (:class:`EnsembleConvNet`).

Architecture (see :func:`normlaws.gpu.architecture_description`): four blocks conv3x3 (no bias, padding 1)
-> BatchNorm -> ReLU, a 2x2 max-pool after blocks 1-3, global average pooling, a linear head.

Two networks (``TrainConfig.network``):

- ``standard``, the paper's setting: BN with learnable gain and shift, a trained linear head with bias (L2 on its
  weight); only the conv weights are scale-invariant.
- ``invariant``: every trained parameter is scale-invariant, as in Li & Arora 2020 and Kodryan et al. 2022
  (after Lobacheva et al. 2021's ``ConvNetSI``): BN without affine parameters, a frozen random head without bias
  whose weight matrix is rescaled to Frobenius norm :data:`HEAD_NORM` (their ``initscale``; a frozen head of
  torch's default scale gives logits too small to learn from), and the conv weights (no biases) the only
  trained tensors. With BN's epsilon the network satisfies ``f(alpha w; eps) = f(w; eps/alpha^2)`` exactly
  (claim ``invariance.bn.epsilon``), which is what the trajectory tests use.

The ensemble holds every parameter with a leading model axis of size M. Block 1 is one convolution from the
3 shared input channels to M*C1 channels (the same as M convolutions of the same input); blocks 2-4 are grouped
convolutions (``groups=M``); BatchNorm over M*C channels is M independent BNs since every model sees the same
batch; the head is a batched matrix product. Logits come out as (M, B, 10).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import HEAD_NORM
from .config import DEFAULT_WIDTHS

NUM_CLASSES = 10
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
POOL_AFTER = (True, True, True, False)


class ConvNet(nn.Module):
    """One 4-layer BN ConvNet (the reference for the ensemble, for ``torch.optim`` baselines and the audit)."""

    def __init__(self, widths=DEFAULT_WIDTHS, num_classes: int = NUM_CLASSES, network: str = "standard",
                 bn_eps: float = BN_EPS):
        super().__init__()
        chans = (3,) + tuple(widths)
        standard = network == "standard"
        self.network = network
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1, bias=False) for a, b in zip(chans, chans[1:]))
        self.bns = nn.ModuleList(nn.BatchNorm2d(c, eps=bn_eps, momentum=BN_MOMENTUM, affine=standard)
                                 for c in widths)
        self.head = nn.Linear(widths[-1], num_classes, bias=standard)
        if not standard:
            with torch.no_grad():
                self.head.weight.mul_(HEAD_NORM / torch.linalg.matrix_norm(self.head.weight))
            self.head.weight.requires_grad_(False)

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

    def __init__(self, models: int, widths=DEFAULT_WIDTHS, num_classes: int = NUM_CLASSES,
                 network: str = "standard", bn_eps: float = BN_EPS):
        super().__init__()
        self.models, self.widths, self.network, self.bn_eps = int(models), tuple(widths), network, float(bn_eps)
        chans = (3,) + self.widths
        m = self.models
        self.conv_weights = nn.ParameterList(nn.Parameter(torch.empty(m, b, a, 3, 3)) for a, b in zip(chans, chans[1:]))
        for i, c in enumerate(self.widths):
            self.register_buffer(f"running_mean{i}", torch.zeros(m, c))
            self.register_buffer(f"running_var{i}", torch.ones(m, c))
        if self.standard:
            self.bn_weights = nn.ParameterList(nn.Parameter(torch.ones(m, c)) for c in self.widths)
            self.bn_biases = nn.ParameterList(nn.Parameter(torch.zeros(m, c)) for c in self.widths)
            self.head_weight = nn.Parameter(torch.empty(m, num_classes, self.widths[-1]))
            self.head_bias = nn.Parameter(torch.empty(m, num_classes))
        else:                     # frozen: buffers, never handed to an optimizer
            self.register_buffer("head_weight", torch.empty(m, num_classes, self.widths[-1]))

    @property
    def standard(self) -> bool:
        """Whether this is the paper's network (trained BN affine parameters and head)."""
        return self.network == "standard"

    @classmethod
    def from_models(cls, nets) -> "EnsembleConvNet":
        """An ensemble holding copies of the given :class:`ConvNet` s (weights and BN running statistics)."""
        nets = list(nets)
        first = nets[0]
        ens = cls(len(nets), tuple(bn.num_features for bn in first.bns), first.head.out_features, first.network,
                  first.bns[0].eps)
        with torch.no_grad():
            for i in range(4):
                ens.conv_weights[i].copy_(_stack(n.convs[i].weight for n in nets))
                ens.running_mean(i).copy_(_stack(n.bns[i].running_mean for n in nets))
                ens.running_var(i).copy_(_stack(n.bns[i].running_var for n in nets))
                if ens.standard:
                    ens.bn_weights[i].copy_(_stack(n.bns[i].weight for n in nets))
                    ens.bn_biases[i].copy_(_stack(n.bns[i].bias for n in nets))
            ens.head_weight.copy_(_stack(n.head.weight for n in nets))
            if ens.standard:
                ens.head_bias.copy_(_stack(n.head.bias for n in nets))
        return ens.to(first.head.weight.device)

    @classmethod
    def initialised(cls, models: int, widths=DEFAULT_WIDTHS, seed: int = 0, network: str = "standard",
                    bn_eps: float = BN_EPS) -> "EnsembleConvNet":
        """M copies of the ConvNet that ``torch.manual_seed(seed)`` initialises (torch's default init; both
        networks draw the same conv weights)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = ConvNet(widths, network=network, bn_eps=bn_eps)
        return cls.from_models([net] * models)

    @torch.no_grad()
    def scale_filters_(self, factor: float) -> None:
        """Multiply every BN-followed conv weight by ``factor``, in place (in the model's own dtype: scale after
        converting, or float32 rounding enters a float64 run)."""
        if factor != 1.0:
            for w in self.conv_weights:
                w.mul_(factor)

    def running_mean(self, i: int) -> torch.Tensor:
        """BN running means of block ``i`` (M, C)."""
        return getattr(self, f"running_mean{i}")

    def running_var(self, i: int) -> torch.Tensor:
        """BN running variances of block ``i`` (M, C)."""
        return getattr(self, f"running_var{i}")

    def extract(self, index: int) -> ConvNet:
        """Model ``index`` as a separate :class:`ConvNet` (a copy)."""
        net = ConvNet(self.widths, self.head_weight.shape[1], self.network, self.bn_eps)
        net = net.to(device=self.head_weight.device, dtype=self.head_weight.dtype)
        with torch.no_grad():
            for i in range(4):
                net.convs[i].weight.copy_(self.conv_weights[i][index])
                net.bns[i].running_mean.copy_(self.running_mean(i)[index])
                net.bns[i].running_var.copy_(self.running_var(i)[index])
                if self.standard:
                    net.bns[i].weight.copy_(self.bn_weights[i][index])
                    net.bns[i].bias.copy_(self.bn_biases[i][index])
            net.head.weight.copy_(self.head_weight[index])
            if self.standard:
                net.head.bias.copy_(self.head_bias[index])
        return net

    def forward(self, x, update_stats: bool = True):
        """Logits (M, B, 10) of the M models for the shared images (B, 3, H, W).

        In training mode BN uses the batch statistics and, unless ``update_stats`` is False (a probe of the
        gradient that must leave the model as it was), updates its running statistics.
        """
        m = self.models
        for i, (w, pool) in enumerate(zip(self.conv_weights, POOL_AFTER)):
            _, c_out, c_in = w.shape[:3]
            x = F.conv2d(x, w.reshape(m * c_out, c_in, 3, 3), padding=1, groups=1 if i == 0 else m)
            keep = not self.training or update_stats
            x = F.batch_norm(x, self.running_mean(i).view(-1) if keep else None,
                             self.running_var(i).view(-1) if keep else None,
                             self.bn_weights[i].view(-1) if self.standard else None,
                             self.bn_biases[i].view(-1) if self.standard else None,
                             training=self.training, momentum=BN_MOMENTUM, eps=self.bn_eps)
            x = F.relu(x)
            if pool:
                x = F.max_pool2d(x, 2)
        features = x.mean((2, 3)).view(x.shape[0], m, -1)            # (B, M, C4)
        logits = torch.einsum("bmc,mkc->mbk", features, self.head_weight)
        return logits + self.head_bias[:, None, :] if self.standard else logits

    # --- which tensors the optimizer treats how -------------------------------------------------------
    def bn_followed_weights(self) -> list:
        """The conv weights (M, C_out, C_in, 3, 3): each output filter is scale-invariant through its BN."""
        return list(self.conv_weights)

    def decayed_parameters(self, head: bool = True) -> list:
        """Parameters that get the L2 term: conv weights, and the standard head's weight if ``head`` (never BN
        parameters or biases; the invariant network's head is not trained)."""
        return self.bn_followed_weights() + ([self.head_weight] if head and self.standard else [])

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
