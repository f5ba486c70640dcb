"""What the monitor watches and how it measures it: the invariant units of a model and their per-step statistics.

A :class:`Watch` is one set of tensors that is scale-invariant as the audit found it: a single tensor per channel
(each slice along dimension 0 is a unit) or per layer (the tensor is one unit), or a jointly invariant group
(per channel: the members' slices along dimension 0 together form a unit; per layer: all members form one unit).
With ``model_axis`` (an ensemble whose tensors have a leading model axis, as ``normlaws.gpu``'s) dimension 0 is the
model and dimension 1 the channel.

:func:`unit_matrix` lays a watch's tensors (or their gradients) out as one ``(units, d)`` matrix;
:func:`step_statistics` measures, per unit, ``||w||^2`` and ``||grad L||^2`` before a step and the angle and the
squared chord ``||w' - w||^2/||w||^2`` of the step. The angle is ``atan2(|perpendicular part of the step|,
||w|| + radial part)``, which resolves angles far below float32's ``acos`` limit of ~1e-4 rad (the training
harness measures the same way).
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: a unit is collapsed when its norm fell below this fraction of its watch's mean norm when the monitor attached
#: (a dead channel: no loss gradient reaches it and decay shrinks it towards 0, where its angle is undefined; the
#: training harness's ``gpu.analysis.COLLAPSED`` is the same fraction)
COLLAPSED = 1e-6


@dataclass
class Watch:
    """A scale-invariant set of tensors and how its units are laid out (see the module docstring)."""

    name: str
    members: tuple              # parameter names
    tensors: list = field(repr=False, default_factory=list)
    per: str = "layer"          # "channel" or "layer"
    kind: str = ""              # the audit's word: per-channel, per-layer, joint-per-channel, joint-per-layer
    model_axis: bool = False

    @property
    def units(self) -> int:
        """How many units the watch has (models x channels with a model axis)."""
        first = self.tensors[0]
        lead = first.shape[:2] if self.model_axis else first.shape[:1]
        count = int(lead.numel()) if self.per == "channel" else (int(first.shape[0]) if self.model_axis else 1)
        return count

    @property
    def models(self) -> int:
        """How many models share the tensors (1 without a model axis)."""
        return int(self.tensors[0].shape[0]) if self.model_axis else 1

    @property
    def d(self) -> int:
        """Entries of one unit."""
        return sum(t.numel() for t in self.tensors) // self.units


def unit_matrix(watch: Watch, grads: bool = False):
    """The watch's tensors (or their gradients, zeros where there is none) as a float32 ``(units, d)`` matrix."""
    import torch
    parts = []
    for t in watch.tensors:
        x = t.grad if grads else t
        if x is None:
            x = torch.zeros_like(t)
        parts.append(x.detach().reshape(watch.units, -1))
    return torch.cat(parts, 1).float() if len(parts) > 1 else parts[0].float()


def before_step(watch: Watch):
    """``(weights, norm_sq, grad_sq)`` of every unit before the optimizer's step (weights copied)."""
    import torch
    w = unit_matrix(watch).clone()
    g = unit_matrix(watch, grads=True)
    return w, torch.einsum("ud,ud->u", w, w), torch.einsum("ud,ud->u", g, g)


def step_statistics(before, watch: Watch):
    """Per unit: ``||w||^2`` and ``||grad L||^2`` before the step, the angle turned and the squared chord ratio,
    stacked as a ``(4, units)`` tensor (on the tensors' device)."""
    import torch
    old, norm_sq, grad_sq = before
    delta = unit_matrix(watch) - old
    norm = norm_sq.sqrt()
    radial = torch.einsum("ud,ud->u", delta, old) / norm
    step_sq = torch.einsum("ud,ud->u", delta, delta)
    perp = (step_sq - radial * radial).clamp_min(0).sqrt()
    angle = torch.atan2(perp, norm + radial)
    return torch.stack([norm_sq, grad_sq, angle, step_sq / norm_sq])


def watches_from_audit(report, model, model_axis: bool = False) -> list:
    """One :class:`Watch` per invariant single tensor (per channel or per layer) and per jointly invariant group
    of an :class:`~normlaws.audit_report.AuditReport` of ``model``."""
    params = dict(model.named_parameters())
    out = []
    for p in report.parameters:
        if p.invariance in ("per-channel", "per-layer"):
            out.append(Watch(p.name, (p.name,), [params[p.name]], p.invariance.split("-")[1], p.invariance,
                             model_axis))
    for g in report.invariant_groups:
        out.append(Watch(g.id, tuple(g.members), [params[m] for m in g.members], g.per, f"joint-per-{g.per}",
                         model_axis))
    return out
