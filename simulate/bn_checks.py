"""Monte-Carlo checks on the paper's own BN unit (``theory.bn_unit``): its gradient moment and SGD's fixed point.

The unit is simulated by ``simulate.models.BNUnit`` (Gaussian batches, batch normalization, ReLU, Gaussian upstream
gradient; stop-gradient or full backward; batch-sum or batch-mean loss). Every measured quantity is compared raw
with the theory's prediction for exactly that unit: the measurement is never rescaled by ``B`` or ``d``.
Tolerances: ``Z`` standard errors plus a stated bias bound (0 where the prediction is exact).
"""
from __future__ import annotations

import math

import numpy as np

from normlaws.conventions import bn_unit_convention
from normlaws.outcome import component, result
from normlaws.theory import catalog

from . import bias as B
from . import predict
from .engine import Spec, random_directions, run
from .models import BNUnit
from .params import Hyper
from .rng import stream
from .stats import estimate

#: the (d, B) of the issue's done-when, both backward conventions
FIXED_POINT_UNITS = ((16, 32), (128, 32), (128, 8), (64, 128))
#: units (d, B, gamma, beta, sigma_nabla) for the gradient moment: the paper's (beta = 0) and shifted ReLUs
MOMENT_UNITS = ((16, 32, 1.0, 0.0, 1.0), (128, 8, 1.0, 0.0, 1.0), (12, 16, 0.7, 0.5, 1.5), (8, 6, 1.3, -0.8, 0.9))
BACKWARDS = ("stop_gradient", "full")
SIZES = {"quick": {"chains": 32, "samples": 20000}, "full": {"chains": 128, "samples": 100000}}
ETA, LAM = 0.1, 0.01     # eta lam = 1e-3: relaxation 1/(8 eta lam) = 125 steps


def _printed(claim_id: str, power: int = 1, **values) -> float:
    """The paper's printed formula of a claim (to a power) at numbers (``predict.evaluate``)."""
    return float(predict.evaluate(catalog.get(claim_id).printed.expr ** power, **values))


# ---- the unit's C, raw ---------------------------------------------------------------------------------------------
def measured_C(d: int, batch: int, backward: str, gamma: float, beta: float, sigma_nabla: float, samples: int,
               seed: int, loss: str = "sum") -> tuple[float, float, float]:
    """``E||grad L||^2 ||w||^2`` of the unit over fresh batches at a fixed ``w`` (float64), its SE, and the measured
    share of the gradient along ``w``."""
    rng = stream(seed, d * 1000 + batch)
    r = 2.3
    w = random_directions(rng, (d,), np.float64) * r
    unit = BNUnit(d, batch, backward, (1, 1), np.float64, gamma=gamma, beta=beta, sigma_x=1.7,
                  sigma_nabla=sigma_nabla, loss=loss)
    values, radial = [], []
    chunk = max(1, 2**18 // (batch * d))
    for start in range(0, samples, chunk):
        m = min(chunk, samples - start)
        x = rng.standard_normal((m, batch, d)) * 1.7
        delta = rng.standard_normal((m, batch)) * sigma_nabla
        g = unit.forward_backward(x, delta, np.broadcast_to(w, (m, d)))
        values.append(np.einsum("md,md->m", g, g) * r**2)
        radial.append((g @ w) ** 2)
    v = np.concatenate(values)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size)), float(np.concatenate(radial).mean() / v.mean())


def grad_second_moment(size: str = "quick", seed: int = 0) -> dict:
    """``sec4.grad_second_moment``: the unit's raw ``E||grad L||^2 ||w||^2`` (sum loss) against ``bn_unit.unit_C``
    at several units and both backward passes; the paper's per-coordinate value, carried to the same quantity
    (times ``B d``), beside it."""
    samples = SIZES[size]["samples"]
    components = []
    for d, batch, gamma, beta, sigma in MOMENT_UNITS:
        for backward in BACKWARDS:
            m, se, share = measured_C(d, batch, backward, gamma, beta, sigma, samples, seed)
            C = predict.bn_unit_C(d, batch, gamma, beta, sigma, "sum", backward)
            printed = _printed("sec4.grad_second_moment", gamma=gamma, sigma_nabla=sigma, r=1.0) * batch * d
            share_predicted = predict.bn_radial_share(d, batch, gamma, beta, backward)
            components.append(component(
                f"C, d={d} B={batch} gamma={gamma:g} beta={beta:g} {backward}", m, C, se, 0.0,
                "exact (theory.bn_unit); the paper's sigma^2 gamma^2/2 per sample and coordinate gives "
                f"{printed:.5g}", printed=printed, radial_share=share, radial_share_predicted=share_predicted))
    worst = max(abs(c["measured"] - c["predicted"]) / c["se"] for c in components)
    paper = [c for c in components if "beta=0 " in c["quantity"] and "stop_gradient" in c["quantity"]]
    detail = (f"raw E||grad L||^2 ||w||^2 of the unit (sum loss, sigma_X = 1.7) at {len(components)} units x "
              f"backward passes against the exact C: worst {worst:.1f} SE; the paper's large-batch value misses by "
              + ", ".join(f"{c['printed'] / c['measured'] - 1:+.1%}" for c in paper) + " at beta = 0, stop-gradient")
    return result(components, detail, seed, size, convention=bn_unit_convention("sum", "stop_gradient + full"))


