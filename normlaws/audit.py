"""Which parameters of a torch model does weight decay regularize, and what does it do to the others?

:func:`audit` finds every scale invariance of a model *numerically* (never from the layer types), on a float64
train-mode probe of it at a generic point with every normalization ``eps`` at 0 (:mod:`normlaws.audit_probe`):

* single tensors: **per channel** (each slice along dimension 0, e.g. an output channel of a conv weight, scaled
  by its own factor), **per layer** (the whole tensor by one factor), or **no effect** (the output ignores it,
  signs included: a bias before a BatchNorm, an attention's key bias);
* **groups** of tensors, within a module or across modules, that are invariant only jointly: a BatchNorm's gain
  and shift before ReLU, a bias-free conv and another BatchNorm; every tensor that writes to a residual stream
  that a later normalization rescales (the BatchNorms before the residual additions of a ResNet stage with the
  stage's first BatchNorm; a pre-LN transformer's patch embedding, class token, position embedding and every
  attention and MLP output projection, made invariant by the final LayerNorm), per channel where it holds per
  channel. Each group is the smallest containing its tensors (every invariant set is a union of groups), names
  the modules that remove its scale, and is confirmed by rescaling the whole network
  (:mod:`normlaws.audit_groups`).

For every scale-invariant unit (a channel, a tensor or a group) weight decay only sets the effective learning
rate; the audit predicts its equilibrium norm, angle per step and relaxation time for the chosen optimizer from
the theory (``normlaws.theory.moments`` / ``section4`` via ``simulate.predict``), with the model's gradient
scale ``C = E||grad L(w_hat)||^2`` estimated from the sample input (see :func:`estimate_C`). A group is one
unit (per layer) or one unit per channel, and must be decayed alike or not at all: a common shrink is a joint
rescale, a partial one changes the function.

Conventions: ``lam`` is canonical (penalty ``lam*||w||^2``): torch's ``weight_decay = 2*lam`` for SGD,
momentum, Nesterov, Adam and RMSprop; for AdamW the decoupled factor is ``(1 - eta*lam)``, torch's
``AdamW(weight_decay=lam)``.
"""
from __future__ import annotations

import math

import numpy as np

from . import audit_groups, audit_probe
from .audit_probe import TINY_EPS
from .audit_report import (NO_EFFECT, REGULARIZES, SETS_LR, WHY_NO_EFFECT, WHY_ONE_ENTRY, WHY_REGULARIZED,
                           WHY_ZERO_GRADIENT, AuditReport, GroupReport, ParamReport)
from .conventions import adamw_weight_decay, torch_weight_decay
from .errors import UsageError, require_torch
from .factory import build_model, load_factory, sample_input  # noqa: F401 - part of this module's API
from .progress import Progress
from .simulate.predict import equilibrium

OPTIMIZERS = {"sgd": "sgd", "momentum": "momentum", "nesterov": "nesterov", "adam": "adam", "adamw": "adamw",
              "rmsprop": "rmsprop"}
#: the kind of a single tensor, by the invariance confirmed for it
KINDS = {"channel": "per-channel", "layer": "per-layer", "no-effect": "no-effect"}


def _torch():
    """Import torch, or one line saying that normlaws audit needs it."""
    return require_torch("normlaws audit")


def probe_model(model, seed: int = 0):
    """A float64 train-mode copy at a generic point (parameters + 10 % noise), every normalization eps = 0."""
    return audit_probe.probe_model(_torch(), model, seed)


