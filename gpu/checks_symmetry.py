"""Training checks that are exact symmetries of whole trajectories, run at check time on real CIFAR-10.

They need no sweep records: each trains a few short float64 runs of the invariant network (and the standard one,
as the control that must fail) on the first real CIFAR-10 images, on the CPU, in a few seconds
(:mod:`normlaws.gpu.symmetry`). ``update.<rule>.equivariance``: the run from ``w_0/alpha`` with the rescaled
hyperparameters computes the same logits after ``STEPS`` steps -- bitwise for ``alpha = 2``, to the measured
rounding for ``alpha = 10`` -- and the standard network breaks it by far more than that. ``later.li_arora.exp_lr``:
heavy ball with L2 against its exponential-learning-rate twin, and the twin with its buffer started at 0 (which
the derivation says must fail).
"""
from __future__ import annotations

import functools

from ..errors import UsageError
from ..outcome import component, refutation, result, skipped
from .config import TrainConfig

#: the rules whose rescaling the theory derives and the harness trains (normalized SGD needs none: its first step
#: normalizes every filter, after which both runs are one)
RESCALED_RULES = ("sgd", "momentum", "nesterov_torch", "rmsprop_torch", "adam", "adamw", "lion")
STEPS = 12
#: the runs: 128 training images (4 batches of 32, so 3 passes), 64 test images as the probe, 16 x 16 pixels
N_TRAIN, N_TEST, BATCH, SIZE, WIDTHS = 128, 64, 32, 16, (4, 4, 8, 8)
#: hyperparameters per rule: steps that move the weights well above rounding in 12 steps
ETA = {"sgd": 0.5, "momentum": 0.05, "nesterov_torch": 0.05, "rmsprop_torch": 1e-3, "adam": 1e-3, "adamw": 1e-3,
       "lion": 1e-3}
LAM = {"adamw": 0.05, "lion": 0.5}
ALPHAS = (2.0, 10.0)


@functools.lru_cache(maxsize=1)
def _data():
    from .symmetry import float64_data
    return float64_data(N_TRAIN, N_TEST, SIZE)


def base_config(rule: str, network: str = "invariant") -> TrainConfig:
    """The short float64 run of ``rule`` the symmetry checks train."""
    return TrainConfig(optimizer=rule, eta=ETA[rule], lam=LAM.get(rule, 5e-3), widths=WIDTHS, batch_size=BATCH,
                       n_train=N_TRAIN, n_test=N_TEST, network=network, image_size=SIZE, epochs=1, milestones=())


def _setup(claim_id: str):
    """``(data, probe)`` or a skipped result when torch or the data is missing."""
    try:
        data = _data()
    except ImportError:
        return skipped(f"{claim_id}: torch is not installed", seed=0, size="training")
    except UsageError as exc:
        return skipped(f"{claim_id}: no CIFAR-10 here ({exc})", seed=0, size="training")
    return data, data.x_test


def equivariance_check(claim_id: str, rule: str):
    """``update.<rule>.equivariance`` on whole trajectories of the invariant network; the standard one as control."""

    def check(results_dir=None) -> dict:
        from . import symmetry as sy
        setup = _setup(claim_id)
        if isinstance(setup, dict):
            return setup
        data, probe = setup
        cfg = base_config(rule)
        scale = sy.rounding_scale(cfg, data, STEPS, probe)
        comps = [component(f"logits, alpha = {alpha:g}: max|difference|/max|logit|",
                           sy.rescaling_break(cfg, alpha, data, STEPS, probe, scale["base"]), 0.0, 0.0,
                           0.0 if alpha == 2 else scale["tolerance"],
                           "alpha = 2: every scaling exact in floating point, so bitwise" if alpha == 2 else
                           f"rounding: {sy.ROUNDING_SAFETY:g} x {STEPS} steps x the growth of a rounding-level "
                           f"perturbation ({scale['twin_difference']:.2g})")
                 for alpha in ALPHAS]
        standard = base_config(rule, "standard")
        broken = sy.rescaling_break(standard, 2.0, data, STEPS, probe)
        comps.append(refutation("standard network (trained BN affine and head), alpha = 2: must break", broken, 0.0,
                                scale["tolerance"]))
        exps = sy.rescaling_exponents(rule)
        detail = (f"{rule}, {STEPS} float64 steps on {N_TRAIN} real CIFAR-10 images ({SIZE}x{SIZE}), logits on "
                  f"{N_TEST} "
                  f"test images: from w0/alpha with " + ", ".join(f"{k} x alpha^{v}" for k, v in exps.items())
                  + f" (read from the proven derivations): alpha = 2 differs by {comps[0]['measured']:.3g}, alpha = 10 "
                  f"by {comps[1]['measured']:.3g} (tolerance {comps[1]['tolerance']:.2g}); the standard network breaks "
                  f"it by {broken:.3g}, {broken / scale['tolerance']:.2g} times the tolerance")
        return result(comps, detail, seed=0, size="training", rule=rule, derived=0.0, break_standard=broken,
                      ci=None)

    return check


def li_arora_check(results_dir=None) -> dict:
    """``later.li_arora.exp_lr``: heavy ball + L2 against its exponential-learning-rate twin (and the twin without
    its initial buffer, which must differ)."""
    from . import symmetry as sy
    claim_id = "later.li_arora.exp_lr"
    setup = _setup(claim_id)
    if isinstance(setup, dict):
        return setup
    data, probe = setup
    cfg = base_config("momentum")
    scale = sy.rounding_scale(cfg, data, STEPS, probe)
    pair = sy.li_arora_pair(cfg, data, STEPS, probe)
    same = sy.relative_difference(pair["decayed"], pair["exp_lr"])
    bare = sy.li_arora_pair(cfg, data, STEPS, probe, initial_buffer=False)
    differs = sy.relative_difference(bare["decayed"], bare["exp_lr"])
    comps = [component("logits, decayed run vs exponential-lr twin: max|difference|/max|logit|", same, 0.0, 0.0,
                       scale["tolerance"], f"rounding: {sy.ROUNDING_SAFETY:g} x {STEPS} steps x the growth of a "
                       f"rounding-level perturbation ({scale['twin_difference']:.2g})"),
             refutation("the twin with its buffer started at 0 (the derivation needs -(1 - alpha) w0/(eta alpha))",
                        differs, 0.0, scale["tolerance"])]
    detail = (f"heavy ball (eta {cfg.eta:g}, lam {cfg.lam:g}, rho {cfg.momentum:g}) on the invariant network, {STEPS} "
              f"float64 steps on real CIFAR-10 ({SIZE}x{SIZE}): the twin without L2 at eta alpha^(-2k-1), alpha = "
              f"{pair['alpha']:.8g} (the derived quadratic's larger root), BN eps alpha^(-2k), differs by {same:.3g} "
              f"(tolerance {scale['tolerance']:.2g}); started with a zero buffer it differs by {differs:.3g}")
    return result(comps, detail, seed=0, size="training", rule="momentum", derived=0.0, ci=None)
