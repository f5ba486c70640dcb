"""The audit's report: a row per parameter tensor, a row per jointly invariant group, the recommended
``torch.optim`` parameter groups, and the table and JSON forms of all of it."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

SETS_LR = "sets its effective learning rate only"
REGULARIZES = "regularizes it"
NO_EFFECT = "no effect (gradient identically zero)"

#: why a prediction column reads "-" (shown in the table's last column)
WHY_REGULARIZED = "not scale-invariant: decay is a real L2 penalty on it"
WHY_NO_EFFECT = "no effect on the output: nothing to predict"
WHY_ZERO_GRADIENT = ("zero gradient at the sample input (C = 0, e.g. a gain initialised to 0): no rotational "
                     "equilibrium to predict from this input")
WHY_ONE_ENTRY = "a unit of one entry has no direction to turn"


def vector_like(shape) -> bool:
    """Gains and biases, whatever their layout: at most one axis longer than 1 (``(C,)``, ``(C, 1, 1, 1)``).

    >>> vector_like((64,)), vector_like((64, 1, 1, 1)), vector_like((64, 3, 3, 3)), vector_like(())
    (True, True, False, True)
    """
    return sum(n > 1 for n in shape) <= 1


@dataclass
class Prediction:
    """Current norm, gradient scale and predicted equilibrium of the units of one invariance."""

    units: int = 0
    unit_dim: int = 0
    norm_now: float | None = None         # median over units of the current norm
    C: float | None = None                # median over units of the estimated C
    predicted: dict = field(default_factory=dict)   # median over units: norm, angle, tau (and a note)
    why: str = ""                         # why the predictions are missing, if they are


@dataclass
class GroupReport(Prediction):
    """A group of tensors that is scale-invariant only jointly (within a module or across modules)."""

    id: str = ""
    members: tuple = ()
    per: str = "layer"
    removed_by: tuple = ()
    alternatives: tuple = ()


@dataclass
class ParamReport(Prediction):
    """One parameter tensor: how it scales, what weight decay does to it, and the predictions for its units."""

    name: str = ""
    shape: tuple = ()
    invariance: str = "none"     # per-channel, per-layer, joint-per-channel, joint-per-layer, none, no-effect
    weight_decay: str = REGULARIZES
    group: tuple = ()            # the smallest jointly invariant group it belongs to (names)
    groups: tuple = ()           # the ids of every group it belongs to
    removed_by: tuple = ()

    @property
    def invariant(self) -> bool:
        return self.weight_decay == SETS_LR


def _fmt(x, spec: str) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else spec.format(x)


@dataclass
class AuditReport:
    """The audit of one model: a row per parameter tensor, a row per invariant group, notes."""

    optimizer: str
    eta: float
    lam: float
    torch_weight_decay: float
    rho: float
    beta1: float
    parameters: list
    notes: list
    invariant_groups: list = field(default_factory=list)

    def groups(self) -> dict:
        """Recommended parameter groups: names per group, with the reason."""
        inv = [p.name for p in self.parameters if p.invariant]
        reg = [p for p in self.parameters if p.weight_decay == REGULARIZES]
        listed = "; ".join(f"{g.id}: {', '.join(g.members)}" for g in self.invariant_groups)
        return {
            "decay_invariant": {"params": inv, "weight_decay": self.torch_weight_decay,
                                "reason": "scale-invariant: weight decay only sets the effective learning rate "
                                          "(without it ||w|| grows and the effective learning rate decays like "
                                          "1/sqrt(t)); decay every member of a jointly invariant group alike, or "
                                          "none of them (a common shrink is a joint rescale; a partial one is "
                                          "not)" + (f" [{listed}]" if listed else "")},
            "decay_regularized": {"params": [p.name for p in reg if not vector_like(p.shape)],
                                  "weight_decay": self.torch_weight_decay,
                                  "reason": "not invariant: weight decay is a real L2 penalty on these "
                                            "(keep it if you want that regularization)"},
            "no_decay": {"params": [p.name for p in self.parameters if p.weight_decay == NO_EFFECT]
                         + [p.name for p in reg if vector_like(p.shape)], "weight_decay": 0.0,
                         "reason": "no effect on the output (decay would only shrink it to 0: remove it), or "
                                   "not invariant and vector-like (biases, gains, whatever their layout, e.g. "
                                   "(C,) or (C,1,1,1): decay would regularize them, usually unwanted)"},
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
        def row(p):
            return {**asdict(p), "shape": list(p.shape), "group": list(p.group), "groups": list(p.groups),
                    "removed_by": list(p.removed_by)}

        def group(g):
            return {**asdict(g), "members": list(g.members), "removed_by": list(g.removed_by),
                    "alternatives": [[list(a), list(b)] for a, b in g.alternatives],
                    "weight_decay": self.torch_weight_decay,
                    "recommendation": "decay all members alike (same weight_decay), or none of them"}

        return {"optimizer": self.optimizer, "eta": self.eta, "lam": self.lam,
                "torch_weight_decay": self.torch_weight_decay, "rho": self.rho, "beta1": self.beta1,
                "convention": "lam canonical (penalty lam*||w||^2); AdamW: decoupled factor (1 - eta*lam)",
                "parameters": [row(p) for p in self.parameters],
                "invariant_groups": [group(g) for g in self.invariant_groups],
                "groups": self.groups(), "snippet": self.snippet(), "notes": self.notes}

    def table_rows(self) -> list:
        """Rows for the per-tensor table; a "-" is explained in the last column."""
        rows = []
        for p in self.parameters:
            inv = p.invariance + (f" {', '.join(p.groups)}" if p.groups else "")
            pr = p.predicted
            rows.append([p.name, "x".join(map(str, p.shape)) or "scalar", inv, p.weight_decay,
                         _fmt(p.norm_now, "{:.3g}"), _fmt(pr.get("norm"), "{:.3g}"), _fmt(pr.get("angle"), "{:.3g}"),
                         _fmt(pr.get("tau"), "{:.0f}"), p.why])
        return rows

    def group_rows(self) -> list:
        """Rows for the table of jointly invariant groups."""
        rows = []
        for g in self.invariant_groups:
            pr = g.predicted
            members = ", ".join(g.members) if len(g.members) <= 4 else \
                f"{len(g.members)} tensors: {', '.join(g.members[:3])}, ..."
            removed = ", ".join(g.removed_by) if len(g.removed_by) <= 3 else \
                f"{', '.join(g.removed_by[:3])} (+{len(g.removed_by) - 3})"
            rows.append([g.id, f"joint-per-{g.per}", members, removed or "-", _fmt(g.norm_now, "{:.3g}"),
                         _fmt(pr.get("norm"), "{:.3g}"), _fmt(pr.get("angle"), "{:.3g}"), _fmt(pr.get("tau"), "{:.0f}"),
                         g.why])
        return rows


PARAM_HEADER = ["parameter", "shape", "scale invariance", "weight decay", "norm now", "norm*", "angle*/step",
                "relax. steps", "why -"]
GROUP_HEADER = ["group", "scale invariance", "members", "scale removed by", "norm now", "norm*", "angle*/step",
                "relax. steps", "why -"]