def materialise(model, sample_input):
    """``model`` with its lazy layers initialised by one forward pass on ``sample_input`` (as its first forward in
    training would), buffers that already existed restored; a ``UsageError`` in one line if that pass fails."""
    torch = _torch()
    lazy = [n for n, p in model.named_parameters() if isinstance(p, torch.nn.parameter.UninitializedParameter)]
    if not lazy:
        return model
    known = [t for t in list(model.parameters()) + list(model.buffers())
             if not isinstance(t, torch.nn.parameter.UninitializedTensorMixin) and t.is_floating_point()]
    dtype = known[0].dtype if known else torch.get_default_dtype()
    saved = {n: b.detach().clone() for n, b in model.named_buffers()
             if not isinstance(b, torch.nn.parameter.UninitializedTensorMixin)}
    try:
        with torch.no_grad():
            model(torch.as_tensor(sample_input).to(dtype))
    except Exception as exc:
        raise UsageError(f"the model has lazy layers ({', '.join(lazy[:3])}{', ...' if len(lazy) > 3 else ''}) and "
                         f"initialising them with the sample input failed: {type(exc).__name__}: {exc}") from None
    with torch.no_grad():
        for n, b in model.named_buffers():
            if n in saved:
                b.copy_(saved[n])
    return model


# ---- the gradient scale C and the predictions --------------------------------------------------------------------
def _stand_in_loss(output, seed: int):
    """Cross-entropy against seeded random labels for (batch, classes) logits, else half the mean squared output."""
    torch = _torch()
    if output.ndim == 2 and output.shape[1] >= 2:
        gen = torch.Generator().manual_seed(seed)
        labels = torch.randint(0, output.shape[1], (output.shape[0],), generator=gen)
        return torch.nn.functional.cross_entropy(output, labels)
    return 0.5 * output.pow(2).mean()


def estimate_C(model, inputs, seed: int = 0) -> dict:
    """``||w||^2 ||grad_w L||^2`` per parameter and per channel: one sample of ``C = E||grad L(w_hat)||^2``.

    For a scale-invariant unit ``grad L(w) = grad L(w_hat)/||w||`` (degree -1), so ``||w||^2 ||grad L(w)||^2`` is
    the squared gradient at unit norm. ``L`` is a stand-in (:func:`_stand_in_loss`) on one batch, evaluated in
    float64 and train mode at the model's own parameters (eps unchanged; the model itself is left as it was): the
    Section 4 model's ``C`` is the mean over batches of the gradient actually trained on, so scale the norms by
    ``(C_true/C)^(1/4)`` (SGD-type rules).
    Returns ``{name: (sq_norm per channel, sq_grad per channel)}`` as float64 numpy arrays.
    """
    torch = _torch()
    values = {n: t.detach().double() if t.is_floating_point() else t.clone()
              for n, t in list(model.named_parameters()) + list(model.named_buffers())}
    params = {n: values[n].requires_grad_() for n, _ in model.named_parameters()}
    modes = {m: m.training for m in model.modules()}
    model.train()                   # batch statistics; the running ones update our copies, not the model's
    try:
        loss = _stand_in_loss(torch.func.functional_call(model, values, (inputs.double(),)), seed)
    finally:
        for m, mode in modes.items():
            m.training = mode
    grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()), allow_unused=True)))
    out = {}
    for name, p in params.items():
        g = grads[name] if grads[name] is not None else torch.zeros_like(p)
        flat_p = p.detach().reshape(p.shape[0], -1) if p.ndim else p.detach().reshape(1, 1)
        flat_g = g.reshape(flat_p.shape)
        out[name] = (flat_p.pow(2).sum(1).numpy(), flat_g.pow(2).sum(1).numpy())
    return out


def predict_unit(rule: str, eta: float, lam: float, d: int, C: float, rho: float = 0.9, beta1: float = 0.9) -> dict:
    """Equilibrium norm, angle per step (rad) and relaxation time (steps) of one invariant unit of dimension ``d``."""
    if lam <= 0:
        return {"norm": float("inf"), "angle": 0.0, "tau": float("inf"),
                "note": "no equilibrium without decay: ||w||^2 grows like eta sqrt(2 C t) and the angle decays"}
    if d < 2 or C <= 0:
        return {"norm": float("nan"), "angle": float("nan"), "tau": float("nan"),
                "note": WHY_ONE_ENTRY if d < 2 else WHY_ZERO_GRADIENT}
    eq = equilibrium(rule, eta, lam, float(d), float(C), rho, beta1)
    return {"norm": eq["norm"], "angle": eq["angle"], "tau": eq["tau"]}


