"""The rescaling symmetry of a whole BN network under a rule, and what it fixes for torch's rule variants.

For a network whose every trained tensor is followed by BatchNorm (with its epsilon), one step of a rule from
``alpha w'`` with hyperparameters ``theta`` is ``alpha`` times one step from ``w'`` with ``theta alpha^e``
(``update.<rule>.equivariance``) *and* BN's epsilon times ``alpha^e_bn``: ``y_eps(alpha w) = y_{eps/alpha^2}(w)``
(``invariance.bn.epsilon``), so ``e_bn = -2``, solved for here. Together they map a whole training trajectory
from ``w_0`` onto one from ``w_0/alpha``: the trajectory tests of the training harness read both.

The optimal-learning-rate laws of torch's Nesterov iterate and torch's RMSprop follow from their equivariance
exactly as the paper's variants' do (``updates.optimal_lr_law``): ``lr.optimal.nesterov_torch``,
``lr.optimal.rmsprop_torch``.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import sympy as sp

from .claim import Claim, Printed
from .derivation import Derivation, Step
from .norm_model import WEIGHTS, bn_normalize, scaled
from .symbols import alpha, eps, lam
from .updates import RULES, optimal_lr_law

_e = sp.Symbol("e", real=True)


def bn_epsilon_exponent() -> Derivation:
    """The ``e`` with ``y_eps(alpha w) = y_{eps alpha^e}(w)`` for BN with epsilon inside the root: ``e = -2``.

    Solved from the first standardized output of a symbolic batch: the two agree iff their squares do, a
    condition on ``eps alpha^e`` alone.
    """
    big = bn_normalize(scaled(WEIGHTS, alpha), eps)[0]
    small = bn_normalize(WEIGHTS, eps * alpha**_e)[0]
    condition = sp.factor(sp.together(big**2 / small**2) - 1)
    solutions = [s for s in sp.solve(sp.numer(condition), _e) if s.is_real]
    exponent = solutions[0] if len(solutions) == 1 else sp.nan
    residuals = {f"zhat_{i + 1}": z_big - z_small.subs(_e, exponent) for i, (z_big, z_small) in
                 enumerate(zip(bn_normalize(scaled(WEIGHTS, alpha), eps), bn_normalize(WEIGHTS, eps * alpha**_e)))}
    return Derivation(
        result=exponent,
        steps=[Step("BN of the unit at alpha w, epsilon inside the root", big),
               Step("equal to BN at w with epsilon alpha^e iff (their ratio squared) - 1 vanishes", condition),
               Step("whose only real solution is", exponent)],
        proofs={"unique": sp.Integer(len(solutions) - 1), **residuals},
        summary="y_eps(alpha w) = y_{eps alpha^-2}(w): rescaling the weights by alpha acts as rescaling BN's "
                "epsilon by alpha^-2",
        extras={"exponent_bn_eps": exponent})


def network_rescaling(rule: str, equivariance: Derivation, bn: Derivation) -> dict:
    """``{name: exponent}`` of the hyperparameters a trajectory from ``w_0/alpha`` needs (``theta alpha^e``), from
    the proven derivations: the rule's (``update.<rule>.equivariance``: ``eta``, ``lam``, and ``eps`` where the
    rule has one) and BN's (``bn_eps``)."""
    names = {"exponent_eta": "eta", "exponent_lamda": "lam", "exponent_epsilon": "eps"}
    out = {names[k]: int(v) for k, v in equivariance.extras.items() if k in names}
    out["bn_eps"] = int(bn.extras["exponent_bn_eps"])
    return out


_OPTIMAL: dict[str, Any] = dict(statement="The optimal learning rate is constant on the level sets of the invariant monomial of "
                          "(eta, lambda), which gives its power law in lambda.",
                printed=Printed(None, "none", "not in the paper"), variables=(lam,), tags=("optimal-lr",))

CLAIMS = [
    Claim(id="lr.optimal.nesterov_torch", title=f"{RULES['nesterov_torch'].title}: optimal learning rate against "
          "lambda", source="torch.optim.SGD(nesterov=True) (not in the paper; its equivariance is the paper's "
          "Nesterov's)", derive=partial(optimal_lr_law, "nesterov_torch"), **_OPTIMAL),
    Claim(id="lr.optimal.rmsprop_torch", title=f"{RULES['rmsprop_torch'].title}: optimal learning rate against "
          "lambda", source="torch.optim.RMSprop (not in the paper)", derive=partial(optimal_lr_law, "rmsprop_torch"),
          **_OPTIMAL),
]
