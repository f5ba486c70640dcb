"""Scale invariance of BN, WN, LN and Hoffer et al.'s L1 / L-infinity BN (van Laarhoven Sec. 1; Hoffer et al.
2018 Sec. 4), derived on the normalization model (``theory.norm_model``)."""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from . import printed
from .derivation import Derivation, Step
from .symbols import alpha, alpha_real, eps
from .norm_model import (WEIGHTS, PREACT, scaled, centred, standardize, bn_normalize, l1bn_normalize, linfbn_normalize,
                         wn_normalize, unit_input, unit_output)


# ---- Section 1: scale invariance -------------------------------------------------------------------------------
def _sign(s):
    return s / sp.Abs(s)


def _invariance(normalize, weights, label) -> Derivation:
    """The invariance derivation shared by BN, WN, LN and Hoffer's L1 / L-inf BN."""
    z_w = normalize(weights)
    z_aw = normalize(scaled(weights, alpha))
    z_neg = normalize(scaled(weights, alpha_real))
    proofs = {f"y_{i + 1}(alpha w) = y_{i + 1}(w), alpha > 0": unit_output(za) - unit_output(zw)
              for i, (za, zw) in enumerate(zip(z_aw, z_w))}
    proofs["zhat_1(alpha w) = sign(alpha) zhat_1(w), alpha real"] = z_neg[0] - _sign(alpha_real) * z_w[0]
    return Derivation(
        result=unit_input(z_aw[0]) - unit_input(z_w[0]),
        steps=[Step(f"{label}: the first normalized output", z_w[0]),
               Step("at alpha*w, alpha > 0: alpha cancels between numerator and denominator", z_aw[0]),
               Step("at alpha*w, alpha real: the denominator takes |alpha|", z_neg[0])],
        proofs=proofs,
        summary=(f"{label} is invariant under w -> alpha w exactly when alpha > 0. For alpha < 0 the normalized "
                 "pre-activation changes sign, zhat(alpha w) = sign(alpha) zhat(w), so y = g(-gamma zhat + beta) "
                 "!= y(w) in general: invariance needs a positive scale factor."),
        extras={"zhat_ratio_real_alpha": _sign(alpha_real)})


def derive_invariance_bn() -> Derivation:
    """BN (no epsilon): ``zhat(X; alpha w) = zhat(X; w)`` for ``alpha > 0``, ``sign(alpha) zhat`` for real alpha."""
    return _invariance(bn_normalize, WEIGHTS, "BN")


def derive_invariance_bn_epsilon() -> Derivation:
    """BN with ``sqrt(sigma^2 + epsilon)``: exactly ``y_eps(alpha w) = y_{eps/alpha^2}(w)`` (alpha > 0), so it is
    invariant only at ``epsilon = 0``; relative change ``epsilon (1 - 1/alpha^2) / (2 sigma^2)`` to first order."""
    z_aw = bn_normalize(scaled(WEIGHTS, alpha), eps)
    z_w = bn_normalize(WEIGHTS, eps)
    z_law = bn_normalize(WEIGHTS, eps / alpha**2)
    var = sp.Symbol("sigma_Xw", positive=True) ** 2   # sigma(Xw)^2, for the leading order
    ratio = alpha * sp.sqrt(var + eps) / sp.sqrt(alpha**2 * var + eps)   # zhat_eps(alpha w) / zhat_eps(w)
    first_order = sp.series(ratio, eps, 0, 2).removeO() - 1
    proofs = {f"zhat_{i + 1}: y_eps(alpha w) = y_(eps/alpha^2)(w)": za - zl
              for i, (za, zl) in enumerate(zip(z_aw, z_law))}
    proofs["first-order relative change"] = first_order - eps * (alpha**2 - 1) / (2 * alpha**2 * var)
    return Derivation(
        result=(unit_input(z_aw[0]) - unit_input(z_w[0])).subs(eps, 0),
        steps=[Step("BN with epsilon at alpha*w", z_aw[0]),
               Step("the same unit at w with epsilon/alpha^2 (equal for alpha > 0)", z_law[0]),
               Step("zhat_eps(alpha w)/zhat_eps(w) in terms of sigma(Xw)^2", ratio),
               Step("to first order in epsilon, minus 1", sp.factor(first_order))],
        proofs=proofs,
        summary=("With BN's epsilon (sqrt(sigma^2 + epsilon), as frameworks compute it) the output is not "
                 "scale-invariant: exactly, y_eps(X; alpha w) = y_{eps/alpha^2}(X; w) for alpha > 0 (rescaling w "
                 "acts as rescaling epsilon). Invariance holds only for epsilon = 0 (and alpha > 0); zhat changes "
                 "by the relative amount epsilon (1 - 1/alpha^2) / (2 sigma(Xw)^2) to first order: negligible "
                 "while sigma(Xw)^2 >> epsilon, large at small weight norms."),
        extras={"relative_change_first_order": sp.factor(first_order), "ratio": ratio})


