"""The theory's predictions as numbers: every closed form is ``sympy.lambdify``-ed from ``normlaws.theory``.

Nothing here re-types a formula of the theory. The closure's RMSProp/Adam fixed point, which has no closed
form, is the root of the theory's own fixed-point condition (``brentq``). The paper's printed formulas are
evaluated from ``claim.printed.expr`` after putting the model into the paper's symbols: a model constant ``C`` is
read as ``d`` coordinates of ``gamma**2 sigma_nabla**2 / 2`` each (the paper's per-coordinate moment), taken with
``gamma = 1`` and ``sigma_nabla = sqrt(2C/d)``. A real BN unit's ``C`` is ``theory.bn_unit.unit_C``, exact at finite
fan-in and batch (:func:`bn_unit_C`).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import sympy as sp
from scipy import special
from scipy.optimize import brentq

from normlaws.theory import bn_unit, catalog, lion, moments, norm_growth, paraphrase, section4, updates
from normlaws.theory import symbols as S

from .params import Hyper

#: argument order of every lambdified expression (a symbol an expression lacks is simply ignored)
_ARGS = (S.eta, S.lam, S.C, S.d, S.rho, S.beta1, S.beta2, S.eps, S.N, section4.N0, S.t, S.r, S.gamma,
         S.sigma_g, S.alpha, bn_unit.B, S.beta, moments.c_l2, lion.Q_lion)
_NAMES = ("eta", "lam", "C", "d", "rho", "beta1", "beta2", "eps", "N", "N0", "t", "r", "gamma", "sigma_nabla",
          "alpha", "B", "beta", "c", "Q")


#: the regularized incomplete beta function I_x(a, b) for lambdify: SymPy's printer of betainc_regularized(a, b,
#: x1, x2) leaves the difference I_x2 - I_x1 unparenthesized inside products (sign(beta) * I_x2 - I_x1 * ...)
_REG_INC_BETA = sp.Function("regularized_incomplete_beta")


def _printable(expr: sp.Basic) -> sp.Basic:
    """``expr`` with every ``betainc_regularized(a, b, x1, x2)`` written as ``I(a, b, x2) - I(a, b, x1)``."""
    return expr.replace(lambda e: isinstance(e, sp.betainc_regularized),
                        lambda e: _REG_INC_BETA(e.args[0], e.args[1], e.args[3])
                        - _REG_INC_BETA(e.args[0], e.args[1], e.args[2]))


@lru_cache(maxsize=None)
def _compiled(expr: sp.Basic):
    missing = expr.free_symbols - set(_ARGS)
    if missing:
        raise ValueError(f"cannot evaluate {expr}: unknown symbols {missing}")
    modules = [{"regularized_incomplete_beta": special.betainc}, "scipy", "numpy"]
    return (sp.lambdify(_ARGS, _printable(expr), modules),
            {n for s, n in zip(_ARGS, _NAMES) if s in expr.free_symbols})


def evaluate(expr: sp.Basic, **values) -> np.ndarray:
    """``expr`` evaluated numerically (broadcasting) at ``values`` named as in ``Hyper.values`` (+ C, d, N, ...)."""
    function, needed = _compiled(sp.sympify(expr))
    lacking = needed - set(values)
    if lacking:
        raise ValueError(f"{expr} needs values for {sorted(lacking)}")
    args = [np.asarray(values[n], float) if n in values else np.nan for n in _NAMES]
    return np.asarray(function(*args), float)


def model_values(hyper: Hyper, d: int, C: float) -> dict:
    """The values a Section 4 formula needs: the hyperparameters, ``d`` and ``C``."""
    return {**hyper.values(), "d": float(d), "C": float(C), "eps": hyper.eps}


def paper_values(d: int, C: float) -> dict:
    """The paper's constants for a model with ``E||g||^2 = C``: ``gamma = 1``, ``sigma_nabla = sqrt(2 C/d)``."""
    return {"gamma": 1.0, "sigma_nabla": float(np.sqrt(2.0 * C / d))}


