"""What a schedule and a choice of (eta, lam) imply for a run's scale-invariant groups, before the run.

:func:`advise` takes an update rule (the vocabulary of :mod:`normlaws.rules`), ``eta``, ``lam`` in the suite's
convention (convert torch's ``weight_decay`` with :func:`lam_from_torch`), a per-epoch schedule (milestones with a
factor, or cosine annealing to zero, as torch's ``MultiStepLR`` and ``CosineAnnealingLR`` stepped once an epoch),
the steps per epoch and the epochs, and answers from the registered claims of ``normlaws.theory``:

* per phase of constant learning rate: the equilibrium angle per step, norm and effective learning rate
  (``simulate.predict.equilibrium``, ``eff_lr_at``; claims ``later.angle.<rule>``), the relaxation time
  (``schedules.drop.<rule>`` where derived for a drop, else the moment map's ``relaxation_time``) against the phase's
  length, and whether the groups reach equilibrium before the next change;
* the predicted path of the norm and the angle over the whole schedule (:func:`path`);
* for decoupled rules (AdamW, Lion) the EMA timescale of the weights in iterations and epochs
  (``schedules.adamw.ema_timescale``, Wang & Aitchison 2025);
* the ``(eta, lam)`` pairs equivalent for the invariant groups (``schedules.pairs.<rule>``) and how ``lam`` must
  follow a change of ``eta``, batch size or dataset size (``schedules.lambda_scaling.<rule>``).

A unit's dimension ``d`` and gradient scale ``C = E||grad L(w_hat)||^2`` enter the norm and the effective learning
rate (and, for RMSProp and Adam with L2, everything); the angle and the relaxation time of SGD, momentum, Nesterov,
AdamW and Lion do not depend on them.

The path after each change is ``X_t = X* + (X_0 - X*) exp(-t/tau)`` in the rule's relaxing variable ``X = N^p``
(``N = ||w||^2``): derived for SGD (``p = 2``) and AdamW (``p = 1``) and checked by the Monte-Carlo leg
(``simulate.drop``); for momentum and Nesterov the same form with ``p = 2`` and the linearised time constant is an
assumption (marked in the output); for Lion ``p = 1`` as AdamW; for RMSProp and Adam with L2 only small
displacements are covered (linearised). The angle follows the effective learning rate along the path
(``schedules.angle_ratio``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from . import advise_theory as theory
from . import conventions, rules
from .advise_theory import Phase  # noqa: F401 - part of this module's API
from .errors import UsageError

#: rules whose invariant groups advise describes (``simulate.predict.equilibrium``'s)
RULES = ("sgd", "momentum", "nesterov", "nesterov_torch", "adamw", "rmsprop", "adam", "lion")
#: a group counts as equilibrated when its norm is within this fraction of its equilibrium value
NORM_TOLERANCE = 0.05
CRITERION = (f"the predicted norm at the phase's end is within {NORM_TOLERANCE:.0%} of the phase's equilibrium "
             "norm")
#: points per epoch of the predicted path
PATH_POINTS = 20


@dataclass
class Schedule:
    """A per-epoch learning-rate schedule: ``kind`` 'constant', 'milestones' (``eta * factor**k`` after the k-th
    milestone epoch) or 'cosine' (``eta (1 + cos(pi e/epochs))/2`` in epoch e, torch's CosineAnnealingLR to 0)."""

    kind: str
    epochs: int
    milestones: tuple = ()
    factor: float = 0.1

    def __post_init__(self):
        if self.kind not in ("constant", "milestones", "cosine"):
            raise UsageError(f"unknown schedule {self.kind!r}; choose constant, milestones or cosine")
        ms = tuple(self.milestones)
        if any(b <= a for a, b in zip(ms, ms[1:])) or any(m < 1 or m >= self.epochs for m in ms):
            raise UsageError(f"milestones must increase and lie between 1 and epochs - 1 = {self.epochs - 1}; "
                             f"got {', '.join(map(str, ms))}")
        if not 0 < self.factor <= 1:
            raise UsageError(f"the factor at a milestone must be in (0, 1], got {self.factor:g}")

    def lr_factor(self, epoch: int) -> float:
        """The learning rate of 0-based ``epoch`` over the base one.

        >>> Schedule("milestones", 100, (50, 80)).lr_factor(79)
        0.1
        """
        if self.kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))
        return self.factor ** sum(epoch >= m for m in self.milestones)

    def phases(self) -> list[tuple[int, int]]:
        """``[(first epoch, end epoch)]`` of constant learning rate (one per epoch for cosine)."""
        if self.kind == "cosine":
            return [(e, e + 1) for e in range(self.epochs)]
        bounds = (0,) + tuple(self.milestones) + (self.epochs,)
        return list(zip(bounds, bounds[1:]))