def warm_up() -> None:
    """Pay the one-time costs before a timed audit: torch, and the theory's formulas lambdified for every rule."""
    _torch()
    for rule in OPTIMIZERS.values():
        predict_unit(rule, 0.1, 5e-4, 8, 1.0)


# ---- the audit ---------------------------------------------------------------------------------------------------
def audit(model, sample_input, optimizer: str = "sgd", eta: float = 0.1, lam: float = 5e-4, rho: float = 0.9,
          beta1: float = 0.9, seed: int = 0, progress: bool = False, threads: int = 1) -> AuditReport:
    """Audit ``model`` (an ``nn.Module``) on ``sample_input`` (a tensor): see the module docstring.

    ``progress``: a progress line on stderr for audits longer than a few seconds. ``threads``: torch threads
    during the audit (restored after); one by default: the audit is many small evaluations, one module at a
    time, and on a 2-core machine shared with other jobs two threads measured up to 30 times slower
    (``normlaws audit --bench --threads 2``).
    """
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
    if not (eta > 0 and lam >= 0 and math.isfinite(eta) and math.isfinite(lam)):
        raise UsageError(f"need eta > 0 and lam >= 0, got eta={eta}, lam={lam}")
    model = materialise(model, sample_input)
    bar = Progress(sum(1 for _ in model.modules()) + 4, "audit", enabled=progress, after=3.0)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _audit(torch, model, sample_input, optimizer, eta, lam, rho, beta1, seed, bar)
    finally:
        torch.set_num_threads(before)
        bar.close()


def _audit(torch, model, sample_input, optimizer, eta, lam, rho, beta1, seed, bar) -> AuditReport:
    x = torch.as_tensor(sample_input).double()
    probe = audit_probe.probe_model(torch, model, seed)
    try:
        with torch.no_grad():
            out = probe(x)
    except Exception as exc:  # the user's model rejects the input: one line
        raise UsageError(f"the model fails on an input of shape {tuple(x.shape)}: {type(exc).__name__}: {exc}") \
            from None
    if not isinstance(out, torch.Tensor) or not torch.isfinite(out).all():
        raise UsageError("the model's output on the sample input is not one finite tensor (with eps = 0)")
    bar.advance(1, "probe")
    found, search_notes = audit_groups.find_invariances(torch, probe, x, bar, seed)
    grads = estimate_C(model, x, seed)
    bar.advance(1, "predictions")
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    predict = dict(rule=OPTIMIZERS[optimizer], eta=eta, lam=lam, rho=rho, beta1=beta1)
    groups = [GroupReport(id=f"G{i + 1}", members=inv.members, per=inv.per, removed_by=inv.removed_by,
                          alternatives=inv.alternatives) for i, inv in enumerate(g for g in found if g.joint)]
    for g in groups:
        _predict(g, g.members, shapes, grads, per_channel=g.per == "channel", **predict)
    singles = {inv.members[0]: inv for inv in found if not inv.joint}
    reports = [_param_report(name, shapes, singles, groups, grads, predict) for name in shapes]
    wd_torch = adamw_weight_decay(lam) if optimizer == "adamw" else torch_weight_decay(lam)
    return AuditReport(optimizer, eta, lam, wd_torch, rho, beta1, reports,
                       _notes(optimizer, eta, lam, wd_torch) + search_notes, groups)


