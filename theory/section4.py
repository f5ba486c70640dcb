"""The paper's Section 4 stochastic model: steady-state weight norms, exponents, relaxation, growth.

The model (stated once, used by every rule). A scale-invariant unit has weights ``w`` in ``R^d``, norm
``r = ||w||``, ``N = r**2``. The gradient of the unregularized loss at ``w`` is ``g/r`` where the ``g`` are
independent across steps, zero-mean, with ``E||g||^2 = C`` (the second moment at unit norm; isotropic, so
each coordinate has ``C/d``) and uncorrelated with ``w`` (exactly orthogonal to ``w`` under full BN backward,
zero-mean along ``w`` under stop-gradient). For a real BN unit ``C`` is derived exactly at finite fan-in ``d`` and
batch ``B`` in ``normlaws.theory.bn_unit``; the Section 4 claims use the paper's own unit (:func:`paper_unit_C`:
ReLU with equal pass probability, gradients stopped at the batch statistics, the loss a sum over the batch),
``C = B gamma^2 sigma_nabla^2 (d B - 2)/(2 (B - 3))``, whose per-sample large-batch value is the
``d gamma^2 sigma_nabla^2 / 2`` that the paper's per-coordinate moment implies. The L2 term is ``lam*||w||^2``
(gradient ``2*lam*w``); AdamW uses the decoupled factor ``(1 - eta*lam)``.

Every rule's second moments come from its one linear model in ``normlaws.theory.moments`` (SGD, heavy-ball,
Nesterov -- the paper's variable ``w`` --, AdamW); only RMSProp's and Adam's fixed points, whose closure is not
linear, are solved here.

The *closure* used for the fixed points replaces ``E[1/N]`` by ``1/E[N]`` (the paper's
"``||w_{t+1}|| = ||w_t||``"), and for RMSProp/Adam replaces the second-moment accumulator by its mean
``C/(d*N)``. The exact stationary identity ``(1 - a**2) E[N] = eta**2 C E[1/N]`` (SGD, ``a = 1 - 2*eta*lam``)
needs no closure; the closure's relative error is of order ``1/d`` for SGD, momentum, Adam and AdamW
(``E[N]/N* - 1 ~ 1/(2d)`` for SGD; measured by the Monte-Carlo leg). For RMSProp the accumulator's finite
window adds a bias of order ``1 - rho`` (about -2 % at ``rho = 0.9``, first order ``1 - (1-rho)/4``; see
``normlaws.simulate.bias``): its closure holds as ``rho -> 1``, and its checks run at ``rho = 0.99``.
"""
from __future__ import annotations

from functools import lru_cache, partial

import sympy as sp

from . import bn_unit, moments, printed
from .claim import Claim, Printed
from .compare import limit_at_zero, log_derivative, lowest_order_term
from .derivation import Derivation, Step, at_point, simplified
from .norm_growth import N0, growth_judge, growth_without_decay  # noqa: F401 - N0: the start, for the checks
from .symbols import C, N, beta, beta1, d, eta, gamma, lam, r, sigma_g
from .updates import effective_lr, invariant_monomial, normalized_sgd_derivation

_h = sp.Symbol("h", positive=True)
_q, _P, _V = sp.symbols("q P V")  # injected noise per step, E[w.v], E[||v||^2] (stationary moments)

RULES = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")


def decay_factor() -> sp.Expr:
    """SGD's per-step weight factor in the canonical convention, ``a = 1 - 2*eta*lam``.

    >>> decay_factor()
    -2*eta*lamda + 1
    """
    return 1 - 2 * eta * lam


def sgd_recursion(noise=C) -> sp.Expr:
    """``E[N_{t+1} | w_t] - N`` for SGD: ``(a**2 - 1) N + eta**2 * noise / N`` (no closure needed)."""
    return (decay_factor() ** 2 - 1) * N + eta**2 * noise / N


def paper_unit_C(loss: str = "sum") -> sp.Expr:
    """``C`` of the paper's own BN unit (``bn_unit.PAPER_UNIT``) at ``beta = 0`` (Sec. 4's equal pass probability).

    >>> sp.factor(paper_unit_C())
    B*gamma**2*sigma_nabla**2*(B*d - 2)/(2*(B - 3))
    """
    return sp.factor(bn_unit.unit_C(loss, "stop_gradient").subs(beta, 0))


