"""Which parameters of a torch model does weight decay regularize, and what does it do to the others?

:func:`audit` probes every parameter tensor of a model *numerically* (never from the layer type) with the
homogeneity test of :mod:`normlaws.testing` (``assert_scale_invariant``, float64, its own rounding tolerance):

* **per channel**: the output is unchanged when each slice along dimension 0 (an output channel of a
  ``Linear``/``Conv`` weight) is multiplied by its own factor, for three factor vectors cycling through
  ``(0.5, 2, 3)``;
* **per layer**: unchanged when the whole tensor is multiplied by ``alpha`` in ``(0.5, 2, 3)``;
* **no effect**: unchanged even under per-channel factors ``(-1, -2.5, 0.5)``, signs included; for a 1-D tensor
  that is any change of its entries, so its gradient is identically zero (a bias before a BatchNorm);
* **jointly**: the parameters of one module that are not invariant alone (a norm layer's gain and shift, a
  layer's weight and bias) are scaled together, per channel then per layer.

The probe runs on a float64 copy of the model in train mode, at a generic point (every parameter plus 10 %
seeded noise, so that zero-initialised tensors do not pass a scaling test trivially), with every
normalization ``eps`` set to 0 (in effect: the smallest float64, ``TINY_EPS``; with ``eps > 0`` the invariance
holds up to ``eps/(alpha^2 Var)``).

For every scale-invariant unit (a channel, a tensor, or a joint group) weight decay only sets the effective
learning rate; the audit predicts its equilibrium norm, angle per step and relaxation time for the chosen
optimizer from the theory (``normlaws.theory.later`` / ``section4`` via ``simulate.later_checks``), with the
model's gradient scale ``C = E||grad L(w_hat)||^2`` estimated from the sample input (see :func:`estimate_C`).

Conventions: ``lam`` is canonical (penalty ``lam*||w||^2``): torch's ``weight_decay = 2*lam`` for SGD,
momentum, Nesterov, Adam and RMSprop; for AdamW the decoupled factor is ``(1 - eta*lam)``, torch's
``AdamW(weight_decay=lam)``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .conventions import adamw_weight_decay, torch_weight_decay
from .errors import UsageError
from .factory import build_model, load_factory, sample_input  # noqa: F401 - part of this module's API

OPTIMIZERS = {"sgd": "sgd", "momentum": "momentum", "nesterov": "nesterov", "adam": "adam", "adamw": "adamw",
              "rmsprop": "rmsprop"}
PER_LAYER_ALPHAS = (0.5, 2.0, 3.0)
CHANNEL_CYCLE = (0.5, 2.0, 3.0)
SIGNED_CYCLE = (-1.0, -2.5, 0.5)
GENERIC_NOISE = 0.1
#: the probe's normalization eps: torch's BatchNorm needs eps > 0 in training; the smallest normal float64 is
#: absorbed exactly by any variance above ~2e-292 (var + eps == var), so the probe sees eps = 0
TINY_EPS = float(np.finfo(np.float64).tiny)

SETS_LR = "sets its effective learning rate only"
REGULARIZES = "regularizes it"
NO_EFFECT = "no effect (gradient identically zero)"


def _torch():
    try:
        import torch
    except ModuleNotFoundError:
        raise UsageError("normlaws audit needs torch: pip install 'normlaws[torch]'") from None
    return torch


# ---- the homogeneity probe ---------------------------------------------------------------------------------------
def _invariant(model, inputs, names, alpha, per) -> bool:
    """Whether ``model(inputs)`` is unchanged (``normlaws.testing.assert_scale_invariant``) under this scaling."""
    from .testing import assert_scale_invariant
    try:
        assert_scale_invariant(model, inputs, alpha, param=tuple(names), per=per)
    except AssertionError:
        return False
    return True


def _channel_vectors(channels: int, cycle) -> list:
    return [np.array([cycle[(c + k) % len(cycle)] for c in range(channels)]) for k in range(len(cycle))]


def classify(model, inputs, names) -> str:
    """'no-effect', 'per-channel', 'per-layer' or 'none' for the tensor(s) ``names`` scaled together.

    ``model`` must be the float64 probe copy (:func:`probe_model`); ``inputs`` a float64 tensor.
    """
    params = dict(model.named_parameters())
    shapes = [params[n].shape for n in names]
    channels = shapes[0][0] if shapes[0] and all(s and s[0] == shapes[0][0] for s in shapes) else 1
    if channels > 1:
        if all(_invariant(model, inputs, names, a, "channel") for a in _channel_vectors(channels, CHANNEL_CYCLE)):
            if all(_invariant(model, inputs, names, a, "channel") for a in _channel_vectors(channels, SIGNED_CYCLE)):
                return "no-effect"
            return "per-channel"
    if all(_invariant(model, inputs, names, a, "layer") for a in PER_LAYER_ALPHAS):
        if channels <= 1 and all(_invariant(model, inputs, names, a, "layer") for a in SIGNED_CYCLE[:2]):
            return "no-effect"
        return "per-layer"
    return "none"


def probe_model(model, seed: int = 0):
    """A float64 train-mode copy at a generic point (parameters + 10 % noise), every normalization eps = 0."""
    torch = _torch()
    probe = copy.deepcopy(model).double().train()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in probe.parameters():
            scale = float(p.detach().pow(2).mean().sqrt()) if p.numel() else 0.0
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.add_(noise * GENERIC_NOISE * (scale if scale > 0 else 1.0))
    for module in probe.modules():
        if isinstance(getattr(module, "eps", None), float):
            module.eps = TINY_EPS
    return probe


def _owner(name: str) -> str:
    """The layer a parameter belongs to (``a.b.parametrizations.weight.original0`` -> ``a.b``)."""
    parts = name.split(".")
    if "parametrizations" in parts:
        return ".".join(parts[:parts.index("parametrizations")])
    return ".".join(parts[:-1])


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
    the squared gradient at unit norm. ``L`` is a stand-in (:func:`_stand_in_loss`) on one batch, on a float64
    train-mode copy of the model as given (eps unchanged): the Section 4 model's ``C`` is the mean over batches
    of the gradient actually trained on, so scale the norms by ``(C_true/C)^(1/4)`` (SGD-type rules).
    Returns ``{name: (sq_norm per channel, sq_grad per channel)}`` as float64 numpy arrays.
    """
    torch = _torch()
    m = copy.deepcopy(model).double().train()
    m.zero_grad(set_to_none=True)
    loss = _stand_in_loss(m(inputs), seed)
    loss.backward()
    out = {}
    for name, p in m.named_parameters():
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        flat_p = p.detach().reshape(p.shape[0], -1) if p.ndim else p.detach().reshape(1, 1)
        flat_g = g.reshape(flat_p.shape)
        out[name] = (flat_p.pow(2).sum(1).numpy(), flat_g.pow(2).sum(1).numpy())
    return out


