"""Update rules as one-step maps in numpy, and how each is equivariant under ``w -> alpha w``.

Canonical convention: the objective is ``L_lambda(w) = L(w) + lambda*||w||^2``, so every rule below adds
``2*lambda*w`` to the gradient of the unregularized loss (AdamW is the exception: its ``wd`` multiplies
``w`` by ``(1 - eta*wd)`` outside the preconditioner, PyTorch's decoupled form).

``RULES[name].rescale`` says how a run from ``w_0 = alpha w'_0`` is the same run, step for step, as a run
of the same rule from ``w'_0`` with rescaled hyperparameters ``h' = h * alpha**e_h`` and optimizer state
``s = alpha**e_s * s'`` (``state_scale``). The exponents are the theory's (``theory.updates.rescaling_exponents``,
proved symbolically there), not typed here; the rules are named as everywhere in the suite (``normlaws.rules``;
the first release's ``heavy_ball`` and ``normalized_sgd`` still look up). Why they hold, for a scale-invariant ``L`` (``L(alpha w) = L(w)``, so
``grad L(alpha w) = grad L(w)/alpha``, ``Hess L(alpha w) = Hess L(w)/alpha**2``):

* SGD: ``alpha w' - eta (g'/alpha + 2 lam alpha w') = alpha (w' - (eta/alpha^2)(g' + 2 lam alpha^2 w'))``:
  ``eta -> eta/alpha^2``, ``lam -> lam alpha^2``. Heavy-ball and Nesterov momentum: the same, with the
  velocity ``v = alpha v'`` (Nesterov's look-ahead ``w + rho v`` scales along).
* RMSProp: the accumulator of squared gradients scales like ``1/alpha^2``. With ``eps`` inside the root
  (the paper's form), ``sqrt(g'/alpha^2 + eps) = sqrt(g' + alpha^2 eps)/alpha``: ``eps -> alpha^2 eps``;
  with ``eps`` outside (PyTorch's), ``sqrt(g'/alpha^2) + eps = (sqrt(g') + alpha eps)/alpha``:
  ``eps -> alpha eps``; in both ``eta -> eta/alpha``.
* Adam (eps outside, bias-corrected): first moment ``m = m'/alpha``, second ``v = v'/alpha^2``,
  ``eta -> eta/alpha``, ``eps -> alpha eps``, ``lam -> lam alpha^2``. AdamW: the decoupled factor
  ``(1 - eta wd)`` must stay put, so ``wd -> alpha wd`` while ``eta -> eta/alpha``.
* Newton: ``H^-1 g`` scales like ``alpha``: ``eta`` unchanged, ``lam -> lam alpha^2``.
* Normalized SGD (Sec. 5.5, ``w <- w~/||w~||``): the normalization removes the scale, so only the first
  step sees it: ``N_{eta,lam}(alpha w') = N_{eta/alpha^2, lam alpha^2}(w')``, and from then on both runs
  sit at norm 1 with the same ``(eta, lam)`` (see :data:`FIRST_STEP_ONLY`).

The property suite checks each of these on whole trajectories (float64; with power-of-two ``alpha`` the
two runs agree bitwise, since scaling by ``2**k`` commutes with rounding).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..rules import canonical
from ..theory import updates


@dataclass(frozen=True)
class Rule:
    """An update rule: its state, its one-step map, and its equivariance exponents."""

    name: str
    hyper: tuple                      # hyperparameter names, e.g. ("eta", "lam")
    state: tuple                      # state names, e.g. ("v",)
    step: Callable                    # step(w, state: dict, t: int, problem, **hyper) -> (w, state)
    rescale: dict                     # hyperparameter -> exponent e: h' = h * alpha**e
    state_scale: dict = field(default_factory=dict)  # state -> exponent e: s = alpha**e * s'
    table1_row: str = ""

    def init(self, w) -> dict:
        """Zero optimizer state for weights ``w``."""
        return {name: np.zeros_like(w) for name in self.state}

    def rescaled(self, hyper: dict, alpha: float) -> dict:
        """The hyperparameters of the equivalent run on ``w' = w/alpha``."""
        return {k: v * alpha ** self.rescale.get(k, 0) for k, v in hyper.items()}

    def run(self, w0, hyper: dict, problem, steps: int, state=None) -> np.ndarray:
        """The trajectory ``w_0 .. w_steps`` (array of shape ``(steps+1, d)``)."""
        w, s = np.array(w0, dtype=float), dict(state) if state else self.init(w0)
        out = [w]
        for t in range(steps):
            w, s = self.step(w, s, t, problem, **hyper)
            out.append(w)
        return np.array(out)


def _grad(problem, w, t, lam):
    return problem.grad(w, t) + 2 * lam * w


def _sgd(w, s, t, problem, eta, lam):
    return w - eta * _grad(problem, w, t, lam), s


def _heavy_ball(w, s, t, problem, eta, lam, rho):
    v = rho * s["v"] - eta * _grad(problem, w, t, lam)
    return w + v, {"v": v}