def adaptive_fixed_point_equation(rule: str) -> sp.Expr:
    """The closure's fixed-point condition (``== 0``) for RMSProp or Adam with L2 in the gradient, in ``N``.

    Preconditioner ``P = sqrt(d N / C)`` (the accumulator at its mean); decay coefficient ``c = 2 lam P``.
    """
    c = 2 * lam * sp.sqrt(d * N / C)
    if rule == "rmsprop":    # N' = (1 - eta c)^2 N + eta^2 d
        return (1 - eta * c) ** 2 * N + eta**2 * d - N
    # Adam: m' = beta1 m + (1-beta1)(e + c w), w' = w - eta m'  ->  N = d eta (1+b)/(c (2(1+b) - c eta (1-b)))
    return d * eta * (1 + beta1) / (c * (2 * (1 + beta1) - c * eta * (1 - beta1))) - N


@lru_cache(maxsize=None)
def stationary_N(rule: str) -> sp.Expr:
    """``N* = E||w||^2`` at equilibrium in the closure: exact where a closed form exists, else leading order."""
    if rule == "sgd":
        return sp.sqrt(eta**2 * C / sp.factor(1 - decay_factor() ** 2))
    if rule in ("momentum", "nesterov", "nesterov_torch", "adamw"):
        return moments.stationary_N(rule)
    return leading_N(rule)


def _lead(expr: sp.Expr) -> sp.Expr:
    """Leading term as ``eta, lam -> 0`` together (``eta/lam`` fixed)."""
    scaled = at_point(expr, {eta: eta * _h, lam: lam * _h})
    return sp.powsimp(sp.factor(at_point(lowest_order_term(scaled, _h), {_h: 1})), force=True)


@lru_cache(maxsize=None)
def leading_N(rule: str) -> sp.Expr:
    """Leading-order ``N*`` as ``eta*lam -> 0``."""
    if rule in ("rmsprop", "adam"):
        # leading balance of the fixed-point equation: 4 eta lam sqrt(d/C) N^(3/2) = eta^2 d
        return (eta * sp.sqrt(d * C) / (4 * lam)) ** sp.Rational(2, 3)
    return _lead(stationary_N(rule))


@lru_cache(maxsize=None)
def leading_norm(rule: str) -> sp.Expr:
    """Leading-order steady-state norm ``||w||* = sqrt(N*)``."""
    return sp.powsimp(sp.sqrt(sp.factor(sp.cancel(leading_N(rule)))), force=True)


def equilibrium_eff_lr(rule: str) -> sp.Expr:
    """``eta_eff`` at equilibrium: the rule's ``eta/||w||**k`` at the closure's ``N*`` (leading order for adaptive)."""
    base = {"adamw": "adam", "nesterov": "momentum", "nesterov_torch": "momentum"}.get(rule, rule)
    norm = sp.sqrt(stationary_N(rule))
    return sp.powsimp(effective_lr(base).subs(r, norm), force=True)


def _exponent_extras(expr: sp.Expr) -> dict:
    lead = _lead(expr)
    return {"leading": lead,
            "exponent_eta": log_derivative(lead, eta),
            "exponent_lam": log_derivative(lead, lam)}


# ---- derivations behind the claims ------------------------------------------------------------------------
#: one coordinate of one sample's gradient, squared, at unit norm, as B -> oo: the paper's sigma^2 gamma^2/2
C_PER_COORDINATE = gamma**2 * sigma_g**2 / 2


def grad_second_moment() -> Derivation:
    """Per-sample, per-coordinate ``E[(dL/dw_j)^2]`` of the paper's unit (stop-gradient, ReLU, ``beta = 0``),
    exact at finite ``d`` and ``B`` (``bn_unit``): ``sigma^2 gamma^2 (d B - 2)/(2 d (B - 3) ||w||^2)``."""
    C_sum = paper_unit_C("sum")
    result = sp.factor(C_sum / (bn_unit.B * d)) / r**2
    naive = sigma_g**2 * gamma**2 * sp.Rational(1, 2) / r**2
    return Derivation(
        result=result,
        steps=[Step("one sample: dL/dw_j = delta gamma g'(z) X_j/s(Xw) (gradient stopped at the batch std s); "
                    "with s(Xw) replaced by the population std sigma_X ||w|| and E[g'^2] = 1/2 this would be",
                    naive),
               Step("but s is the batch's std: E[1/s^2] = B/((B - 3) sigma_X^2 ||w||^2), and the batch mean "
                    "adds to x_i^2; the exact moment of the sum loss (bn_unit.unit_C, beta = 0)", C_sum),
               Step("per sample (/B) and per coordinate (/d), at ||w||", result)],
        proofs={"large_batch_limit": sp.limit(result, bn_unit.B, sp.oo) - naive,
                "consistent_with_C": simplified(result * r**2 * bn_unit.B * d - C_sum)},
        summary="per sample and coordinate sigma^2 gamma^2 (d B - 2)/(2 d (B - 3) ||w||^2): the paper's "
                "sigma^2 gamma^2/(2||w||^2) is its B -> oo limit (the batch std in the denominator adds the factor "
                "(d B - 2)/(d (B - 3))); summed over d coordinates and B samples, C = B gamma^2 sigma^2 (d B - 2)/"
                "(2 (B - 3))",
        extras={"C": C_sum, "C_mean_loss": paper_unit_C("mean"), "large_batch": naive})