def predict_unit(rule: str, eta: float, lam: float, d: int, C: float, rho: float = 0.9, beta1: float = 0.9) -> dict:
    """Equilibrium norm, angle per step (rad) and relaxation time (steps) of one invariant unit of dimension ``d``."""
    if lam <= 0:
        return {"norm": float("inf"), "angle": 0.0, "tau": float("inf"),
                "note": "no equilibrium without decay: ||w||^2 grows like eta sqrt(2 C t) and the angle decays"}
    from .simulate.later_checks import equilibrium
    if d < 2 or C <= 0:
        return {"norm": float("nan"), "angle": float("nan"), "tau": float("nan"),
                "note": "a unit of dimension 1 or without gradient has no rotational equilibrium"}
    eq = equilibrium(rule, eta, lam, float(d), float(C), rho, beta1)
    return {"norm": eq["norm"], "angle": eq["angle"], "tau": eq["tau"]}


# ---- the report -------------------------------------------------------------------------------------------------
@dataclass
class ParamReport:
    """One parameter tensor: how it scales, what weight decay does to it, and the predictions for its units."""

    name: str
    shape: tuple
    invariance: str                       # per-channel, per-layer, joint-per-channel, joint-per-layer, none, no-effect
    weight_decay: str
    group: tuple = ()                     # the jointly invariant group (names), when joint
    units: int = 0
    unit_dim: int = 0
    norm_now: float | None = None         # median over units of the current norm
    C: float | None = None                # median over units of the estimated C
    predicted: dict = field(default_factory=dict)   # median over units: norm, angle, tau

    @property
    def invariant(self) -> bool:
        return self.weight_decay == SETS_LR


