"""Angular equilibria (Wan et al. 2021 "Spherical Motion Dynamics", Kosson et al. 2024 "Rotational Equilibrium"):
the angle per step a scale-invariant unit settles at under each rule with weight decay, from ``theory.moments``.

``cos(theta*) = E<y_t, y_{t+1}>/E||y_t||^2`` is a ratio of stationary moments of the rule's linear model, exact in
the model; the norm (closure) and the relaxation time follow from the same model. The papers' statements are
paraphrased (``theory.paraphrase``), not transcribed.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .claim import Claim
from .derivation import Derivation, Step, simplified
from .moments import (MODELS, _lead, angle_leading, c_l2, chord_ratio, cos_angle, relaxation_leading, stationary_N,
                      stationary_moments, stationary_residual)
from .paraphrase import paraphrased, with_target
from .symbols import C, d, eta, lam, rho
from . import section4


@lru_cache(maxsize=None)
def _torch_nesterov_factor(momentum: float = 0.9) -> float:
    """``theta*^2`` of torch's Nesterov iterate over heavy-ball's, to leading order, at ``rho = momentum`` (every
    rule's summary table quotes it: computed once)."""
    ratio = angle_leading("nesterov_torch") ** 2 / angle_leading("momentum") ** 2
    return float(sp.simplify(ratio).subs(rho, sp.Rational(str(momentum))))


def angle_derivation(rule: str) -> Derivation:
    """Equilibrium angle per step, the norm it implies, and the relaxation time, for a linear rule."""
    m = MODELS[rule]
    S = stationary_moments(rule)
    cos_star = cos_angle(rule)
    lead = angle_leading(rule)
    proofs = {"stationary": stationary_residual(rule)}
    steps = [Step(f"the rule as a linear map of the state {m.state}: {m.note}", m.M),
             Step("stationary second moments S/q (S_ij = E<x_i, x_j>) solve S = M S M^T + b b^T", S),
             Step(f"the claim reads y = T x with T = {list(m.T)}; E<y_t, y_(t+1)> = T S M^T T^T (the noise is "
                  "independent of the state), so cos theta* = E<y_t, y_(t+1)>/E||y_t||^2 -- a moment ratio, exact "
                  "in the model", cos_star),
             Step("leading order of theta* = sqrt(E||w_{t+1} - w_t||^2/E||w||^2) as eta lam -> 0", lead)]
    extras = {"cos_angle": cos_star, "angle": sp.acos(cos_star), "chord_ratio": chord_ratio(rule),
              "angle_leading": lead,
              "N_star": stationary_N(rule), "relaxation_leading": relaxation_leading(rule)}
    if rule == "sgd":
        proofs["matches_section4_N"] = stationary_N("sgd") - section4.stationary_N("sgd")
        proofs["relaxation_matches_section4"] = relaxation_leading("sgd") - section4.sgd_relaxation().extras["leading"]
        extras["torch_wd_form"] = sp.acos(1 - eta * sp.Symbol("wd", positive=True))
    if rule == "momentum":
        proofs["matches_section4_N"] = stationary_N("momentum") - section4.stationary_N("momentum")
    if rule in ("nesterov", "nesterov_torch"):
        ratio = _lead(stationary_N("nesterov")) / _lead(stationary_N("nesterov_torch"))
        proofs["variables_agree_in_norm_to_leading_order"] = simplified(sp.powsimp(ratio, force=True) - 1)
    if rule == "adamw":
        proofs["matches_section4_N"] = stationary_N("adamw") - section4.stationary_N("adamw")
    if rule == "adam":
        c = 2 * lam * sp.sqrt(d * sp.Symbol("N", positive=True) / C)
        proofs["matches_section4_closure"] = simplified(
            stationary_N("adam").subs(c_l2, c) - (section4.adaptive_fixed_point_equation("adam")
                                                  + sp.Symbol("N", positive=True)))
    if m.noise == "coupled":
        extras["fixed_point"] = sp.Eq(c_l2, 2 * lam * sp.sqrt(d * stationary_N(rule) / C))
    steps.append(Step("norm at equilibrium (closure E[1/N] = 1/E[N] for gradient noise)", stationary_N(rule)))
    steps.append(Step("relaxation time of the moments (slowest eigenvalue of the closure's moment map), leading",
                      relaxation_leading(rule)))
    summary = {
        "sgd": "cos theta* = 1 - 2 eta lam exactly (theta* ~ 2 sqrt(eta lam) = sqrt(2 eta wd) with torch's wd = 2 lam)",
        "momentum": "cos theta* = 1 - 2 eta lam/(1 + rho) exactly (theta* ~ sqrt(4 eta lam/(1 + rho)) = "
                    "sqrt(2 eta wd/(1 + rho)))",
        "nesterov": "for the paper's variable w (Sutskever's form) theta*^2 ~ 4 eta lam/(1 + rho), as for heavy-ball "
                    "momentum",
        "nesterov_torch": "for torch's Nesterov iterate theta*^2 ~ 4 eta lam (1 + 2 rho - 2 rho^3)/(1 + rho): larger "
                          "than heavy-ball's 4 eta lam/(1 + rho) by the factor 1 + 2 rho - 2 rho^3 "
                          f"({_torch_nesterov_factor():.3g} at rho = 0.9)",
        "adamw": "cos theta* = (1 + beta1 - eta lam)/(1 + beta1 - beta1 eta lam) exactly (theta* ~ "
                 "sqrt(2 eta lam (1 - beta1)/(1 + beta1))); ||w||^2 ~ eta d/(2 lam), independent of C",
        "rmsprop": "cos theta* = 1 - eta c with c = 2 lam sqrt(d N/C) at the equilibrium N = E||w||^2 (theta* ~ "
                   "sqrt(2 eta c))",
        "adam": "theta*^2 ~ 2 eta c (1 - beta1)/(1 + beta1) with c = 2 lam sqrt(d N/C) at the equilibrium "
                "N = E||w||^2",
    }[rule]
    return Derivation(result=cos_star, steps=steps, proofs=proofs, summary=summary, extras=extras)



_SOURCES = {
    "sgd": "Wan et al. 2021 (arXiv 2006.08419); Kosson et al. 2024 (arXiv 2305.17212)",
    "momentum": "Wan et al. 2021 (SGDM); Kosson et al. 2024 (SGDM)",
    "nesterov": "Wan et al. 2021; Kosson et al. 2024 (SGDM form, applied to Nesterov's w, van Laarhoven Sec. 5.1)",
    "nesterov_torch": "Wan et al. 2021; Kosson et al. 2024 (SGDM form, applied to torch's Nesterov iterate)",
    "adamw": "Kosson et al. 2024; Loshchilov & Hutter (arXiv 1711.05101)",
    "rmsprop": "Kosson et al. 2024 (Adam + L2); van Laarhoven 2017 Sec. 5.2",
    "adam": "Kosson et al. 2024 (Adam + L2); van Laarhoven 2017 Sec. 5.3",
}


def _angle_claim(claim_id: str) -> Claim:
    rule = claim_id.split(".")[2]
    m = MODELS[rule]
    return Claim(id=claim_id, title=f"{m.title}: equilibrium angle per step",
                 statement=f"At equilibrium, the angle between successive weights of a scale-invariant unit under "
                           f"{m.title} with weight decay settles at cos theta* = E<w_t, w_(t+1)>/E||w_t||^2 as derived "
                           "(and the norm and relaxation time with it).",
                 source=_SOURCES[rule], printed=paraphrased(claim_id),
                 derive=with_target(lambda: angle_derivation(rule), "angle"),
                 convention="decoupled (1 - eta lam)" if rule == "adamw" else "paper-l2",
                 tags=("later", "angular"))


CLAIMS = [_angle_claim("later.angle.sgd"), _angle_claim("later.angle.momentum"), _angle_claim("later.angle.nesterov"),
          _angle_claim("later.angle.nesterov_torch"), _angle_claim("later.angle.adamw"),
          _angle_claim("later.angle.rmsprop"), _angle_claim("later.angle.adam")]