def _increment(N_expr=N) -> sp.Expr:
    """``E||w_{t+1}||^2 - ||w||^2`` for SGD as a function of ``N`` (generic ``C``)."""
    return sgd_recursion().subs(N, N_expr)


def _paper_alternates(expr_in_C: sp.Expr) -> dict:
    """The derived formula (in ``C``) under other conventions, to say where the printed one would hold exactly."""
    return {"batch-mean loss (frameworks)": expr_in_C.subs(C, paper_unit_C("mean")),
            "per-step decay (1 - eta lambda) with C = gamma^2 sigma^2/2 (one coordinate of one sample, B -> oo)":
                expr_in_C.subs({lam: lam / 2, C: C_PER_COORDINATE}, simultaneous=True)}


@lru_cache(maxsize=None)     # also read by the claim's alternates
def sgd_recursion_derivation() -> Derivation:
    """``E||w_{t+1}||^2 - ||w||^2`` for SGD in the canonical convention, with the paper's unit's exact ``C``."""
    w_next = sp.Symbol("a w - eta g/r")
    in_C = _increment(r**2)
    increment = in_C.subs(C, paper_unit_C())
    return Derivation(
        result=increment,
        steps=[Step("w_{t+1} = w - eta (g/r + 2 lam w) = a w - eta g/r with a = 1 - 2 eta lam", w_next),
               Step("E||w_{t+1}||^2 = a^2 r^2 - 2 a eta E[w.g]/r + eta^2 E||g||^2/r^2, and E[w.g] = 0", in_C),
               Step("with the paper's unit's C (bn_unit: stop-gradient, ReLU, sum loss over a batch of B)",
                    increment)],
        proofs={"expansion": sp.expand((decay_factor() ** 2) * N + eta**2 * C / N - N - sgd_recursion())},
        summary="E||w_{t+1}||^2 = (1 - 2 eta lam)^2 ||w||^2 + eta^2 C/||w||^2 with C = B gamma^2 sigma^2 (d B - 2)/"
                "(2 (B - 3)): the decay factor of the penalty lam||w||^2 is (1 - 2 eta lam), and the noise carries "
                "the fan-in d and the batch",
        extras={"in_C": in_C, "alternates": _paper_alternates(in_C)})


@lru_cache(maxsize=None)     # also read by the claim's alternates
def sgd_fixed_point() -> Derivation:
    """The closure's steady-state norm of SGD, exact in the closure: ``r**4 = eta**2 C / (1 - (1 - 2 eta lam)**2)``,
    with the paper's unit's exact ``C``."""
    N_star = stationary_N("sgd")
    in_C = sp.sqrt(N_star)
    result = in_C.subs(C, paper_unit_C())
    return Derivation(
        result=result,
        steps=[Step("set E[N_{t+1}] = N_t = N (the closure E[1/N] = 1/E[N]) in", sgd_recursion()),
               Step("solve for N^2 (the natural unknown: r^4)", N_star**2),
               Step("with the paper's unit's C = B gamma^2 sigma^2 (d B - 2)/(2 (B - 3)), r = N^(1/2)", result)],
        proofs={"fixed_point": sgd_recursion().subs(N, N_star)},
        summary="||w||^4 = eta C/(4 lam (1 - eta lam)) with the unit's C (sum loss: B gamma^2 sigma^2 (d B - 2)/"
                "(2 (B - 3)); batch-mean loss: that over B^2)",
        extras={"N_star": N_star, "in_C": in_C, "alternates": _paper_alternates(in_C),
                **_exponent_extras(sp.sqrt(N_star))})