# ---- steady states -------------------------------------------------------------------------------------------
def closure_N(rule: str, hyper: Hyper, d: int, C: float) -> np.ndarray:
    """The closure's ``N* = E||w||^2`` on the grid: ``section4.stationary_N`` where it is closed-form (SGD,
    momentum, Nesterov, AdamW), else the root of ``section4.adaptive_fixed_point_equation`` (RMSProp, Adam).
    Normalized SGD: 1 (the claim ``table1.normalized.norm``)."""
    values = model_values(hyper, d, C)
    if rule == "normalized":
        return np.ones(hyper.grid_shape)
    if rule in ("rmsprop", "adam"):
        return _adaptive_root(rule, values, hyper.grid_shape)
    if rule == "lion":
        return _per_point(hyper, lambda e, l: lion_equilibrium(e, l, d, hyper.beta1, hyper.beta2)["N"])
    return np.broadcast_to(evaluate(section4.stationary_N(rule), **values), hyper.grid_shape).copy()


def _per_point(hyper: Hyper, function) -> np.ndarray:
    """``function(eta, lam)`` at every point of the grid."""
    out = np.empty(hyper.grid_shape)
    for index in np.ndindex(hyper.grid_shape):
        out[index] = function(float(hyper.eta[index]), float(hyper.lam[index]))
    return out


def leading_N(rule: str, hyper: Hyper, d: int, C: float) -> np.ndarray:
    """The leading-order ``N*`` (``section4.leading_N``) as ``eta*lam -> 0``."""
    if rule == "normalized":
        return np.ones(hyper.grid_shape)
    if rule == "lion":
        lead = lion.leading_lion_N()
        return _per_point(hyper, lambda e, l: float(evaluate(lead, eta=e, lam=l, d=d,
                                                             Q=lion_Q(0.0, 0.0, hyper.beta1, hyper.beta2))))
    return np.broadcast_to(evaluate(section4.leading_N(rule), **model_values(hyper, d, C)),
                           hyper.grid_shape).copy()


def _adaptive_root(rule: str, values: dict, shape: tuple) -> np.ndarray:
    condition = section4.adaptive_fixed_point_equation(rule)
    lead = evaluate(section4.leading_N(rule), **values)
    grid = np.broadcast_arrays(*(np.broadcast_to(np.asarray(values[k], float), shape) for k in ("eta", "lam")),
                               np.broadcast_to(lead, shape))
    out = np.empty(shape)
    for index in np.ndindex(shape):
        point = {**values, "eta": grid[0][index], "lam": grid[1][index]}
        f = lambda n: float(evaluate(condition, **point, N=n))  # noqa: E731
        # the condition is > 0 below the root (noise wins over decay) and < 0 just above it; bracket the
        # root nearest to the leading-order value, stepping out by factors of 1.25
        lo = hi = grid[2][index]
        for _ in range(200):
            if f(lo) > 0:
                break
            lo /= 1.25
        for _ in range(200):
            if f(hi) < 0:
                break
            hi *= 1.25
        out[index] = brentq(f, lo, hi, xtol=1e-15 * hi, rtol=1e-15)
    return out


def eff_lr_at(rule: str, hyper: Hyper, N: np.ndarray) -> np.ndarray:
    """The rule's effective learning rate ``eta/||w||**k`` (``updates.effective_lr``) at ``||w||^2 = N``."""
    if rule == "normalized":
        return evaluate(updates.normalized_sgd_derivation().result, **hyper.values())
    return evaluate(updates.effective_lr(_THEORY_RULE.get(rule, rule)), eta=hyper.eta, r=np.sqrt(N))


#: the update rule of ``theory.updates`` whose equivariance gives a simulated rule's effective learning rate
_THEORY_RULE = {"nesterov": "momentum", "adamw": "adam"}


def equilibrium_eff_lr(rule: str, hyper: Hyper, d: int, C: float) -> np.ndarray:
    """``section4.equilibrium_eff_lr(rule)`` (the claim's derived value; leading order for RMSProp/Adam)."""
    if rule == "normalized":
        return eff_lr_at(rule, hyper, np.ones(hyper.grid_shape))
    return np.broadcast_to(evaluate(section4.equilibrium_eff_lr(rule), **model_values(hyper, d, C)),
                           hyper.grid_shape).copy()


# ---- equilibria of the linear models (theory.moments) and of Lion (theory.lion) ------------------------------
def coupled_c(rule: str, eta: float, lam: float, d: float, C: float, beta1: float = 0.9) -> float:
    """The closure's ``c = 2 lam sqrt(d N/C)`` of RMSProp/Adam: the root of ``c - 2 lam sqrt(d N(c)/C)``."""
    N_of_c = moments.stationary_N(rule)

    def f(c):
        return c - 2 * lam * math.sqrt(d * float(evaluate(N_of_c, eta=eta, lam=lam, C=C, d=d, beta1=beta1, c=c)) / C)

    return brentq(f, 1e-300, (1.0 / eta) * (1 - 1e-12), xtol=1e-300, rtol=1e-14)   # c < 1/eta: 1 - eta c > 0


