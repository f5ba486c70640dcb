"""Later results on weight decay with normalized layers, derived in the Section 4 model.

Sources: Wan et al. 2021 "Spherical Motion Dynamics" (arXiv 2006.08419), Kosson et al. 2024 "Rotational
Equilibrium" (arXiv 2305.17212), Loshchilov & Hutter (arXiv 1711.05101; the AdamW row of Table 1 is already in
``section4``/``updates`` and reused here), Li & Arora 2020 (arXiv 1910.07454), Defazio 2025 (arXiv 2506.02285),
Arora, Li & Lyu 2019 (arXiv 1812.03981), Heo et al. 2021 (AdamP, arXiv 2006.08217) and Hoffer et al. 2018
(arXiv 1803.01814). Their texts are not available here: every result below is derived from scratch, and the
papers' statements appear only in the ``PRINTED`` block (what the project's shared summary of Hoffer et al.
prints) and the ``PARAPHRASED`` block (results as they are commonly stated, in formula form, *not* transcribed;
their claims carry form "none", and :func:`paraphrase_verdict` compares them with the derivation).

Conventions. Canonical penalty ``lam*||w||^2`` (gradient ``2*lam*w``) for SGD, heavy-ball, Nesterov, Adam and
RMSProp; decoupled rules (AdamW, Lion) multiply ``w`` by ``(1 - eta*lam)`` (torch's ``weight_decay=lam``).
Wan et al. and Kosson et al. write torch's coupled form (gradient ``wd*w``): ``wd = 2*lam``
(``normlaws.conventions.torch_weight_decay``). Momentum is torch's undampened form
``b <- rho*b + grad; w <- w - eta*b`` (= section4's heavy-ball with ``v = -eta*b``).

The model (``section4``): a scale-invariant unit ``w`` in R^d, ``N = ||w||^2``; the loss gradient is ``g/||w||``
with ``g`` independent across steps, zero-mean, ``E||g||^2 = C``, uncorrelated with the optimizer state.

**Linear second moments.** SGD, heavy-ball, Nesterov and Adam-type rules (preconditioner at its mean, as in
``section4``) are linear maps ``x' = M x + b e`` of the state ``x = (w, buffer)`` driven by a noise ``e`` with
``E||e||^2 = q`` (``q = eta^2 C E[1/N]`` for gradient noise, ``q = d`` for preconditioned noise). The stationary
moments ``S_ij = E<x_i, x_j>`` solve ``S = M S M^T + q b b^T`` exactly; so every *ratio* of stationary moments
is exact, with no closure: the angle ``cos(theta*) = E<w_t, w_{t+1}>/E||w_t||^2`` and Defazio's
``E||grad L||^2/E||w||^2`` below. Only the norm itself needs section4's closure ``E[1/N] -> 1/E[N]``.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from . import section4
from .claim import Claim, Printed
from .compare import Verdict, compare_formula, judged
from .derivation import Derivation, Step
from .moments import (LINEAR_RULES, MODELS, MomentModel, _lead, angle_leading, c_l2, chord_ratio,  # noqa: F401
                      cos_angle, moment_jacobian, relaxation_leading, stationary_N, stationary_moments)
from .symbols import C, beta1, beta2, d, eta, lam, r, rho

_h = sp.Symbol("h", positive=True)


# ==== Lion: sign updates with decoupled decay ======================================================================
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
        proofs={"double_sum": sp.simplify(N_star - double_sum),
                "beta1_zero_uncorrelated": lion_correlation().subs(beta1, 0),
                "no_correlation_limit": sp.simplify(cos_star.subs(Q_lion, 0) - A_dec),
                "leading_angle": sp.simplify(theta_sq_lead
                                             - 2 * eta * lam / (1 + 2 * Q1_lion))},
        summary="Lion with decoupled decay in the noise model: ||w||^2 = eta^2 d (1 + 2AQ)/(1 - A^2) and cos theta* = "
                "A + (1 - A^2) Q/(1 + 2AQ); the momentum interpolation correlates successive signs, so theta* ~ "
                "sqrt(2 eta lam/(1 + 2 Q1)), smaller than the uncorrelated random-walk value sqrt(2 eta lam) "
                "(Q1 ~ 22 for beta = (0.9, 0.99): 6.8x smaller); relaxation time -1/(2 log A) ~ 1/(2 eta lam)",
        extras={"N_star": N_star, "Q": lion_Q(), "sign_correlation": lion_sign_correlation(),
                "theta_sq_leading": theta_sq_lead, "relaxation": -1 / (2 * sp.log(A_dec)),
                "relaxation_leading": 1 / (2 * eta * lam)})


# ==== angular equilibria (Wan et al. 2021, Kosson et al. 2024) =====================================================
def _torch_nesterov_factor(momentum: float = 0.9) -> float:
    """``theta*^2`` of torch's Nesterov iterate over heavy-ball's, to leading order, at ``rho = momentum``."""
    ratio = angle_leading("nesterov_torch") ** 2 / angle_leading("momentum") ** 2
    return float(sp.simplify(ratio).subs(rho, sp.Rational(str(momentum))))


def angle_derivation(rule: str) -> Derivation:
    """Equilibrium angle per step, the norm it implies, and the relaxation time, for a linear rule."""
    m = MODELS[rule]
    S = stationary_moments(rule)
    cos_star = cos_angle(rule)
    lead = angle_leading(rule)
    proofs = {"stationary": (m.M * S * m.M.T + m.b * m.b.T - S).applyfunc(sp.factor)}
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
        proofs["variables_agree_in_norm_to_leading_order"] = sp.simplify(sp.powsimp(ratio, force=True) - 1)
    if rule == "adamw":
        proofs["matches_section4_N"] = stationary_N("adamw") - section4.stationary_N("adamw")
    if rule == "adam":
        c = 2 * lam * sp.sqrt(d * sp.Symbol("N", positive=True) / C)
        proofs["matches_section4_closure"] = sp.simplify(
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
        "rmsprop": "cos theta* = 1 - eta c with c = 2 lam sqrt(d N*/C) (theta* ~ sqrt(2 eta c))",
        "adam": "theta*^2 ~ 2 eta c (1 - beta1)/(1 + beta1) with c = 2 lam sqrt(d N*/C)",
    }[rule]
    return Derivation(result=cos_star, steps=steps, proofs=proofs, summary=summary, extras=extras)


# ==== Li & Arora 2020: weight decay + momentum == exponentially growing learning rate ===========================
alpha_la = sp.Symbol("alpha", positive=True)     # the growth factor: a root of the quadratic
_k = sp.Symbol("k", integer=True, nonnegative=True)  # step index
_W, _B, _G = sp.symbols("W B G", real=True)        # w_k, b_{k-1}, grad L(w_k) (read along any direction)


def li_arora_quadratic() -> sp.Expr:
    """``alpha^2 - (1 + rho - 2 eta lam) alpha + rho`` (canonical convention): its roots are the growth factors."""
    return alpha_la**2 - (1 + rho - 2 * eta * lam) * alpha_la + rho


def li_arora_lambda() -> sp.Expr:
    """The quadratic solved for ``lam`` (so that substituting it proves an identity for both roots at once)."""
    return sp.solve(li_arora_quadratic(), lam)[0]


def li_arora_derivation() -> Derivation:
    """SGD + momentum + L2 with ``(eta, lam, rho)`` equals SGD + momentum without L2 at ``eta_k = eta alpha^(-2k-1)``.

    WD run: ``b_k = rho b_{k-1} + grad L(w_k) + 2 lam w_k``, ``w_{k+1} = w_k - eta b_k``, ``b_{-1} = 0``.
    Tilde run: ``bt_k = rho bt_{k-1} + grad L(wt_k)``, ``wt_{k+1} = wt_k - eta_k bt_k``. Invariant of the
    induction: ``wt_k = alpha^-k w_k`` and ``bt_{k-1} = alpha^(k-1) (b_{k-1} - (1 - alpha) w_{k-1}/eta)``.
    """
    lam_root = li_arora_lambda()
    w_prev = _W + eta * _B                                   # w_{k-1} = w_k + eta b_{k-1}
    bt_prev = alpha_la ** (_k - 1) * (_B - (1 - alpha_la) * w_prev / eta)
    grad_tilde = alpha_la**_k * _G                           # degree -1: grad L(alpha^-k w) = alpha^k grad L(w)
    b_next = rho * _B + _G + 2 * lam * _W
    bt_next = rho * bt_prev + grad_tilde
    eta_k = eta * alpha_la ** (-2 * _k - 1)
    w_next = _W - eta * b_next
    wt_next = alpha_la ** (-_k) * _W - eta_k * bt_next
    buffer_residual = sp.expand(bt_next - alpha_la**_k * (b_next - (1 - alpha_la) * _W / eta))
    weight_residual = sp.expand(wt_next - alpha_la ** (-_k - 1) * w_next)
    W0 = sp.Symbol("W_0", real=True)
    bt_init = -(1 - alpha_la) * W0 / (eta * alpha_la)
    disc = sp.expand((1 + rho - 2 * eta * lam) ** 2 - 4 * rho)
    disc_factored = ((1 - sp.sqrt(rho)) ** 2 - 2 * eta * lam) * ((1 + sp.sqrt(rho)) ** 2 - 2 * eta * lam)
    big_root = ((1 + rho - 2 * eta * lam) + sp.sqrt(disc)) / 2
    growth_lead = 1 - 2 * eta * lam / (1 - rho)
    return Derivation(
        result=eta_k,
        steps=[Step("wt_k = alpha^-k w_k, grad L(wt_k) = alpha^k grad L(w_k) (scale invariance, degree -1)"),
               Step("induction on bt_{k-1} = alpha^(k-1) (b_{k-1} - (1 - alpha) w_{k-1}/eta): the buffer residual "
                    "vanishes iff alpha is a root of", li_arora_quadratic()),
               Step("then wt_{k+1} = alpha^-(k+1) w_{k+1} with the tilde learning rate", eta_k),
               Step("the induction starts at b_{-1} = 0 (w_{-1} = w_0) only if the tilde buffer starts at", bt_init),
               Step("real roots need a non-negative discriminant, i.e. 2 eta lam <= (1 - sqrt(rho))^2", disc_factored),
               Step("the larger root, to leading order: eta_k grows like exp(4 eta lam k/(1 - rho))", growth_lead),
               Step("without momentum (rho = 0): alpha = 1 - 2 eta lam and the buffer does not matter")],
        proofs={"buffer_induction": sp.simplify(buffer_residual.subs(lam, lam_root)),
                "weight_induction": sp.simplify(weight_residual.subs(lam, lam_root)),
                "first_step": sp.simplify((W0 - eta_k.subs(_k, 0) * (rho * bt_init + _G)
                                           - (W0 - eta * (_G + 2 * lam * W0)) / alpha_la).subs(lam, lam_root)),
                "discriminant": sp.expand(disc - disc_factored),
                "root_leading": sp.cancel(sp.expand(li_arora_quadratic().subs(
                    {eta: eta * _h, alpha_la: growth_lead.subs(eta, eta * _h)}, simultaneous=True)).coeff(_h, 1)),
                "no_momentum_root": sp.expand(li_arora_quadratic().subs({rho: 0, alpha_la: 1 - 2 * eta * lam}))},
        summary="SGD with momentum rho and L2 lam (canonical) is, step for step, SGD with momentum rho and no L2 at "
                "eta_k = eta alpha^(-2k-1) on wt_k = alpha^-k w_k, alpha a root of alpha^2 - (1 + rho - 2 eta lam) "
                "alpha + rho = 0 (torch: wd = 2 lam), provided the tilde buffer starts at -(1 - alpha) w_0/(eta "
                "alpha), not at 0; the roots are real iff 2 eta lam <= (1 - sqrt(rho))^2",
        extras={"quadratic": li_arora_quadratic(), "initial_buffer": bt_init, "discriminant": disc,
                "reality_bound": (1 - sp.sqrt(rho)) ** 2 / 2, "big_root": big_root, "growth_leading": growth_lead})


# ==== Defazio 2025: ||grad L||/||w|| at equilibrium ================================================================
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
    proofs = {"exact_vs_moments": sp.simplify(ratio_sq * eta**2 * s00 - 1)}
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
        proofs["dampened_form_leading"] = sp.simplify(damp - _lead(1 / (eta**2 * stationary_moments("sgd")[0, 0])))
        summary = ("E||grad L||^2/E||w||^2 = 4 lam (1 - rho)(1 + rho - eta lam)/(eta (1 + rho)) exactly in the noise "
                   "model (needs grad L uncorrelated with the buffer): ratio ~ sqrt(4 lam (1 - rho)/eta), i.e. "
                   "sqrt(2 wd (1 - rho)/eta) for torch's undampened momentum and sqrt(2 wd/eta) for the dampened "
                   "(EMA) buffer b <- rho b + (1 - rho) grad")
    return Derivation(result=ratio_sq, steps=steps, proofs=proofs, summary=summary, extras=extras)


# ==== Arora, Li & Lyu 2019; Heo et al. 2021: norm growth without weight decay ====================================
N_sym = sp.Symbol("N", positive=True)
s_dir = sp.Symbol("s", real=True)        # w_hat . grad L(w_hat)


def _orthogonal_setup():
    """A generic ``w`` in R^3 and the part of a generic vector orthogonal to it (a scale-invariant loss's gradient)."""
    w = sp.Matrix(sp.symbols("w1:4", real=True))
    raw = sp.Matrix(sp.symbols("z1:4", real=True))
    g = raw - (w.dot(raw) / w.dot(w)) * w
    return w, g


def growth_sgd_derivation() -> Derivation:
    """``||w_{t+1}||^2 = ||w_t||^2 + eta^2 ||grad L(w_t)||^2`` exactly for SGD without decay (Euler: w . grad L = 0)."""
    w, g = _orthogonal_setup()
    w_next = w - eta * g
    lhs = w_next.dot(w_next)
    rhs = w.dot(w) + eta**2 * g.dot(g)
    hoffer_form = N_sym - 2 * eta * s_dir + eta**2 * G_unit**2 / N_sym
    return Derivation(
        result=N_sym + eta**2 * sp.Symbol("g2", positive=True),
        steps=[Step("||w - eta grad L||^2 = ||w||^2 - 2 eta <w, grad L> + eta^2 ||grad L||^2 for any loss"),
               Step("with grad L(w) = grad L(w_hat)/||w||: <w, grad L(w)> = <w_hat, grad L(w_hat)> =: s and "
                    "||grad L(w)||^2 = G^2/||w||^2 (Hoffer et al.'s form)", hoffer_form),
               Step("scale invariance (Euler, degree 0) gives s = 0: ||w_{t+1}||^2 = ||w_t||^2 + eta^2 ||grad L||^2")],
        proofs={"orthogonal_gradient": sp.simplify(lhs - rhs)},
        summary="without weight decay every SGD step grows ||w||^2 by exactly eta^2 ||grad L(w_t)||^2",
        extras={"hoffer_form": hoffer_form, "g2_means": sp.Symbol("G2_t")})


def growth_momentum_closed_form(t_steps: int) -> tuple:
    """``(||w_{t+1}||^2 - ||w_t||^2, claimed)`` for heavy-ball without decay after ``t_steps`` steps, as scalars.

    Torch's form ``b_t = rho b_{t-1} + grad L(w_t)``, ``w_{t+1} = w_t - eta b_t``, ``b_{-1} = 0``. With ``P_k =
    ||b_k||^2`` and ``s_t = <w_t, b_t>``: ``s_t = rho (s_{t-1} - eta P_{t-1})`` (``<w_t, grad L(w_t)> = 0``), so
    ``s_t = -eta sum_{k<t} rho^(t-k) P_k`` and ``||w_{t+1}||^2 - ||w_t||^2 = eta^2 P_t + 2 eta^2 sum_{k<t}
    rho^(t-k) P_k``.
    """
    P = sp.symbols(f"P0:{t_steps + 1}", positive=True)
    s = sp.Integer(0)                       # s_0 = <w_0, b_0> = <w_0, grad L(w_0)> = 0
    for k in range(t_steps):
        s = rho * (s - eta * P[k])          # s_{k+1}
    increment = -2 * eta * s + eta**2 * P[t_steps]
    claimed = eta**2 * P[t_steps] + 2 * eta**2 * sum(rho ** (t_steps - k) * P[k] for k in range(t_steps))
    return increment, claimed


def growth_momentum_derivation() -> Derivation:
    """Heavy-ball, no decay: ``||w_{t+1}||^2 = ||w_t||^2 + eta^2 ||b_t||^2 + 2 eta^2 sum_{k<t} rho^(t-k) ||b_k||^2``."""
    w, g = _orthogonal_setup()
    b_prev = sp.Matrix(sp.symbols("p1:4", real=True))
    b = rho * b_prev + g
    w_next = w - eta * b
    # one step of the scalar recursion, on vectors: <w_t, b_t> = rho <w_t, b_{t-1}> since <w_t, g_t> = 0
    step_identity = sp.simplify(w.dot(b) - rho * w.dot(b_prev))
    expansion = sp.expand(w_next.dot(w_next) - (w.dot(w) - 2 * eta * w.dot(b) + eta**2 * b.dot(b)))
    proofs = {"inner_product_step": step_identity, "expansion": expansion}
    for t_steps in range(0, 6):
        inc, claimed = growth_momentum_closed_form(t_steps)
        proofs[f"closed_form_t{t_steps}"] = sp.expand(inc - claimed)
    asymptotic = eta**2 * C / (1 - rho) ** 2
    return Derivation(
        result=sp.Symbol("W2_t") + eta**2 * sp.Symbol("B2_t")
        + 2 * eta**2 * sp.Sum(rho ** (sp.Symbol("t") - _k) * sp.Symbol("B2_k"), (_k, 0, sp.Symbol("t") - 1)),
        steps=[Step("<w_t, b_t> = rho <w_t, b_{t-1}> because <w_t, grad L(w_t)> = 0", step_identity),
               Step("<w_t, b_{t-1}> = <w_{t-1}, b_{t-1}> - eta ||b_{t-1}||^2, so s_t = rho (s_{t-1} - eta P_{t-1}), "
                    "s_0 = 0"),
               Step("||w_{t+1}||^2 = ||w_t||^2 - 2 eta s_t + eta^2 P_t, and s_t = -eta sum_{k<t} rho^(t-k) P_k"),
               Step("in the noise model (E||grad L||^2 = C/N) the long-run growth is that of SGD at eta/(1 - rho): "
                    "N dN/dt -> eta^2 C/(1 - rho)^2", asymptotic)],
        proofs=proofs,
        summary="without decay, heavy-ball grows ||w||^2 by eta^2 ||b_t||^2 + 2 eta^2 sum_{k<t} rho^(t-k) ||b_k||^2 "
                "per "
                "step, exactly (the momentum's memory of past steps points outwards); in the noise model "
                "N_t^2 ~ N_0^2 + 2 eta^2 C t/(1 - rho)^2",
        extras={"asymptotic_rate": asymptotic})


# ==== Hoffer et al. 2018: the step on the sphere, and the per-layer learning-rate correction ====================
G_unit = sp.Symbol("G", positive=True)   # ||grad L(w_hat)||: the gradient at the unit vector
g_at_w = sp.Symbol("g_w", positive=True)  # ||grad L(w)|| = G/||w||: the gradient at w itself


def sphere_step_exact() -> tuple:
    """``(w_hat', exact chord, first order, second order)`` of one SGD step, on the 2-D plane of ``w_hat`` and ``u``.

    ``u`` is the unit tangent along ``grad L(w_hat)`` (orthogonal to ``w_hat``). With ``eps = eta/||w||^2``:
    ``w_hat' = (w_hat - eps G u)/sqrt(1 + eps^2 G^2)``.
    """
    e = sp.Symbol("epsilon", positive=True)
    radial = 1 / sp.sqrt(1 + e**2 * G_unit**2) - 1          # coefficient of w_hat in w_hat' - w_hat
    tangential = -e * G_unit / sp.sqrt(1 + e**2 * G_unit**2)  # coefficient of u
    return e, radial, tangential


def sphere_step_derivation() -> Derivation:
    """``w_hat' - w_hat = -(eta/||w||^2)(I - w_hat w_hat^T) grad L(w_hat) - (eta^2 G^2/(2||w||^4)) w_hat + ...``."""
    e, radial, tangential = sphere_step_exact()
    rad2 = sp.series(radial, e, 0, 3).removeO()
    tan3 = sp.series(tangential, e, 0, 4).removeO()
    first_order = eta * G_unit / r**2
    return Derivation(
        result=first_order,
        steps=[Step("w' = w - eta grad L(w) = r w_hat - (eta/r) G u (degree -1 gradient, u orthogonal to w_hat)"),
               Step("w_hat' = (w_hat - eps G u)/sqrt(1 + eps^2 G^2), eps = eta/r^2; coefficient of u", tangential),
               Step("coefficient of w_hat in w_hat' - w_hat", radial),
               Step("to second order: tangential -eps G (+ eps^3 G^3/2), radial -eps^2 G^2/2 (the sphere's curvature)",
                    sp.Matrix([rad2, tan3])),
               Step("so the step on the sphere is eta ||grad L(w_hat)||/||w||^2 to first order", first_order)],
        proofs={"radial_second_order": sp.expand(rad2 + e**2 * G_unit**2 / 2),
                "tangential_third_order": sp.expand(tan3 + e * G_unit - e**3 * G_unit**3 / 2),
                "unit_norm": sp.simplify(radial * (radial + 2) + tangential**2),   # ||w_hat'||^2 - 1 = 0
                "first_order_in_eta": sp.simplify(-tangential.diff(e).subs(e, 0) * eta / r**2 - first_order)},
        summary="the direction moves by eta/||w||^2 times the gradient at the unit vector (first order); the exact "
                "second-order term is radial, -(eta^2 ||grad L(w_hat)||^2/(2||w||^4)) w_hat, and the tangential "
                "part is correct to third order",
        extras={"radial_exact": radial, "tangential_exact": tangential, "first_order_in_g_at_w": eta * g_at_w / r})


def hoffer_norm_step() -> Derivation:
    """``rho_{t+1} = sqrt(rho^2 - 2 eta s + eta^2 G^2/rho^2)`` exactly (Hoffer's recursion), ``= rho - eta s/rho + O(eta^2)``."""
    exact = sp.sqrt(N_sym - 2 * eta * s_dir + eta**2 * G_unit**2 / N_sym).subs(N_sym, r**2)
    first = sp.series(exact, eta, 0, 2).removeO()
    return Derivation(result=exact,
                      steps=[Step("rho_{t+1}^2 from the exact recursion (later.growth.sgd, Hoffer's form)",
                                  exact**2),
                             Step("its square root, expanded to first order in eta", first)],
                      proofs={"first order": sp.simplify(first - (r - eta * s_dir / r)),
                              "rho sqrt(1 - 2 eta rho^-2 s + eta^2 rho^-4 G^2) form": sp.simplify(
                                  exact - r * sp.sqrt(1 - 2 * eta * s_dir / r**2 + eta**2 * G_unit**2 / r**4))},
                      summary="rho_{t+1} = rho_t sqrt(1 - 2 eta rho^-2 w_hat . grad L(w_hat) + eta^2 rho^-4 "
                              "||grad L(w_hat)||^2) exactly, = rho_t - eta rho_t^-1 w_hat . grad L(w_hat) + O(eta^2)")


def judge_lr_correction(dv: Derivation) -> Verdict:
    """Hoffer's conclusion holds when the corrected learning rate reproduces the decayed run's directions exactly."""
    return judged(dv.check() == {}, "decay-free SGD with eta_t = eta s_t^2/((1 - 2 eta lam) r_t^2) reproduces the decayed "
                  "run's direction sequence exactly (proof direction_map), so weight decay's effect on a normalized "
                  "layer is a learning-rate schedule")


def lr_correction_derivation() -> Derivation:
    """The learning rate that makes decay-free SGD reproduce the decayed run's directions.

    Decayed run (norm ``r_t``): ``w_hat' = normalize(w_hat - eta/(a r_t^2) g)``, ``a = 1 - 2 eta lam``. Decay-free run
    (norm ``s_t``) at learning rate ``eta_t``: ``normalize(w_hat - eta_t/s_t^2 g)``. Equal maps iff
    ``eta_t = eta s_t^2/(a r_t^2)``; at equilibrium ``r_t^2 -> N*`` gives the practical correction.
    """
    r_t, s_t, eta_t = sp.symbols("r_t s_t eta_t", positive=True)
    decayed = eta / ((1 - 2 * eta * lam) * r_t**2)
    exact = eta * s_t**2 / ((1 - 2 * eta * lam) * r_t**2)
    practical = exact.subs(r_t, sp.sqrt(section4.stationary_N("sgd")))
    no_decay_angle = sp.atan(eta * sp.sqrt(C) / s_t**2)
    return Derivation(
        result=practical,
        steps=[Step("decayed: w' = a w - (eta/r) g = a r (w_hat - eta/(a r^2) g): the direction's step size", decayed),
               Step("decay-free at eta_t: w' = s (w_hat - eta_t/s^2 g): equal directions iff eta_t/s^2 equals it",
                    exact),
               Step("at the decayed run's equilibrium r_t^2 = N* (closure), the per-layer correction is", practical),
               Step("the tangent of the angle per step is then eta ||g||/(a N*), i.i.d. over steps; without the "
                    "correction it decays like", no_decay_angle)],
        proofs={"direction_map": sp.simplify((eta_t / s_t**2 - decayed).subs(eta_t, exact)),
                "practical_is_exact_at_equilibrium": sp.simplify(
                    practical - exact.subs(r_t**2, section4.stationary_N("sgd")))},
        summary="decay-free SGD reproduces the decayed run's direction sequence exactly with eta_t = eta s_t^2/((1 - "
                "2 eta lam) r_t^2) (r_t the decayed run's norm), and its equilibrium angular statistics with eta_t = "
                "eta ||w_t||^2/((1 - 2 eta lam) N*): the learning rate must grow with the run's own squared norm",
        extras={"exact": exact, "practical": practical, "N_star": section4.stationary_N("sgd")})


# ==== PRINTED: formulas as the project's sources print them ======================================================
# Hoffer et al. 2018, Sec. 2, as printed in ../shared/papers/hoffer2018_norm_matters_summary.md (the paper's full
# text is not available here). ``g_w`` stands for ||grad L(w_t)|| and ``G`` for ||grad L(w_hat_t)||.
PRINTED = {
    # "w_hat_{t+1} = w_hat_t - eta rho_t^-2 (I - w_hat_t w_hat_t^T) grad L(w_hat_t rho_t) + O(eta^2)": the
    # tangential step length, with grad L evaluated at w_hat_t rho_t = w_t as written
    "hoffer.sphere_step_formula": Printed(
        eta * G_unit / r**2, "approx",
        "Hoffer et al. 2018 Sec. 2, as transcribed in shared/papers/hoffer2018_norm_matters_summary.md "
        "(w_hat_{t+1} = w_hat_t - eta rho^-2 (I - w_hat w_hat^T) grad L(w_hat_t rho_t) + O(eta^2))",
        text="length of the first-order step, with grad L read as the summary's own notation reads it two lines above "
             "(rho^2 recursion: grad L(w_hat) is the gradient at the unit vector). Read literally, grad L(w_hat_t rho_t) "
             "is the gradient at w_t and the step would be a power of rho short: a third-party summary's notation, "
             "not a verdict on Hoffer et al., whose text is not here"),
    # "the step size of the weight direction is approximately proportional to eta/||w_t||_2^2"
    "hoffer.sphere_step": Printed(
        eta / r**2, "order",
        "Hoffer et al. 2018 Sec. 2, as transcribed in shared/papers/hoffer2018_norm_matters_summary.md "
        "(w_hat_{t+1} - w_hat_t proportional to eta/||w_t||^2)"),
    # "rho_{t+1}^2 = rho_t^2 - 2 eta w_hat_t^T grad L_t(w_hat_t) + eta^2 rho_t^-2 ||grad L(w_hat)||^2"
    # "rho_{t+1} = rho_t sqrt(1 - 2 eta rho^-2 w_hat^T grad(w_hat) + eta^2 rho^-4 ||grad L(w_hat)||^2)
    #  = rho_t - eta rho_t^-1 w_hat^T grad L(w_hat) + O(eta^2)": the first-order form
    "hoffer.norm_step": Printed(
        r - eta * s_dir / r, "approx",
        "Hoffer et al. 2018 Sec. 2, as transcribed in shared/papers/hoffer2018_norm_matters_summary.md "
        "(rho_{t+1} = rho_t - eta rho_t^-1 w_hat^T grad L(w_hat) + O(eta^2))"),
    "hoffer.norm_recursion": Printed(
        N_sym - 2 * eta * s_dir + eta**2 * G_unit**2 / N_sym, "exact",
        "Hoffer et al. 2018 Sec. 2, as transcribed in shared/papers/hoffer2018_norm_matters_summary.md "
        "(rho_{t+1}^2 = rho_t^2 - 2 eta w_hat^T grad L(w_hat) + eta^2 rho^-2 ||grad L(w_hat)||^2)"),
}

# ==== PARAPHRASED: later results as commonly stated, in formula form -- NOT transcribed ==========================
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
    "later.li_arora.exp_lr": (eta * alpha_la ** (-2 * _k - 1),
                              "Li & Arora 2020: eta_k = eta alpha^(-2k-1), alpha^2 - (1 + rho - eta wd) alpha + rho "
                              "= 0"),
}


