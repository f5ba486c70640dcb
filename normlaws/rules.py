"""One name per update rule, defined once: the vocabulary every package, CLI flag and record uses.

A name means one update rule exactly, with its variable and its decay convention; torch's variants that differ
from the paper's (torch's Nesterov iterate, torch's RMSprop with epsilon outside the root) are separate names
with their own claims. Part of the core: it imports nothing of the project.

Older records and the testing API's first release spelled some rules differently; :data:`ALIASES` maps those
spellings to the names here, and :func:`canonical` applies it where old data is read.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError


@dataclass(frozen=True)
class Rule:
    """An update rule's name, what it is, how its decay is applied, and its torch counterpart (if any)."""

    name: str
    title: str
    decay: str          # "coupled": the penalty lam ||w||^2 in the gradient; "decoupled": w <- (1 - eta lam) w
    torch: str = ""     # the torch.optim call that implements it, in the suite's convention (torch wd = 2 lam)


RULES = {r.name: r for r in (
    Rule("sgd", "SGD", "coupled", "SGD(lr=eta, weight_decay=2 lam)"),
    Rule("momentum", "heavy-ball momentum (Sec. 5.1, first form)", "coupled",
         "SGD(lr=eta, momentum=rho, weight_decay=2 lam)"),
    Rule("nesterov", "Nesterov momentum, the paper's variable w (Sec. 5.1, second form)", "coupled"),
    Rule("nesterov_torch", "Nesterov momentum, torch's iterate", "coupled",
         "SGD(lr=eta, momentum=rho, nesterov=True, weight_decay=2 lam)"),
    Rule("rmsprop", "RMSProp, epsilon inside the square root (Sec. 5.2)", "coupled"),
    Rule("rmsprop_torch", "RMSProp, epsilon outside the square root", "coupled",
         "RMSprop(lr=eta, alpha=rho, eps=eps, weight_decay=2 lam)"),
    Rule("adam", "Adam with L2 in the gradient, bias-corrected", "coupled",
         "Adam(lr=eta, betas=(beta1, beta2), eps=eps, weight_decay=2 lam)"),
    Rule("adamw", "AdamW, decoupled decay", "decoupled", "AdamW(lr=eta, betas=(beta1, beta2), eps=eps, weight_decay=lam)"),
    Rule("normalized", "normalized SGD: the step, then w <- w/||w|| (Sec. 5.5)", "coupled"),
    Rule("newton", "Newton's method (Sec. 5.4)", "coupled"),
    Rule("lion", "Lion: the sign of an interpolated momentum, decoupled decay", "decoupled"),
)}

#: older spellings -> names (the testing API's first release; training records written before the vocabulary)
ALIASES = {"heavy_ball": "momentum", "normalized_sgd": "normalized"}
#: the training harness's records before the vocabulary named torch's rules by torch's names
RECORD_ALIASES = {"nesterov": "nesterov_torch", "rmsprop": "rmsprop_torch"}


def check(name: str, allowed=None) -> str:
    """``name`` when it is a rule (and in ``allowed``, if given); else a :class:`UsageError` listing the choices.

    >>> check("adamw")
    'adamw'
    """
    choices = tuple(allowed) if allowed is not None else tuple(RULES)
    if name not in choices:
        raise UsageError(f"unknown update rule {name!r}; choose one of {', '.join(choices)}")
    return name


def canonical(name: str, aliases: dict = ALIASES) -> str:
    """The vocabulary's name for an older spelling (``name`` itself when it is already one).

    >>> canonical("heavy_ball"), canonical("sgd")
    ('momentum', 'sgd')
    """
    return aliases.get(name, name)


def is_decoupled(name: str) -> bool:
    """Whether ``lam`` is a decoupled decay for this rule (AdamW, Lion) rather than the penalty's.

    >>> is_decoupled("lion"), is_decoupled("adam")
    (True, False)
    """
    return RULES[name].decay == "decoupled"
