"""The monitor's view of an optimizer: which update rule of the vocabulary it is, and its (eta, lam, ...) per
parameter, in the suite's convention.

torch's optimizers are recognised by class (``SGD`` with or without momentum or Nesterov, ``Adam``, ``AdamW``,
``RMSprop``); any other optimizer with ``param_groups`` is named by its rule (``rule="lion"``, ...; the vocabulary of
:mod:`normlaws.rules`). ``lr`` and ``weight_decay`` are read from the parameter's group at every record, so a
schedule is followed; ``weight_decay`` is converted to the suite's ``lam`` (``advise.lam_from_torch``: ``wd/2`` for
coupled rules, ``wd`` for decoupled ones). torch's ``RMSprop`` (epsilon outside the root) is predicted with the
paper's RMSProp model (epsilon inside), the same as epsilon -> 0.
"""
from __future__ import annotations

from . import rules
from .advise import RULES as PREDICTED, lam_from_torch
from .errors import UsageError

#: torch's rules the monitor predicts with another rule's model (the difference vanishes as epsilon -> 0)
PREDICTED_AS = {"rmsprop_torch": "rmsprop"}


def infer_rule(optimizer) -> str:
    """The vocabulary's name for a torch optimizer; a :class:`UsageError` naming what to pass otherwise.

    >>> class SGD:
    ...     param_groups = [{"lr": 0.1, "momentum": 0.9, "nesterov": True, "dampening": 0}]
    >>> infer_rule(SGD())
    'nesterov_torch'
    """
    name = type(optimizer).__name__
    group = optimizer.param_groups[0]
    if name == "SGD":
        if group.get("dampening", 0):
            raise UsageError("SGD with dampening has no model in the theory; pass rule= explicitly if you accept one")
        if not group.get("momentum", 0):
            return "sgd"
        return "nesterov_torch" if group.get("nesterov") else "momentum"
    if name == "AdamW" or (name == "Adam" and group.get("decoupled_weight_decay")):
        return "adamw"
    if name == "Adam":
        return "adam"
    if name == "RMSprop":
        if group.get("momentum", 0) or group.get("centered"):
            raise UsageError("RMSprop with momentum or centered has no model in the theory")
        return "rmsprop_torch"
    raise UsageError(f"cannot tell the update rule of {name}; pass rule= one of {', '.join(PREDICTED)} "
                     "(normlaws.rules)")


def check_rule(rule: str) -> str:
    """``rule`` when the monitor can predict it (directly or through :data:`PREDICTED_AS`)."""
    rules.check(rule, PREDICTED + tuple(PREDICTED_AS))
    return rule


def _number(value) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def group_of(optimizer) -> dict:
    """``{id(parameter): its param group}``."""
    return {id(p): g for g in optimizer.param_groups for p in g["params"]}


def hyper(rule: str, group: dict) -> dict:
    """``eta``, ``lam`` (the suite's convention), ``rho``, ``beta1``, ``beta2`` of one param group."""
    betas = group.get("betas", (0.9, 0.999))
    rho = group.get("alpha", 0.9) if rule == "rmsprop_torch" else group.get("momentum", 0.9)
    return {"eta": _number(group["lr"]), "lam": lam_from_torch(rule, _number(group.get("weight_decay", 0.0))),
            "rho": _number(rho), "beta1": _number(betas[0]), "beta2": _number(betas[1])}


def watch_hyper(rule: str, watch, groups: dict) -> tuple[dict | None, str]:
    """The hyperparameters shared by every member of a watch, or ``(None, why)`` when they differ (a group decayed
    unalike is no longer invariant: a partial shrink changes the function) or a member is not optimised."""
    values = []
    for t in watch.tensors:
        if id(t) not in groups:
            return None, "a member is not in the optimizer"
        values.append(hyper(rule, groups[id(t)]))
    if any(v != values[0] for v in values[1:]):
        return None, "members in param groups with different lr or weight_decay: the group is not invariant as trained"
    return values[0], ""