def norm_derivation(rule: str) -> Derivation:
    """Leading-order steady-state norm of a rule, with its exponents in eta and lam."""
    lead = leading_norm(rule)
    steps = [Step("closure fixed point N* = E||w||^2", stationary_N(rule))]
    proofs = {}
    if rule in ("rmsprop", "adam"):
        eq = adaptive_fixed_point_equation(rule)
        steps.insert(0, Step("fixed-point condition (= 0) with the accumulator at its mean C/(d N)", eq))
        # relative residual of the condition at the leading-order N*, as eta, lam -> 0 together
        scale = eta**2 * d if rule == "rmsprop" else N
        relative = (eq / scale).subs(N, leading_N(rule)).subs({eta: eta * _h, lam: lam * _h}, simultaneous=True)
        proofs["leading_balance"] = limit_at_zero(relative, _h)
    else:
        proofs["leading_of_closure"] = sp.powsimp(lead**2 - leading_N(rule), force=True)
    steps.append(Step("leading order as eta lam -> 0", lead))
    return Derivation(result=lead, steps=steps, proofs=proofs,
                      summary=f"||w|| ~ {sp.sstr(lead)} to leading order",
                      extras={"N_star": stationary_N(rule), **_exponent_extras(lead)})


def eff_lr_eq_derivation(rule: str) -> Derivation:
    """The effective learning rate at equilibrium and its exponents, with the invariant it depends on."""
    base = {"nesterov": "momentum", "adamw": "adam"}.get(rule, rule)
    value = equilibrium_eff_lr(rule)
    inv = invariant_monomial(rule)
    lead = _lead(value)
    return Derivation(
        result=value,
        steps=[Step("effective learning rate of the rule", effective_lr(base)),
               Step("at the closure's steady state ||w||^2 = N*", value),
               Step("to leading order", lead),
               Step("it is a power of the rule's invariant monomial (consistency with Sec. 3.1)", inv)],
        proofs={"function_of_invariant": _power_of(lead, inv)},
        summary=f"eta_eff at equilibrium ~ {sp.sstr(lead)}, a function of {sp.sstr(inv)} alone",
        extras=_exponent_extras(value))


def _power_of(monomial: sp.Expr, invariant: sp.Expr) -> sp.Expr:
    """Zero when the (eta, lam) part of ``monomial`` is a power of ``invariant``."""
    e_eta = log_derivative(monomial, eta)
    e_lam = log_derivative(monomial, lam)
    i_eta, i_lam = sp.degree(invariant, eta), sp.degree(invariant, lam)
    return sp.simplify(e_eta * i_lam - e_lam * i_eta)


def rmsprop_recursion_derivation() -> Derivation:
    """RMSProp's ``E||w_{t+1}||^2 - r^2`` with the accumulator at its mean, in paper symbols."""
    P = r * sp.sqrt(d / C)
    in_C = (1 - 2 * eta * lam * P) ** 2 * r**2 + eta**2 * d - r**2
    C_unit = paper_unit_C()
    increment = in_C.subs(C, C_unit)
    P_unit = P.subs(C, C_unit)
    noise_decay_cross = d * eta**2 + 4 * eta**2 * lam**2 * r**2 * P_unit**2 - 4 * eta * lam * r**2 * P_unit
    return Derivation(
        result=noise_decay_cross,
        steps=[Step("accumulator E[(g_j/r + 2 lam w_j)^2] ~ C/(d r^2) to leading order; P = 1/sqrt(.)", P),
               Step("w' = (1 - 2 eta lam P) w - eta P g/r; E||eta P g/r||^2 = eta^2 P^2 C/r^2 = eta^2 d"),
               Step("E||w_{t+1}||^2 - r^2 with the paper's unit's C (bn_unit)", increment),
               Step("expanded: the noise d eta^2, the square of the decay, the cross term", noise_decay_cross)],
        proofs={"noise_term": sp.simplify(eta**2 * P**2 * C / r**2 - eta**2 * d),
                "increment_expanded": noise_decay_cross - increment},
        summary="E||w_{t+1}||^2 = (1 - 2 eta lam ||w|| sqrt(d/C))^2 ||w||^2 + d eta^2, C/d the accumulator's "
                "per-coordinate moment at unit norm (gamma^2 sigma^2/2 for one sample as B -> oo, where the decay "
                "coefficient is 2 sqrt(2) eta lam ||w||/(gamma sigma)): the printed decay eta lam ||w||/(sigma gamma) "
                "lacks the factor 2 sqrt(d/C) sigma gamma, and the printed noise eta^2/2 should be d eta^2",
        extras={"in_C": in_C})


