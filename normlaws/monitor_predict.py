"""The derived side of a monitor record: the equilibrium at a group's current (eta, lam, d, C), cached, and the
relaxation clock. Every number comes from ``simulate.predict`` (``equilibrium``, ``eff_lr_at``) and
``advise_theory.relaxation`` (the drop claims' time constants); see :mod:`normlaws.monitor` for what is recorded."""
from __future__ import annotations

import math

import numpy as np

from .advise_theory import relaxation
from .audit_report import WHY_ONE_ENTRY, WHY_ZERO_GRADIENT
from .monitor_rules import PREDICTED_AS
from .simulate import predict
from .simulate.params import Hyper

#: a group's C is a running average with weight C_WEIGHT; the relaxation clock restarts when eta*lam changes by more
#: than CHANGE; predictions are refreshed when eta or lam move by more than REFRESH, or C by more than C_REFRESH
#: once C_EVERY records (the memory of C's average, 1/C_WEIGHT) have passed since the last refresh
C_WEIGHT, CHANGE, REFRESH, C_REFRESH = 0.1, 0.1, 0.01, 0.1
C_EVERY = 10
WHY_NO_DECAY = "no weight decay on it: no equilibrium (||w|| grows and the angle per step decays)"


def _moved(old: float, new: float, tolerance: float) -> bool:
    return old is None or abs(new / old - 1) > tolerance


def _equilibrium(state: dict, rule: str, hp: dict, d: int, C: float) -> dict:
    """``predict.equilibrium`` and the relaxation time, recomputed when eta or lam moved, or C moved and C_EVERY
    records have passed since the last refresh."""
    cached = state.get("cache")
    state["since"] = state.get("since", 0) + 1
    if (cached is None or _moved(cached["eta"], hp["eta"], REFRESH) or _moved(cached["lam"], hp["lam"], REFRESH)
            or (_moved(cached["C"], C, C_REFRESH) and state["since"] >= C_EVERY)):
        state["since"] = 0
        eq = predict.equilibrium(rule, hp["eta"], hp["lam"], float(d), C, hp["rho"], hp["beta1"], hp["beta2"])
        tau, source = relaxation(rule, hp["eta"], hp["lam"], eq)
        hyper = Hyper(eta=hp["eta"], lam=hp["lam"], rho=hp["rho"], beta1=hp["beta1"], beta2=hp["beta2"])
        eff = float(predict.eff_lr_at(rule, hyper, np.asarray(eq["N"])))
        state["cache"] = cached = {"eta": hp["eta"], "lam": hp["lam"], "C": C, "eq": eq, "tau": tau,
                                   "tau_source": source, "eff_lr": eff}
    return cached


def _clock(state: dict, hp: dict, tau: float, step: int) -> float:
    """Relaxation times since eta*lam last changed by more than CHANGE between two records."""
    product = hp["eta"] * hp["lam"]
    if _moved(state.get("product"), product, CHANGE):
        state["clock"] = 0.0
    else:
        state["clock"] += (step - state["step"]) / state["tau"]
    state.update(product=product, step=step, tau=tau)
    return state["clock"]


def predicted(monitor, key: str, watch, entry: dict, hp: dict | None, why: str, step: int) -> dict:
    """The derived fields of one entry (and a ``note`` where there are none)."""
    state = monitor.state.setdefault(key, {})
    if hp is None:
        return {"note": why}
    out = {"eta": hp["eta"], "lam": hp["lam"]}
    if hp["lam"] <= 0:
        return {**out, "note": WHY_NO_DECAY}
    if watch.d < 2 or not entry.get("C", 0) > 0:
        return {**out, "note": WHY_ONE_ENTRY if watch.d < 2 else WHY_ZERO_GRADIENT}
    state["C"] = entry["C"] if "C" not in state else (1 - C_WEIGHT) * state["C"] + C_WEIGHT * entry["C"]
    rule = PREDICTED_AS.get(monitor.rule, monitor.rule)
    cached = _equilibrium(state, rule, hp, watch.d, state["C"])
    eq = cached["eq"]
    hyper = Hyper(eta=hp["eta"], lam=hp["lam"], rho=hp["rho"], beta1=hp["beta1"], beta2=hp["beta2"])
    clock = _clock(state, hp, cached["tau"], step)
    return {**out, "C_average": state["C"], "angle_eq": eq["angle"], "chord_eq": eq["chord"], "norm_eq": eq["norm"],
            "grad_ratio_eq": math.sqrt(eq["grad_ratio_sq"]),
            "eff_lr": float(predict.eff_lr_at(rule, hyper, np.asarray(entry["norm"] ** 2))),
            "eff_lr_eq": cached["eff_lr"], "tau": cached["tau"], "tau_source": cached["tau_source"],
            "elapsed": clock, "at_equilibrium": bool(clock >= monitor.relaxed_taus)}