def relaxation_time(rule: str, eta: float, lam: float, rho: float = 0.9, beta1: float = 0.9, c: float = 0.0) -> float:
    """Steps for every second moment to relax by ``e``: ``-1/log`` of the spectral radius of the moment map."""
    J = np.array(moments.moment_jacobian(rule).subs({S.eta: eta, S.lam: lam, S.rho: rho, S.beta1: beta1,
                                                     moments.c_l2: c}).evalf(), dtype=float)
    return -1.0 / math.log(max(abs(np.linalg.eigvals(J))))


def lion_Q(eta: float, lam: float, beta1: float, beta2: float, tail: float = 1e-13) -> float:
    """``Q = sum_{m>=1} A^(m-1) rho_m`` summed until the tail bound ``kappa_L beta2^(M+1) A^M/(1 - A beta2)`` < tail.

    The bound: ``rho_m = (2/pi) asin(kappa_L beta2^m) <= kappa_L beta2^m`` (``asin x <= pi x/2`` on [0, 1]).
    """
    Q = lion.lion_Q()
    term = sp.lambdify((lion.lag, S.eta, S.lam, S.beta1, S.beta2), Q.function, "numpy")
    A = float(lion.A_dec.subs({S.eta: eta, S.lam: lam}))
    kappa = float(lion.lion_correlation().subs({lion.lag: 0, S.beta1: beta1, S.beta2: beta2}))
    M = 1
    while kappa * beta2 ** (M + 1) * A**M / (1 - A * beta2) > tail:
        M *= 2
    return float(np.sum(term(np.arange(1, M + 1, dtype=float), eta, lam, beta1, beta2)))


def lion_equilibrium(eta: float, lam: float, d: float, beta1: float = 0.9, beta2: float = 0.99) -> dict:
    """Lion's predicted ``N*``, ``cos theta*``, ``theta*`` and relaxation time (``lion.lion_derivation``)."""
    Q = lion_Q(eta, lam, beta1, beta2)
    values = dict(eta=eta, lam=lam, d=d, Q=Q)
    N = float(evaluate(lion.lion_N(), **values))
    cos = float(evaluate(lion.lion_cos_angle(), **values))
    return {"N": N, "norm": math.sqrt(N), "cos": cos, "angle": math.acos(cos), "chord": 2 * (1 - cos), "Q": Q,
            "tau": float(evaluate(lion.lion_derivation().extras["relaxation"], eta=eta, lam=lam)),
            "N_random_walk": float(evaluate(paraphrase.PARAPHRASED["later.norm.lion"][0], eta=eta, lam=lam, d=d))}


def equilibrium(rule: str, eta: float, lam: float, d: float, C: float = 1.0, rho: float = 0.9,
                beta1: float = 0.9, beta2: float = 0.999) -> dict:
    """Predicted ``N*``, norm, ``cos theta*``, ``theta*``, chord ratio, relaxation time and
    ``E||grad L||^2/E||y||^2`` of a rule with a linear model (``theory.moments``) or of Lion.

    The gradient-to-weight ratio is exact for gradient noise (``1/(eta^2 E||y||^2/q)``, Defazio's identity in the
    model); for preconditioned and coupled noise it is ``C/N*^2`` in the closure.
    """
    if rule == "lion":
        out = lion_equilibrium(eta, lam, d, beta1, beta2)
        return {**out, "grad_ratio_sq": C / out["N"] ** 2, "c": 0.0}
    m = moments.MODELS[rule]
    c = coupled_c(rule, eta, lam, d, C, beta1) if m.noise == "coupled" else 0.0
    values = dict(eta=eta, lam=lam, C=C, d=d, rho=rho, beta1=beta1, c=c)
    N = float(evaluate(moments.stationary_N(rule), **values))
    cos = float(evaluate(moments.cos_angle(rule), **values))
    ratio_sq = (float(evaluate(1 / (S.eta**2 * moments.readout_moment(rule)), **values))
                if m.noise == "gradient" else C / N**2)
    return {"N": N, "norm": math.sqrt(N), "cos": cos, "angle": math.acos(cos), "chord": 2 * (1 - cos),
            "tau": relaxation_time(rule, eta, lam, rho, beta1, c), "c": c, "grad_ratio_sq": ratio_sq}


#: rules whose gradient-to-weight ratio E||grad L||^2/E||w||^2 is exact in the model (gradient noise, no closure)
EXACT_GRAD_RATIO = tuple(r for r, m in moments.MODELS.items() if m.noise == "gradient")


