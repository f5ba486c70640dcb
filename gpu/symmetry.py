"""Trajectory-level symmetries of the training harness on real CIFAR-10 images, in float64 on the CPU.

**Rescaling.** On the invariant network (every trained tensor scale-invariant through BN) a run from ``w_0`` with
hyperparameters ``theta`` and one from ``w_0/alpha`` with ``theta alpha^e`` -- the exponents of the rule's proven
equivariance (``update.<rule>.equivariance``) and BN's epsilon times ``alpha^-2`` (``theory.rescaling``) -- compute
the same function at every step: the same logits after T steps. For ``alpha`` a power of two every scaling is
exact in floating point and the logits agree bitwise; for other ``alpha`` they agree to rounding, the rounding
measured on the run itself (:func:`rounding_scale`). The standard network (trained BN gains and shifts, a trained
and decayed head) breaks it: its break is measured the same way.

**Li & Arora 2020** (``later.li_arora.exp_lr``). Heavy-ball momentum with L2 ``(eta, lam, rho)`` equals, step for
step, heavy-ball without L2 at the growing learning rate ``eta_k = eta alpha^(-2k-1)`` with the buffer started at
``-(1 - alpha) w_0/(eta alpha)`` (``alpha`` the larger root of the derived quadratic), on ``w~_k = alpha^-k w_k``;
with BN's epsilon rescaled along (``eps alpha^(-2k)``) the equality is exact on the invariant network.
"""
from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F

from ..theory.rescaling import bn_epsilon_exponent, network_rescaling
from ..theory.symbols import eta as eta_s
from ..theory.symbols import lam as lam_s
from ..theory.symbols import rho as rho_s

from .batches import DeviceData
from .config import TrainConfig
from .data import load_cifar10
from .derived import derivation
from .train import EnsembleTrainer

#: a rounding-level perturbation of a run: each initial conv weight times (1 + this * s), s = +-1 at random (a
#: uniform factor would be invisible to a scale-invariant network)
ULP_PERTURBATION = 4 * float(np.finfo(np.float64).eps)
#: the rounding tolerance is this many times (steps x the measured growth of one rounding-level perturbation):
#: the rescaled run differs from the base by roundings in every step, each no larger than one at step 0 grown
#: over all T steps; 8 is the suite's safety factor on measured rounding (normlaws.testing)
ROUNDING_SAFETY = 8.0


#: the claim whose proven derivation gives each rule's equivariance exponents
EQUIVARIANCE_CLAIMS = {"sgd": "update.sgd.equivariance", "momentum": "update.momentum.equivariance",
                       "nesterov_torch": "update.nesterov_torch.equivariance",
                       "rmsprop_torch": "update.rmsprop_torch.equivariance", "adam": "update.adam.equivariance",
                       "adamw": "update.adamw.equivariance", "lion": "update.lion.equivariance"}


@lru_cache(maxsize=None)
def rescaling_exponents(rule: str) -> dict:
    """``{"eta", "lam"[, "eps"], "bn_eps"}`` -> exponent ``e`` of ``theta alpha^e``, from the proven derivations
    (``update.<rule>.equivariance`` and BN's epsilon); a RuntimeError if a proof does not hold."""
    equivariance = derivation(EQUIVARIANCE_CLAIMS[rule])
    bn = bn_epsilon_exponent()
    failures = {**equivariance.check(), **bn.check()}
    if failures:
        raise RuntimeError(f"the rescaling of {rule} is not proven: {sorted(failures)}")
    return network_rescaling(rule, equivariance, bn)


def rescaled(cfg: TrainConfig, alpha: float) -> TrainConfig:
    """The configuration whose run from ``w_0/alpha`` mirrors ``cfg``'s from ``w_0`` (:func:`rescaling_exponents`)."""
    e = rescaling_exponents(cfg.optimizer)
    return replace(cfg, eta=cfg.eta * alpha ** e["eta"], lam=cfg.lam * alpha ** e["lam"],
                   eps=cfg.eps * alpha ** e.get("eps", 0), bn_eps=cfg.bn_eps * alpha ** e["bn_eps"],
                   init_scale=cfg.init_scale / alpha)


def probe_logits(trainer: EnsembleTrainer, probe: torch.Tensor) -> torch.Tensor:
    """The first model's logits (B, 10) on the probe batch, BN on the batch's statistics, running ones untouched
    (the running averages mix the scales a Li & Arora twin passes through; batch statistics do not)."""
    with torch.no_grad():
        return trainer.model(probe, update_stats=False)[0]