def _param_report(name, shapes, singles, groups, grads, predict) -> ParamReport:
    """The row of one tensor: its own invariance, or the smallest group it belongs to, or none."""
    mine = sorted((g for g in groups if name in g.members), key=lambda g: len(g.members))
    rep = ParamReport(name=name, shape=shapes[name])
    if name in singles:
        inv = singles[name]
        rep.invariance, rep.removed_by = KINDS[inv.per], inv.removed_by
        rep.weight_decay = NO_EFFECT if inv.per == "no-effect" else SETS_LR
        if inv.per == "no-effect":
            rep.why = WHY_NO_EFFECT
        else:
            _predict(rep, (name,), shapes, grads, per_channel=inv.per == "channel", **predict)
    elif mine:
        g = mine[0]
        rep.invariance, rep.weight_decay = f"joint-per-{g.per}", SETS_LR
        rep.group, rep.groups, rep.removed_by = g.members, tuple(h.id for h in mine), g.removed_by
        for key in ("units", "unit_dim", "norm_now", "C", "why"):
            setattr(rep, key, getattr(g, key))
        rep.predicted = dict(g.predicted)
    else:
        rep.why = WHY_REGULARIZED
    return rep


def _predict(rep, group, shapes, grads, rule, eta, lam, rho, beta1, per_channel: bool) -> None:
    """Fill ``rep`` with the median current norm over its units, and the C of the median unit (the unit with the
    median C, the lower one of an even count) and its predicted norm, angle and relaxation time."""
    if per_channel:
        sq_norm = sum(grads[n][0] for n in group)
        sq_grad = sum(grads[n][1] for n in group)
        dim = sum(int(np.prod(shapes[n][1:])) for n in group)
    else:
        sq_norm = np.array([sum(float(grads[n][0].sum()) for n in group)])
        sq_grad = np.array([sum(float(grads[n][1].sum()) for n in group)])
        dim = sum(int(np.prod(shapes[n])) for n in group)
    C = sq_norm * sq_grad
    median_unit = int(np.argsort(C, kind="stable")[(len(C) - 1) // 2])
    pred = predict_unit(rule, eta, lam, dim, float(C[median_unit]), rho, beta1)
    rep.units, rep.unit_dim = len(C), dim
    rep.norm_now = float(np.median(np.sqrt(sq_norm)))
    rep.C = float(C[median_unit])
    rep.predicted = pred
    if pred.get("note") in (WHY_ZERO_GRADIENT, WHY_ONE_ENTRY):
        rep.why = pred["note"]
    zero = int((C <= 0).sum())
    if zero and len(C) > 1:
        zero_units = f"{zero} of {len(C)} units have zero gradient at the sample input"
        rep.why = f"{rep.why}; {zero_units}" if rep.why else zero_units


def _notes(optimizer, eta, lam, wd_torch) -> list:
    return [
        "probed in train mode, float64, eps = 0, at a generic point; in eval mode a BatchNorm uses its running "
        "statistics (fixed buffers), so nothing before it is scale-invariant there: the invariance is a property "
        "of training",
        "per channel = slices along dimension 0; a unit is a channel (per-channel), the tensor (per-layer) or the "
        "group (joint); a group is reported once, as the smallest that contains its tensors, with the modules "
        "that remove its scale, and every invariance reported was confirmed by rescaling the whole network",
        "C = ||w||^2 ||grad L||^2 of each unit from one batch of the sample input with a stand-in loss (cross-entropy "
        "on random labels for 2-D logits, else half the mean squared output); norms scale like C^(1/4) for SGD-type "
        "rules and do not depend on C for AdamW",
        f"predictions for {optimizer} at eta={eta:g}, lam={lam:g} (torch weight_decay={wd_torch:g}): for the median "
        "unit of a tensor or group (the unit with the median C); 'norm now' is the median over units; angle in "
        "radians; relaxation time in steps",
    ]


__all__ = ["audit", "materialise", "warm_up", "probe_model", "estimate_C", "predict_unit", "AuditReport", "ParamReport",
           "SETS_LR", "REGULARIZES", "NO_EFFECT", "TINY_EPS", "load_factory", "build_model", "sample_input"]
