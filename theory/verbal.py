"""The paper's conclusions stated in words, each decided by a computation on a derivation.

A sentence such as "by decreasing the scale of the weights, weight decay increases the effective learning rate"
asserts a sign, a limit or a dependence. Each claim here quotes it (``Printed(form='verbal')``), derives the
quantity it is about from the theory's own results, and its ``judge`` turns the derivation into a verdict: agrees
when the computed quantity has the asserted property, disagrees otherwise, saying what does hold.
"""
from __future__ import annotations

import sympy as sp

from . import newton, norm_growth, section4, updates
from .claim import Claim, Printed
from .compare import Verdict, judged
from .derivation import Derivation, Step
from .gradients import derive_l2_optimum
from .invariance import derive_invariance_bn
from .symbols import C, N, eps, eta, lam, r, rho, t

_c = sp.Symbol("c", positive=True)      # a positive constant: eta = c/lam, or the objective's scale


def _said(where: str, quote: str) -> Printed:
    return Printed(None, "verbal", where, text=quote)


# ---- Abstract and introduction -------------------------------------------------------------------------------
def no_regularizing_effect() -> Derivation:
    """A normalized unit's output does not change along ``w -> alpha w``, while the penalty ``lam alpha^2 ||w||^2``
    goes to 0 with ``alpha``: L2 on ``w`` cannot make the function simpler."""
    invariance, optimum = derive_invariance_bn(), derive_l2_optimum()
    return Derivation(result=sp.Matrix([invariance.result, optimum.extras["inf_along_ray"]]),
                      steps=[Step("y(X; alpha w) - y(X; w) for BN, alpha > 0 (invariance.bn)", invariance.result),
                             Step("inf over the ray of L_lambda: the loss of the direction, penalty gone (l2.optimum)",
                                  optimum.extras["inf_along_ray"])],
                      proofs={**{f"invariance: {k}": v for k, v in invariance.proofs.items()},
                              **{f"optimum: {k}": v for k, v in optimum.proofs.items()}},
                      summary="for the weights a normalization follows, L2 changes only the scale, never the function: "
                              "no regularizing effect. Sec. 7 (discussion.regularized_parameters) names what L2 does "
                              "regularize in a normalized network: the last normalized layer's gamma and beta and the "
                              "layers after the last normalization")


def judge_no_regularizing_effect(dv: Derivation) -> Verdict:
    return judged(dv.result[0] == 0, "the normalized unit's function is the same at every scale of w, and the penalty "
                  "vanishes along the scale: L2 has no regularizing effect on w (the paper's own Sec. 7 names the "
                  "parameters it does regularize: the last normalized layer's gamma, beta and the head)")


def scale_and_eff_lr() -> Derivation:
    """SGD's equilibrium ``N*`` and effective learning rate ``eta/N*`` as functions of ``lam``."""
    N_star = section4.stationary_N("sgd")
    eff = section4.equilibrium_eff_lr("sgd")
    dN, deff = sp.simplify(sp.diff(N_star, lam)), sp.simplify(sp.diff(eff, lam))
    return Derivation(
        result=sp.Matrix([dN, deff]),
        steps=[Step("the equilibrium squared norm under SGD (closure)", N_star),
               Step("d N*/d lambda (negative: more decay, smaller weights)", dN),
               Step("the effective learning rate eta/N* at equilibrium", eff),
               Step("d eta_eff/d lambda (positive: smaller weights, larger steps on the sphere)", deff)],
        proofs={"the effective learning rate is eta/N*": eff - sp.powsimp(eta / N_star, force=True)},
        summary="L2 sets the scale of the weights (N* decreases with lambda) and through it the effective learning "
                "rate (eta/N* increases with lambda)",
        extras={"dN_dlam": dN, "deff_dlam": deff})