def lam_from_torch(rule: str, weight_decay: float) -> float:
    """The suite's ``lam`` for torch's ``weight_decay``: ``wd/2`` for coupled rules, ``wd`` for AdamW and Lion.

    >>> lam_from_torch("sgd", 1e-3), lam_from_torch("adamw", 0.05)
    (0.0005, 0.05)
    """
    return weight_decay if rules.is_decoupled(rule) else conventions.paper_lambda(weight_decay)


def torch_from_lam(rule: str, lam: float) -> float:
    """torch's ``weight_decay`` for the suite's ``lam`` (inverse of :func:`lam_from_torch`)."""
    return conventions.adamw_weight_decay(lam) if rules.is_decoupled(rule) else conventions.torch_weight_decay(lam)


@dataclass
class Advice:
    """Everything :func:`advise` derived, JSON-ready through :meth:`to_dict`."""

    rule: str
    eta: float
    lam: float
    torch_weight_decay: float
    convention: str
    schedule: Schedule
    steps_per_epoch: int
    d: int
    C: float
    phases: list
    pairs: list
    scaling: dict
    path: dict
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """The advice as plain data (phases with their length in relaxation times)."""
        out = asdict(self)
        for row, phase in zip(out["phases"], self.phases):
            row["length_over_tau"] = phase.length_over_tau
        out["criterion"] = CRITERION
        return out


def advise(rule: str, eta: float, lam: float, schedule: Schedule, steps_per_epoch: int, d: int = 1152,
           C: float = 1.0, rho: float = 0.9, beta1: float = 0.9, beta2: float = 0.999,
           start_norm: float | None = None) -> Advice:
    """The advice for one run (see the module docstring); ``lam`` in the suite's convention; ``start_norm``: a
    unit's ``||w||`` at the start (default: the first phase's equilibrium)."""
    rules.check(rule, RULES)
    if not (eta > 0 and lam > 0 and math.isfinite(eta) and math.isfinite(lam)):
        raise UsageError(f"advise needs eta > 0 and lam > 0 (no equilibrium without decay), got {eta:g}, {lam:g}")
    if rules.is_decoupled(rule) and eta * lam >= 1:
        raise UsageError(f"eta * lam = {eta * lam:g} >= 1: the decoupled decay would flip or zero the weights")
    if not rules.is_decoupled(rule) and 2 * eta * lam >= 1:
        raise UsageError(f"2 eta lam = {2 * eta * lam:g} >= 1: the L2 step would flip or zero the weights")
    consts = dict(d=d, C=C, rho=rho, beta1=beta1, beta2=beta2)
    phases = [theory.phase(rule, eta * schedule.lr_factor(a), lam, a, b, steps_per_epoch, **consts)
              for a, b in schedule.phases()]
    path = theory.path(rule, phases, steps_per_epoch, lam, PATH_POINTS, **consts, start_norm=start_norm)
    for p in phases:
        p.equilibrated = abs(p.norm_end / p.norm - 1) <= NORM_TOLERANCE
    return Advice(rule, eta, lam, torch_from_lam(rule, lam), conventions.rule_decay(rule), schedule, steps_per_epoch,
                  d, C, phases, theory.pairs(rule, eta, lam, **consts), theory.scaling(rule), path,
                  theory.notes(rule))


def cosine_summary(phases: list, parts: int = 10) -> list:
    """Cosine schedules have one phase per epoch: group them into ``parts`` spans for a table. A span's row is its
    last epoch (the learning rate, equilibrium and relaxation time there, where ``equilibrated`` is judged), with the
    span's first epoch and its total steps."""
    size = max(1, math.ceil(len(phases) / parts))
    out = []
    for i in range(0, len(phases), size):
        span = phases[i:i + size]
        row = Phase(**asdict(span[-1]))
        row.first_epoch, row.steps = span[0].first_epoch, sum(p.steps for p in span)
        out.append(row)
    return out