def derive_invariance_wn() -> Derivation:
    """WN: ``x . alpha w / ||alpha w|| = sign(alpha) x . w / ||w||``."""
    return _invariance(wn_normalize, WEIGHTS, "WN")


def derive_invariance_ln() -> Derivation:
    """LN with the whole matrix scaled (``u = xW -> alpha u``): invariant for ``alpha > 0``, sign flip below 0."""
    return _invariance(standardize, PREACT, "LN (whole weight matrix scaled, u = xW)")


def derive_invariance_l1bn() -> Derivation:
    """Hoffer's L1 BN: the mean absolute deviation scales with ``|alpha|``: invariance needs ``alpha > 0``."""
    return _invariance(l1bn_normalize, WEIGHTS, "L1 batch norm")


def derive_invariance_linfbn() -> Derivation:
    """Hoffer's L-inf BN: the max absolute deviation scales with ``|alpha|``: invariance needs ``alpha > 0``."""
    return _invariance(linfbn_normalize, WEIGHTS, "L-infinity batch norm")


ALPHAS = sp.symbols("alpha1:4", positive=True)


def ln_per_unit_residual(scales=ALPHAS):
    """LN's first output when unit j's weights (column j of W, so u_j) are scaled by ``scales[j]``, minus the
    unscaled one."""
    return standardize(tuple(s * u for s, u in zip(scales, PREACT)))[0] - standardize(PREACT)[0]


def derive_ln_uniform_scale() -> Derivation:
    """The per-unit scale factors that leave LN invariant for every input: all equal."""
    before = sp.Matrix(centred(PREACT))
    after = sp.Matrix(centred(tuple(s * u for s, u in zip(ALPHAS, PREACT))))
    cross = after.cross(before)
    equations = [c for comp in cross for c in sp.Poly(sp.expand(comp), *PREACT).coeffs()]
    solutions = sp.solve(equations, ALPHAS[1:], dict=True)
    if len(solutions) != 1:
        raise RuntimeError(f"expected one solution for the LN scale factors, got {solutions}")
    sol = solutions[0]
    return Derivation(
        result=sol[ALPHAS[1]],
        steps=[Step("standardization is unchanged iff the centred vectors stay parallel with a positive factor: "
                    "first component of centred(alpha_j u_j) x centred(u)", cross[0]),
               Step("every coefficient in u must vanish (all inputs x: u = xW covers R^3); solved for alpha2, alpha3",
                    sp.Tuple(sol[ALPHAS[1]], sol[ALPHAS[2]]))],
        proofs={"alpha3 = alpha1": sol[ALPHAS[2]] - ALPHAS[0],
                "uniform scaling leaves LN invariant": ln_per_unit_residual((ALPHAS[0],) * 3)},
        summary=("LN is invariant under per-unit scaling W -> W diag(alpha_1, alpha_2, alpha_3) for every input "
                 "only when alpha_1 = alpha_2 = alpha_3 (> 0): footnote 1 is right. Scaling one unit's weights "
                 "changes every output of the layer."),
        extras={"per_unit_residual": ln_per_unit_residual((ALPHAS[0], ALPHAS[1], ALPHAS[0]))})