# ---- SGD's fixed point on the paper's unit --------------------------------------------------------------------------
def fixed_point_run(d: int, batch: int, backward: str, size: str, seed: int):
    """SGD with L2 on the paper's unit (sum loss, gamma = 1, beta = 0, sigma_nabla = 1) at eta lam = 1e-3."""
    spec = Spec("sgd", Hyper(eta=ETA, lam=LAM), d=d, chains=SIZES[size]["chains"], model="bn-unit", batch=batch,
                backward=backward, loss="sum", gamma=1.0, beta=0.0, sigma_nabla=1.0, seed=seed, progress=False,
                track_angle=False, label=f"BN unit d={d} B={batch} {backward}")
    return run(spec)


def sgd_fixed_point(size: str = "quick", seed: int = 0) -> dict:
    """``sec4.sgd.fixed_point`` on the paper's unit: the stationary ``E||w||^2`` against the closure's ``N*`` with
    the unit's exact ``C`` (tolerance ``Z`` SE + the closure's bias bound), and the exact identity
    ``(1 - a^2) E[N] = eta^2 C E[1/N]`` (no closure; tolerance ``Z`` SE), at every (d, B) of
    ``FIXED_POINT_UNITS``, both backward passes. The paper's printed ``||w||^2`` is shown beside."""
    components, a2 = [], 1 - (1 - 2 * ETA * LAM) ** 2
    for d, batch in FIXED_POINT_UNITS:
        for backward in BACKWARDS:
            r = fixed_point_run(d, batch, backward, size, seed)
            C = r.spec.model_C
            hyper = r.spec.hyper
            e = estimate(r.blocks["N"].reshape(r.blocks["N"].shape[-2:]))
            residual = estimate((a2 * r.blocks["N"] - ETA**2 * C * r.blocks["inv_N"]).reshape(e.chains, e.blocks))
            N_star = float(predict.closure_N("sgd", hyper, d, C))
            share = predict.bn_radial_share(d, batch, 1.0, 0.0, backward)
            variant, d_eff = ("orthogonal", d) if backward == "full" else ("isotropic", round(1 / share))
            _, bound, how = B.closure_bias("sgd", "N", d_eff, hyper, variant)
            printed = _printed("sec4.sgd.fixed_point", 2, eta=ETA, lam=LAM, gamma=1.0, sigma_nabla=1.0)
            label = f"d={d} B={batch} {backward}"
            components.append(component(f"E||w||^2, {label}", e.mean, N_star, e.se, bound * N_star,
                                         f"closure N* with the exact C = {C:.6g}; bias bound: {how}",
                                         printed=printed, equilibrated=e.equilibrated))
            components.append(component(f"(1 - a^2) E[N] - eta^2 C E[1/N], {label}", residual.mean, 0.0,
                                         residual.se, 0.0, "exact stationary identity (no closure)"))
    rows = [c for c in components if c["quantity"].startswith("E||w||^2")]
    detail = ("SGD on the paper's unit (sum loss, stop-gradient or full backward, gamma = 1, beta = 0, sigma_nabla = "
              f"1), eta = {ETA}, lam = {LAM}: " + "; ".join(
                  f"{c['quantity'][10:]}: measured {c['measured']:.5g} ± {c['se']:.2g}, predicted {c['predicted']:.5g},"
                  f" printed {c['printed']:.4g}" for c in rows))
    return result(components, detail, seed, size, convention=bn_unit_convention("sum", "stop_gradient + full"),
                   table=[{"d": int(c["quantity"].split("d=")[1].split()[0]),
                           "B": int(c["quantity"].split("B=")[1].split()[0]),
                           "backward": c["quantity"].rsplit(" ", 1)[1], "simulated": c["measured"], "se": c["se"],
                           "predicted": c["predicted"], "printed": c["printed"], "agrees": c["agrees"]}
                          for c in rows])


CHECKS = {"sec4.grad_second_moment": grad_second_moment, "sec4.sgd.fixed_point": sgd_fixed_point}
