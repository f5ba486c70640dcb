"""The hyperparameters of a simulated run, in the suite's canonical convention.

Convention (``normlaws.conventions.CANONICAL``): the L2 penalty is ``lam*||w||^2`` (gradient ``2*lam*w``), so
SGD multiplies the weights by ``a = 1 - 2*eta*lam`` per step; AdamW's decoupled decay multiplies them by
``1 - eta*lam``. ``C`` is the Section 4 model's ``E||grad L(w_hat)||^2`` at unit norm (``C = d`` gives every
coordinate unit variance: the paper's constants ``gamma = 1``, ``sigma_nabla = sqrt(2)``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from normlaws import rules
from normlaws.errors import UsageError

#: the rules the simulators implement (Section 4 model and BN unit alike)
RULES = ("sgd", "momentum", "nesterov", "nesterov_torch", "rmsprop", "adam", "adamw", "normalized", "lion")
#: the rules with L2 in the gradient (the others: AdamW decays outside, normalized SGD fixes the norm)
L2_RULES = ("sgd", "momentum", "nesterov", "nesterov_torch", "rmsprop", "adam")


def check_rule(rule: str) -> str:
    """``rule`` if the simulators know it, else a :class:`UsageError` listing the known rules."""
    return rules.check(rule, RULES)


@dataclass(frozen=True)
class Hyper:
    """Learning rate and L2 strength on a grid (any broadcastable shape), and the rule's other constants.

    ``rho`` is the momentum of heavy-ball and Nesterov and the accumulator decay of RMSProp; ``beta1``,
    ``beta2`` are Adam's (and Lion's interpolation and momentum); ``eps`` is RMSProp's (inside the square root)
    and Adam's (outside).
    """

    eta: np.ndarray
    lam: np.ndarray
    rho: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 0.0
    grid_shape: tuple = field(init=False)

    def __post_init__(self):
        eta, lam = np.broadcast_arrays(np.asarray(self.eta, float), np.asarray(self.lam, float))
        if np.any(~np.isfinite(eta)) or np.any(eta <= 0):
            raise UsageError("the learning rate eta must be finite and > 0")
        if np.any(~np.isfinite(lam)) or np.any(lam < 0):
            raise UsageError("the L2 strength lam must be finite and >= 0")
        for name in ("rho", "beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise UsageError(f"{name} must be in [0, 1)")
        if self.eps < 0:
            raise UsageError("eps must be >= 0")
        object.__setattr__(self, "eta", np.array(eta))
        object.__setattr__(self, "lam", np.array(lam))
        object.__setattr__(self, "grid_shape", eta.shape)

    @property
    def size(self) -> int:
        """Number of grid points."""
        return int(np.prod(self.grid_shape, dtype=int))

    def flat(self, trailing: int = 2) -> tuple:
        """``(eta, lam)`` flattened to ``(G,)`` and given ``trailing`` unit axes, for broadcasting on chains."""
        shape = (self.size,) + (1,) * trailing
        return self.eta.reshape(shape), self.lam.reshape(shape)

    def values(self) -> dict:
        """Named values for the theory's lambdified formulas (``eta``, ``lam``, ``rho``, ``beta1``, ``beta2``)."""
        return {"eta": self.eta, "lam": self.lam, "rho": self.rho, "beta1": self.beta1, "beta2": self.beta2}

    def with_(self, **changes) -> "Hyper":
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def as_dict(self) -> dict:
        """JSON-ready (grid values as lists)."""
        return {"eta": self.eta.tolist(), "lam": self.lam.tolist(), "rho": self.rho, "beta1": self.beta1,
                "beta2": self.beta2, "eps": self.eps}