def normalized_angle(hyper: Hyper, tangential_C: float) -> np.ndarray:
    """Normalized SGD's rms angle per step (``updates.normalized_sgd_angle``) for a tangential moment ``C``."""
    return evaluate(updates.normalized_sgd_angle(), eta=hyper.eta, lam=hyper.lam, C=tangential_C)


# ---- dynamics ----------------------------------------------------------------------------------------------
def sgd_recursion(N, hyper: Hyper, C: float) -> np.ndarray:
    """``E[N_{t+1} | N_t = N] - N`` for SGD (``section4.sgd_recursion``), exact in the model."""
    return evaluate(section4.sgd_recursion(), **hyper.values(), C=C, N=N)


def sgd_relaxation_time(hyper: Hyper) -> np.ndarray:
    """The time constant (steps) of ``E||w||^2``'s approach to equilibrium under SGD (``section4.sgd_relaxation``)."""
    return evaluate(section4.sgd_relaxation().result, **hyper.values())


def growth_bound(t, N0, eta, C: float) -> np.ndarray:
    """SGD without L2: the lower bound on ``||w_t||^2`` (``norm_growth.growth_without_decay``)."""
    return evaluate(norm_growth.growth_without_decay().result, eta=eta, C=C, N0=N0, t=t)


def growth_eff_lr(t, C: float) -> np.ndarray:
    """SGD without L2: the asymptotic effective learning rate ``1/sqrt(2 C t)`` (``extras['eta_eff_asymptotic']``)."""
    return evaluate(norm_growth.growth_without_decay().extras["eta_eff_asymptotic"], C=C, t=t)


def bn_unit_C(d: int, batch: int, gamma: float = 1.0, beta: float = 0.0, sigma_nabla: float = float(np.sqrt(2.0)),
              loss: str = "mean", backward: str = "stop_gradient") -> float:
    """``C = E||grad L(w)||^2 ||w||^2`` of a BN + ReLU unit, exact at finite ``d`` and ``B`` (``bn_unit.unit_C``)."""
    return float(evaluate(bn_unit.unit_C(loss, backward), d=d, B=batch, gamma=gamma, beta=beta,
                          sigma_nabla=sigma_nabla))


def bn_radial_share(d: int, batch: int, gamma: float = 1.0, beta: float = 0.0, backward: str = "stop_gradient") -> float:
    """The share of a BN unit's squared gradient along ``w`` (``bn_unit.radial_share``; 0 for the full backward)."""
    if backward == "full":
        return 0.0
    return float(evaluate(bn_unit.radial_share(), d=d, B=batch, gamma=gamma, beta=beta))


# ---- exponents -----------------------------------------------------------------------------------------------
def derived_exponents(claim_id: str) -> tuple[float, float]:
    """``(exponent_eta, exponent_lam)`` of a claim's leading-order law, read from the registry's derivation."""
    extras = catalog.get(claim_id).derivation.extras
    return float(extras["exponent_eta"]), float(extras["exponent_lam"])


def printed_exponents(claim_id: str) -> tuple[float, float] | None:
    """``(exponent_eta, exponent_lam)`` of the paper's printed order formula, or ``None`` if it prints none."""
    expr = catalog.get(claim_id).printed.expr
    if expr is None:
        return None
    e_eta = sp.simplify(S.eta * sp.diff(sp.log(expr), S.eta))
    e_lam = sp.simplify(S.lam * sp.diff(sp.log(expr), S.lam))
    return float(e_eta), float(e_lam)


def printed_value(claim_id: str, hyper: Hyper, d: int, C: float, **extra) -> np.ndarray | None:
    """The paper's printed formula of a claim at the same numbers (``None`` where it prints none)."""
    expr = catalog.get(claim_id).printed.expr
    if expr is None or isinstance(expr, (sp.MatrixBase, sp.Equality)):
        return None
    return evaluate(expr, **model_values(hyper, d, C), **paper_values(d, C), **extra)


def derived_value(claim_id: str, hyper: Hyper, d: int, C: float, named: str | None = None, **extra) -> np.ndarray:
    """The registry's derived formula of a claim (``claim.derivation.result``, or its named result ``extras[named]``)
    at the same numbers."""
    dv = catalog.get(claim_id).derivation
    return evaluate(dv.result if named is None else dv.extras[named], **model_values(hyper, d, C),
                    **paper_values(d, C), **extra)