def paraphrase_verdict(claim_id: str) -> Verdict:
    """Compare the paraphrased statement (not a transcription) with the derivation: a "theta ~ ..." asserts the
    leading order in eta, lam, so it agrees only if the leading terms are equal (same exponents and constant)."""
    expr, _ = PARAPHRASED[claim_id]
    claim = next(c for c in CLAIMS if c.id == claim_id)
    dv = claim.derivation
    derived = dv.extras.get("paraphrase_target", dv.result)
    return compare_formula(expr, derived, "approx")


# ==== the claims =================================================================================================
def _none(key: str) -> Printed:
    text = PARAPHRASED[key][1] if key in PARAPHRASED else ""
    return Printed(None, "none", "", text=("paraphrased, not transcribed (the paper's text is not available here): "
                                           + text) if text else "")


_SOURCES = {
    "sgd": "Wan et al. 2021 (arXiv 2006.08419); Kosson et al. 2024 (arXiv 2305.17212)",
    "momentum": "Wan et al. 2021 (SGDM); Kosson et al. 2024 (SGDM)",
    "nesterov": "Wan et al. 2021; Kosson et al. 2024 (SGDM form, applied to Nesterov's w, van Laarhoven Sec. 5.1)",
    "nesterov_torch": "Wan et al. 2021; Kosson et al. 2024 (SGDM form, applied to torch's Nesterov iterate)",
    "adamw": "Kosson et al. 2024; Loshchilov & Hutter (arXiv 1711.05101)",
    "rmsprop": "Kosson et al. 2024 (Adam + L2); van Laarhoven 2017 Sec. 5.2",
    "adam": "Kosson et al. 2024 (Adam + L2); van Laarhoven 2017 Sec. 5.3",
}