def _nesterov(w, s, t, problem, eta, lam, rho):
    v = rho * s["v"] - eta * _grad(problem, w + rho * s["v"], t, lam)
    return w + v, {"v": v}


def _rmsprop_inside(w, s, t, problem, eta, lam, rho, eps):
    g = _grad(problem, w, t, lam)
    acc = rho * s["g"] + (1 - rho) * g * g
    return w - eta * g / np.sqrt(acc + eps), {"g": acc}


def _rmsprop_outside(w, s, t, problem, eta, lam, rho, eps):
    g = _grad(problem, w, t, lam)
    acc = rho * s["g"] + (1 - rho) * g * g
    return w - eta * g / (np.sqrt(acc) + eps), {"g": acc}


def _adam_direction(g, s, t, beta1, beta2, eps):
    m = beta1 * s["m"] + (1 - beta1) * g
    v = beta2 * s["v"] + (1 - beta2) * g * g
    direction = (m / (1 - beta1 ** (t + 1))) / (np.sqrt(v / (1 - beta2 ** (t + 1))) + eps)
    return direction, {"m": m, "v": v}


def _adam(w, s, t, problem, eta, lam, beta1, beta2, eps):
    direction, s = _adam_direction(_grad(problem, w, t, lam), s, t, beta1, beta2, eps)
    return w - eta * direction, s


def _adamw(w, s, t, problem, eta, wd, beta1, beta2, eps):
    direction, s = _adam_direction(problem.grad(w, t), s, t, beta1, beta2, eps)
    return w * (1 - eta * wd) - eta * direction, s


def _normalized_sgd(w, s, t, problem, eta, lam):
    w_tilde = w - eta * _grad(problem, w, t, lam)
    return w_tilde / np.sqrt((w_tilde * w_tilde).sum()), s


def _newton(w, s, t, problem, eta, lam):
    H = problem.hess(w, t) + 2 * lam * np.eye(w.size)
    return w - eta * np.linalg.solve(H, _grad(problem, w, t, lam)), s


def _rule(name: str, hyper: tuple, state: tuple, step: Callable, table1_row: str, lam_name: str = "lam") -> Rule:
    """A rule whose rescaling exponents are the theory's (``theory.updates.rescaling_exponents``, proved there),
    under this module's names: ``lam`` may be spelt ``wd`` (AdamW), the state keeps this module's names in the
    theory's order."""
    exponents, state_exponents = updates.rescaling_exponents(name)
    rescale = {(lam_name if h == "lam" else h): e for h, e in exponents.items() if e}
    return Rule(name, hyper, state, step, rescale, dict(zip(state, state_exponents)), table1_row)


class _Vocabulary(dict):
    """The rules by the suite's names (``normlaws.rules``); the first release's spellings still look up."""

    def __missing__(self, key):
        name = canonical(key)
        if name == key:
            raise KeyError(key)
        return self[name]


RULES = _Vocabulary({r.name: r for r in (
    _rule("sgd", ("eta", "lam"), (), _sgd, "SGD"),
    _rule("momentum", ("eta", "lam", "rho"), ("v",), _heavy_ball, "Momentum"),
    _rule("nesterov", ("eta", "lam", "rho"), ("v",), _nesterov, "Momentum"),
    _rule("rmsprop", ("eta", "lam", "rho", "eps"), ("g",), _rmsprop_inside, "RMSProp"),
    _rule("rmsprop_torch", ("eta", "lam", "rho", "eps"), ("g",), _rmsprop_outside, "RMSProp"),
    _rule("adam", ("eta", "lam", "beta1", "beta2", "eps"), ("m", "v"), _adam, "ADAM"),
    _rule("adamw", ("eta", "wd", "beta1", "beta2", "eps"), ("m", "v"), _adamw, "ADAM", lam_name="wd"),
    _rule("newton", ("eta", "lam"), (), _newton, "Newton"),
    _rule("normalized", ("eta", "lam"), (), _normalized_sgd, "Normalized SGD"),
)})

#: rules whose rescaling applies to the first step only (the rule fixes ||w|| = 1 from then on)
FIRST_STEP_ONLY = frozenset({"normalized"})


def step_exponent(rule: Rule) -> int:
    """``k`` in ``eta_eff ~ eta/||w||**k``: minus the exponent of alpha in the rescaled learning rate.

    The angular step of a run at norm ``alpha`` equals that of the unit-norm run with ``eta*alpha**e``.
    Rules that fix the norm (normalized SGD) run at ``||w|| = 1``: their ``eta_eff = eta``, ``k = 0``.

    >>> step_exponent(RULES["sgd"]), step_exponent(RULES["adam"]), step_exponent(RULES["newton"])
    (2, 1, 0)
    """
    if rule.name in FIRST_STEP_ONLY:
        return 0
    return -rule.rescale.get("eta", 0)
