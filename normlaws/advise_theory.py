"""The numbers behind ``normlaws advise``: each one evaluates a registered claim of ``normlaws.theory`` through the one
bridge ``simulate.predict.evaluate`` (or ``predict.equilibrium``); nothing here retypes a formula.

A phase's equilibrium comes from ``predict.equilibrium`` (``theory.moments``; Lion: ``theory.lion``); its
relaxation time from ``schedules.drop.<rule>`` where that is derived (SGD, AdamW), else the moment map's
``predict.relaxation_time``; the EMA timescale from ``schedules.adamw.ema_timescale``; equivalent pairs and
``lam``'s scaling law from ``schedules.pairs.<rule>`` and ``schedules.lambda_scaling.<rule>``; the angle along the
path from ``schedules.angle_ratio``. The path's exponential form is the definition of a time constant (a deviation
falls by ``e`` in ``tau`` steps), applied to the relaxing variable ``N^p`` the drop claims name.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import rules
from .simulate import predict
from .simulate.params import Hyper
from .theory import moments, paraphrase, schedules


@dataclass
class Phase:
    """One phase of constant learning rate and what the theory says about it."""

    first_epoch: int
    end_epoch: int
    eta: float
    steps: int
    tau: float                   # relaxation time (steps) of the relaxing variable at this eta
    tau_source: str
    angle: float                 # equilibrium angle per step (rad)
    norm: float                  # equilibrium ||w||
    eff_lr: float                # equilibrium effective learning rate eta/||w||^k
    norm_end: float = math.nan   # the predicted ||w|| at the phase's end
    equilibrated: bool = False
    ema_iterations: float | None = None
    ema_epochs: float | None = None

    @property
    def length_over_tau(self) -> float:
        """The phase's length in relaxation times."""
        return self.steps / self.tau


@lru_cache(maxsize=None)
def _drop_extras(rule: str) -> dict:
    return schedules.DROPS[rule]().extras


@lru_cache(maxsize=None)
def _ema() -> dict:
    return schedules.ema_derivation().extras


def norm_power(rule: str) -> int:
    """``p`` of the relaxing variable ``N^p``: the drop claims' (SGD 2, AdamW 1); momentum and Nesterov 2 (gradient
    noise, as SGD: assumed), Lion 1 (as AdamW), RMSProp and Adam 1 (linearised: any p to first order)."""
    if rule in schedules.DROPS:
        return int(_drop_extras(rule)["norm_power"])
    return 2 if rule in moments.MODELS and moments.MODELS[rule].noise == "gradient" else 1


def path_status(rule: str) -> str:
    """How far the predicted path after a change of eta is derived, in words."""
    if rule in schedules.DROPS:
        return (f"derived for a drop of any size (schedules.drop.{rule}) and checked by the Monte-Carlo leg "
                "(simulate.drop)")
    if norm_power(rule) == 2:
        return ("assumed: SGD's form (N^2 relaxes exponentially) with the moment map's linearised time constant; "
                "derived only for small displacements")
    return "linearised: the moment map's time constant, derived for small displacements only"


def relaxation(rule: str, eta: float, lam: float, equilibrium: dict) -> tuple[float, str]:
    """``(tau, source)``: the drop claim's time constant where derived, else the moment map's."""
    if rule in schedules.DROPS:
        return float(predict.evaluate(_drop_extras(rule)["tau_drop"], eta=eta, lam=lam)), f"schedules.drop.{rule}"
    return float(equilibrium["tau"]), "moment map, linearised (predict.relaxation_time)"


def phase(rule, eta, lam, first, end, steps_per_epoch, d, C, rho, beta1, beta2) -> Phase:
    """One phase of constant ``eta``: its equilibrium, relaxation time and (decoupled rules) EMA timescale."""
    eq = predict.equilibrium(rule, eta, lam, d, C, rho, beta1, beta2)
    tau, source = relaxation(rule, eta, lam, eq)
    hyper = Hyper(eta=eta, lam=lam, rho=rho, beta1=beta1, beta2=beta2)
    out = Phase(first, end, eta, (end - first) * steps_per_epoch, tau, source, eq["angle"], eq["norm"],
                float(predict.eff_lr_at(rule, hyper, np.asarray(eq["N"]))))
    if rules.is_decoupled(rule):
        out.ema_iterations = float(predict.evaluate(_ema()["tau_iter"], eta=eta, lam=lam))
        out.ema_epochs = out.ema_iterations / steps_per_epoch
    return out