def _perturb_(trainer: EnsembleTrainer, relative: float, seed: int = 0) -> None:
    """Multiply each conv weight by ``1 + relative * s`` with random signs ``s`` (the rounding twin)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for w in trainer.model.bn_followed_weights():
            signs = torch.randint(0, 2, w.shape, generator=gen).to(w.dtype) * 2 - 1
            w.mul_(1 + relative * signs)


def run_logits(cfg: TrainConfig, data: DeviceData, steps: int, probe: torch.Tensor,
               perturbation: float = 0.0) -> torch.Tensor:
    """Logits (B, 10) on ``probe`` (:func:`probe_logits`) after ``steps`` steps of one model of ``cfg``, its
    initial conv weights perturbed at random by the relative ``perturbation`` if given."""
    trainer = EnsembleTrainer([cfg], "cpu", dtype=data.x_train.dtype)
    if perturbation:
        _perturb_(trainer, perturbation)
    generator = torch.Generator().manual_seed(cfg.seed)
    done = 0
    while done < steps:
        for x, y in data.train_batches(generator, cfg.batch_size, cfg.translate, cfg.flip):
            trainer.step(x, y)
            done += 1
            if done == steps:
                break
    return probe_logits(trainer, probe)


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max |a - b| / max |a|``: the size of a difference of two logit arrays, relative to the logits."""
    return float((a - b).abs().max() / a.abs().max())


def rounding_scale(cfg: TrainConfig, data: DeviceData, steps: int, probe: torch.Tensor) -> dict:
    """The rounding tolerance of a comparison after ``steps`` steps, measured on the run itself.

    A twin run whose initial conv weights are perturbed at the rounding level (each times ``1 +-
    ULP_PERTURBATION``) shows how much one rounding error grows over the run (ReLU and max-pool decisions that
    flip included); the tolerance is ``ROUNDING_SAFETY x steps x`` that.
    """
    base = run_logits(cfg, data, steps, probe)
    twin = run_logits(cfg, data, steps, probe, perturbation=ULP_PERTURBATION)
    growth = relative_difference(base, twin)
    return {"base": base, "twin_difference": growth,
            "tolerance": max(ROUNDING_SAFETY * steps * growth, float(np.finfo(np.float64).eps))}


def rescaling_break(cfg: TrainConfig, alpha: float, data: DeviceData, steps: int, probe: torch.Tensor,
                    base: torch.Tensor | None = None) -> float:
    """``relative_difference`` of the logits after ``steps`` steps: ``cfg`` from ``w_0`` against
    :func:`rescaled` from ``w_0/alpha`` (0 when the symmetry holds exactly)."""
    base = run_logits(cfg, data, steps, probe) if base is None else base
    return relative_difference(base, run_logits(rescaled(cfg, alpha), data, steps, probe))


# ---- Li & Arora 2020 ---------------------------------------------------------------------------------------------

def li_arora_growth(eta: float, lam: float, rho: float) -> float:
    """The larger root ``alpha`` of ``later.li_arora.exp_lr``'s quadratic at these numbers (NaN if complex)."""
    root = derivation("later.li_arora.exp_lr").extras["big_root"]
    value = complex(sp.N(root.subs({eta_s: eta, lam_s: lam, rho_s: rho})))
    return value.real if abs(value.imag) < 1e-15 else math.nan


def li_arora_pair(cfg: TrainConfig, data: DeviceData, steps: int, probe: torch.Tensor,
                  initial_buffer: bool = True) -> dict:
    """Heavy-ball with L2 (``cfg``) against its exponential-learning-rate twin without L2, after ``steps`` steps.

    The twin follows ``later.li_arora.exp_lr`` literally: same initial weights, ``lam = 0``, learning rate
    ``eta alpha^(-2k-1)`` at step k, momentum buffer started at ``-(1 - alpha) w_0/(eta alpha)``, and BN's epsilon
    ``eps alpha^(-2k)`` (the twin's weights are ``alpha^-k`` times the first run's); with ``initial_buffer``
    False the buffer starts at 0 (what the derivation says breaks the equality). Returns the two logit arrays.
    """
    alpha = li_arora_growth(cfg.eta, cfg.lam, cfg.momentum)
    first = run_logits(cfg, data, steps, probe)
    twin_cfg = replace(cfg, lam=0.0)
    trainer = EnsembleTrainer([twin_cfg], "cpu", dtype=data.x_train.dtype)
    with torch.no_grad():
        for w in trainer.model.bn_followed_weights():
            start = -(1 - alpha) * w.detach().clone() / (cfg.eta * alpha)
            trainer.opt.state[id(w)]["momentum"] = start if initial_buffer else torch.zeros_like(start)
    generator = torch.Generator().manual_seed(cfg.seed)
    k = 0
    while k < steps:
        for x, y in data.train_batches(generator, cfg.batch_size, cfg.translate, cfg.flip):
            trainer.model.bn_eps = cfg.bn_eps * alpha ** (-2 * k)
            trainer.opt.eta.fill_(cfg.eta * alpha ** (-2 * k - 1))
            trainer.step(x, y)
            k += 1
            if k == steps:
                break
    trainer.model.bn_eps = cfg.bn_eps * alpha ** (-2 * steps)
    return {"alpha": alpha, "decayed": first, "exp_lr": probe_logits(trainer, probe)}


def float64_data(n_train: int, n_test: int, image_size: int, root=None) -> DeviceData:
    """The first ``n_train``/``n_test`` real CIFAR-10 images, float64 on the CPU (a UsageError line if absent)."""
    return DeviceData(load_cifar10(root, n_train, n_test), "cpu", image_size, dtype=torch.float64)


def cross_entropy_is_finite(logits: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether the logits give a finite loss (a sanity guard for the comparisons)."""
    return bool(torch.isfinite(F.cross_entropy(logits, y)))