@dataclass
class AuditReport:
    """The audit of one model: a row per parameter tensor, the recommended groups, notes."""

    optimizer: str
    eta: float
    lam: float
    torch_weight_decay: float
    rho: float
    beta1: float
    parameters: list
    notes: list

    def groups(self) -> dict:
        """Recommended parameter groups: names per group, with the reason."""
        inv = [p.name for p in self.parameters if p.invariant]
        reg_matrix = [p.name for p in self.parameters if p.weight_decay == REGULARIZES and len(p.shape) >= 2]
        no_decay = [p.name for p in self.parameters
                    if p.weight_decay == NO_EFFECT or (p.weight_decay == REGULARIZES and len(p.shape) < 2)]
        return {
            "decay_invariant": {"params": inv, "weight_decay": self.torch_weight_decay,
                                "reason": "scale-invariant: weight decay only sets the effective learning rate "
                                          "(without it ||w|| grows and the effective learning rate decays like "
                                          "1/sqrt(t)); decay jointly invariant groups together"},
            "decay_regularized": {"params": reg_matrix, "weight_decay": self.torch_weight_decay,
                                  "reason": "not invariant: weight decay is a real L2 penalty on these "
                                            "(keep it if you want that regularization)"},
            "no_decay": {"params": no_decay, "weight_decay": 0.0,
                         "reason": "no effect on the output (decay would only shrink it to 0: remove it), or "
                                   "not invariant and 1-D (biases, gains: decay would regularize them, "
                                   "usually unwanted)"},
        }

    def snippet(self) -> str:
        """A printable ``torch.optim`` construction with the recommended groups."""
        cls = {"sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "adam": "Adam", "adamw": "AdamW",
               "rmsprop": "RMSprop"}[self.optimizer]
        extra = {"sgd": "", "momentum": f", momentum={self.rho}", "nesterov": f", momentum={self.rho}, nesterov=True",
                 "adam": f", betas=({self.beta1}, 0.999)", "adamw": f", betas=({self.beta1}, 0.999)",
                 "rmsprop": ""}[self.optimizer]
        lines = ["params = dict(model.named_parameters())", f"optimizer = torch.optim.{cls}(["]
        for key, g in self.groups().items():
            lines.append(f"    # {key}: {g['reason']}")
            lines.append(f"    {{'params': [params[n] for n in {g['params']!r}], "
                         f"'weight_decay': {g['weight_decay']!r}}},")
        lines.append(f"], lr={self.eta!r}{extra})")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"optimizer": self.optimizer, "eta": self.eta, "lam": self.lam,
                "torch_weight_decay": self.torch_weight_decay, "rho": self.rho, "beta1": self.beta1,
                "convention": "lam canonical (penalty lam*||w||^2); AdamW: decoupled factor (1 - eta*lam)",
                "parameters": [{**asdict(p), "shape": list(p.shape), "group": list(p.group)} for p in self.parameters],
                "groups": self.groups(), "snippet": self.snippet(), "notes": self.notes}

    def table_rows(self) -> list:
        """Rows for a plain-text table."""
        rows = []
        for p in self.parameters:
            inv = p.invariance + (f" with {', '.join(n for n in p.group if n != p.name)}" if p.group else "")
            pr = p.predicted
            fmt = lambda x, f: "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f.format(x)  # noqa
            rows.append([p.name, "x".join(map(str, p.shape)) or "scalar", inv, p.weight_decay,
                         fmt(p.norm_now, "{:.3g}"), fmt(pr.get("norm"), "{:.3g}"), fmt(pr.get("angle"), "{:.3g}"),
                         fmt(pr.get("tau"), "{:.0f}")])
        return rows