# ---- Hoffer et al.: the constants of L1 and L-infinity batch norm ------------------------------------------------
n_b = sp.Symbol("n", positive=True, integer=True)   # batch size
_sigma = sp.Symbol("sigma", positive=True)          # the Gaussian's standard deviation
_x = sp.Symbol("x", real=True)
_a = sp.Symbol("a", positive=True)


def _gaussian_density(s):
    return sp.exp(-_x**2 / (2 * s**2)) / (sp.sqrt(2 * sp.pi) * s)


def _half_moment_antiderivative(s):
    """An antiderivative of ``x phi_s(x)`` (``phi_s`` the ``N(0, s^2)`` density): ``-s^2 phi_s(x)``; checked by
    :func:`half_moment_antiderivative_residual`."""
    return -s**2 * _gaussian_density(s)


def half_moment_antiderivative_residual(s):
    """``d/dx`` of :func:`_half_moment_antiderivative` minus ``x phi_s(x)``, expanded: 0 (a proof).

    >>> half_moment_antiderivative_residual(sp.Symbol("s", positive=True))
    0
    """
    return sp.expand(sp.diff(_half_moment_antiderivative(s), _x) - _x * _gaussian_density(s))


@lru_cache(maxsize=None)
def gaussian_mean_abs(s):
    """``E|X|`` for ``X ~ N(0, s^2)``, ``s > 0``: ``2 int_0^oo x phi_s(x) dx`` by the fundamental theorem, from the
    antiderivative ``-s^2 phi_s`` (continuous, and vanishing at infinity).

    >>> gaussian_mean_abs(sp.Integer(1))
    sqrt(2)/sqrt(pi)
    """
    return 2 * definite(_half_moment_antiderivative(s), _x, 0, sp.oo)


def definite(antiderivative, x, low, high):
    """``F(high) - F(low)`` for an antiderivative ``F`` of ``x``: each term by substitution, or by its limit where
    substitution is undefined (``oo * 0`` at an infinite bound); the limit of the whole ``F`` where the terms' limits
    do not add up (``oo - oo``). This is the integral of ``dF/dx`` over ``[low, high]`` only when ``F`` is continuous
    there (the fundamental theorem; ``atan(1/x)`` over ``[-1, 1]`` is not): the callers prove ``dF/dx`` is their
    integrand and use a continuous ``F``. Cheaper than ``integrate``, which searches for the antiderivative. Raises
    ``ValueError`` where a bound's value is not finite (a divergent integral).

    >>> r = sp.Symbol("r", positive=True)
    >>> definite(sp.sqrt(sp.pi / 2) * sp.erf(r / sp.sqrt(2)) - r * sp.exp(-r**2 / 2), r, 0, sp.oo)
    sqrt(2)*sqrt(pi)/2
    >>> definite(sp.log(r) - sp.log(r + 1), r, 1, sp.oo)
    log(2)
    """
    def term_at(term, bound):
        value = term.subs(x, bound)
        return value if value.is_finite else sp.limit(term, x, bound)

    def at(bound):
        value = sp.Add(*[term_at(term, bound) for term in sp.Add.make_args(antiderivative)])
        if not value.is_finite:
            value = sp.limit(antiderivative, x, bound)
        if not value.is_finite:
            raise ValueError(f"the antiderivative {antiderivative} is not finite at {x} = {bound}")
        return value
    return at(high) - at(low)


