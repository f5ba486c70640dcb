"""Later results as commonly stated, in formula form -- paraphrased, NOT transcribed (their texts are not here).

Each paraphrase is written in its paper's convention (torch's coupled ``wd`` for Wan et al., Kosson et al., Defazio,
Li & Arora), converted to the canonical one with ``wd = 2*lam``. A claim built on a paraphrase keeps the printed
form ``none`` (verdict "not comparable": no source text to hold against the derivation); :func:`paraphrase_verdict`
compares the paraphrase with the derivation for information (a "theta ~ ..." asserts the leading order).
"""
from __future__ import annotations

import sympy as sp

from .claim import Printed
from .compare import Verdict, compare_formula
from .symbols import beta1, d, eta, k_B, k_eta, k_n, lam, rho

alpha_la = sp.Symbol("alpha", positive=True)     # Li & Arora's growth factor
step_k = sp.Symbol("k", integer=True, nonnegative=True)

# The papers' texts are not available here; these are paraphrases in each paper's own convention (torch's
# wd for Wan et al., Kosson et al., Defazio, Li & Arora), converted to the canonical one with wd = 2*lam where
# the paper couples the decay to the gradient. The claims keep form "none"; paraphrase_verdict compares.
_wd = 2 * lam
PARAPHRASED = {
    "later.angle.sgd": (sp.sqrt(2 * eta * _wd), "Wan et al. 2021 / Kosson et al. 2024: theta ~ sqrt(2 eta wd)"),
    "later.angle.momentum": (sp.sqrt(2 * eta * _wd / (1 + rho)),
                             "Wan et al. 2021 / Kosson et al. 2024: theta ~ sqrt(2 eta wd/(1 + rho)) for SGDM"),
    "later.angle.nesterov": (sp.sqrt(2 * eta * _wd / (1 + rho)),
                             "the SGDM form sqrt(2 eta wd/(1 + rho)) applied to Nesterov momentum (the paper's w)"),
    "later.angle.nesterov_torch": (sp.sqrt(2 * eta * _wd / (1 + rho)),
                                   "the SGDM form sqrt(2 eta wd/(1 + rho)) applied to torch's Nesterov iterate"),
    "later.angle.adamw": (sp.sqrt(2 * eta * lam * (1 - beta1) / (1 + beta1)),
                          "Kosson et al. 2024: theta ~ sqrt(2 eta lam (1 - beta1)/(1 + beta1)) for AdamW"),
    "later.angle.lion": (sp.sqrt(2 * eta * lam),
                         "the uncorrelated random-walk form sqrt(2 eta lam) for a sign update of norm sqrt(d)"),
    "later.norm.lion": (eta * d / (2 * lam),
                        "the uncorrelated random-walk form ||w||^2 = eta d/(2 lam) for a sign update"),
    "later.defazio.sgd": (sp.sqrt(2 * _wd / eta), "Defazio 2025: ||grad L||/||w|| -> sqrt(2 wd/eta) (SGD)"),
    "later.defazio.momentum": (sp.sqrt(2 * _wd / eta),
                               "Defazio 2025's SGD value sqrt(2 wd/eta) applied to torch's undampened momentum"),
    "later.li_arora.exp_lr": (eta * alpha_la ** (-2 * step_k - 1),
                              "Li & Arora 2020: eta_k = eta alpha^(-2k-1), alpha^2 - (1 + rho - eta wd) alpha + rho "
                              "= 0"),
    "schedules.adamw.ema_timescale": (
        1 / (eta * lam),
        "Wang & Aitchison 2025 read AdamW's weights as an exponential moving average of recent updates, with a "
        "timescale in iterations of one over the product of learning rate and decay (tau_iter = 1/(eta lam)); they "
        "report that the best timescale, counted in epochs, stays roughly the same as model and dataset grow"),
    "schedules.lambda_scaling.adamw": (
        lam * k_B / (k_eta * k_n),
        "Wang & Aitchison 2025: keeping AdamW's timescale in epochs fixed means scaling the decay with the batch "
        "size and against the learning rate and the dataset size"),
}


def paraphrase_verdict(claim) -> Verdict:
    """Compare the paraphrase of ``claim`` (not a transcription) with its derivation: a "theta ~ ..." asserts the
    leading order in eta, lam, so it agrees only if the leading terms are equal (same exponents and constant)."""
    expr, _ = PARAPHRASED[claim.id]
    dv = claim.derivation
    derived = dv.extras.get("paraphrase_target", dv.result)
    return compare_formula(expr, derived, "approx")


def paraphrased(key: str) -> Printed:
    """The printed form of a claim whose source is paraphrased: none, with the paraphrase in its text."""
    text = PARAPHRASED[key][1] if key in PARAPHRASED else ""
    return Printed(None, "none", "", text=("paraphrased, not transcribed (the paper's text is not available here): "
                                           + text) if text else "")


def with_target(derive, target_key):
    """``derive`` whose derivation names ``extras[target_key]`` as what the paraphrase is compared with."""
    def run():
        dv = derive()
        dv.extras["paraphrase_target"] = dv.extras[target_key]
        return dv
    return run
