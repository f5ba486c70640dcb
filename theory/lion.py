"""Lion (Chen et al. 2023): sign updates of an interpolated momentum with decoupled decay, in the Section 4 model.

``w_{t+1} = A w_t - eta s_t``, ``s_t = sign(c_t)``, ``A = 1 - eta lam``: the update has ``||s_t||^2 = d`` exactly
but successive signs are correlated through the momentum; the equilibrium norm and angle follow exactly in the
model (with Gaussian gradient coordinates) from the sign correlations (Sheppard's formula).
"""
from __future__ import annotations

import sympy as sp

from .claim import Claim
from .derivation import Derivation, Step, simplified
from .moments import _lead
from .paraphrase import paraphrased
from .symbols import beta1, beta2, d, eta, lam


Q_lion = sp.Symbol("Q", nonnegative=True)
#: the lag between two of Lion's updates, and Q's value as eta lam -> 0 (A -> 1)
lag = _m = sp.Symbol("m", integer=True, positive=True)
Q1_lion = sp.Symbol("Q1", nonnegative=True)
A_dec = 1 - eta * lam


def lion_correlation() -> sp.Expr:
    """Correlation of Lion's interpolations ``c_t``, ``c_{t+m}`` (m >= 1) for i.i.d. Gaussian gradient coordinates.

    ``c_t = beta1 m_{t-1} + (1-beta1) g_t``, ``m_t = beta2 m_{t-1} + (1-beta2) g_t``; the coefficients of
    ``g_{t-i}`` in ``c_t`` are ``1-beta1`` (i = 0) and ``beta1 (1-beta2) beta2^(i-1)``; so the correlation is
    ``kappa_L beta2^m`` (returned as a function of the symbol ``m``).
    """
    var = (1 - beta1) ** 2 + beta1**2 * (1 - beta2) / (1 + beta2)
    cov = beta1 * (1 - beta2) * beta2 ** (_m - 1) * ((1 - beta1) + beta1 * beta2 / (1 + beta2))
    return cov / var


def lion_sign_correlation() -> sp.Expr:
    """``E[sign(c_t) sign(c_{t+m})] = (2/pi) asin(corr)`` per coordinate (bivariate normal, Sheppard's formula)."""
    return 2 / sp.pi * sp.asin(lion_correlation())


def lion_Q() -> sp.Sum:
    """``Q = sum_{m>=1} A^(m-1) rho_m``, ``A = 1 - eta lam``: the sign updates' correlation with the weights."""
    return sp.Sum(A_dec ** (_m - 1) * lion_sign_correlation(), (_m, 1, sp.oo))


def lion_N() -> sp.Expr:
    """Lion's ``E||w||^2`` at stationarity in terms of ``Q``: ``eta^2 d (1 + 2 A Q)/(1 - A^2)`` (exact in the model)."""
    return eta**2 * d * (1 + 2 * A_dec * Q_lion) / (1 - A_dec**2)


def lion_cos_angle() -> sp.Expr:
    """Lion's ``cos(theta*) = A + (1 - A^2) Q/(1 + 2 A Q)`` (exact in the model)."""
    return A_dec + (1 - A_dec**2) * Q_lion / (1 + 2 * A_dec * Q_lion)


