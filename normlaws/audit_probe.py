"""The audit's probe: a float64 copy of the model at a generic point, its gradient's Euler sums, and the
rescaling test that confirms every invariance the audit reports.

* :func:`probe_model`: a float64 train-mode copy, every parameter plus 10 % seeded noise (so that a tensor
  initialised to zero does not pass a scaling test trivially), every normalization ``eps`` set to the smallest
  normal float64 (``TINY_EPS``: absorbed exactly by any variance above ~2e-292, so the probe sees eps = 0),
  BatchNorm without running statistics (train mode normalizes with the batch's own), dropout off.
* :func:`euler_sums`: for a few random upstream gradients ``u`` of ``L = <u, f(x)>``, the terms of Euler's
  identity per tensor and per channel (slices along dimension 0): ``sum <theta, grad L>`` and ``sum |theta *
  grad L|``. A tensor (or group) whose sum cancels to rounding for every ``u`` is invariant to first order;
  one whose gradient is zero has no effect.
* :class:`Rescaler`: evaluates the probe with some tensors multiplied by factors and says whether the output
  is unchanged within its measured rounding error (the float64 output against a float32 shadow, as in
  :mod:`normlaws.testing.invariance`, measured once at the probe point).
"""
from __future__ import annotations

import copy
import math

import numpy as np

GENERIC_NOISE = 0.1
#: the probe's normalization eps: torch's BatchNorm needs eps > 0 in training; the smallest normal float64 is
#: absorbed exactly by any variance above ~2e-292 (var + eps == var), so the probe sees eps = 0
TINY_EPS = float(np.finfo(np.float64).tiny)
#: random upstream gradients for the Euler sums
EULER_DRAWS = 2
#: an Euler sum below this fraction of its sum of absolute terms is zero (cancellation to rounding)
EULER_RTOL = 1e-9
#: a gradient term-sum below this fraction of the largest tensor's is zero (no effect)
NO_EFFECT_RTOL = 1e-10
#: the rescaling test: SAFETY x the float32-measured rounding error, plus the Higham-Mary floor LAMBDA sqrt(m) u
SAFETY, LAMBDA = 8.0, 6.0


def probe_model(torch, model, seed: int = 0):
    """A float64 train-mode copy at a generic point, normalization eps = 0, no running statistics, no dropout."""
    probe = copy.deepcopy(model).double().train()
    torch.func.replace_all_batch_norm_modules_(probe)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in probe.parameters():
            scale = float(p.detach().pow(2).mean().sqrt()) if p.numel() else 0.0
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.add_(noise * GENERIC_NOISE * (scale if scale > 0 else 1.0))
    for module in probe.modules():
        if isinstance(getattr(module, "eps", None), float):
            module.eps = TINY_EPS
        if isinstance(module, torch.nn.modules.dropout._DropoutNd):
            module.eval()
    return probe


def euler_sums(torch, probe, x, seed: int = 0) -> dict:
    """``{name: (sum, abs_sum, grad_abs_sum)}``, each an array (draws, channels): Euler terms per channel."""
    gen = torch.Generator().manual_seed(seed + 7)
    params = dict(probe.named_parameters())
    out = probe(x)
    sums = {n: ([], [], []) for n in params}
    for k in range(EULER_DRAWS):
        upstream = torch.randn(out.shape, generator=gen, dtype=out.dtype)
        grads = torch.autograd.grad(out, list(params.values()), upstream, retain_graph=k + 1 < EULER_DRAWS,
                                    allow_unused=True)
        for (name, p), g in zip(params.items(), grads):
            g = torch.zeros_like(p) if g is None else g
            terms = (p.detach() * g).reshape(p.shape[0] if p.ndim else 1, -1)
            sums[name][0].append(terms.sum(1).numpy())
            sums[name][1].append(terms.abs().sum(1).numpy())
            sums[name][2].append(g.reshape(terms.shape).abs().sum(1).numpy())
    return {n: tuple(np.array(v) for v in vals) for n, vals in sums.items()}


def first_order(sums, names, per: str) -> bool:
    """Whether the Euler sums of ``names`` scaled together cancel (per layer, or per channel along dimension 0)."""
    reduce = (lambda a: a.sum(1)) if per == "layer" else (lambda a: a)
    total = sum(reduce(sums[n][0]) for n in names)
    size = sum(reduce(sums[n][1]) for n in names)
    return bool(np.all(np.abs(total) <= EULER_RTOL * np.maximum(size, size.max())))


def no_effect(sums, name, biggest=None) -> bool:
    """Whether the gradient of ``name`` is zero to rounding, against the largest tensor's Euler terms."""
    biggest = biggest if biggest is not None else max(float(v[1].sum(1).max()) for v in sums.values())
    return float(sums[name][1].sum(1).max()) <= NO_EFFECT_RTOL * biggest


class Rescaler:
    """Evaluates the probe under rescalings and compares with its output at the probe point."""

    def __init__(self, torch, probe, x):
        self.torch, self.probe, self.x = torch, probe, x
        self.params = dict(probe.named_parameters())
        as32 = {n: t.float() if t.is_floating_point() else t for n, t in
                list(probe.named_parameters()) + list(probe.named_buffers())}
        with torch.no_grad():
            self.reference = probe(x)
            shadow = torch.func.functional_call(probe, as32, (x.float(),)).double()
        u64, u32 = float(torch.finfo(torch.float64).eps), float(torch.finfo(torch.float32).eps)
        m = sum(p.numel() for p in probe.parameters()) + x.numel()
        err = float((shadow - self.reference).abs().max())
        floor = LAMBDA * math.sqrt(m) * u64 / 2 * float(self.reference.abs().max())
        #: each side's rounding error: float32's, scaled to float64, times SAFETY, plus the floor
        self.tolerance = SAFETY * (u64 / u32) * err + floor
        self.evaluations = 2

    def unchanged(self, factors: dict) -> bool:
        """Whether the output is the same with each ``name`` multiplied by ``factors[name]`` (a float, or one per
        slice along dimension 0), within twice the rounding tolerance."""
        torch = self.torch
        values = {}
        for name, f in factors.items():
            p = self.params[name].detach()
            f = torch.as_tensor(np.asarray(f, dtype=float), dtype=torch.float64)
            values[name] = p * (f.reshape((-1,) + (1,) * (p.ndim - 1)) if f.ndim else f)
        with torch.no_grad():
            out = torch.func.functional_call(self.probe, values, (self.x,))
        self.evaluations += 1
        return bool(torch.isfinite(out).all()) and float((out - self.reference).abs().max()) <= 2 * self.tolerance