def judge_scale_and_eff_lr(dv: Derivation) -> Verdict:
    point = {eta: sp.Rational(1, 10), lam: sp.Rational(1, 100), C: 1}
    dN, deff = (float(dv.extras[k].subs(point)) for k in ("dN_dlam", "deff_dlam"))
    return judged(dN < 0 < deff, f"d N*/d lambda = {dN:.3g} < 0 and d eta_eff/d lambda = {deff:.3g} > 0 at eta = 0.1, "
                  "lambda = 0.01, C = 1 (SGD): regularization moves the scale of the weights and the effective "
                  "learning rate with it")


def partial_elimination() -> Derivation:
    """The power ``k`` of ``eta_eff = eta/||w||^k`` for each rule (from its equivariance)."""
    ks = {name: -updates.RULES[name].hyper_exponents[eta] for name in ("sgd", "momentum", "rmsprop", "adam")}
    return Derivation(
        result=sp.Matrix([ks[n] for n in ks]),
        steps=[Step(f"{name}: eta_eff = eta/||w||^{k}", updates.effective_lr(name)) for name, k in ks.items()]
        + [Step("Newton and normalized SGD: eta_eff = eta (k = 0)", eta)],
        proofs={"Newton's k is 0": newton.newton_eff_lr().result - eta},
        summary="RMSProp and Adam have eta_eff = eta/||w|| (k = 1): between SGD's and momentum's eta/||w||^2 (k = 2) "
                "and the scale-free k = 0 of Newton and normalized SGD",
        extras={"k": ks})


def judge_partial(dv: Derivation) -> Verdict:
    k = dv.extras["k"]
    return judged(0 < k["rmsprop"] == k["adam"] < k["sgd"] == k["momentum"],
                  f"k = {k['adam']} for RMSProp and Adam against {k['sgd']} for SGD and momentum and 0 for a scale-free "
                  "rule: the dependence on the weights' scale is reduced, not removed")


def weight_decay_factor() -> Derivation:
    """One gradient-descent step on ``L + lam ||w||^2``: ``w' = (1 - 2 eta lam) w - eta grad L``."""
    w, g = sp.symbols("w g", real=True)
    step = sp.expand(w - eta * (g + 2 * lam * w))
    factor = step.coeff(w)
    return Derivation(result=factor,
                      steps=[Step("w' = w - eta (grad L + 2 lam w)", step), Step("the factor on w", factor)],
                      proofs={"factor": factor - (1 - 2 * eta * lam)},
                      summary="each step multiplies w by 1 - 2 eta lam (the penalty lam ||w||^2), in (0, 1) for "
                              "0 < eta lam < 1/2 and slightly below 1 when eta lam is small",
                      extras={"factor": factor})


def judge_weight_decay(dv: Derivation) -> Verdict:
    f = dv.extras["factor"]
    small = f.subs({eta: sp.Rational(1, 10), lam: sp.Rational(5, 10**4)})
    return judged(bool(0 < small < 1), f"the factor is 1 - 2 eta lam = {float(small)} at eta = 0.1, lambda = 5e-4: "
                  "slightly below one, for gradient descent; for Adam with L2 the decay is divided by the "
                  "preconditioner and is no longer a uniform factor")


# ---- Sections 2 and 3.1 ----------------------------------------------------------------------------------------
def l2_shrinks() -> Derivation:
    """Along a ray ``t w_hat``, ``L_lambda = L(w_hat) + lam t^2``: its derivative in ``t`` is ``2 lam t > 0``."""
    L_dir = sp.Symbol("L_w_hat", real=True)
    along = L_dir + lam * t**2
    slope = sp.diff(along, t)
    return Derivation(result=slope,
                      steps=[Step("L_lambda(t w_hat) with a scale-invariant L", along), Step("d/dt", slope)],
                      proofs={"slope": slope - 2 * lam * t},
                      summary="shrinking w lowers L_lambda at every scale (d/dt = 2 lam t > 0) and leaves the function "
                              "unchanged: the penalty only forces the weights to become small",
                      extras={"slope": slope})


