"""Defazio 2025 (arXiv 2506.02285): the gradient-to-weight ratio ``||grad L||/||w||`` of a normalized layer at
equilibrium, set by eta and lambda alone: ``E||grad L||^2/E||w||^2 = 1/(eta^2 s_00)``, exact in the linear model.
"""
from __future__ import annotations

import sympy as sp

from .claim import Claim
from .derivation import Derivation, Step, simplified
from .moments import _lead, stationary_moments
from .paraphrase import paraphrased, with_target
from .symbols import eta, lam, rho


def defazio_derivation(rule: str) -> Derivation:
    """``E||grad L||^2/E||w||^2`` at stationarity: ``q = eta^2 E||grad L||^2`` exactly, so it is ``1/(eta^2 s_00)``."""
    s00 = stationary_moments(rule)[0, 0]
    ratio_sq = sp.factor(1 / (eta**2 * s00))
    lead = _lead(ratio_sq)
    wd = sp.Symbol("wd", positive=True)
    steps = [Step("the injected noise is e = eta grad L, independent of the state, so its power q = eta^2 "
                  "E||grad L||^2 exactly, and E||w||^2 = s_00 q at stationarity (no closure)", s00),
             Step("hence E||grad L||^2 / E||w||^2 = 1/(eta^2 s_00)", ratio_sq),
             Step("to leading order", lead)]
    extras = {"ratio_sq": ratio_sq, "ratio": sp.sqrt(ratio_sq), "ratio_leading": sp.sqrt(lead),
              "ratio_torch_leading": sp.sqrt(lead.subs(lam, wd / 2))}
    proofs = {"exact_vs_moments": simplified(ratio_sq * eta**2 * s00 - 1)}
    if rule == "sgd":
        a = 1 - 2 * eta * lam
        steps.insert(0, Step("pathwise, with grad L orthogonal to w: ||w'||^2 = a^2 ||w||^2 + eta^2 ||grad L||^2; "
                             "stationarity of E||w||^2 gives (1 - a^2) E||w||^2 = eta^2 E||grad L||^2 -- true for "
                             "any gradients, signal or noise"))
        proofs["sgd_closed_form"] = sp.expand(ratio_sq - (1 - a**2) / eta**2)
        summary = ("E||grad L||^2/E||w||^2 = (1 - (1 - 2 eta lam)^2)/eta^2 = 4 lam (1 - eta lam)/eta exactly at "
                   "stationarity: ||grad L||/||w|| ~ sqrt(4 lam/eta) = sqrt(2 wd/eta) in torch's convention; set by "
                   "eta and lam alone")
    else:
        damp = sp.factor(lead.subs(eta, eta * (1 - rho)))       # dampened form = undampened at eta (1 - rho)
        extras["ratio_sq_dampened_leading"] = damp
        proofs["dampened_form_leading"] = simplified(damp - _lead(1 / (eta**2 * stationary_moments("sgd")[0, 0])))
        summary = ("E||grad L||^2/E||w||^2 = 4 lam (1 - rho)(1 + rho - eta lam)/(eta (1 + rho)) exactly in the noise "
                   "model (needs grad L uncorrelated with the buffer): ratio ~ sqrt(4 lam (1 - rho)/eta), i.e. "
                   "sqrt(2 wd (1 - rho)/eta) for torch's undampened momentum and sqrt(2 wd/eta) for the dampened "
                   "(EMA) buffer b <- rho b + (1 - rho) grad")
    return Derivation(result=ratio_sq, steps=steps, proofs=proofs, summary=summary, extras=extras)


CLAIMS = [
    Claim(id="later.defazio.sgd", title="SGD: ||grad L||/||w|| at equilibrium",
             statement="At equilibrium the ratio of gradient norm to weight norm of a normalized layer is set by eta "
                       "and lambda alone.", source="Defazio 2025 (arXiv 2506.02285)",
             printed=paraphrased("later.defazio.sgd"),
             derive=with_target(lambda: defazio_derivation("sgd"), "ratio"), tags=("later",)),
    Claim(id="later.defazio.momentum", title="Momentum: ||grad L||/||w|| at equilibrium",
             statement="The same ratio for heavy-ball momentum (torch's undampened buffer).",
             source="Defazio 2025 (arXiv 2506.02285)", printed=paraphrased("later.defazio.momentum"),
             derive=with_target(lambda: defazio_derivation("momentum"), "ratio"), tags=("later",)),
]
