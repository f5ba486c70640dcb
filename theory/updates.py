"""Update rules as one-step maps, their equivariance under ``w -> alpha*w``, and what follows from it.

Convention: the objective is ``L(w) + lam*||w||^2`` (gradient ``g + 2*lam*w``), except AdamW, whose decoupled
decay multiplies ``w`` by ``(1 - eta*lam)`` (PyTorch's ``AdamW(weight_decay=lam)``). For a scale-invariant ``L``
the gradient is homogeneous of degree -1 and the Hessian of degree -2 (``theory.gradients`` proves it).

Equivariance: a rule is equivariant when one step from ``(alpha*w', scaled state)`` with hyperparameters
``theta`` equals ``alpha`` times one step from ``(w', state')`` with transformed hyperparameters
``theta' = theta * alpha**e``. The learning rate's exponent ``e_eta = -k`` gives the effective learning rate
``eta/||w||**k`` (take ``alpha = ||w||`` so that ``w'`` is a unit vector); the exponents of all
hyperparameters give the invariant monomials, hence the optimal-learning-rate laws.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Callable

import sympy as sp

from . import printed
from .claim import Claim, Printed
from .derivation import Derivation, Step, numerically_nonzero, reduce_to_zero
from .newton import newton_equivariance
from .symbols import C, alpha, beta1, beta2, eps, eta, lam, r, rho, t

_w, _g, _v, _s, _m, _b = sp.symbols("w g v s m b", real=True)
_s_pos = sp.Symbol("s", positive=True)


@dataclass(frozen=True)
class Rule:
    """An update rule: its one-step map and its equivariance ansatz.

    ``step(w, state, g, hyper) -> (w_new, state_new)`` works coordinate-wise on scalars (all rules here but
    normalized SGD and Newton, which are handled on vectors). ``hyper_exponents`` and ``state_exponents`` give
    the scaling ``x -> x * alpha**e`` that the equivariance proof checks.
    """

    name: str
    title: str
    step: Callable
    hyper: tuple
    hyper_exponents: dict
    state: tuple = ()
    state_exponents: dict | None = None
    note: str = ""


def _sgd(w, state, g, h):
    return w - h[eta] * (g + 2 * h[lam] * w), {}


def _heavy_ball(w, state, g, h):
    v = rho * state[_v] - h[eta] * (g + 2 * h[lam] * w)
    return w + v, {_v: v}


def _nesterov(w, state, g, h):
    # g is the gradient of L at the look-ahead point u = w + rho*v, which scales like w
    u = w + rho * state[_v]
    v = rho * state[_v] - h[eta] * (g + 2 * h[lam] * u)
    return w + v, {_v: v}


def _nesterov_torch(w, state, g, h):
    # torch.optim.SGD(nesterov=True) on its iterate w (Sutskever's look-ahead): the buffer b is gradient-like
    grad = g + 2 * h[lam] * w
    b = rho * state[_b] + grad
    return w - h[eta] * (grad + rho * b), {_b: b}


def _lion(w, state, g, h):
    # Chen et al. 2023: the sign of an interpolation; decoupled decay (1 - eta lam)
    c = beta1 * state[_m] + (1 - beta1) * g
    m = beta2 * state[_m] + (1 - beta2) * g
    return w - h[eta] * sp.sign(c) - h[eta] * h[lam] * w, {_m: m}


def _rmsprop_eps_inside(w, state, g, h):
    grad = g + 2 * h[lam] * w
    s = rho * state[_s_pos] + (1 - rho) * grad**2
    return w - h[eta] * grad / sp.sqrt(s + h[eps]), {_s_pos: s}


def _rmsprop_eps_outside(w, state, g, h):
    grad = g + 2 * h[lam] * w
    s = rho * state[_s_pos] + (1 - rho) * grad**2
    return w - h[eta] * grad / (sp.sqrt(s) + h[eps]), {_s_pos: s}


def _adam(w, state, g, h):
    grad = g + 2 * h[lam] * w
    m = beta1 * state[_m] + (1 - beta1) * grad
    s = beta2 * state[_s_pos] + (1 - beta2) * grad**2
    step = (m / (1 - beta1**t)) / (sp.sqrt(s / (1 - beta2**t)) + h[eps])
    return w - h[eta] * step, {_m: m, _s_pos: s}


def _adamw(w, state, g, h):
    m = beta1 * state[_m] + (1 - beta1) * g
    s = beta2 * state[_s_pos] + (1 - beta2) * g**2
    step = (m / (1 - beta1**t)) / (sp.sqrt(s / (1 - beta2**t)) + h[eps])
    return w - h[eta] * step - h[eta] * h[lam] * w, {_m: m, _s_pos: s}


RULES = {
    "sgd": Rule("sgd", "SGD", _sgd, (eta, lam), {eta: -2, lam: 2}),
    "momentum": Rule("momentum", "heavy-ball momentum (Sec. 5.1, first form)", _heavy_ball, (eta, lam),
                     {eta: -2, lam: 2}, (_v,), {_v: 1}),
    "nesterov": Rule("nesterov", "Nesterov momentum (Sec. 5.1, second form)", _nesterov, (eta, lam),
                     {eta: -2, lam: 2}, (_v,), {_v: 1}),
    "nesterov_torch": Rule("nesterov_torch", "Nesterov momentum, torch's form on its iterate (SGD(nesterov=True))",
                           _nesterov_torch, (eta, lam), {eta: -2, lam: 2}, (_b,), {_b: -1}),
    "rmsprop": Rule("rmsprop", "RMSProp, epsilon inside the square root (Sec. 5.2)", _rmsprop_eps_inside,
                    (eta, lam, eps), {eta: -1, lam: 2, eps: 2}, (_s_pos,), {_s_pos: -2}),
    "rmsprop_torch": Rule("rmsprop_torch", "RMSProp, epsilon outside the square root (torch.optim.RMSprop)",
                          _rmsprop_eps_outside, (eta, lam, eps), {eta: -1, lam: 2, eps: 1}, (_s_pos,), {_s_pos: -2}),
    "adam": Rule("adam", "Adam with L2 in the gradient, bias-corrected (Kingma & Ba)", _adam, (eta, lam, eps),
                 {eta: -1, lam: 2, eps: 1}, (_m, _s_pos), {_m: -1, _s_pos: -2}),
    "adamw": Rule("adamw", "AdamW, decoupled decay w <- w - eta*lam*w (Loshchilov & Hutter)", _adamw,
                  (eta, lam, eps), {eta: -1, lam: 1, eps: 1}, (_m, _s_pos), {_m: -1, _s_pos: -2}),
    "lion": Rule("lion", "Lion, sign of an interpolated momentum, decoupled decay (Chen et al. 2023)", _lion,
                 (eta, lam), {eta: -1, lam: 1}, (_m,), {_m: -1}),
}


def decay_factor(name: str) -> sp.Expr:
    """The factor one step multiplies ``w`` by when the loss gradient and the state are zero: the decay alone, read
    off the rule's own one-step map (penalty in the gradient: ``1 - 2 eta lam``; decoupled: ``1 - eta lam``).

    >>> decay_factor("sgd"), decay_factor("adamw")
    (-2*eta*lamda + 1, -eta*lamda + 1)
    """
    rule = RULES[name]
    if name in ("rmsprop", "rmsprop_torch", "adam"):
        raise ValueError(f"{name} preconditions the penalty's gradient: its decay is not a fixed factor")
    w_new, _ = rule.step(_w, {s: 0 for s in rule.state}, 0, {h: h for h in rule.hyper})
    return sp.expand(sp.simplify(w_new / _w))


#: the hyperparameters' names outside theory (CLI flags, records, the testing API)
HYPER_NAMES = {eta: "eta", lam: "lam", eps: "eps"}


def rescaling_exponents(name: str) -> tuple[dict, tuple]:
    """``({hyper: e}, (state exponents in the rule's state order))`` of the equivariance ansatz ``h' = h alpha**e``,
    ``state = alpha**e state'`` (run from ``alpha w'`` = ``alpha`` times the run from ``w'``; proved by
    :func:`equivariance`). Newton's come from its own derivation; normalized SGD's first step is SGD's.

    >>> rescaling_exponents("sgd"), rescaling_exponents("adam")
    (({'eta': -2, 'lam': 2}, ()), ({'eta': -1, 'lam': 2, 'eps': 1}, (-1, -2)))
    """
    if name == "newton":
        moved = newton_equivariance().result
        return {"eta": _alpha_power(moved[0] / eta), "lam": _alpha_power(moved[1] / lam)}, ()
    rule = RULES["sgd" if name == "normalized" else name]
    hyper = {HYPER_NAMES[h]: int(e) for h, e in rule.hyper_exponents.items()}
    return hyper, tuple(int((rule.state_exponents or {})[s]) for s in rule.state)


def _alpha_power(expr: sp.Expr) -> int:
    """``e`` when ``expr`` is ``alpha**e`` (an integer power)."""
    e = sp.simplify(alpha * sp.diff(expr, alpha) / expr)
    if not (e.is_number and e.is_integer):
        raise ValueError(f"{expr} is not an integer power of alpha")
    return int(e)


def _equivariance_residuals(rule: Rule, exponents: dict, state_exponents: dict) -> list:
    """Residuals of ``step(alpha w', alpha^e s', g'/alpha; theta) / alpha - step(w', s', g'; theta alpha^e)``."""
    hyper = {h: h for h in rule.hyper}
    moved = {h: h * alpha**exponents[h] for h in rule.hyper}
    state = {s: s for s in rule.state}
    scaled_state = {s: alpha**state_exponents[s] * s for s in rule.state}
    w_big, st_big = rule.step(alpha * _w, scaled_state, _g / alpha, hyper)
    w_small, st_small = rule.step(_w, state, _g, moved)
    out = [w_big / alpha - w_small]
    out += [st_big[s] / alpha**state_exponents[s] - st_small[s] for s in rule.state]
    return out


def _pull_scale(expr: sp.Expr) -> sp.Expr:
    """Take the positive factor alpha out of square roots: sqrt(x/alpha**2) -> sqrt(x)/alpha.

    Valid here because every radicand is a moment accumulator (a non-negative combination of squares).
    """
    expr = expr.replace(lambda e: e.is_Pow and e.exp == sp.Rational(1, 2),
                        lambda e: sp.sqrt(sp.factor(sp.together(e.base))))
    return sp.powsimp(sp.expand_power_base(expr, force=True), force=True)


def _holds(residuals) -> bool:
    """Whether every residual is exactly zero (a fast numeric screen first, then a symbolic reduction)."""
    if any(numerically_nonzero(e) for e in residuals):
        return False
    return all(reduce_to_zero(_pull_scale(e)) == 0 for e in residuals)


@lru_cache(maxsize=None)
def equivariance(name: str) -> Derivation:
    """Prove the rule's equivariance ansatz, and that changing any one exponent by +-1 breaks it."""
    rule = RULES[name]
    exps, sexps = dict(rule.hyper_exponents), dict(rule.state_exponents or {})
    residuals = _equivariance_residuals(rule, exps, sexps)
    unique = all(not _holds(_equivariance_residuals(rule, {**exps, h: exps[h] + delta}, sexps))
                 for h in rule.hyper for delta in (-1, 1))
    transform = sp.Matrix([h * alpha**exps[h] for h in rule.hyper])
    steps = [
        Step("one step from w = alpha*w' with gradient g'/alpha (degree -1) and the state scaled by "
             + (", ".join(f"alpha^{e}" for e in sexps.values()) or "nothing"),
             rule.step(alpha * _w, {s: alpha**sexps[s] * s for s in rule.state}, _g / alpha,
                       {h: h for h in rule.hyper})[0]),
        Step("divided by alpha it is one step from w' with hyperparameters", transform),
        Step("changing any single exponent by +-1 breaks the identity: the transformation is locally unique"
             if unique else "WARNING: a neighbouring transformation also works"),
    ]
    proofs = {f"residual_{i}": _pull_scale(e) for i, e in enumerate(residuals)}
    proofs["locally_unique"] = sp.Integer(0 if unique else 1)
    k = -exps[eta]
    return Derivation(
        result=transform, steps=steps, proofs=proofs,
        summary=f"{rule.title}: (" + ", ".join(str(h) for h in rule.hyper) + ") -> "
                + ", ".join(sp.sstr(x) for x in transform) + f"; effective learning rate eta/||w||^{k}",
        extras={"k": sp.Integer(k), **{f"exponent_{h}": sp.Integer(e) for h, e in exps.items()}})


def effective_lr(name: str) -> sp.Expr:
    """``eta / ||w||**k`` from the rule's equivariance (``alpha = ||w||``), in the symbol ``r`` for ``||w||``.

    >>> effective_lr("sgd")
    eta/r**2
    """
    return eta / r ** (-RULES[name].hyper_exponents[eta])


def invariant_monomial(name: str, variables=(eta, lam)) -> sp.Expr:
    """The monomial ``eta**a * lam**b`` (a > 0, smallest integers) left unchanged by the rule's rescaling.

    >>> invariant_monomial("sgd"), invariant_monomial("rmsprop")
    (eta*lamda, eta**2*lamda)
    """
    exps = RULES[name].hyper_exponents
    e_eta, e_lam = exps[variables[0]], exps[variables[1]]
    # a*e_eta + b*e_lam = 0  ->  (a, b) proportional to (e_lam, -e_eta)
    a, b = sp.Rational(e_lam), sp.Rational(-e_eta)
    g = sp.gcd(a, b)
    a, b = a / g, b / g
    if a < 0:
        a, b = -a, -b
    return variables[0] ** a * variables[1] ** b


def optimal_lr_law(name: str) -> Derivation:
    """The optimal learning rate against ``lam``: constant on the invariant monomial, so ``eta* ~ lam**(-b/a)``."""
    inv = invariant_monomial(name)
    a, b = sp.degree(inv, eta), sp.degree(inv, lam)
    law = lam ** sp.Rational(-b, a)
    rule = RULES[name]
    return Derivation(
        result=law,
        steps=[Step("the rescaling symmetry of the rule", equivariance(name).result),
               Step("monomials eta^a lambda^b it leaves invariant", inv),
               Step("in equilibrium the initial norm is forgotten, so the trajectory of w/||w|| (and the test "
                    "error) depends on (eta, lambda) only through the invariant; the optimum lies on a level "
                    "set eta^a lambda^b = const", sp.Eq(inv, sp.Symbol("c", positive=True))),
               Step("so the optimal learning rate scales as", law)],
        proofs={"invariant": reduce_to_zero(inv.subs({h: h * alpha**e for h, e in rule.hyper_exponents.items()},
                                                     simultaneous=True) - inv)},
        summary=f"{rule.title}: eta* proportional to {sp.sstr(law)}",
        extras={"exponent_lam": sp.Rational(-b, a)})


def eff_lr_derivation(name: str) -> Derivation:
    """The effective learning rate ``eta/||w||**k`` of a rule, from its equivariance."""
    eq = equivariance(name)
    res = effective_lr(name)
    return Derivation(result=res, steps=eq.steps + [Step("take alpha = ||w|| = r so that w' has unit norm", res)],
                      proofs=eq.proofs, summary=f"effective learning rate {sp.sstr(res)}", extras=eq.extras)


# ---- normalized SGD (Sec. 5.5) and Newton (Sec. 5.4): vector forms -------------------------------------
_w1, _w2, _g1, _g2 = sp.symbols("w1 w2 g1 g2", real=True)
_W, _G = sp.Matrix([_w1, _w2]), sp.Matrix([_g1, _g2])


def normalized_sgd_derivation() -> Derivation:
    """One normalized-SGD step from a unit vector: lam enters only through ``eta/(1 - 2*eta*lam)``."""
    raw = _W - eta * (_G + 2 * lam * _W)
    eta_eff = eta / (1 - 2 * eta * lam)
    rewritten = (1 - 2 * eta * lam) * (_W - eta_eff * _G)
    # normalizing removes the positive factor (1 - 2*eta*lam) when 2*eta*lam < 1
    return Derivation(
        result=eta_eff,
        steps=[Step("w~ = w - eta (g + 2 lam w)", raw),
               Step("= (1 - 2 eta lam) (w - eta/(1 - 2 eta lam) g)", rewritten),
               Step("w~/||w~|| drops the positive factor (needs 2 eta lam < 1): the step is normalized SGD "
                    "without decay at learning rate", eta_eff)],
        proofs={"factorisation": raw - rewritten},
        summary="normalized SGD with L2 is normalized SGD without L2 at eta_eff = eta/(1 - 2 eta lam) "
                "(valid for 2 eta lam < 1; at 2 eta lam >= 1 the step flips or annuls w)",
        extras={"k": sp.Integer(0)})


def normalized_sgd_angle() -> sp.Expr:
    """The angle one normalized-SGD step turns a unit ``w`` by, to first order in the step, for a gradient whose
    part orthogonal to ``w`` has ``E||g_perp||^2 = C`` (here ``C`` is that tangential moment): the rms angle
    ``atan(eta sqrt(C)/(1 - 2 eta lam))`` (the step is normalized SGD without decay at ``eta/(1 - 2 eta lam)``).

    >>> normalized_sgd_angle()
    atan(sqrt(C)*eta/(-2*eta*lamda + 1))
    """
    return sp.atan(normalized_sgd_derivation().result * sp.sqrt(C))


# ---- Adam's printed update (Sec. 5.3) ----------------------------------------------------------------------
def adam_bias_correction() -> Derivation:
    """Kingma & Ba's bias correction divides by ``1 - beta^t``, not ``1 - beta``; the two agree at t = 1."""
    m, s = sp.symbols("v g", positive=True)
    correct = eta * (m / (1 - beta1**t)) / (sp.sqrt(s / (1 - beta2**t)) + eps)
    at_one = correct.subs(t, 1)
    printed_form = eta * (m / (1 - beta1)) / (sp.sqrt(s / (1 - beta2)) + eps)
    late = correct.subs({eps: 0, beta1**t: 0, beta2**t: 0}) / printed_form.subs(eps, 0)  # 0 < beta < 1
    printed_share = sp.simplify(1 / late)                 # the printed step as a fraction of the correct one
    at_defaults = float(printed_share.subs({beta1: sp.Rational(9, 10), beta2: sp.Rational(999, 1000)}))
    return Derivation(
        result=correct,
        steps=[Step("Adam's step with bias correction (Kingma & Ba 2014, Alg. 1)", correct),
               Step("at t = 1 it equals the printed step", at_one),
               Step("for t -> infinity (eps = 0) the printed step is the correct one times", printed_share)],
        proofs={"equal_at_t1": at_one - printed_form},
        summary="the step divides v by (1 - beta1^t) and g by (1 - beta2^t); the printed (1 - rho1), (1 - rho2) is "
                "right only at t = 1, and for large t the printed step is sqrt(1 - rho2)/(1 - rho1) times the correct "
                f"one ({at_defaults:.3f} for the defaults 0.9, 0.999), a constant that changes no scaling law",
        extras={"late_ratio": sp.simplify(late), "printed_share": printed_share})


# ---- the claims ------------------------------------------------------------------------------------------
_ROW = {"sgd": "SGD", "momentum": "Momentum", "rmsprop": "RMSProp", "adam": "ADAM",
        "normalized": "Normalized SGD", "newton": "Newton"}


def _rule_of(claim_id: str) -> str:
    """The update rule a per-rule claim id names: ``"update.sgd.equivariance"`` -> ``"sgd"``."""
    return claim_id.split(".")[-1] if claim_id.startswith("lr.optimal.") else claim_id.split(".")[1]


def _eff_lr_claim(claim_id: str, derive=None) -> Claim:
    name = _rule_of(claim_id)
    derive = derive or partial(eff_lr_derivation, name)
    return Claim(id=claim_id, title=f"{_ROW[name]}: effective learning rate",
                 statement=f"With {_ROW[name]}, rescaling the weights by alpha is the same as rescaling the "
                           "learning rate; the effective learning rate for the direction w/||w|| is as derived.",
                 source=printed.EFF_LR[name].where, printed=printed.EFF_LR[name], derive=derive,
                 tags=("table1", "equivariance"))


def _equivariance_claim(claim_id: str, printed_form: Printed, source: str) -> Claim:
    name = _rule_of(claim_id)
    rule = RULES[name]
    return Claim(id=claim_id, title=f"{rule.title}: rescaling equivariance",
                 statement=f"{rule.title} is equivariant under w -> alpha w with the hyperparameters rescaled "
                           "as derived (epsilon included).",
                 source=source, printed=printed_form, derive=partial(equivariance, name), tags=("equivariance",))


def _optimal_claim(claim_id: str) -> Claim:
    name = _rule_of(claim_id)
    p = printed.OPTIMAL_LR.get({"nesterov": "momentum"}.get(name, name), Printed(None, "none", "not in the paper"))
    return Claim(id=claim_id, title=f"{RULES[name].title}: optimal learning rate against lambda",
                 statement="The optimal learning rate is constant on the level sets of the invariant monomial of "
                           "(eta, lambda), which gives its power law in lambda.",
                 source=p.where, printed=p, derive=partial(optimal_lr_law, name), variables=(lam,),
                 tags=("optimal-lr",))


_NO = Printed(None, "none", "")
CLAIMS = (
    [_eff_lr_claim("table1.sgd.eff_lr"), _eff_lr_claim("table1.momentum.eff_lr"),
     _eff_lr_claim("table1.rmsprop.eff_lr"), _eff_lr_claim("table1.adam.eff_lr"),
     _eff_lr_claim("table1.normalized.eff_lr", normalized_sgd_derivation)]
    + [_equivariance_claim("update.sgd.equivariance", printed.TRANSFORM["sgd"], printed.TRANSFORM["sgd"].where),
       _equivariance_claim("update.momentum.equivariance", printed.TRANSFORM["momentum"],
                           printed.TRANSFORM["momentum"].where),
       _equivariance_claim("update.nesterov.equivariance", printed.TRANSFORM["momentum"],
                           printed.TRANSFORM["momentum"].where),
       _equivariance_claim("update.rmsprop.equivariance", printed.TRANSFORM["rmsprop"],
                           printed.TRANSFORM["rmsprop"].where),
       _equivariance_claim("update.rmsprop_torch.equivariance", _NO, "torch.optim.RMSprop (not in the paper)"),
       _equivariance_claim("update.adam.equivariance", printed.TRANSFORM["adam"], printed.TRANSFORM["adam"].where),
       _equivariance_claim("update.adamw.equivariance", _NO, "Loshchilov & Hutter 2019 (arXiv 1711.05101)"),
       _equivariance_claim("update.nesterov_torch.equivariance", _NO,
                           "torch.optim.SGD(nesterov=True) (not in the paper)"),
       _equivariance_claim("update.lion.equivariance", _NO, "Chen et al. 2023 (arXiv 2302.06675)"),
       Claim(id="update.adam.bias_correction", title="Adam's printed update divides by 1 - rho instead of 1 - rho^t",
             statement="Adam's update as printed in Sec. 5.3.", source=printed.ADAM_STEP.where,
             printed=printed.ADAM_STEP, derive=adam_bias_correction, variables=(), tags=("erratum-check",))]
    + [_optimal_claim("lr.optimal.sgd"), _optimal_claim("lr.optimal.momentum"), _optimal_claim("lr.optimal.nesterov"),
       _optimal_claim("lr.optimal.rmsprop"), _optimal_claim("lr.optimal.adam"), _optimal_claim("lr.optimal.adamw")]
)
