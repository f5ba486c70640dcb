"""The training leg's checks, by claim id: ``CHECKS[claim_id](results_dir) -> dict``.

Imports no torch at import time. Every check returns the suite's result dict (:mod:`normlaws.outcome`:
``status`` "agrees" | "disagrees" | "skipped", its components with measured value, derived value, tolerance and
where the tolerance comes from), plus ``derived`` and ``ci`` for the report's rows. Which records a check reads,
and what it compares:

- C-free equilibrium quantities on the invariant network (:mod:`.checks_equilibrium`): ``later.angle.<rule>``
  (angle per step and chord ratio), ``later.defazio.<rule>``, ``later.adamw.rms`` (and its relaxation time),
  ``later.adam.l2_identity``, ``later.rmsprop_torch.l2_identity``, ``later.norm.lion``;
- the norm's growth without decay (:mod:`.checks_growth`): ``later.growth.<rule>``, ``sec4.sgd.growth_no_decay``;
- the optimal-learning-rate laws and Figure 2's lines, invariant network over seeds, standard beside
  (:mod:`.checks_optimal`): ``lr.optimal.<rule>``, ``sec6.fig2.diagonals``;
- laws with C, exponents fitted (:mod:`.checks_laws`): ``table1.<rule>.norm``, ``table1.<rule>.eff_lr_eq``;
- exact trajectory symmetries trained at check time on real CIFAR-10 in float64 (:mod:`.checks_symmetry`):
  ``update.<rule>.equivariance``, ``later.li_arora.exp_lr``.

Rules are the vocabulary's (:mod:`normlaws.rules`): a record of torch's Nesterov iterate (``nesterov_torch``;
older records' ``nesterov``) or of torch's RMSprop (``rmsprop_torch``, epsilon outside the root; older records'
``rmsprop``) is checked against the claims of that rule, never against the paper's ``nesterov``/``rmsprop``.
"""
from __future__ import annotations

import functools

from .analysis import norm_at_fit
from .checks_equilibrium import adamw_rms_check, angle_check, defazio_check, l2_identity_check, lion_norm_check
from .checks_growth import growth_bound_check, growth_check
from .checks_laws import law_check, norm_constant
from .checks_optimal import diagonals_check, optimal_check
from .checks_symmetry import equivariance_check, li_arora_check
from .fits import eff_lr_at_fit, eff_lr_power

_NORM = "conv1 filter norm at the end of the first phase"
_EFF_LR = "effective learning rate eta/||w||^k of conv1 at the end of the first phase"


def _norm_law(claim_id: str, rule: str):
    return law_check(claim_id, rule, norm_at_fit, _NORM, filter_power=-1, constant=norm_constant)


def _eff_lr_law(claim_id: str, rule: str):
    return law_check(claim_id, rule, eff_lr_at_fit, _EFF_LR, filter_power=eff_lr_power)


def _with_report_keys(check):
    """``check`` whose result always has the report's ``derived`` and ``ci`` (None where it gives none, e.g. a
    skipped check), as ``normlaws figures`` and the report read them."""

    @functools.wraps(check)
    def checked(results_dir=None) -> dict:
        out = check(results_dir)
        out.setdefault("derived", out.get("predicted"))
        out.setdefault("ci", None)
        return out

    return checked


_CHECKS = {
    # C-free equilibrium quantities, invariant network
    "later.angle.sgd": angle_check("later.angle.sgd", "sgd"),
    "later.angle.momentum": angle_check("later.angle.momentum", "momentum"),
    "later.angle.nesterov_torch": angle_check("later.angle.nesterov_torch", "nesterov_torch"),
    "later.angle.adamw": angle_check("later.angle.adamw", "adamw"),
    "later.angle.lion": angle_check("later.angle.lion", "lion"),
    "later.defazio.sgd": defazio_check("later.defazio.sgd", "sgd"),
    "later.defazio.momentum": defazio_check("later.defazio.momentum", "momentum"),
    "later.adamw.rms": adamw_rms_check,
    "later.adam.l2_identity": l2_identity_check("later.adam.l2_identity", "adam"),
    "later.rmsprop_torch.l2_identity": l2_identity_check("later.rmsprop_torch.l2_identity", "rmsprop_torch"),
    "later.norm.lion": lion_norm_check,
    # the norm's growth without decay
    "later.growth.sgd": growth_check("later.growth.sgd", "sgd"),
    "later.growth.momentum": growth_check("later.growth.momentum", "momentum"),
    "sec4.sgd.growth_no_decay": growth_bound_check,
    # optimal learning rates over seeds, invariant network (standard beside)
    "lr.optimal.sgd": optimal_check("lr.optimal.sgd", "sgd"),
    "lr.optimal.momentum": optimal_check("lr.optimal.momentum", "momentum"),
    "lr.optimal.nesterov_torch": optimal_check("lr.optimal.nesterov_torch", "nesterov_torch"),
    "lr.optimal.rmsprop_torch": optimal_check("lr.optimal.rmsprop_torch", "rmsprop_torch"),
    "lr.optimal.adam": optimal_check("lr.optimal.adam", "adam"),
    "lr.optimal.adamw": optimal_check("lr.optimal.adamw", "adamw"),
    "sec6.fig2.diagonals": diagonals_check,
    # Table 1's laws with C, exponents fitted
    "table1.sgd.norm": _norm_law("table1.sgd.norm", "sgd"),
    "table1.momentum.norm": _norm_law("table1.momentum.norm", "momentum"),
    "table1.adam.norm": _norm_law("table1.adam.norm", "adam"),
    "table1.adamw.norm": _norm_law("table1.adamw.norm", "adamw"),
    "table1.sgd.eff_lr_eq": _eff_lr_law("table1.sgd.eff_lr_eq", "sgd"),
    "table1.momentum.eff_lr_eq": _eff_lr_law("table1.momentum.eff_lr_eq", "momentum"),
    "table1.adam.eff_lr_eq": _eff_lr_law("table1.adam.eff_lr_eq", "adam"),
    "table1.adamw.eff_lr_eq": _eff_lr_law("table1.adamw.eff_lr_eq", "adamw"),
    # exact trajectory symmetries on real CIFAR-10, float64
    "update.sgd.equivariance": equivariance_check("update.sgd.equivariance", "sgd"),
    "update.momentum.equivariance": equivariance_check("update.momentum.equivariance", "momentum"),
    "update.nesterov_torch.equivariance": equivariance_check("update.nesterov_torch.equivariance", "nesterov_torch"),
    "update.rmsprop_torch.equivariance": equivariance_check("update.rmsprop_torch.equivariance", "rmsprop_torch"),
    "update.adam.equivariance": equivariance_check("update.adam.equivariance", "adam"),
    "update.adamw.equivariance": equivariance_check("update.adamw.equivariance", "adamw"),
    "update.lion.equivariance": equivariance_check("update.lion.equivariance", "lion"),
    "later.li_arora.exp_lr": li_arora_check,
}

#: claim id -> check(results_dir) -> dict
CHECKS = {claim_id: _with_report_keys(check) for claim_id, check in _CHECKS.items()}
