"""Per-step statistics of every BN-followed filter, summed per epoch: what the equilibrium checks read.

For filter ``j`` of a conv layer (a scale-invariant unit) and step ``t`` (``w_t`` before the step, ``w_{t+1}``
after it, ``g_t = grad_j L(w_t)`` the loss gradient without the L2 term), the sums over an epoch's steps of

=============  ================================================  =============================================
name           summand                                           read by
=============  ================================================  =============================================
``sum_sq``     ``||w_t||^2``                                     every ratio below (its denominator)
``sum_dot``    ``<w_t, w_{t+1}>``                                ``cos theta* = sum_dot/sum_sq`` (later.angle)
``sum_chord``  ``||w_{t+1} - w_t||^2``                           the chord ratio ``sum_chord/sum_sq``
``sum_grad``   ``||g_t||^2``                                     ``||grad L||^2/||w||^2`` (later.defazio)
``sum_euler``  ``<w_t, g_t>``                                    Euler's identity (0 for an invariant unit)
``sum_precond`` ``sum_i w_{t,i}^2 P_{t,i}``, ``P = 1/(sqrt(v_hat)+eps)`` as applied   Adam + L2's identity
``sum_noise``  ``sum_i (P_{t,i} g_{t,i})^2``: the normalized noise power     the same identity's assumption
``sum_growth`` ``eta_t^2 P_t + 2 eta_t R_t``, ``P_t = ||b_t||^2``,   the norm growth without decay
               ``R_t = rho (R_{t-1} + eta_{t-1} P_{t-1})`` (SGD: ``b = g``) (later.growth)
=============  ================================================  =============================================

Sums, not means, so that ratios of moments (the theory's exact quantities) are ratios of sums. Each sum is over
the filters' own steps; collapsed filters (see ``analysis.COLLAPSED``) contribute like the others (the checks
choose which filters to read). All are (M, C) device tensors; nothing is synced to the host per step.
"""
from __future__ import annotations

import torch

from .optim import filter_norms

#: the per-filter sums of one epoch (see the module docstring)
SUMS = ("sum_sq", "sum_dot", "sum_chord", "sum_grad", "sum_euler", "sum_precond", "sum_noise", "sum_growth")


@torch.no_grad()
def angle_per_filter(old: torch.Tensor, new: torch.Tensor, old_norms: torch.Tensor | None = None) -> torch.Tensor:
    """Angle (radians) between each filter before and after a step, (M, C_out), accurate for tiny angles.

    Uses ``atan2(|perpendicular part of the step|, |w_old| + radial part)`` instead of ``acos`` of a cosine,
    which cannot resolve angles below ~1e-4 rad in float32. ``old_norms``: ``filter_norms(old)`` if at hand.
    """
    o, delta = old.flatten(2), (new - old).flatten(2)
    norm = torch.linalg.vector_norm(o, dim=2) if old_norms is None else old_norms
    u = o / norm[..., None]
    radial = (delta * u).sum(2)
    perp = torch.linalg.vector_norm(delta - radial[..., None] * u, dim=2)
    return torch.atan2(perp, norm + radial)


@torch.no_grad()
def live_mean(values: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """Mean over the filter axis of ``values`` (M, C) where ``live`` (M, C): (M,), NaN where no filter is live."""
    return torch.where(live, values, 0.0).sum(1) / live.sum(1)


@torch.no_grad()
def gradient_statistics(weight: torch.Tensor, norms: torch.Tensor | None = None) -> tuple:
    """Per filter j: ``||grad_j L|| / ||w_j||`` and ``(||grad_j L|| * ||w_j||)^2``, two (M, C_out) tensors.

    For a scale-invariant filter ``grad L(w) = grad L(w/|w|) / |w|``, so the second is ``||grad L(w_hat)||^2``:
    the loss gradient at unit scale, independent of the filter's norm. ``norms``: ``filter_norms(weight)`` if
    at hand.
    """
    g, w = filter_norms(weight.grad), filter_norms(weight) if norms is None else norms
    return g / w, (g * w) ** 2


def _per_filter_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.flatten(2) * b.flatten(2)).sum(2)


class FilterSums:
    """The epoch sums of :data:`SUMS` for every filter of the tracked layers, and the momentum recursion ``R``."""

    def __init__(self, filters: list):
        self.filters = filters
        zeros = [torch.zeros(w.shape[:2], dtype=w.dtype, device=w.device) for w in filters]
        self.recursion = [z.clone() for z in zeros]          # R_t of the growth identity, per filter
        self.last_power = [z.clone() for z in zeros]         # eta_{t-1} P_{t-1}
        self.reset()

    def reset(self) -> None:
        """Start a new epoch (the momentum recursion carries over: it is a property of the run, not the epoch)."""
        self.sums = {name: [torch.zeros(w.shape[:2], dtype=w.dtype, device=w.device) for w in self.filters]
                     for name in SUMS}

    @torch.no_grad()
    def before(self) -> list:
        """What the step will change, read before it: ``(w_t, ||w_t||, <w_t, g_t>, ||g_t||^2)`` per layer."""
        out = []
        for w in self.filters:
            old = w.detach().clone()
            out.append((old, filter_norms(old), _per_filter_dot(old, w.grad), filter_norms(w.grad) ** 2))
        return out

    @torch.no_grad()
    def after(self, before: list, opt, lr: torch.Tensor, keep: torch.Tensor) -> None:
        """Add one step's summands; ``lr`` (M,) the step's learning rates, ``keep`` (M,) the active models."""
        rho = opt.momentum if opt.rule == "momentum" else 0.0
        k = keep[:, None]
        for i, (w, (old, norm, euler, grad_sq)) in enumerate(zip(self.filters, before)):
            new = w.detach()
            terms = {"sum_sq": norm ** 2, "sum_dot": _per_filter_dot(old, new),
                     "sum_chord": filter_norms(new - old) ** 2, "sum_grad": grad_sq, "sum_euler": euler}
            precond = opt.preconditioner(w)
            if precond is not None:
                terms["sum_precond"] = _per_filter_dot(old * old, precond)
                terms["sum_noise"] = filter_norms(precond * w.grad) ** 2
            if opt.rule in ("sgd", "momentum"):
                buffer = opt.momentum_buffer(w)
                power = filter_norms(buffer) ** 2 if buffer is not None else grad_sq
                self.recursion[i] = rho * (self.recursion[i] + self.last_power[i])
                terms["sum_growth"] = lr[:, None] ** 2 * power + 2 * lr[:, None] * self.recursion[i]
                self.last_power[i] = lr[:, None] * power
            for name, value in terms.items():
                self.sums[name][i] += torch.where(k, value, 0.0)

    def epoch(self) -> dict:
        """``{name: [per layer (M, C) tensor]}`` of the epoch so far (copies)."""
        return {name: [t.clone() for t in layers] for name, layers in self.sums.items()}