def _with_target(derive, target_key):
    def run():
        dv = derive()
        dv.extras["paraphrase_target"] = dv.extras[target_key]
        return dv
    return run


def _angle_claim(rule: str) -> Claim:
    m = MODELS[rule]
    return Claim(id=f"later.angle.{rule}", title=f"{m.title}: equilibrium angle per step",
                 statement=f"At equilibrium, the angle between successive weights of a scale-invariant unit under "
                           f"{m.title} with weight decay settles at cos theta* = E<w_t, w_(t+1)>/E||w_t||^2 as derived "
                           "(and the norm and relaxation time with it).",
                 source=_SOURCES[rule], printed=_none(f"later.angle.{rule}"),
                 derive=_with_target(lambda: angle_derivation(rule), "angle"),
                 convention="decoupled (1 - eta lam)" if rule == "adamw" else "paper-l2",
                 tags=("later", "angular"))


def _lion_angle_view() -> Derivation:
    dv = lion_derivation()
    dv.extras["paraphrase_target"] = sp.acos(dv.result.subs(Q_lion, Q1_lion))
    return dv


def leading_lion_N() -> sp.Expr:
    """Lion's ``E||w||^2`` to leading order as ``eta lam -> 0``: ``eta d (1 + 2 Q1)/(2 lam)`` (``Q`` -> ``Q1``)."""
    return _lead(lion_N().subs(Q_lion, Q1_lion)).subs(Q1_lion, Q_lion)


