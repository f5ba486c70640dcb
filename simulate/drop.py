"""The Monte-Carlo leg of ``theory.schedules``' drop claims: the Section 4 model through a learning-rate drop.

Two sets of chains run on the same random numbers from the drop on: chains **A**, equilibrated at the old learning
rate ``eta0`` and dropped to ``eta1``, and chains **B**, equilibrated at ``eta1`` all along. Their difference in the
relaxing variable (``N^2`` for SGD, ``N`` for AdamW, ``N = ||w||^2``) is the response to the drop, with B's
stationary fluctuations subtracted chain by chain (common random numbers). Its log is fitted against the time since
the drop; the time constant is compared with the derived one (``extras['tau_drop']`` of the claim's derivation,
evaluated through ``simulate.predict.evaluate``).

Uncertainty: the points of one curve share their chains, so the fit's own standard error is not used; the chains
are cut into ``GROUPS`` groups and the time constant's standard error is the delete-one-group jackknife's.
Tolerance: ``Z`` standard errors plus a stated bias bound:

* SGD: the ``eta^4 C^2 (1 + 2/d) E[1/N^2]`` term of the exact recursion (``extras['rate_bias']``, a relative bound on
  the rate along the path), doubled for the fluctuations of ``1/N^2`` about ``1/E[N]^2``;
* AdamW: the claim's model holds the second-moment accumulator at its mean. A real accumulator follows the
  gradient's scale (``1/||w||``) with a mean lag of ``L2 = beta2/(1 - beta2)`` steps, the first moment with
  ``L1 = beta1/(1 - beta1)``; the update ``m/sqrt(v)`` then carries the scale of ``||w||`` from ``L2 - L1`` steps
  ago, so to first order the noise power follows ``N`` with that lag (``dN/dt = -(N - N*)/tau - (L2 - L1) dN/dt``)
  and the time constant grows by ``L2 - L1`` steps. The chains run with ``beta1 = beta2`` (no first-order lag),
  and the bound is ``|L2 - L1| + (L1 + L2)^2/tau`` (second order). A first run with ``beta1 = beta2 = 0.9``
  measured 496.8 +- 5.9 (400 chains) and 499.6 +- 2.7 (2,000) against the derived 499.7:
  no sign of the 9 steps the accumulator's lag alone would add.

A refutation keeps a wrong value out: the decay alone (without the noise's feedback for SGD, with the rate of
``||w||`` rather than ``||w||^2`` for AdamW) would give twice the time constant.
"""
from __future__ import annotations

import math

import numpy as np

from normlaws import outcome
from normlaws.errors import UsageError
from normlaws.theory import schedules

from . import predict
from .engine import random_directions
from .models import Section4Noise
from .params import Hyper
from .rng import stream
from .rules import VectorChains
from .scalar import ScalarSGD

GROUPS = 20
#: the fit uses the response while it is above this many standard errors, up to FIT_TAUS time constants
MIN_SIGNAL_SE, FIT_TAUS = 10.0, 2.5
POINTS = {   # eta0 -> eta1 (a drop by 10, as in Section 6), lam, d; eta1*lam = 5e-4 (SGD), 1e-3 (AdamW)
    "sgd": {"eta0": 0.1, "eta1": 0.01, "lam": 0.05, "d": 64, "beta1": 0.9, "beta2": 0.999},
    "adamw": {"eta0": 0.05, "eta1": 0.005, "lam": 0.2, "d": 32, "beta1": 0.9, "beta2": 0.9},   # beta1 = beta2
}
SIZES = {"quick": {"sgd": 4000, "adamw": 600}, "full": {"sgd": 40000, "adamw": 3000}}


def derived_tau(rule: str, eta: float, lam: float) -> float:
    """The claim's time constant (steps) at the learning rate after the drop."""
    return float(predict.evaluate(schedules.DROPS[rule]().extras["tau_drop"], eta=eta, lam=lam))


def _hyper(rule: str, eta: float) -> Hyper:
    p = POINTS[rule]
    return Hyper(eta=eta, lam=p["lam"], beta1=p["beta1"], beta2=p["beta2"])


# ---- the chains ---------------------------------------------------------------------------------------------
def _sgd_chains(eta: float, N0, chains: int):
    p = POINTS["sgd"]
    return ScalarSGD(_hyper("sgd", eta), p["d"], float(p["d"]), "isotropic", np.broadcast_to(N0, (1, chains)),
                     dtype=np.float64)


def _adamw_chains(eta: float, w0: np.ndarray, state=None):
    p = POINTS["adamw"]
    model = Section4Noise(p["d"], float(p["d"]), "isotropic", w0.shape[:2], np.float64)
    chains = VectorChains("adamw", _hyper("adamw", eta), model, w0, warm=True, dtype=np.float64)
    if state is not None:
        chains.m[...], chains.s[...], chains.t = state.m, state.s, state.t
    return chains


def _equilibrated(rule: str, eta: float, chains: int, steps: int, seed: int, index: int):
    """Chains started at the closure's ``N*`` and run ``steps`` steps at ``eta``."""
    N_star = float(predict.closure_N(rule, _hyper(rule, eta), POINTS[rule]["d"], float(POINTS[rule]["d"])))
    rng = stream(seed, index)
    if rule == "sgd":
        out = _sgd_chains(eta, N_star, chains)
    else:
        out = _adamw_chains(eta, random_directions(rng, (1, chains, POINTS[rule]["d"]), np.float64)
                            * math.sqrt(N_star))
    for _ in range(steps):
        out.step(rng)
    return out