def lion_derivation() -> Derivation:
    """Lion's equilibrium norm and angle: the update has ``||sign(c)||^2 = d`` exactly but is correlated in time."""
    N_star = lion_N()
    cos_star = lion_cos_angle()
    # proofs: the double sum reduces to the single sum; E<w_t, w_{t+1}> = A N - eta E<w_t, s_t> = A N + eta^2 d Q
    double_sum = eta**2 * d * (1 + 2 * A_dec * Q_lion) / (1 - A_dec**2)
    theta_sq_lead = _lead(2 * (1 - cos_star).subs(Q_lion, Q1_lion))
    return Derivation(
        result=cos_star,
        steps=[Step("w_{t+1} = A w_t - eta s_t, s_t = sign(c_t), A = 1 - eta lam; ||s_t||^2 = d exactly"),
               Step("stationary w_t = -eta sum_k A^k s_{t-1-k}; E<s_i, s_j> = d rho_|i-j| with rho_0 = 1 and "
                    "rho_m = (2/pi) asin(corr(c_t, c_{t+m}))", lion_sign_correlation()),
               Step("E||w||^2 = eta^2 d sum_{j,k} A^(j+k) rho_|j-k| = eta^2 d (1 + 2 A Q)/(1 - A^2), "
                    "Q = sum_{m>=1} A^(m-1) rho_m", N_star),
               Step("E<w_t, s_t> = -eta d Q, so E<w_t, w_{t+1}>/E||w_t||^2", cos_star),
               Step("leading order (A -> 1, Q -> Q1 = sum rho_m): theta*^2 = 2 eta lam/(1 + 2 Q1)", theta_sq_lead),
               Step("without the interpolation (beta1 = 0) every rho_m = 0: Q = 0, cos theta* = A, "
                    "N* = eta^2 d/(1 - A^2) ~ eta d/(2 lam)")],
        proofs={"double_sum": simplified(N_star - double_sum),
                "beta1_zero_uncorrelated": lion_correlation().subs(beta1, 0),
                "no_correlation_limit": simplified(cos_star.subs(Q_lion, 0) - A_dec),
                "leading_angle": simplified(theta_sq_lead
                                             - 2 * eta * lam / (1 + 2 * Q1_lion))},
        summary="Lion with decoupled decay in the noise model: ||w||^2 = eta^2 d (1 + 2AQ)/(1 - A^2) and cos theta* = "
                "A + (1 - A^2) Q/(1 + 2AQ); the momentum interpolation correlates successive signs, so theta* ~ "
                "sqrt(2 eta lam/(1 + 2 Q1)), smaller than the uncorrelated random-walk value sqrt(2 eta lam) "
                "(Q1 ~ 22 for beta = (0.9, 0.99): 6.8x smaller); relaxation time -1/(2 log A) ~ 1/(2 eta lam)",
        extras={"N_star": N_star, "Q": lion_Q(), "sign_correlation": lion_sign_correlation(),
                "theta_sq_leading": theta_sq_lead, "relaxation": -1 / (2 * sp.log(A_dec)),
                "relaxation_leading": 1 / (2 * eta * lam)})



def leading_lion_N() -> sp.Expr:
    """Lion's ``E||w||^2`` to leading order as ``eta lam -> 0``: ``eta d (1 + 2 Q1)/(2 lam)`` (``Q`` -> ``Q1``)."""
    return _lead(lion_N().subs(Q_lion, Q1_lion)).subs(Q1_lion, Q_lion)



def _lion_angle_view() -> Derivation:
    dv = lion_derivation()
    dv.extras["paraphrase_target"] = sp.acos(dv.result.subs(Q_lion, Q1_lion))
    return dv



def _lion_norm_view() -> Derivation:
    dv = lion_derivation()
    lead = leading_lion_N().subs(Q_lion, Q1_lion)
    return Derivation(result=lion_N(), steps=dv.steps, proofs=dv.proofs,
                      summary="||w||^2 = eta^2 d (1 + 2AQ)/(1 - A^2) ~ eta d (1 + 2 Q1)/(2 lam): (1 + 2 Q1) times the "
                              "uncorrelated random-walk value eta d/(2 lam)",
                      extras={**dv.extras, "N_leading": lead, "paraphrase_target": lead})


CLAIMS = [
    Claim(id="later.angle.lion", title="Lion: equilibrium angle per step",
             statement="Lion (sign of an interpolated momentum, decoupled decay) reaches an equilibrium angle per step "
                       "set by eta lam and the sign updates' time correlation.",
             source="Kosson et al. 2024 (arXiv 2305.17212); Lion: Chen et al. 2023", printed=paraphrased("later.angle.lion"),
             derive=_lion_angle_view, convention="decoupled (1 - eta lam)", tags=("later", "angular")),
    Claim(id="later.norm.lion", title="Lion: equilibrium weight norm",
             statement="Lion's equilibrium squared norm is eta^2 d (1 + 2 A Q)/(1 - A^2), A = 1 - eta lam.",
             source="Kosson et al. 2024 (arXiv 2305.17212)", printed=paraphrased("later.norm.lion"),
             derive=_lion_norm_view, convention="decoupled (1 - eta lam)", tags=("later", "angular")),
]