def derive_l1_constant() -> Derivation:
    """``C_L1(n) = sigma / E[mean_i |x_i - xbar|] = sqrt(pi/2) sqrt(n/(n-1))`` for Gaussian batches of size n."""
    var_dev = sp.factor(_sigma**2 * ((1 - 1 / n_b)**2 + (n_b - 1) / n_b**2))   # Var(x_i - xbar)
    mad = sp.sqrt(var_dev) * gaussian_mean_abs(sp.Integer(1))
    constant_n = sp.sqrt(sp.pi / 2) * sp.sqrt(n_b) / sp.sqrt(n_b - 1)
    constant = sp.sqrt(sp.pi / 2) / sp.sqrt(1 - printed.inv_n)
    return Derivation(
        result=constant,
        steps=[Step("x_i - xbar ~ N(0, s^2), s^2 = Var(x_i - xbar) for x_i iid N(mu, sigma^2)", var_dev),
               Step("E|N(0, s^2)| = s E|N(0,1)| = s sqrt(2/pi) (integral, by the antiderivative -phi): "
                    "E[mean_i |x_i - xbar|]", mad),
               Step("C(n) = sigma / E[mean_i |x_i - xbar|]", constant_n),
               Step("written with inv_n = 1/n", constant)],
        proofs={"variance of a deviation": var_dev - _sigma**2 * (n_b - 1) / n_b,
                "E|N(0,1)| = sqrt(2/pi)": gaussian_mean_abs(sp.Integer(1)) - sp.sqrt(2 / sp.pi),
                "d/dx (-phi(x)) = x phi(x) (the antiderivative behind E|N(0,1)|)":
                    half_moment_antiderivative_residual(sp.Integer(1)),
                "C(n) E[MAD] = sigma": constant_n * mad - _sigma,
                "the two forms of C(n) (squares; both positive)": (constant**2).subs(printed.inv_n, 1 / n_b)
                - constant_n**2},
        summary=("For Gaussian inputs E[mean_i |x_i - xbar|] = sigma sqrt(2/pi) sqrt((n-1)/n), so the constant that "
                 "makes C * mean_i |x_i - xbar| estimate sigma (in expectation) is sqrt(pi/2) sqrt(n/(n-1)). "
                 "Hoffer's sqrt(pi/2) is its limit n -> infinity (exact for the deviation from the true mean); at "
                 "batch size n it estimates sigma sqrt((n-1)/n), the root of E[sigma_B^2], the same biased scale L2 BN "
                 "divides by. The constant does not change the function (gamma absorbs it)."),
        extras={"population_constant": sp.sqrt(sp.pi / 2), "expected_mad": mad, "constant_n": constant_n})