def path(rule, phases, steps_per_epoch, lam, points, d, C, rho, beta1, beta2, start_norm=None) -> dict:
    """The predicted norm and angle over the schedule, ``points`` per epoch, from ``start_norm`` (default: the first
    phase's equilibrium); each phase's ``norm_end`` is filled in."""
    p = norm_power(rule)
    ratio = schedules.angle_ratio(rule)
    N = (phases[0].norm if start_norm is None else start_norm) ** 2
    out = {k: [] for k in ("epoch", "eta", "norm", "angle", "norm_eq", "angle_eq")}
    for ph in phases:
        epochs = ph.end_epoch - ph.first_epoch
        t = np.linspace(0.0, ph.steps, points * epochs + 1)
        X_star, X0 = ph.norm ** (2 * p), N**p
        X = X_star + (X0 - X_star) * np.exp(-t / ph.tau)
        N_t = X ** (1.0 / p)
        angle = ph.angle * predict.evaluate(ratio, N=N_t, N0=ph.norm**2)
        keep = slice(0 if not out["epoch"] else 1, None)          # phases share their boundary point
        for key, values in (("epoch", ph.first_epoch + t / steps_per_epoch), ("eta", np.full(t.size, ph.eta)),
                            ("norm", np.sqrt(N_t)), ("angle", angle), ("norm_eq", np.full(t.size, ph.norm)),
                            ("angle_eq", np.full(t.size, ph.angle))):
            out[key].extend(np.asarray(values, float)[keep].tolist())
        N = float(N_t[-1])
        ph.norm_end = math.sqrt(N)
    out["relaxing_variable"] = f"||w||^{2 * p}"
    out["status"] = path_status(rule)
    out["start"] = "the first phase's equilibrium" if start_norm is None else f"||w|| = {start_norm:g}"
    return out


@lru_cache(maxsize=None)
def _scaling_extras(rule: str) -> dict:
    return schedules.scaling_derivation(rule).extras


def scaling(rule: str) -> dict:
    """``lam``'s exponents in ``eta``, the batch size and the dataset size at a fixed relaxation time in epochs."""
    ex = _scaling_extras(rule)
    return {"exponent_eta": float(ex["exponent_eta"]), "exponent_batch": float(ex["exponent_B"]),
            "exponent_dataset": float(ex["exponent_n"]), "claim": f"schedules.lambda_scaling.{rule}",
            "assumes": ("C = C_1/B: the gradient noise of a batch of B independent samples"
                        if rule in ("rmsprop", "adam") else "")}


def rescaled_lam(rule: str, lam: float, eta_factor: float = 1.0, batch_factor: float = 1.0,
                 dataset_factor: float = 1.0) -> float:
    """The ``lam`` that keeps the relaxation time in epochs when eta, B and n change by these factors."""
    s = scaling(rule)
    return (lam * eta_factor ** s["exponent_eta"] * batch_factor ** s["exponent_batch"]
            * dataset_factor ** s["exponent_dataset"])


def pairs(rule, eta, lam, d, C, rho, beta1, beta2, factors=(0.25, 0.5, 2.0, 4.0)) -> list:
    """Equivalent ``(eta, lam)`` pairs with their equilibrium angle and relaxation time (computed, to show they are
    the same) and the norm factor of ``schedules.pairs.<rule>`` (RMSProp and Adam: ``eps`` scales too)."""
    base = predict.equilibrium(rule, eta, lam, d, C, rho, beta1, beta2)
    out = []
    for k in (1.0,) + tuple(factors):
        lam_k = rescaled_lam(rule, lam, eta_factor=k)
        eq = predict.equilibrium(rule, eta * k, lam_k, d, C, rho, beta1, beta2)
        factor = (float(predict.evaluate(schedules.pairs_derivation(rule).extras["norm_sq_factor"], alpha=k))
                  if rule in schedules.PAIR_RULES else eq["N"] / base["N"])
        out.append({"eta": eta * k, "lam": lam_k, "angle": eq["angle"], "tau": eq["tau"],
                    "norm_factor": math.sqrt(factor)})
    return out


def notes(rule: str) -> list:
    """What the claims behind the advice say, and what later papers state (paraphrased, not transcribed)."""
    out = [f"path after a change of eta: {path_status(rule)}",
           "equilibrium angle, norm and effective learning rate: predict.equilibrium (claims later.angle.*, "
           "table1.*.eff_lr_eq); the norm and effective learning rate depend on d and C, the angle and relaxation "
           "time of SGD, momentum, Nesterov, AdamW and Lion do not"]
    if rules.is_decoupled(rule):
        out.append("EMA timescale: schedules.adamw.ema_timescale; "
                   + paraphrase.PARAPHRASED["schedules.adamw.ema_timescale"][1] + " (paraphrased, not transcribed)")
    return out