def decay_raises_eff_lr() -> Derivation:
    """``d eta_eff/d r`` for ``eta_eff = eta/r^2``."""
    eff = updates.effective_lr("sgd")
    slope = sp.diff(eff, r)
    return Derivation(result=slope, steps=[Step("eta_eff = eta/||w||^2", eff), Step("d eta_eff/d ||w||", slope)],
                      proofs={"slope": slope + 2 * eta / r**3},
                      summary="eta_eff = eta/||w||^2 falls with ||w||: a smaller scale means a larger effective step",
                      extras={"slope": slope})


# ---- Section 4 ------------------------------------------------------------------------------------------------
def grow_and_shrink() -> Derivation:
    """The two terms of SGD's expected norm increment: decay ``(a^2 - 1) N`` and gradient noise ``eta^2 C/N``."""
    inc = section4.sgd_recursion()
    decay = sp.expand((section4.decay_factor() ** 2 - 1) * N)
    noise = sp.simplify(inc - decay)
    return Derivation(result=sp.Matrix([decay, noise]),
                      steps=[Step("E[N_{t+1} | N_t] - N_t", inc), Step("decay term", decay), Step("noise term", noise)],
                      proofs={"split": sp.expand(inc - decay - noise)},
                      summary="the gradient noise always grows ||w||^2 (eta^2 C/N > 0) and the decay always shrinks it "
                              "((1 - 2 eta lam)^2 - 1 < 0): the norm, and with it eta_eff, changes until they balance",
                      extras={"decay": decay, "noise": noise})


def judge_grow_and_shrink(dv: Derivation) -> Verdict:
    point = {eta: sp.Rational(1, 10), lam: sp.Rational(1, 100), C: 1, N: 2}
    d, n = float(dv.extras["decay"].subs(point)), float(dv.extras["noise"].subs(point))
    return judged(d < 0 < n, f"decay term {d:.3g} < 0, noise term {n:.3g} > 0 (eta = 0.1, lambda = 0.01, C = 1, N = 2)")


def constant_eff_lr() -> Derivation:
    """The equilibrium ``eta_eff`` along ``eta = c/lam``, derived and as the paper's formula gives it."""
    derived = section4._lead(section4.equilibrium_eff_lr("sgd")).subs(eta, _c / lam)
    printed_form = sp.sqrt(eta / lam).subs(eta, _c / lam)
    return Derivation(result=sp.simplify(derived),
                      steps=[Step("the derived equilibrium eta_eff (leading order) at eta = c/lambda",
                                  sp.simplify(derived)),
                             Step("the paper's printed sqrt(eta/lambda) at eta = c/lambda", sp.simplify(printed_form))],
                      proofs={"derived is lambda-free": sp.diff(sp.simplify(derived), lam)},
                      summary="along eta proportional to 1/lambda the derived equilibrium eta_eff (~ sqrt(eta lam)) is "
                              "constant; the paper's printed sqrt(eta/lambda) would fall like 1/lambda there: the "
                              "sentence is right, and follows from the corrected formula, not the printed one",
                      extras={"derived": sp.simplify(derived), "printed": sp.simplify(printed_form)})


def judge_constant_eff_lr(dv: Derivation) -> Verdict:
    lam_free = sp.diff(dv.extras["derived"], lam) == 0
    return judged(lam_free, "eta_eff at equilibrium is a function of eta lambda: constant along eta = c/lambda (it "
                  "would not be with the printed sqrt(eta/lambda), which falls as 1/lambda along that line)")


# ---- Section 5.2: the objective's scale ------------------------------------------------------------------------
def objective_scaling() -> Derivation:
    """SGD on ``c L`` is SGD on ``L`` at ``c eta``; RMSProp on ``c L`` with ``eps -> c^2 eps`` is RMSProp on ``L``."""
    w, g, s = sp.symbols("w g s", real=True)
    s_pos = sp.Symbol("s", positive=True)
    sgd_scaled = w - eta * (_c * g)
    acc = rho * s_pos + (1 - rho) * (_c * g) ** 2
    rms_scaled = w - eta * _c * g / sp.sqrt(acc + _c**2 * eps)
    rms = w - eta * g / sp.sqrt(rho * s_pos + (1 - rho) * g**2 + eps)
    residual = sp.simplify(rms_scaled.subs(s_pos, _c**2 * s_pos) - rms)
    return Derivation(result=sp.Matrix([sp.simplify(sgd_scaled - (w - (eta * _c) * g)), residual]),
                      steps=[Step("SGD on c L: w - eta c grad L = SGD on L at learning rate c eta", sgd_scaled),
                             Step("RMSProp on c L with the accumulator c^2 s and eps c^2: the step of RMSProp on L",
                                  rms_scaled)],
                      proofs={"sgd": sgd_scaled - (w - (eta * _c) * g), "rmsprop": residual},
                      summary="scaling the objective by c scales SGD's effective learning rate by c; RMSProp's step is "
                              "unchanged (its epsilon scaled by c^2): adaptive methods remove the objective's scale",
                      extras={"sgd_step_factor": _c})