def derive_linf_constant() -> Derivation:
    """``C_Linf(n) = sigma / E[max_i |x_i - xbar|]``: exact for n = 2 and 3, ``~ 1/sqrt(2 ln n)`` as n -> oo."""
    r_, phi_ = sp.symbols("r phi", positive=True)
    # n = 2: max |x_i - xbar| = |x1 - x2|/2 with x1 - x2 ~ N(0, 2 sigma^2)
    e_max2 = sp.sqrt(2) * _sigma * gaussian_mean_abs(sp.Integer(1)) / 2
    # n = 3: x - xbar is isotropic N(0, sigma^2 I) in the plane sum = 0 (radius R ~ Rayleigh(sigma), angle uniform);
    # |x_i - xbar| = sqrt(2/3) R |cos(theta - theta_i)|, three axes 120 degrees apart: the largest is
    # sqrt(2/3) R cos(phi), phi uniform on [0, pi/6] (the distance to the nearest of six directions 60 deg apart)
    rayleigh_r = r_**2 / _sigma**2 * sp.exp(-r_**2 / (2 * _sigma**2))         # r times the Rayleigh density
    rayleigh_r_antiderivative = (_sigma * sp.sqrt(sp.pi / 2) * sp.erf(r_ / (_sigma * sp.sqrt(2)))
                                 - r_ * sp.exp(-r_**2 / (2 * _sigma**2)))
    e_radius = definite(rayleigh_r_antiderivative, r_, 0, sp.oo)
    e_cos = definite(sp.sin(phi_), phi_, 0, sp.pi / 6) * 6 / sp.pi
    e_max3 = sp.sqrt(sp.Rational(2, 3)) * e_radius * e_cos
    # the maximum of m iid N(0,1) sits where the tail P(X > a) is about 1/m. Mills' bounds
    # phi(a) a/(1 + a^2) < P(X > a) < phi(a)/a (a > 0): both differences vanish at infinity and are monotone
    density = sp.exp(-_a**2 / 2) / sp.sqrt(2 * sp.pi)
    tail = sp.erfc(_a / sp.sqrt(2)) / 2
    log_upper = sp.expand_log(sp.log(density / _a), force=True)
    tail_exponent = sp.limit(log_upper / _a**2, _a, sp.oo)
    constant = 1 / sp.sqrt(2 * printed.log_n)
    hoffer = printed.HOFFER_LINF_CONSTANT.expr
    assert hoffer is not None, "Hoffer's constant is printed"
    return Derivation(
        result=constant,
        steps=[Step("n = 2: E max|x_i - xbar| = E|x1 - x2|/2", e_max2),
               Step("n = 3: E[R], R the Rayleigh radius of x - xbar in the plane sum = 0", e_radius),
               Step("n = 3: E[cos phi], phi uniform on [0, pi/6]", e_cos),
               Step("n = 3: E max|x_i - xbar| = sqrt(2/3) E[R] E[cos phi]", e_max3),
               Step("ln P(X > a) = ln(phi(a)/a) + O(ln(1 + 1/a^2)) by Mills' bounds", log_upper),
               Step("so ln P(X > a) / a^2 -> ", tail_exponent),
               Step("P(X > a_m) = 1/m gives a_m ~ sqrt(2 ln m), and E[max of n |x_i - xbar|] ~ sigma sqrt(2 ln n) "
                    "(leading order; the ratio tends to 1 slowly): C(n) ~", constant)],
        proofs={"n = 2": e_max2 - _sigma / sp.sqrt(sp.pi),
                "n = 3: the antiderivative of r times the Rayleigh density":
                    sp.expand(sp.diff(rayleigh_r_antiderivative, r_) - rayleigh_r),
                "n = 3: the antiderivative of cos": sp.diff(sp.sin(phi_), phi_) - sp.cos(phi_),
                "n = 3": e_max3 - _sigma * sp.sqrt(3 / sp.pi),
                # phi/a - P(X > a) has derivative -phi/a^2 < 0 and tends to 0: so P(X > a) < phi(a)/a
                "Mills upper bound: d/da (phi/a - P) = -phi/a^2": sp.diff(density / _a - tail, _a) + density / _a**2,
                # phi a/(1+a^2) - P(X > a) has derivative 2 phi/(1+a^2)^2 > 0 and tends to 0: so it is negative
                "Mills lower bound: d/da (phi a/(1+a^2) - P) = 2 phi/(1+a^2)^2": sp.diff(density * _a / (1 + _a**2)
                                                                                       - tail, _a)
                - 2 * density / (1 + _a**2)**2,
                "tail exponent -1/2": tail_exponent + sp.Rational(1, 2)},
        summary=("C_Linf(n) = sigma / E[max_i |x_i - xbar|] is sqrt(pi) at n = 2 and sqrt(pi/3) at n = 3 (exact) and "
                 "~ 1/sqrt(2 ln n) as n -> infinity (leading order only: E[max]/(sigma sqrt(2 ln n)) tends to 1 "
                 "slowly). Hoffer's (1 + sqrt(pi ln 4)) / (2 sqrt(2 ln n)) has the right (ln n)^(-1/2) law but the "
                 "prefactor (1 + sqrt(pi ln 4))/2 = 1.54 (the mean of the bounds 1 and sqrt(pi ln 4) on "
                 "sqrt(2 ln n) sigma / E[max]) instead of 1: asymptotically it overestimates sigma by 54%. The "
                 "constant does not change the function (gamma absorbs it)."),
        extras={"exact_n2": sp.sqrt(sp.pi), "exact_n3": sp.sqrt(sp.pi / 3),
                "hoffer_n2": hoffer.subs(printed.log_n, sp.log(2)), "hoffer_n3": hoffer.subs(printed.log_n, sp.log(3)),
                "asymptotic_ratio": (1 + sp.sqrt(sp.pi * sp.log(4))) / 2})