def audit(model, sample_input, optimizer: str = "sgd", eta: float = 0.1, lam: float = 5e-4, rho: float = 0.9,
          beta1: float = 0.9, seed: int = 0) -> AuditReport:
    """Audit ``model`` (an ``nn.Module``) on ``sample_input`` (a tensor): see the module docstring."""
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
    if not (eta > 0 and lam >= 0 and math.isfinite(eta) and math.isfinite(lam)):
        raise UsageError(f"need eta > 0 and lam >= 0, got eta={eta}, lam={lam}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)    # the probe's many tiny float64 passes are fastest (and stable) on one thread
    try:
        return _audit(torch, model, sample_input, optimizer, eta, lam, rho, beta1, seed)
    finally:
        torch.set_num_threads(threads)


def _audit(torch, model, sample_input, optimizer, eta, lam, rho, beta1, seed) -> AuditReport:
    x = torch.as_tensor(sample_input).double()
    probe = probe_model(model, seed)
    try:
        with torch.no_grad():
            out = probe(x)
    except Exception as exc:  # the user's model rejects the input: one line
        raise UsageError(f"the model fails on an input of shape {tuple(x.shape)}: {type(exc).__name__}: {exc}") \
            from None
    if not isinstance(out, torch.Tensor) or not torch.isfinite(out).all():
        raise UsageError("the model's output on the sample input is not one finite tensor (with eps = 0)")
    kinds = {name: classify(probe, x, (name,)) for name, _ in probe.named_parameters()}
    joint = _joint_groups(probe, x, kinds)
    grads = estimate_C(model, x, seed)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    rule = OPTIMIZERS[optimizer]
    reports = []
    for name, p in model.named_parameters():
        kind, group = kinds[name], ()
        if name in joint:
            kind, group = joint[name]
        wd = {"none": REGULARIZES, "no-effect": NO_EFFECT}.get(kind, SETS_LR)
        rep = ParamReport(name, tuple(p.shape), kind, wd, group)
        if wd == SETS_LR:
            _predict(rep, group or (name,), shapes, grads, rule, eta, lam, rho, beta1,
                     per_channel=kind.endswith("channel"))
        reports.append(rep)
    wd_torch = adamw_weight_decay(lam) if optimizer == "adamw" else torch_weight_decay(lam)
    notes = [
        "probed in train mode, float64, eps = 0, at a generic point; in eval mode a BatchNorm uses its running "
        "statistics (fixed buffers), so nothing before it is scale-invariant there: the invariance is a property "
        "of training",
        "per channel = slices along dimension 0; a unit is a channel (per-channel), the tensor (per-layer) or the "
        "group (joint)",
        "C = ||w||^2 ||grad L||^2 from one batch of the sample input with a stand-in loss (cross-entropy on random "
        "labels for 2-D logits, else half the mean squared output); norms scale like C^(1/4) for SGD-type rules "
        "and do not depend on C for AdamW",
        f"predictions for {optimizer} at eta={eta:g}, lam={lam:g} (torch weight_decay={wd_torch:g}): norm and angle "
        "per step are medians over a tensor's units; angle in radians; relaxation time in steps",
    ]
    return AuditReport(optimizer, eta, lam, wd_torch, rho, beta1, reports, notes)


def _joint_groups(probe, x, kinds) -> dict:
    """``{name: (joint kind, group)}`` for module groups invariant only together."""
    by_owner: dict = {}
    for name in kinds:
        by_owner.setdefault(_owner(name), []).append(name)
    out = {}
    for names in by_owner.values():
        loose = [n for n in names if kinds[n] == "none"]
        if len(loose) < 2:
            continue
        kind = classify(probe, x, tuple(loose))
        if kind in ("per-channel", "per-layer"):
            for n in loose:
                out[n] = ("joint-" + kind, tuple(loose))
    return out


def _predict(rep, group, shapes, grads, rule, eta, lam, rho, beta1, per_channel: bool) -> None:
    """Fill ``rep`` with the current norm, C and the predictions (medians over the units of the group)."""
    if per_channel:
        sq_norm = sum(grads[n][0] for n in group)
        sq_grad = sum(grads[n][1] for n in group)
        dim = sum(int(np.prod(shapes[n][1:])) for n in group)
    else:
        sq_norm = np.array([sum(float(grads[n][0].sum()) for n in group)])
        sq_grad = np.array([sum(float(grads[n][1].sum()) for n in group)])
        dim = sum(int(np.prod(shapes[n])) for n in group)
    C = sq_norm * sq_grad
    preds = [predict_unit(rule, eta, lam, dim, float(c), rho, beta1) for c in C]
    rep.units, rep.unit_dim = len(C), dim
    rep.norm_now = float(np.median(np.sqrt(sq_norm)))
    rep.C = float(np.median(C))
    rep.predicted = {k: float(np.median([p[k] for p in preds])) for k in ("norm", "angle", "tau")}
    notes = {p["note"] for p in preds if "note" in p}
    if notes:
        rep.predicted["note"] = "; ".join(sorted(notes))


__all__ = ["audit", "classify", "probe_model", "estimate_C", "predict_unit", "AuditReport", "ParamReport",
           "load_factory", "build_model", "sample_input"]
