"""How long the adaptive rules with L2 (Adam, torch's RMSprop) take to settle: the relaxation time of their moment
model at the run's own gradient scale, and the approach their decay alone needs from the initial norm.

Torch-free. The other rules' relaxation times are C-free (``later.angle.<rule>``, :mod:`.analysis`); Adam's and
RMSProp's with L2 are not: ``tau = 1/(3 c eta)`` (``theory.moments.relaxation_leading``) with the closure's
``c = 2 lam sqrt(d N/C)`` (``simulate.predict.coupled_c``), evaluated here at the layer's measured ``C`` (the mean
unit-scale gradient second moment of the fit epoch, ``grad_unit_sq``) and fan-in ``d``.

``tau`` is a linear-response time: it describes the last ``exp(-3)`` of the way, not a start far above
equilibrium. There the L2 term dominates the gradient and the preconditioner normalizes it: each coordinate
shrinks by about ``eta`` per step while the second moment still remembers larger weights, so the approach is
set by ``eta`` and the rule's memory, not by ``tau`` (seen on the CPU preset: ``eta = 9.5e-4`` cells take
300-400 steps to settle where ``3 tau`` is 40-150). :func:`approach_steps` measures that part by running the
rule's own update (``simulate.rules.VectorChains``, cold start as torch's) on the decay alone, from the initial
RMS of the weights to their RMS at the fit epoch. Gradient noise only slows the descent further (it adds to the
second moment, shortening the steps), so the count is a lower bound of the real approach; the window of
:func:`settle_steps` adds ``3 tau`` after it.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp

from ..simulate.params import Hyper
from ..simulate.predict import coupled_c
from ..simulate.rules import VectorChains
from ..theory.moments import c_l2, relaxation_leading
from ..theory.symbols import eta as eta_s

#: the moment model (``theory.moments.MODELS``) of each rule the harness trains, where the names differ
MOMENT_MODEL = {"rmsprop_torch": "rmsprop"}
#: the adaptive rules with L2 in the gradient (their relaxation time needs the gradient scale C)
COUPLED_RULES = ("adam", "rmsprop_torch")


def moment_model(rule: str) -> str:
    """The name of ``rule``'s moment model in ``theory.moments.MODELS``.

    >>> moment_model("rmsprop_torch"), moment_model("momentum")
    ('rmsprop', 'momentum')
    """
    return MOMENT_MODEL.get(rule, rule)


#: the approach is counted up to this many steps (a run longer than that has other problems)
MAX_APPROACH = 100_000


class NoGradient:
    """A model whose loss gradient is zero: the rule moves the weights by its decay alone."""

    coordinate_second_moment = 0.0

    def gradient(self, rng, w, r, out):
        """Zero, in ``out``."""
        out.fill(0.0)
        return out


def layer_fan_in(config: dict, layer: str) -> int:
    """Fan-in of a filter of ``layer`` (``conv1`` .. ``conv4``, 3 x 3 kernels) of the harness's network.

    >>> layer_fan_in({"widths": [4, 8, 16, 32]}, "conv2")
    36
    """
    return ([3] + list(config["widths"]))[int(layer[-1]) - 1] * 9


@functools.lru_cache(maxsize=None)
def _tau_function(model: str):
    """``tau(eta, c_L2)`` of the moment model's leading relaxation time."""
    return sp.lambdify((eta_s, c_l2), relaxation_leading(model), "math")


def coupled_relaxation(rule: str, eta: float, lam: float, d: int, C: float, beta1: float = 0.9) -> float:
    """``tau = 1/(3 c eta)`` steps of Adam or RMSProp with L2 at fan-in ``d`` and gradient scale ``C``; NaN where
    ``C`` is not a positive number or the closure has no equilibrium there."""
    if not (math.isfinite(C) and C > 0 and lam > 0):
        return math.nan
    model = moment_model(rule)
    try:
        c = coupled_c(model, eta, lam, d, C, beta1)
    except ValueError:                   # no root below 1/eta: the closure has no equilibrium at this C
        return math.nan
    return float(_tau_function(model)(eta, c))


def approach_steps(config: dict, rule: str, rms_start: float, rms_end: float) -> float:
    """Steps the rule's update needs, on its L2 decay alone and from a cold optimizer state, to bring a weight
    from ``rms_start`` down to ``rms_end`` (0 when it starts at or below; ``inf`` past :data:`MAX_APPROACH`)."""
    if not rms_start > rms_end > 0:
        return 0.0
    return _approach(rule, config["eta"], config["lam"], config.get("rho", 0.9), config.get("beta1", 0.9),
                     config.get("beta2", 0.999), config.get("eps", 1e-8), rms_start, rms_end)


@functools.lru_cache(maxsize=4096)
def _approach(rule, eta, lam, rho, beta1, beta2, eps, rms_start, rms_end) -> float:
    hyper = Hyper(eta=np.array([eta]), lam=np.array([lam]), rho=rho, beta1=beta1, beta2=beta2, eps=eps)
    chains = VectorChains(rule, hyper, NoGradient(), np.full((1, 1, 1), rms_start), warm=False, dtype=np.float64)
    for t in range(1, MAX_APPROACH + 1):
        chains.step(None)
        if abs(chains.w[0, 0, 0]) <= rms_end:
            return float(t)
    return math.inf