def judge_objective_scaling(dv: Derivation) -> Verdict:
    return judged(dv.check() == {}, "the SGD step on c L is c times the step on L (the effect of the weights' scale "
                  "has a twin in the objective's scale), and RMSProp's step is unchanged: the adaptive methods "
                  "address exactly this scaling")


# ---- Section 7 --------------------------------------------------------------------------------------------------
def one_hyperparameter() -> Derivation:
    """Normalized SGD depends on ``(eta, lam)`` only through ``eta/(1 - 2 eta lam)``."""
    dv = updates.normalized_sgd_derivation()
    eta2, lam2 = sp.symbols("eta_2 lamda_2", positive=True)
    same = sp.solve(sp.Eq(dv.result, dv.result.subs({eta: eta2, lam: lam2})), lam2)[0]
    return Derivation(result=dv.result, steps=dv.steps + [
        Step("any (eta_2, lambda_2) with the same eta/(1 - 2 eta lam) gives the same trajectory of w: lambda_2 =", same)],
        proofs=dv.proofs, summary="with the norm fixed, eta and lambda act only through eta/(1 - 2 eta lam): one "
                                  "hyperparameter instead of two", extras={"equivalent_lambda": same})


def growth_memory() -> Derivation:
    """Without L2: ``eta_eff(t) = eta/sqrt(N_0^2 + 2 eta^2 C t)`` (the closure's bound) depends on ``N_0``."""
    N0 = section4.N0
    eff = eta / norm_growth.growth_without_decay().result
    dN0 = sp.simplify(sp.diff(eff, N0))
    relative_late = sp.limit(sp.simplify(dN0 * N0 / eff) * t, t, sp.oo)
    return Derivation(result=dN0,
                      steps=[Step("eta_eff(t) = eta/||w_t||^2 with ||w_t||^2 = sqrt(N_0^2 + 2 eta^2 C t)", eff),
                             Step("its sensitivity to the initial scale", dN0),
                             Step("relative sensitivity x t as t -> oo (it fades like 1/t)", relative_late)],
                      proofs={"negative sensitivity": sp.simplify(dN0 + eta * N0 / (N0**2 + 2 * C * eta**2 * t)
                                                                  ** sp.Rational(3, 2))},
                      summary="without decay the effective learning rate at every step depends on the initial scale "
                              "(and on the early gradients, which enter N_t^2 = N_0^2 + 2 eta^2 sum ||g_k||^2 for "
                              "good); the initial scale's share fades only like 1/t",
                      extras={"dN0": dN0})


def judge_growth_memory(dv: Derivation) -> Verdict:
    value = float(dv.extras["dN0"].subs({eta: sp.Rational(1, 10), C: 1, section4.N0: 1, t: 1000}))
    return judged(value != 0, f"d eta_eff/d N_0 = {value:.3g} at t = 1000 (eta = 0.1, C = 1, N_0 = 1): the early "
                  "history is not forgotten")


def _scale_free_judge(dv: Derivation) -> Verdict:
    return judged(dv.check() == {}, "the derivation's identities hold (see its proofs)")


def _sign_judge(key: str, sign: int, text: str):
    def judge(dv: Derivation) -> Verdict:
        value = dv.extras[key].subs({eta: sp.Rational(1, 10), lam: sp.Rational(1, 100), r: 2, t: 3})
        return judged(bool(sp.sign(value) == sign), text)
    return judge