def sgd_relaxation() -> Derivation:
    """Relaxation of ``N`` to equilibrium under SGD: the linearised map's slope is ``2 a**2 - 1``."""
    a = decay_factor()
    F = a**2 * N + eta**2 * C / N
    slope = sp.simplify(sp.diff(F, N).subs(N, stationary_N("sgd")))
    tau = -1 / sp.log(slope)
    return Derivation(
        result=tau,
        steps=[Step("N' = F(N) = a^2 N + eta^2 C/N; slope at N*", slope),
               Step("deviations decay as slope^t: time constant (steps)", tau),
               Step("to leading order", 1 / (8 * eta * lam))],
        proofs={"slope": sp.expand(slope - (2 * a**2 - 1)),
                "leading": sp.limit(tau.subs({eta: eta * _h}) * 8 * eta * _h * lam, _h, 0) - 1},
        summary="E||w||^2 relaxes geometrically with factor 2(1 - 2 eta lam)^2 - 1 per step: time constant "
                "~ 1/(8 eta lam) steps, 2x shorter than the 1/(4 eta lam) of E||w||^2 under the decay alone (the "
                "gradient noise's 1/N injection doubles the restoring rate)",
        extras={"leading": 1 / (8 * eta * lam)})


# ---- the claims ----------------------------------------------------------------------------------------
_NONE = Printed(None, "none", "")
_TITLE = {"sgd": "SGD", "momentum": "heavy-ball momentum", "nesterov": "Nesterov momentum (the paper's variable w)",
          "rmsprop": "RMSProp", "adam": "Adam", "adamw": "AdamW (decoupled)"}


def _alternates_of(derive):
    return lambda: derive().extras["alternates"]


def _rule_of(claim_id: str) -> str:
    """The update rule a per-rule claim id names (its second field): ``"table1.sgd.norm"`` -> ``"sgd"``."""
    return claim_id.split(".")[1]


def _norm_claim(claim_id: str, entry: Printed, **kw) -> Claim:
    rule = _rule_of(claim_id)
    return Claim(id=claim_id, title=f"{_TITLE[rule]}: steady-state weight norm",
                 statement=f"Under {_TITLE[rule]} with L2, the norm of a scale-invariant weight settles where decay "
                           "and gradient noise balance; its scaling in eta and lambda is as derived.",
                 source=entry.where or "Loshchilov & Hutter 2019 (AdamW row, not in the paper)", printed=entry,
                 derive=partial(norm_derivation, rule), tags=("table1", "section4"), **kw)


def _eff_eq_claim(claim_id: str) -> Claim:
    rule = _rule_of(claim_id)
    p = printed.EFF_LR_EQ.get({"nesterov": "momentum"}.get(rule, rule), _NONE)
    return Claim(id=claim_id, title=f"{_TITLE[rule]}: effective learning rate at equilibrium",
                 statement=f"At equilibrium the effective learning rate of {_TITLE[rule]} is a power law in eta and "
                           "lambda, as derived.",
                 source=p.where or "not in the paper", printed=p, derive=partial(eff_lr_eq_derivation, rule),
                 tags=("table1", "section4"))


def normalized_norm() -> Derivation:
    """Normalized SGD's weight norm: 1 after every step, by construction."""
    return Derivation(result=sp.Integer(1), steps=[Step("w <- w~/||w~|| has norm 1 by construction")],
                      proofs={"unit": sp.Integer(0)}, summary="||w|| = 1 after every step")


def _rmsprop_norm_in_paper_symbols() -> Derivation:
    """RMSProp's leading-order norm with the paper's unit's C (so that sigma_nabla and gamma appear)."""
    dv = norm_derivation("rmsprop")
    result = sp.powsimp(dv.result.subs(C, paper_unit_C()), force=True)
    return Derivation(result=result, steps=dv.steps + [Step("with the paper's unit's C (bn_unit)", result)],
                      proofs=dv.proofs, summary=dv.summary, extras=dv.extras)