def _dropped(rule: str, old, eta1: float):
    """Chains continuing ``old``'s state at the new learning rate."""
    if rule == "sgd":
        return _sgd_chains(eta1, old.N, old.N.shape[1])
    return _adamw_chains(eta1, old.w.copy(), old)


def response(rule: str, chains: int, seed: int) -> tuple[np.ndarray, float]:
    """``(per-chain response (steps + 1, chains), derived tau)``: A's minus B's relaxing variable after the drop."""
    p = POINTS[rule]
    tau1 = derived_tau(rule, p["eta1"], p["lam"])
    tau0 = derived_tau(rule, p["eta0"], p["lam"])
    A = _dropped(rule, _equilibrated(rule, p["eta0"], chains, int(10 * tau0), seed, 0), p["eta1"])
    Bc = _equilibrated(rule, p["eta1"], chains, int(8 * tau1), seed, 1)
    span = int(3 * tau1)
    power = int(schedules.DROPS[rule]().extras["norm_power"])
    out = np.empty((span + 1, chains))
    streams = (stream(seed, 2), stream(seed, 2))            # the same numbers for A and B
    for t in range(span + 1):
        out[t] = A.N.reshape(-1) ** power - Bc.N.reshape(-1) ** power
        if t < span:
            A.step(streams[0])
            Bc.step(streams[1])
    return out, tau1


# ---- the fit ------------------------------------------------------------------------------------------------------
def _fit_tau(curve: np.ndarray, use: np.ndarray) -> float:
    """``-1/slope`` of ``log(curve)`` on the steps ``use`` (unweighted least squares)."""
    t = np.flatnonzero(use)
    slope = np.polyfit(t, np.log(curve[use]), 1)[0]
    return -1.0 / slope


def fitted_tau(per_chain: np.ndarray, tau: float, start: int = 0) -> dict:
    """The fitted time constant of the mean response, its delete-one-group jackknife SE, and the fit window."""
    n = per_chain.shape[1]
    mean = per_chain.mean(1)
    se = per_chain.std(1, ddof=1) / math.sqrt(n)
    t = np.arange(per_chain.shape[0])
    use = (t >= start) & (t <= FIT_TAUS * tau) & (mean > MIN_SIGNAL_SE * se)
    if use.sum() < 10:
        raise UsageError("the response to the drop is too noisy to fit: use more chains")
    groups = np.array_split(np.arange(n), GROUPS)
    total = per_chain.sum(1)
    loo = np.array([_fit_tau((total - per_chain[:, g].sum(1)) / (n - g.size), use) for g in groups])
    se_tau = float(np.sqrt((GROUPS - 1) / GROUPS * np.sum((loo - loo.mean()) ** 2)))
    return {"tau": float(_fit_tau(mean, use)), "se": se_tau, "window": (int(t[use][0]), int(t[use][-1])),
            "curve": {"t": t[::10].tolist(), "response": mean[::10].tolist(), "se": se[::10].tolist()}}


def _bias(rule: str, tau: float) -> tuple[float, str]:
    p = POINTS[rule]
    if rule == "sgd":
        rel = 2 * float(predict.evaluate(schedules.DROPS["sgd"]().extras["rate_bias"], eta=p["eta1"], lam=p["lam"],
                                         C=float(p["d"]), d=float(p["d"])))
        return rel * tau, f"2 x the eta^4 term's relative effect on the rate ({rel / 2:.2g})"
    L1, L2 = p["beta1"] / (1 - p["beta1"]), p["beta2"] / (1 - p["beta2"])
    bound = abs(L2 - L1) + (L1 + L2) ** 2 / tau
    return bound, (f"the moments' lags beta2/(1 - beta2) - beta1/(1 - beta1) = {L2 - L1:.3g} steps to first order, "
                   f"+ (L1 + L2)^2/tau = {(L1 + L2) ** 2 / tau:.2g} for the second")


def drop_check(rule: str):
    """``schedules.drop.<rule>``: the measured time constant after a drop against the derived one."""

    def check(size: str = "quick", seed: int = 0) -> dict:
        if size not in SIZES:
            raise UsageError(f"unknown size {size!r}; choose quick or full")
        p = POINTS[rule]
        per_chain, tau = response(rule, SIZES[size][rule], seed)
        start = 0 if rule == "sgd" else int(math.ceil(10 / -math.log(p["beta1"])))   # beta1 modes down to e^-10
        fit = fitted_tau(per_chain, tau, start)
        bias, why = _bias(rule, tau)
        decay_only = 2 * tau
        components = [
            outcome.component("time constant after the drop (steps)", fit["tau"], tau, fit["se"], bias, why),
            outcome.refutation("twice the time constant (the decay alone)", fit["tau"], decay_only,
                               outcome.Z * fit["se"] + bias)]
        detail = (f"{rule} in the Section 4 model (d = {p['d']}, C = d), eta {p['eta0']:g} -> {p['eta1']:g}, "
                  f"lam = {p['lam']:g}; {per_chain.shape[1]} chains dropped vs as many equilibrated at the new eta "
                  f"on the same random numbers; E[{'N^2' if rule == 'sgd' else 'N'}] response fitted on steps "
                  f"{fit['window'][0]}..{fit['window'][1]}: tau = {fit['tau']:.4g} +- {fit['se']:.2g} (jackknife over "
                  f"{GROUPS} groups of chains) vs derived {tau:.4g}; tolerance {outcome.Z:g} SE + {bias:.3g} ({why})")
        return outcome.result(components, detail, seed, size, {**p, "chains": per_chain.shape[1]},
                              curve=fit["curve"])

    return check


CHECKS = {"schedules.drop.sgd": drop_check("sgd"), "schedules.drop.adamw": drop_check("adamw")}