def _claim(cid, title, where, quote, derive, judge, tags=()) -> Claim:
    return Claim(id=cid, title=title, statement=quote, source=where, printed=_said(where, quote), derive=derive,
                 judge=judge, tags=("verbal",) + tags)


CLAIMS = [
    _claim("abstract.no_regularizing_effect", "L2 has no regularizing effect with normalization", "Abstract; Sec. 1",
           "However, we show that L2 regularization has no regularizing effect when combined with normalization.",
           no_regularizing_effect, judge_no_regularizing_effect),
    _claim("abstract.scale_and_eff_lr", "Regularization sets the scale of the weights and the effective learning rate",
           "Abstract; Sec. 1; Sec. 7",
           "Instead, regularization has an influence on the scale of weights, and thereby on the effective learning "
           "rate.", scale_and_eff_lr, judge_scale_and_eff_lr),
    _claim("adaptive.partially_scale_free", "RMSProp and Adam only partially remove the weights' scale",
           "Abstract; Sec. 5.2; Sec. 5.4",
           "We show that popular optimization methods such as ADAM only partially eliminate the influence of "
           "normalization on the learning rate.", partial_elimination, judge_partial),
    _claim("intro.weight_decay_factor", "L2 with gradient descent is weight decay", "Sec. 1",
           "The combination of L2 regularization and gradient descend results in weight decay, where in each update "
           "the weights are scaled by a factor slightly smaller than one.", weight_decay_factor, judge_weight_decay),
    _claim("l2.shrinks", "The penalty forces the weights to become small", "Sec. 2",
           "This means that the L2 penalty term forces the weights to become small, as expected, but that this has no "
           "regularizing effect of making the computed function simpler.", l2_shrinks,
           _sign_judge("slope", 1, "d L_lambda(t w_hat)/dt = 2 lambda t > 0: every shrink lowers the objective, and "
                                   "the function y does not change (invariance.*)")),
    _claim("sec31.decay_raises_eff_lr", "A smaller weight scale means a larger effective learning rate", "Sec. 3.1",
           "Which means that by decreasing the scale of the weights, weight decay increases the effective learning "
           "rate.", decay_raises_eff_lr,
           _sign_judge("slope", -1, "d(eta/||w||^2)/d||w|| = -2 eta/||w||^3 < 0")),
    _claim("sec4.grow_and_shrink", "Gradient noise grows the norm, decay shrinks it", "Sec. 4",
           "The gradients of the loss function, and in particular the stochastic nature of these gradients, will "
           "cause the norm of the weights to grow, while the regularization term causes the weights to shrink.",
           grow_and_shrink, judge_grow_and_shrink, ("section4",)),
    _claim("sec4.constant_eff_lr", "eta proportional to 1/lambda keeps the effective learning rate constant", "Sec. 4",
           "Picking eta proportional to 1/lambda as previously discussed results in a constant effective learning "
           "rate.", constant_eff_lr, judge_constant_eff_lr, ("section4",)),
    _claim("sec52.objective_scaling", "The objective's scale acts like the weights' scale; adaptive methods remove it",
           "Sec. 5.2",
           "Indeed, we observe a similar effect if the objective is scaled by a constant to obtain alpha L(w). To "
           "address this scaling problem, methods have been developed that automatically adapt the learning rate "
           "based on the norm of the gradients.", objective_scaling, judge_objective_scaling),
    _claim("discussion.normalized_one_hyperparameter", "Fixing ||w|| = 1 removes one hyperparameter", "Sec. 7",
           "By doing this we also remove one hyperparameter from the training procedure.", one_hyperparameter,
           _scale_free_judge),
    _claim("discussion.growth_memory", "Without decay the effective learning rate remembers the early steps", "Sec. 7",
           "However, the decrease of effective learning rate can be hard to control, and can depend a lot on initial "
           "steps of training, which makes it harder to reproduce results.", growth_memory, judge_growth_memory),
]