def _lion_norm_view() -> Derivation:
    dv = lion_derivation()
    lead = leading_lion_N().subs(Q_lion, Q1_lion)
    return Derivation(result=lion_N(), steps=dv.steps, proofs=dv.proofs,
                      summary="||w||^2 = eta^2 d (1 + 2AQ)/(1 - A^2) ~ eta d (1 + 2 Q1)/(2 lam): (1 + 2 Q1) times the "
                              "uncorrelated random-walk value eta d/(2 lam)",
                      extras={**dv.extras, "N_leading": lead, "paraphrase_target": lead})


def _growth_hoffer_view() -> Derivation:
    dv = growth_sgd_derivation()
    # the derived recursion in Hoffer's symbols (s = w_hat . grad L(w_hat), G = ||grad L(w_hat)||), before s = 0
    return Derivation(result=dv.extras["hoffer_form"], steps=dv.steps, proofs=dv.proofs, summary=dv.summary,
                      extras=dv.extras)


CLAIMS = (
    [_angle_claim(rule) for rule in ("sgd", "momentum", "nesterov", "nesterov_torch", "adamw", "rmsprop", "adam")]
    + [Claim(id="later.angle.lion", title="Lion: equilibrium angle per step",
             statement="Lion (sign of an interpolated momentum, decoupled decay) reaches an equilibrium angle per step "
                       "set by eta lam and the sign updates' time correlation.",
             source="Kosson et al. 2024 (arXiv 2305.17212); Lion: Chen et al. 2023", printed=_none("later.angle.lion"),
             derive=lambda: _lion_angle_view(), convention="decoupled (1 - eta lam)", tags=("later", "angular")),
       Claim(id="later.norm.lion", title="Lion: equilibrium weight norm",
             statement="Lion's equilibrium squared norm is eta^2 d (1 + 2 A Q)/(1 - A^2), A = 1 - eta lam.",
             source="Kosson et al. 2024 (arXiv 2305.17212)", printed=_none("later.norm.lion"),
             derive=lambda: _lion_norm_view(), convention="decoupled (1 - eta lam)", tags=("later", "angular")),
       Claim(id="later.li_arora.exp_lr", title="Weight decay + momentum = exponentially growing learning rate",
             statement="For a scale-invariant loss, SGD with momentum and L2 equals SGD with momentum, no L2 and an "
                       "exponentially growing learning rate, step for step.",
             source="Li & Arora 2020 (arXiv 1910.07454)", printed=_none("later.li_arora.exp_lr"),
             derive=li_arora_derivation, variables=(eta,), tags=("later",)),
       Claim(id="later.defazio.sgd", title="SGD: ||grad L||/||w|| at equilibrium",
             statement="At equilibrium the ratio of gradient norm to weight norm of a normalized layer is set by eta "
                       "and lambda alone.", source="Defazio 2025 (arXiv 2506.02285)",
             printed=_none("later.defazio.sgd"),
             derive=_with_target(lambda: defazio_derivation("sgd"), "ratio"), tags=("later",)),
       Claim(id="later.defazio.momentum", title="Momentum: ||grad L||/||w|| at equilibrium",
             statement="The same ratio for heavy-ball momentum (torch's undampened buffer).",
             source="Defazio 2025 (arXiv 2506.02285)", printed=_none("later.defazio.momentum"),
             derive=_with_target(lambda: defazio_derivation("momentum"), "ratio"), tags=("later",)),
       Claim(id="later.growth.sgd", title="SGD without decay: exact norm growth",
             statement="Without weight decay, ||w_(t+1)||^2 = ||w_t||^2 + eta^2 ||grad L(w_t)||^2 exactly.",
             source="Arora, Li & Lyu 2019 (arXiv 1812.03981); Hoffer et al. 2018 Sec. 2",
             printed=PRINTED["hoffer.norm_recursion"], derive=_growth_hoffer_view, variables=(eta,),
             tags=("later",)),
       Claim(id="later.growth.momentum", title="Momentum without decay: exact norm growth",
             statement="Without weight decay, heavy-ball momentum grows ||w||^2 by eta^2 ||b_t||^2 + 2 eta^2 sum_(k<t) "
                       "rho^(t-k) ||b_k||^2 per step, exactly.", source="Heo et al. 2021 (AdamP, arXiv 2006.08217)",
             printed=Printed(None, "none", "", text="paraphrased, not transcribed"), derive=growth_momentum_derivation,
             tags=("later",)),
       Claim(id="later.hoffer.sphere_step", title="The effective step on the sphere",
             statement="The direction w/||w|| moves by about eta/||w||^2 times the gradient per SGD step.",
             source=PRINTED["hoffer.sphere_step"].where, printed=PRINTED["hoffer.sphere_step"],
             derive=sphere_step_derivation, variables=(eta, r), tags=("later", "hoffer")),
       Claim(id="later.hoffer.sphere_step_formula", title="The step on the sphere, formula as printed",
             statement="w_hat_(t+1) = w_hat_t - eta rho^-2 (I - w_hat w_hat^T) grad L(w_hat_t rho_t) + O(eta^2).",
             source=PRINTED["hoffer.sphere_step_formula"].where, printed=PRINTED["hoffer.sphere_step_formula"],
             derive=sphere_step_derivation, variables=(eta, r), tags=("later", "hoffer")),
       Claim(id="later.hoffer.lr_correction", title="A per-layer learning-rate correction replaces weight decay",
             statement="Training without weight decay but with a per-layer learning rate growing with ||w_t||^2 "
                       "reproduces the decayed run's angular dynamics.",
             source="Hoffer et al. 2018 (arXiv 1803.01814), Sec. 2 conclusion", printed=Printed(
                 None, "verbal", "Hoffer et al. 2018, conclusion, as in shared/papers/hoffer2018_norm_matters_summary.md",
                 text="Weight decay is really not needed if learning rate is controlled responsibly. The authors show "
                      "this via experiments (weight decay results can be mimicked by changing the learning rate)."),
             derive=lr_correction_derivation, judge=judge_lr_correction, tags=("later", "hoffer")),
       Claim(id="later.hoffer.norm_step", title="The norm's step, to first order",
             statement="rho_{t+1} = rho_t sqrt(1 - 2 eta rho^-2 w_hat . grad L(w_hat) + eta^2 rho^-4 ||grad L(w_hat)||^2) "
                       "= rho_t - eta rho_t^-1 w_hat . grad L(w_hat) + O(eta^2)",
             source=PRINTED["hoffer.norm_step"].where, printed=PRINTED["hoffer.norm_step"], derive=hoffer_norm_step,
             variables=(eta,), tags=("later", "hoffer"))]
)

