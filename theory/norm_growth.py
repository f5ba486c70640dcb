"""Norm growth without weight decay (Arora, Li & Lyu 2019; Heo et al. 2021; Hoffer et al. 2018): every step grows
``||w||^2`` exactly, because a scale-invariant loss's gradient is orthogonal to ``w`` (Euler's identity).
"""
from __future__ import annotations

import sympy as sp

from .claim import Claim, Printed
from .compare import Verdict, judged
from .derivation import Derivation, Step, simplified
from .symbols import C, N, eta, rho, t

_k = sp.Symbol("k", integer=True, nonnegative=True)
G_unit = sp.Symbol("G", positive=True)   # ||grad L(w_hat)||: the gradient at the unit vector

N0 = sp.Symbol("N_0", positive=True)  # the squared norm at the start


def growth_without_decay() -> Derivation:
    """With ``lam = 0``: ``N_{t+1} = N_t + eta**2 C/N_t``, so ``N_t**2 >= N_0**2 + 2 eta**2 C t``."""
    step_sq = sp.expand((N + eta**2 * C / N) ** 2 - N**2)
    bound = sp.sqrt(N0**2 + 2 * eta**2 * C * t)
    eta_eff = sp.limit(eta / bound * sp.sqrt(t), t, sp.oo) / sp.sqrt(t)
    return Derivation(
        result=bound,
        steps=[Step("N_{t+1}^2 - N_t^2 = 2 eta^2 C + eta^4 C^2/N_t^2 >= 2 eta^2 C", step_sq),
               Step("so ||w_t||^2 >= sqrt(N_0^2 + 2 eta^2 C t), growing without bound", bound),
               Step("eta_eff = eta/||w_t||^2 -> 1/sqrt(2 C t): it goes to 0, at a rate independent of eta",
                    eta_eff)],
        proofs={"increment": step_sq - 2 * eta**2 * C - eta**4 * C**2 / N**2},
        summary="without L2 the squared norm grows like eta sqrt(2 C t) and the effective learning rate decays "
                "like 1/sqrt(2 C t), independently of eta",
        extras={"eta_eff_asymptotic": eta_eff})


def growth_judge(dv: Derivation) -> Verdict:
    """Sec. 3.1 / Sec. 7: without L2 the weights grow unbounded and eta_eff goes to 0."""
    unbounded = sp.limit(dv.result, t, sp.oo) == sp.oo
    to_zero = sp.limit(dv.extras["eta_eff_asymptotic"], t, sp.oo) == 0
    return judged(unbounded and to_zero, "||w_t||^2 >= sqrt(N_0^2 + 2 eta^2 C t) -> oo and eta/||w_t||^2 -> "
                  "1/sqrt(2 C t) -> 0")


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
        proofs={"orthogonal_gradient": simplified(lhs - rhs)},
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
    step_identity = simplified(w.dot(b) - rho * w.dot(b_prev))
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



def _growth_hoffer_view() -> Derivation:
    dv = growth_sgd_derivation()
    # the derived recursion in Hoffer's symbols (s = w_hat . grad L(w_hat), G = ||grad L(w_hat)||), before s = 0
    return Derivation(result=dv.extras["hoffer_form"], steps=dv.steps, proofs=dv.proofs, summary=dv.summary,
                      extras=dv.extras)




#: Hoffer et al. 2018, Sec. 2, as printed in shared/papers/hoffer2018_norm_matters_summary.md:
#: "rho_{t+1}^2 = rho_t^2 - 2 eta w_hat^T grad L_t(w_hat) + eta^2 rho^-2 ||grad L(w_hat)||^2"
HOFFER_NORM_RECURSION = Printed(
    N_sym - 2 * eta * s_dir + eta**2 * G_unit**2 / N_sym, "exact",
    "Hoffer et al. 2018 Sec. 2, as transcribed in shared/papers/hoffer2018_norm_matters_summary.md "
    "(rho_{t+1}^2 = rho_t^2 - 2 eta w_hat^T grad L(w_hat) + eta^2 rho^-2 ||grad L(w_hat)||^2)")


CLAIMS = [
    Claim(id="later.growth.sgd", title="SGD without decay: exact norm growth",
             statement="Without weight decay, ||w_(t+1)||^2 = ||w_t||^2 + eta^2 ||grad L(w_t)||^2 exactly.",
             source="Arora, Li & Lyu 2019 (arXiv 1812.03981); Hoffer et al. 2018 Sec. 2",
             printed=HOFFER_NORM_RECURSION, derive=_growth_hoffer_view, variables=(eta,),
             tags=("later",)),
    Claim(id="later.growth.momentum", title="Momentum without decay: exact norm growth",
             statement="Without weight decay, heavy-ball momentum grows ||w||^2 by eta^2 ||b_t||^2 + 2 eta^2 sum_(k<t) "
                       "rho^(t-k) ||b_k||^2 per step, exactly.", source="Heo et al. 2021 (AdamP, arXiv 2006.08217)",
             printed=Printed(None, "none", "", text="paraphrased, not transcribed"), derive=growth_momentum_derivation,
             tags=("later",)),
]
