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

from .checks_equilibrium import adamw_rms_check, angle_check, defazio_check, l2_identity_check, lion_norm_check
from .checks_growth import growth_bound_check, growth_check
from .checks_laws import NORM_RULES, law_check, norm_constant
from .checks_optimal import diagonals_check, optimal_check
from .analysis import norm_at_fit
from .checks_symmetry import RESCALED_RULES, equivariance_check, li_arora_check
from .fits import eff_lr_at_fit, eff_lr_power

ANGLE_RULES = ("sgd", "momentum", "nesterov_torch", "adamw", "lion")
DEFAZIO_RULES = ("sgd", "momentum")
GROWTH_RULES = ("sgd", "momentum")
LR_RULES = ("sgd", "momentum", "nesterov_torch", "rmsprop_torch", "adam", "adamw")
L2_IDENTITY_RULES = ("adam", "rmsprop_torch")

#: claim id -> check(results_dir) -> dict
CHECKS = {}
for _rule in ANGLE_RULES:
    CHECKS[f"later.angle.{_rule}"] = angle_check(_rule)
for _rule in DEFAZIO_RULES:
    CHECKS[f"later.defazio.{_rule}"] = defazio_check(_rule)
CHECKS["later.adamw.rms"] = adamw_rms_check
for _rule in L2_IDENTITY_RULES:
    CHECKS[f"later.{_rule}.l2_identity"] = l2_identity_check(_rule)
CHECKS["later.norm.lion"] = lion_norm_check
for _rule in GROWTH_RULES:
    CHECKS[f"later.growth.{_rule}"] = growth_check(_rule)
CHECKS["sec4.sgd.growth_no_decay"] = growth_bound_check
for _rule in LR_RULES:
    CHECKS[f"lr.optimal.{_rule}"] = optimal_check(_rule)
CHECKS["sec6.fig2.diagonals"] = diagonals_check
for _rule in NORM_RULES:
    CHECKS[f"table1.{_rule}.norm"] = law_check(
        f"table1.{_rule}.norm", _rule, norm_at_fit, "conv1 filter norm at the end of the first phase",
        filter_power=-1, constant=norm_constant)
    CHECKS[f"table1.{_rule}.eff_lr_eq"] = law_check(
        f"table1.{_rule}.eff_lr_eq", _rule, eff_lr_at_fit,
        "effective learning rate eta/||w||^k of conv1 at the end of the first phase", filter_power=eff_lr_power)
for _rule in RESCALED_RULES:
    CHECKS[f"update.{_rule}.equivariance"] = equivariance_check(_rule)
CHECKS["later.li_arora.exp_lr"] = li_arora_check