CLAIMS = (
    [Claim(id="sec4.grad_second_moment", title="Second moment of a BN unit's gradient",
           statement="With X ~ N(0, sigma_X^2), upstream gradient ~ N(0, sigma_nabla^2) and a rectifier, "
                     "E[grad L(w)^2] = sigma_nabla^2 gamma^2 / (2 ||w||^2).",
           source=printed.SEC4_GRAD_SECOND_MOMENT.where, printed=printed.SEC4_GRAD_SECOND_MOMENT,
           derive=grad_second_moment, variables=(), large=(bn_unit.B,), convention="paper-l2-stopgrad",
           tags=("section4",)),
     Claim(id="sec4.sgd.recursion", title="SGD: expected squared-norm recursion",
           statement="E||w_{t+1}||^2 as a function of ||w_t|| in the Section 4 model.",
           source=printed.SEC4_SGD_RECURSION.where, printed=printed.SEC4_SGD_RECURSION,
           derive=sgd_recursion_derivation, alternates=_alternates_of(sgd_recursion_derivation), tags=("section4",)),
     Claim(id="sec4.sgd.fixed_point", title="SGD: steady-state norm (closed form)",
           statement="The steady-state ||w|| of SGD in the Section 4 model.",
           source=printed.SEC4_SGD_FIXED_POINT.where, printed=printed.SEC4_SGD_FIXED_POINT,
           derive=sgd_fixed_point, alternates=_alternates_of(sgd_fixed_point), tags=("section4",)),
     Claim(id="sec4.sgd.relaxation", title="SGD: relaxation time of the norm",
           statement="E||w||^2 approaches its steady state geometrically; the time constant is as derived.",
           source="Sec. 4 (implicit: 'after convergence')", printed=_NONE, derive=sgd_relaxation,
           tags=("section4",)),
     Claim(id="sec4.sgd.growth_no_decay", title="SGD without L2: unbounded growth",
           statement="If no regularization is used the weights grow unbounded and the effective learning rate "
                     "goes to 0.",
           source="Sec. 3.1, last paragraph; Sec. 7",
           printed=Printed(None, "verbal", "Sec. 3.1, last paragraph; Sec. 7",
                           text="If no regularization is used the weights can grow unbounded, and the effective "
                                "learning rate goes to 0."),
           derive=growth_without_decay, judge=growth_judge, tags=("section4",)),
     Claim(id="sec52.rmsprop.recursion", title="RMSProp: expected squared-norm recursion",
           statement="E||w_{t+1}||^2 under RMSProp in the Section 4 model, epsilon -> 0.",
           source=printed.SEC52_RMSPROP_RECURSION.where, printed=printed.SEC52_RMSPROP_RECURSION,
           derive=rmsprop_recursion_derivation, tags=("section4",)),
     _norm_claim("sec51.momentum.norm", printed.SEC51_MOMENTUM_NORM),
     Claim(id="sec52.rmsprop.norm", title="RMSProp: steady-state weight norm, in the paper's symbols",
           statement="Under RMSProp with L2 the weight norm scales as the cube root of eta sigma_nabla gamma/lambda.",
           source=printed.SEC52_RMSPROP_NORM.where, printed=printed.SEC52_RMSPROP_NORM,
           derive=_rmsprop_norm_in_paper_symbols, variables=(eta, lam, sigma_g, gamma), tags=("section4",))]
    + [_norm_claim("table1.sgd.norm", printed.NORM_EQ["sgd"]),
       _norm_claim("table1.momentum.norm", printed.NORM_EQ["momentum"]),
       _norm_claim("table1.nesterov.norm", printed.NORM_EQ["momentum"]),     # the paper's Momentum row covers both
       _norm_claim("table1.rmsprop.norm", printed.NORM_EQ["rmsprop"]),
       _norm_claim("table1.adam.norm", printed.NORM_EQ["adam"]),
       _norm_claim("table1.adamw.norm", _NONE)]
    + [Claim(id="table1.normalized.norm", title="Normalized SGD: weight scale",
             statement="Normalizing after each step keeps ||w|| = 1.", source=printed.NORM_EQ["normalized"].where,
             printed=printed.NORM_EQ["normalized"],
             derive=normalized_norm,
             tags=("table1",))]
    + [_eff_eq_claim("table1.sgd.eff_lr_eq"), _eff_eq_claim("table1.momentum.eff_lr_eq"),
       _eff_eq_claim("table1.nesterov.eff_lr_eq"), _eff_eq_claim("table1.rmsprop.eff_lr_eq"),
       _eff_eq_claim("table1.adam.eff_lr_eq"), _eff_eq_claim("table1.adamw.eff_lr_eq")]
    + [Claim(id="table1.normalized.eff_lr_eq", title="Normalized SGD: effective learning rate at equilibrium",
             statement="With weights normalized after each step the effective learning rate is eta.",
             source=printed.EFF_LR_EQ["normalized"].where, printed=printed.EFF_LR_EQ["normalized"],
             derive=normalized_sgd_derivation, tags=("table1",))]
)
