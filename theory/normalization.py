"""Normalization identities: scale invariance, the L2 rescaling law, gradient and Hessian homogeneity.

Van Laarhoven (2017) Sections 1-3 and 5.4, and Hoffer et al. (2018) Sections 2 and 4 (L1 and L-infinity batch
norm), derived on a small symbolic model and compared with the printed statements (``printed.py``).

The symbolic model
------------------
* **A batch** ``X`` of 3 samples with 2 features, written ``X_i = c_i + m``: centred rows ``c_1 = (a11, a12)``,
  ``c_2 = (a21, a22)``, ``c_3 = -c_1 - c_2`` and column means ``m = (m1, m2)``. Every real 3x2 batch has exactly
  one such form. One unit with weights ``w = (w1, w2)`` has pre-activations ``u_i = X_i . w``.
* **BN**: ``zhat_i = (u_i - mu) / sqrt(sigma^2 + epsilon)``, batch mean and biased (1/n) variance, ``epsilon = 0``
  unless a claim says otherwise. Two backward conventions: **full** (``paper-l2``: frameworks differentiate
  through ``mu`` and ``sigma``) and **stop-gradient** (``paper-l2-stopgrad``, the paper's Sec. 3: ``mu`` and
  ``sigma`` are replaced by frozen symbols ``mu_B``, ``sigma_B`` before differentiating and put back after).
* **The standardization of a 3-vector** ``s(u) = (u - mean(u)) / std(u)``, ``u = (u1, u2, u3)``: full BN of a
  unit over a batch of 3 is ``s(Xw)``, LN of a 3-unit layer is ``s(xW)``. Both are a linear map of the
  parameters followed by ``s``; the map carries ``w -> alpha w`` (or ``W -> alpha W``) to ``u -> alpha u``,
  derivatives along ``v`` to derivatives along ``delta = Xv`` (or ``xV``), and ``w . grad_w`` to
  ``u . grad_u``. So the derivative claims of full BN and LN are derived on ``s(u)`` with free ``u`` and
  ``delta`` (which covers every batch, input and layer), the cheapest exact form.
* **WN**: ``zhat = x . w / ||w||`` for one input ``x = (x1, x2)``.
* **Hoffer's L1 / L-infinity BN**: ``(u_i - mu) / (C * mean_i |u_i - mu|)`` and ``/ (C * max_i |u_i - mu|)``,
  with ``max(a, b) = (a + b + |a - b|) / 2`` (exact for reals).
* A unit's output is ``y = g(z)``, ``z = gamma * zhat + beta``, ``g`` undefined: ``y`` depends on the weights only
  through ``z``. Losses: ``F(zhat_1, zhat_2, zhat_3)`` (``F`` undefined: any loss of the normalized batch, e.g.
  ``sum_i l_i(g(gamma zhat_i + beta))``) and, for the claims on ``L`` and ``L_lambda``, ``f(atan2(w2, w1))``
  with ``f`` undefined: every scale-invariant (positively 0-homogeneous) function of two weights has this form,
  so these claims hold for any loss of a normalized unit with two weights.

Vectors and matrices are read along symbolic directions (``v . grad f``, ``v^T grad^2 f v``), which determine the
gradient and the symmetric Hessian. A derivative is evaluated at ``alpha w`` by substituting ``w -> alpha w`` and
pulling the scale factor out of every sum whose terms all carry it (:func:`pull_scale`), so ``sqrt(alpha^2 Q)``
becomes ``alpha sqrt(Q)`` for ``alpha > 0`` and ``|alpha| sqrt(Q)`` for a real one; a homogeneity law then shows
as an exact (often structural) cancellation, and reductions are fast.

Printed statements with undefined functions are turned into residuals on this model by :func:`instantiator`
(derivatives of the unknown functions at a point named by symbols such as ``g_1``, ``f_11``, ``F_2``).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp
from sympy.core.function import AppliedUndef

from . import printed
from .claim import Claim
from .compare import Verdict, judged
from .derivation import Derivation, Step
from .symbols import alpha, alpha_real, beta, eps, gamma, lam

FULL = "paper-l2"               # full backpropagation through the batch statistics (frameworks)
STOPGRAD = "paper-l2-stopgrad"  # gradients stopped at the batch mean and standard deviation (the paper, Sec. 3)

# ---- symbols ---------------------------------------------------------------------------------------------------
w1, w2 = WEIGHTS = sp.symbols("w1 w2", real=True)
v1, v2 = DIRECTION = sp.symbols("v1 v2", real=True)
x1, x2 = INPUT = sp.symbols("x1 x2", real=True)
a11, a12, a21, a22 = sp.symbols("a11 a12 a21 a22", real=True)
m1, m2 = MEANS = sp.symbols("m1 m2", real=True)
#: the centred rows of the batch (the third is minus the sum of the first two) and the batch X_i = c_i + m
CENTRED = ((a11, a12), (a21, a22), (-a11 - a21, -a12 - a22))
BATCH = tuple(tuple(c + m for c, m in zip(row, MEANS)) for row in CENTRED)
#: the frozen batch statistics of the stop-gradient convention
mu_B = sp.Symbol("mu_B", real=True)
sigma_B = sp.Symbol("sigma_B", positive=True)
#: the standardized 3-vector (full BN: u = Xw over the batch; LN: u = xW over the layer's units) and a direction
u1, u2, u3 = PREACT = sp.symbols("u1:4", real=True)
d1, d2, d3 = PREACT_DIRECTION = sp.symbols("d1:4", real=True)
#: the positive constant of L1 / L-infinity batch norm (its value does not matter for invariance)
C_norm = sp.Symbol("C_norm", positive=True)
g = sp.Function("g")        # the nonlinearity
F = sp.Function("F")        # a loss of the normalized batch
f = sp.Function("f")        # a scale-invariant loss as a function of the weights' direction (angle)


# ---- forward passes ----------------------------------------------------------------------------------------------
def _tidy(expr):
    """Expand, then pull common factors out of every sum (a common scale factor shows as a factor)."""
    return sp.factor_terms(sp.expand(expr))


def scaled(values, scale):
    """The tuple ``values`` multiplied by ``scale``."""
    return tuple(scale * v for v in values)


def pre_activations(weights, batch=BATCH):
    """``u_i = X_i . w`` for each sample of the batch.

    >>> pre_activations((1, 0))[2]
    -a11 - a21 + m1
    """
    return tuple(sp.expand(sum(xij * wj for xij, wj in zip(row, weights))) for row in batch)


def centred(values):
    """The values minus their mean, each with common factors pulled out.

    >>> centred((1, 2, 6))
    (-2, -1, 3)
    """
    values = [sp.sympify(v) for v in values]
    mean = sp.expand(sp.Add(*values) / len(values))
    return tuple(_tidy(u - mean) for u in values)


def standardize(values, epsilon=0):
    """``(u_i - mean(u)) / sqrt(var(u) + epsilon)``, biased (1/n) variance.

    >>> standardize((1, 2, 6))[2]
    3*sqrt(42)/14
    """
    c = centred(values)
    var = _tidy(sum(ci**2 for ci in c) / len(c))
    return tuple(ci / sp.sqrt(var + epsilon) for ci in c)


def bn_statistics(values):
    """Mean and biased standard deviation of ``values`` (e.g. the batch's pre-activations)."""
    c = centred(values)
    return sp.expand(sum(values) / len(values)), sp.sqrt(_tidy(sum(ci**2 for ci in c) / len(c)))


def bn_normalize(weights, epsilon=0):
    """Full BN of the unit over the batch: ``standardize(X w)`` (``epsilon`` inside the square root)."""
    return standardize(pre_activations(weights), epsilon)


def stopgrad_normalize(values):
    """Stop-gradient standardization: ``(u_i - mu_B) / sigma_B`` with the statistics frozen as symbols."""
    return tuple((u - mu_B) / sigma_B for u in values)


def _abs(expr):
    """``|expr|`` with ``|a b| = |a| |b|`` applied to the factors (exact; SymPy leaves ``|alpha b|`` whole)."""
    return sp.Mul(*[sp.Abs(f) for f in sp.Mul.make_args(expr)])


def _max_abs(values):
    """``max_i |values_i|`` through ``max(a, b) = (a + b + |a - b|)/2`` (exact for reals)."""
    out = _abs(values[0])
    for v in values[1:]:
        b = _abs(v)
        out = (out + b + _abs(sp.factor_terms(out - b))) / 2
    return out


def l1bn_normalize(weights):
    """Hoffer's L1 batch norm: ``(u_i - mu) / (C * mean_i |u_i - mu|)``."""
    c = centred(pre_activations(weights))
    return tuple(ci / (C_norm * sum(_abs(cj) for cj in c) / len(c)) for ci in c)


def linfbn_normalize(weights):
    """Hoffer's L-infinity batch norm: ``(u_i - mu) / (C * max_i |u_i - mu|)``."""
    c = centred(pre_activations(weights))
    return tuple(ci / (C_norm * _max_abs(c)) for ci in c)


def norm(weights):
    """``||w||_2``.

    >>> norm((3, 4))
    5
    """
    return sp.sqrt(_tidy(sum(wi**2 for wi in weights)))


def wn_normalize(weights, x=INPUT):
    """WN: ``x . w / ||w||`` (a 1-tuple, like the other normalizations' per-output tuples)."""
    return (_tidy(sum(xi * wi for xi, wi in zip(x, weights))) / norm(weights),)


def unit_input(zhat):
    """The input to the nonlinearity, ``z = gamma * zhat + beta``."""
    return gamma * zhat + beta


def unit_output(zhat):
    """The unit's output ``y = g(gamma * zhat + beta)`` (``g`` undefined)."""
    return g(unit_input(zhat))


def penalty(weights, strength=lam):
    """The L2 penalty ``lambda * ||w||^2`` (the suite's canonical convention)."""
    return strength * sp.expand(sum(wi**2 for wi in weights))


def angular_loss(weights):
    """``f(atan2(w2, w1))`` with ``f`` undefined: every positively 0-homogeneous (scale-invariant) function of two
    weights has this form (it depends on w only through its direction, the angle), so it stands for any loss of
    a normalized unit with two weights (BN, WN, ...)."""
    return f(sp.atan2(weights[1], weights[0]))


def bn_loss(weights):
    """``F(zhat_1, zhat_2, zhat_3)``: any loss of the BN unit's normalized batch (``F`` undefined)."""
    return F(*bn_normalize(weights))


def regularized_bn_loss(weights, strength=lam):
    """``L_lambda(w) = F(zhat(X; w)) + lambda ||w||^2``."""
    return bn_loss(weights) + penalty(weights, strength)


# ---- derivatives and their values ------------------------------------------------------------------------------
def along(expr, variables, direction):
    """The directional derivative ``direction . grad expr`` with respect to ``variables``."""
    return sum(d * sp.diff(expr, x) for x, d in zip(variables, direction))


def radial(expr, variables):
    """``variables . grad expr`` (the derivative along the ray, Euler's operator)."""
    return along(expr, variables, variables)


def _power_of(term, scale):
    """The exponent of ``scale`` in the product ``term`` (0 when absent)."""
    for factor in sp.Mul.make_args(term):
        base, exponent = factor.as_base_exp()
        if base == scale:
            return exponent
    return sp.Integer(0)


def pull_scale(expr, scale):
    """Pull a symbolic scale factor out of every sum whose terms all carry the same power of it, bottom-up.

    With ``scale`` positive, SymPy's own evaluation then turns ``sqrt(scale**2 * Q)`` into ``scale * sqrt(Q)`` and
    ``atan2(scale * a, scale * b)`` is reduced to ``atan2(a, b)`` (exact for a positive factor); for a real
    ``scale`` the root becomes ``|scale| sqrt(Q)``. Cheaper than ``factor_terms`` and exact.
    """
    memo = {}

    def walk(e):
        if e in memo:
            return memo[e]
        if e.is_Atom or not e.has(scale):
            out = e
        else:
            out = e.func(*[walk(a) for a in e.args])
            if out.is_Add:
                powers = {_power_of(t, scale) for t in out.args}
                if len(powers) == 1 and 0 not in powers:
                    k = powers.pop()
                    out = scale**k * sp.Add(*[t / scale**k for t in out.args])
            elif isinstance(out, sp.atan2) and scale.is_positive:
                powers = {_power_of(a, scale) for a in out.args}
                if len(powers) == 1 and 0 not in powers:
                    k = powers.pop()
                    out = sp.atan2(*[a / scale**k for a in out.args])
        memo[e] = out
        return out
    return walk(sp.sympify(expr))


def at_scale(expr, scale, variables=WEIGHTS):
    """``expr`` (a function of ``variables``) at ``scale * variables``, the scale factor pulled out of sums
    (:func:`pull_scale`); ``scale = 1`` returns ``expr`` itself."""
    if scale == 1:
        return expr
    return pull_scale(sp.sympify(expr).xreplace({x: scale * x for x in variables}), scale)


def name_jets(expr):
    """Name each derivative of an undefined function at a point by a symbol: ``g'(z) -> g_1``, ``g''(z) -> g_11``,
    ``dF/dzhat_2 -> F_2``.

    The value of an unknown function's derivative at a point is an unknown number; naming it keeps residuals
    small. Derivatives at structurally different points get different names: the first point (in printed order)
    plain, the others with a suffix (``g_1_at2``).
    """
    keys = {}
    for s in expr.atoms(sp.Subs):
        d = s.expr
        if isinstance(d, sp.Derivative) and isinstance(d.expr, AppliedUndef):
            orders = "".join(str(d.expr.args.index(v) + 1) * int(n) for v, n in d.variable_count)
            keys[s] = (d.expr.func.__name__, orders, d.expr.xreplace(dict(zip(s.variables, s.point))))
    points: dict = {}
    for key in sorted(set(keys.values()), key=sp.sstr):
        points.setdefault(key[:2], []).append(key[2])
    names = {}
    for s, (name, orders, point) in keys.items():
        index = points[(name, orders)].index(point)
        names[s] = sp.Symbol(f"{name}_{orders}" + (f"_at{index + 1}" if index else ""), real=True)
    return expr.xreplace(names)


def fraction(expr):
    """``expr`` as one fraction: derivatives of undefined functions named (:func:`name_jets`), then ``together``
    and ``cancel``."""
    return sp.cancel(sp.together(name_jets(sp.sympify(expr))))


def compact(expr):
    """A residual in compact form: 0 if it expands to 0; else :func:`fraction`, then ``factor``."""
    expr = sp.sympify(expr)
    if expr == 0 or sp.expand(expr) == 0:
        return sp.Integer(0)
    out = fraction(expr)
    return out if out == 0 else sp.factor(out)


@lru_cache(maxsize=None)
def standardized_derivative(order: int, convention: str = FULL, k: int = 0):
    """Raw derivative of ``y_k = g(gamma s_k(u) + beta)`` along ``delta`` (order 0, 1 or 2) at ``u``.

    In the stop-gradient convention ``s`` has frozen statistics ``mu_B``, ``sigma_B`` (still in place).
    """
    z = (stopgrad_normalize(PREACT) if convention == STOPGRAD else standardize(PREACT))[k]
    expr = unit_output(z)
    for _ in range(order):
        expr = along(expr, PREACT, PREACT_DIRECTION)
    return expr


def _put_back_statistics(expr, values):
    mean, std = bn_statistics(values)
    return expr.subs({mu_B: mean, sigma_B: std}, simultaneous=True)


@lru_cache(maxsize=None)
def standardized_derivative_at(order: int, scale, k: int = 0):
    """The value of :func:`standardized_derivative` (full backward) at ``scale * u``."""
    return at_scale(standardized_derivative(order, FULL, k), scale, PREACT)


@lru_cache(maxsize=None)
def bn_stopgrad_derivative(order: int, sample: int = 0):
    """Raw derivative (order 0, 1, 2 along ``v``) of the BN unit's output in the stop-gradient convention, on the
    batch ``X``, with the frozen ``mu_B``, ``sigma_B`` still in place."""
    expr = unit_output(stopgrad_normalize(pre_activations(WEIGHTS))[sample])
    for _ in range(order):
        expr = along(expr, WEIGHTS, DIRECTION)
    return expr


@lru_cache(maxsize=None)
def bn_stopgrad_derivative_at(order: int, scale, sample: int = 0):
    """The value of :func:`bn_stopgrad_derivative` at ``scale * w``, the statistics at that point
    put back in place of ``mu_B``, ``sigma_B``."""
    point = scaled(WEIGHTS, scale)
    expr = _put_back_statistics(bn_stopgrad_derivative(order, sample).xreplace(dict(zip(WEIGHTS, point))),
                                pre_activations(point))
    return expr if scale == 1 else pull_scale(expr, scale)


@lru_cache(maxsize=None)
def bn_full_derivative(order: int, sample: int = 0):
    """Raw derivative (order 1 or 2 along ``v``) of the BN unit's output on the batch ``X``, full backward
    (used for comparisons with the printed formulas; the scaling claims use :func:`standardized_derivative`)."""
    expr = unit_output(bn_normalize(WEIGHTS)[sample])
    for _ in range(order):
        expr = along(expr, WEIGHTS, DIRECTION)
    return expr


@lru_cache(maxsize=None)
def wn_derivative(order: int):
    """Raw derivative (order 0, 1, 2 along ``v``) of the WN unit's output at ``w``."""
    expr = unit_output(wn_normalize(WEIGHTS)[0])
    for _ in range(order):
        expr = along(expr, WEIGHTS, DIRECTION)
    return expr


@lru_cache(maxsize=None)
def wn_derivative_at(order: int, scale):
    """The value of :func:`wn_derivative` at ``scale * w``."""
    return at_scale(wn_derivative(order), scale)


@lru_cache(maxsize=None)
def l2_loss_derivative(order: int, strength=lam):
    """Raw derivative (order 1 or 2 along ``v``) of ``L_lambda(w) = f(atan2(w2, w1)) + strength ||w||^2`` at ``w``."""
    expr = angular_loss(WEIGHTS) + penalty(WEIGHTS, strength)
    for _ in range(order):
        expr = along(expr, WEIGHTS, DIRECTION)
    return expr


@lru_cache(maxsize=None)
def l2_loss_derivative_at(order: int, strength, scale):
    """The value of :func:`l2_loss_derivative` at ``scale * w``."""
    return at_scale(l2_loss_derivative(order, strength), scale)


# ---- instantiating the printed statements on the model ------------------------------------------------------------
_ABSTRACT = (printed.w_vec, printed.W_mat)


def _arg_value(arg):
    """A printed function's argument: the scale factor of ``w`` / ``W`` (2 for ``2*w``), or the argument itself."""
    for sym in _ABSTRACT:
        if arg.has(sym):
            return sp.cancel(arg / sym)
    return arg


def instantiator(concrete: dict, symbols=None, domain=None):
    """A function turning a printed statement into a concrete residual on the symbolic model.

    ``concrete`` maps a printed function's name to a callable of its arguments (the scale factor of ``w``, and
    e.g. ``lambda``) returning its value on the model; ``symbols`` (a callable) gives the values of the printed
    formulas' abstract symbols (``X``, ``sigma``, ``z``, ...). The paper's ``domain`` is applied *before* the model
    is built, so that a real scale factor meets the square roots as a real number (SymPy would already have turned
    ``sqrt(alpha**2*Q)`` into ``alpha*sqrt(Q)`` for a positive one). Returns ``lhs - rhs`` in :func:`compact` form.
    """
    def instantiate(statement):
        stmt = sp.sympify(statement).subs(domain or {}, simultaneous=True)
        residual = stmt.lhs - stmt.rhs if isinstance(stmt, sp.Equality) else stmt
        residual = residual.replace(
            lambda e: isinstance(e, AppliedUndef) and e.func.__name__ in concrete,
            lambda e: concrete[e.func.__name__](*[_arg_value(a) for a in e.args]))
        if symbols is not None:
            residual = residual.subs(symbols(), simultaneous=True)
        return compact(residual)
    return instantiate


def _identity_claim(cid, title, statement, source, entry, derive, concrete, convention=FULL, condition="alpha > 0",
                    symbols=None, tags=()):
    """A claim whose printed form is an identity, instantiated on the model through ``concrete``."""
    return Claim(id=cid, title=title, statement=statement, source=source, printed=entry, derive=derive,
                 convention=convention, condition=condition,
                 instantiate=instantiator(concrete, symbols, entry.domain), tags=tags)


def _pre_activation(normalize, weights, **kw):
    """A callable ``scale -> z_1`` (the first output's input to g, through which y depends on the weights)."""
    return lambda s: unit_input(normalize(scaled(weights, s), **kw)[0])


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


@lru_cache(maxsize=None)
def gaussian_mean_abs(s):
    """``E|X|`` for ``X ~ N(0, s^2)``, by integration.

    >>> gaussian_mean_abs(sp.Integer(1))
    sqrt(2)/sqrt(pi)
    """
    density = sp.exp(-_x**2 / (2 * s**2)) / (sp.sqrt(2 * sp.pi) * s)
    return 2 * sp.integrate(_x * density, (_x, 0, sp.oo))


def derive_l1_constant() -> Derivation:
    """``C_L1(n) = sigma / E[mean_i |x_i - xbar|] = sqrt(pi/2) sqrt(n/(n-1))`` for Gaussian batches of size n."""
    var_dev = sp.factor(_sigma**2 * ((1 - 1 / n_b)**2 + (n_b - 1) / n_b**2))   # Var(x_i - xbar)
    mad = sp.sqrt(var_dev) * gaussian_mean_abs(sp.Integer(1))
    constant_n = sp.sqrt(sp.pi / 2) * sp.sqrt(n_b) / sp.sqrt(n_b - 1)
    constant = sp.sqrt(sp.pi / 2) / sp.sqrt(1 - printed.inv_n)
    return Derivation(
        result=constant,
        steps=[Step("x_i - xbar ~ N(0, s^2), s^2 = Var(x_i - xbar) for x_i iid N(mu, sigma^2)", var_dev),
               Step("E|N(0, s^2)| = s E|N(0,1)| = s sqrt(2/pi) (integral): E[mean_i |x_i - xbar|]", mad),
               Step("C(n) = sigma / E[mean_i |x_i - xbar|]", constant_n),
               Step("written with inv_n = 1/n", constant)],
        proofs={"variance of a deviation": var_dev - _sigma**2 * (n_b - 1) / n_b,
                "E|N(0,1)| = sqrt(2/pi)": gaussian_mean_abs(sp.Integer(1)) - sp.sqrt(2 / sp.pi),
                "C(n) E[MAD] = sigma": constant_n * mad - _sigma,
                "the two forms of C(n) (squares; both positive)": (constant**2).subs(printed.inv_n, 1 / n_b)
                - constant_n**2},
        summary=("For Gaussian inputs E[mean_i |x_i - xbar|] = sigma sqrt(2/pi) sqrt((n-1)/n), so the constant that "
                 "makes C * mean_i |x_i - xbar| estimate sigma (in expectation) is sqrt(pi/2) sqrt(n/(n-1)). "
                 "Hoffer's sqrt(pi/2) is its limit n -> infinity (exact for the deviation from the true mean); at "
                 "batch size n it estimates sigma sqrt((n-1)/n) = sqrt(E[sigma_B^2]), the same biased scale L2 BN "
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
    e_radius = sp.integrate(r_**2 / _sigma**2 * sp.exp(-r_**2 / (2 * _sigma**2)), (r_, 0, sp.oo))
    e_cos = sp.integrate(sp.cos(phi_), (phi_, 0, sp.pi / 6)) * 6 / sp.pi
    e_max3 = sp.sqrt(sp.Rational(2, 3)) * e_radius * e_cos
    # the maximum of m iid N(0,1) sits where the tail P(X > a) is about 1/m. Mills' bounds
    # phi(a) a/(1 + a^2) < P(X > a) < phi(a)/a (a > 0): both differences vanish at infinity and are monotone
    density = sp.exp(-_a**2 / 2) / sp.sqrt(2 * sp.pi)
    tail = sp.erfc(_a / sp.sqrt(2)) / 2
    log_upper = sp.expand_log(sp.log(density / _a), force=True)
    tail_exponent = sp.limit(log_upper / _a**2, _a, sp.oo)
    constant = 1 / sp.sqrt(2 * printed.log_n)
    hoffer = printed.HOFFER_LINF_CONSTANT.expr
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


# ---- Section 2: L_lambda(alpha w) = L_{lambda alpha^2}(w) --------------------------------------------------------
def derive_l2_rescaling() -> Derivation:
    """``L_lambda(alpha w) - L_{lambda alpha^2}(w) = 0`` for ``alpha > 0`` (because ``L(alpha w) = L(w)``)."""
    lhs = regularized_bn_loss(scaled(WEIGHTS, alpha))
    rhs = regularized_bn_loss(WEIGHTS, lam * alpha**2)
    return Derivation(
        result=lhs - rhs,
        steps=[Step("L_lambda(alpha w) on the BN unit", lhs), Step("L_{lambda alpha^2}(w)", rhs)],
        proofs={"L(alpha w) = L(w)": bn_loss(scaled(WEIGHTS, alpha)) - bn_loss(WEIGHTS), "rescaling law": lhs - rhs},
        summary=("L_lambda(alpha w) = L(w) + lambda alpha^2 ||w||^2 = L_{lambda alpha^2}(w) for alpha > 0 (for "
                 "alpha < 0 already L(alpha w) != L(w): see invariance.bn)."))


def derive_l2_rescaling_middle() -> Derivation:
    """The middle member of Sec. 2's chain, corrected: ``L(w) + lambda alpha^2 ||w||^2``."""
    lhs = regularized_bn_loss(scaled(WEIGHTS, alpha))
    corrected = bn_loss(WEIGHTS) + lam * alpha**2 * sp.expand(w1**2 + w2**2)
    return Derivation(
        result=lhs - corrected,
        steps=[Step("L_lambda(alpha w)", lhs), Step("the middle member with the penalty of alpha w", corrected)],
        proofs={"middle member": lhs - corrected},
        summary=("The middle member should read sum_i l_i(y(X_i; w)) + lambda alpha^2 ||w||^2 (the penalty of "
                 "alpha w); as printed, + lambda ||w||^2, it is L_lambda(w), not L_lambda(alpha w). The end of the "
                 "chain is right."))


def _radial_regularized_loss(strength, scale):
    """``w . grad L_lambda(w)`` at ``scale * w`` for the general scale-invariant loss of two weights."""
    return at_scale(radial(angular_loss(WEIGHTS) + penalty(WEIGHTS, strength), WEIGHTS), scale)


def derive_l2_optimum() -> Derivation:
    """The infimum of ``L_lambda`` is ``inf L`` for every ``lambda > 0``, approached as ``||w|| -> 0`` along an optimal
    direction; ``w . grad L_lambda(w) = 2 lambda ||w||^2 > 0`` says it is not attained (no minimiser)."""
    t_ = sp.Symbol("t", positive=True)
    radial_value = _radial_regularized_loss(lam, 1)
    along_ray = pull_scale(angular_loss(scaled(WEIGHTS, t_)) + penalty(scaled(WEIGHTS, t_)), t_)
    sq = sp.expand(w1**2 + w2**2)
    inf_along_ray = sp.limit(along_ray, t_, 0)
    return Derivation(
        result=inf_along_ray,
        steps=[Step("a scale-invariant loss plus the penalty", angular_loss(WEIGHTS) + penalty(WEIGHTS)),
               Step("along the ray t*w, t > 0: the loss keeps its value, the penalty scales by t^2", along_ray),
               Step("its infimum over the ray (t -> 0): the loss of the direction, for every lambda", inf_along_ray),
               Step("w . grad L_lambda(w): positive at every w != 0, so the infimum is not attained", radial_value)],
        proofs={"w . grad L_lambda = 2 lambda ||w||^2": radial_value - 2 * lam * sq,
                "L_lambda(t w) = L(w) + lambda t^2 ||w||^2": along_ray - angular_loss(WEIGHTS) - lam * t_**2 * sq,
                "the infimum over each ray does not depend on lambda": sp.diff(inf_along_ray, lam)},
        summary=("inf over w of L_lambda = inf over directions of L for every lambda > 0: L_lambda(t w) = L(w) + lambda "
                 "t^2 ||w||^2 decreases to L(w) as t -> 0, so the optimal function (the direction) and the optimal "
                 "value do not depend on lambda -- the paper's point. The infimum is approached as ||w|| -> 0 and not "
                 "attained (w . grad L_lambda(w) = 2 lambda ||w||^2 > 0: no stationary point), so no minimiser exists "
                 "for lambda > 0; lambda only sets how fast ||w|| shrinks, i.e. the effective learning rate (Sec. 3-4)."),
        extras={"radial_derivative": 2 * lam * sq, "inf_along_ray": inf_along_ray})


def judge_l2_optimum(dv: Derivation) -> Verdict:
    """The sentence holds when the infimum along every ray is lambda-free (the weights' scale compensates)."""
    holds = sp.diff(dv.extras["inf_along_ray"], lam) == 0 and dv.extras["inf_along_ray"] == angular_loss(WEIGHTS)
    return judged(holds, "the optimal function and value are the same for every lambda > 0: inf L_lambda = inf L, "
                  "approached along an optimal direction as ||w|| -> 0 (not attained: L_lambda has no minimiser for "
                  "lambda > 0, so lambda only sets the scale of w and with it the effective learning rate)")


# ---- Section 3: gradients ---------------------------------------------------------------------------------------
def _scaling(value_at, degree, label, note="") -> Derivation:
    """Derivation of ``D(alpha w) = D(w) / alpha^degree`` for a derivative ``D`` whose value is ``value_at(scale)``."""
    at_w, at_aw = value_at(1), value_at(alpha)
    return Derivation(
        result=at_aw - at_w / alpha**degree,
        steps=[Step(f"{label} at w, along the direction", at_w), Step(f"{label} at alpha*w (alpha > 0)", at_aw)],
        proofs={f"{label}(alpha w) = {label}(w)/alpha^{degree}": at_aw - at_w / alpha**degree},
        summary=(f"{label} is homogeneous of degree -{degree}: {label}(alpha w) = {label}(w)/alpha^{degree} for "
                 f"alpha > 0{note}. It follows from y(alpha w) = y(w) by the chain rule; for alpha < 0 it fails like "
                 "the invariance."))


def derive_grad_scaling_bn_stopgrad() -> Derivation:
    """Stop-gradient BN: ``grad y(alpha w) = grad y(w)/alpha`` (sigma scales with alpha, z does not)."""
    return _scaling(lambda s: bn_stopgrad_derivative_at(1, s), 1, "grad y_BN (stop-gradient)",
                    " (the gradient is X gamma g'(z)/sigma and sigma(X alpha w) = alpha sigma(Xw))")


def derive_grad_scaling_bn_full() -> Derivation:
    """Full-backward BN: ``grad y(alpha w) = grad y(w)/alpha`` (on ``s(u)``, ``u = Xw``)."""
    return _scaling(lambda s: standardized_derivative_at(1, s), 1, "grad y_BN (full backward)",
                    " (derived on s(u), u = Xw: w -> alpha w is u -> alpha u)")


def derive_grad_scaling_wn() -> Derivation:
    """WN: ``grad y(alpha w) = grad y(w)/alpha``."""
    return _scaling(lambda s: wn_derivative_at(1, s), 1, "grad y_WN")


def derive_grad_scaling_ln() -> Derivation:
    """LN (whole matrix scaled): ``grad_W y(alpha W) = grad_W y(W)/alpha`` (on ``s(u)``, ``u = xW``)."""
    return _scaling(lambda s: standardized_derivative_at(1, s), 1, "grad_W y_LN",
                    " (derived on s(u), u = xW: W -> alpha W is u -> alpha u, V : grad_W = (xV) . grad_u)")


def derive_grad_scaling_l2() -> Derivation:
    """``grad L_lambda(alpha w) = grad L_{lambda alpha^2}(w)/alpha`` for a scale-invariant ``L``."""
    lhs = l2_loss_derivative_at(1, lam, alpha)
    rhs = l2_loss_derivative_at(1, lam * alpha**2, 1) / alpha
    return Derivation(
        result=lhs - rhs,
        steps=[Step("v . grad L_lambda at alpha*w", lhs), Step("v . grad L_{lambda alpha^2}(w) / alpha", rhs)],
        proofs={"grad L_lambda(alpha w) = grad L_{lambda alpha^2}(w)/alpha": lhs - rhs},
        summary=("grad L_lambda(alpha w) = grad L(w)/alpha + 2 lambda alpha w = grad L_{lambda alpha^2}(w)/alpha for "
                 "alpha > 0: the printed law holds."))


def stopgrad_formula_symbols():
    """The printed BN formulas' symbols on the batch (first sample, along v): ``X -> X_1.v``, ``XtX -> (X_1.v)^2``,
    ``sigma -> sigma(Xw)``, ``z -> z_1``."""
    _, std = bn_statistics(pre_activations(WEIGHTS))
    xv = sp.expand(sum(xj * vj for xj, vj in zip(BATCH[0], DIRECTION)))
    return {printed.X_row: xv, printed.XtX_mat: xv**2, printed.sigma_Xw: std,
            printed.z_in: unit_input(bn_normalize(WEIGHTS)[0])}


def _printed_rhs(entry, symbols):
    return entry.expr.rhs.subs(symbols, simultaneous=True)


def derive_grad_formula_bn() -> Derivation:
    """Stop-gradient BN gradient equals ``X_1 gamma g'(z_1)/sigma`` (the paper's formula); full backward differs."""
    stop = bn_stopgrad_derivative_at(1, 1)
    formula = _printed_rhs(printed.GRAD_FORMULA_BN, stopgrad_formula_symbols())
    return Derivation(
        result=sp.expand(stop - formula),
        steps=[Step("stop-gradient: v . grad of g(gamma (X_1.w - mu_B)/sigma_B + beta)", bn_stopgrad_derivative(1)),
               Step("the statistics put back", stop), Step("the printed formula along v", formula)],
        proofs={"stop-gradient gradient = X gamma g'(z)/sigma (expanded)": sp.expand(stop - formula)},
        summary=("The printed gradient X gamma g'(z)/sigma(Xw) is exact in the stop-gradient convention (the paper's). "
                 "With full backpropagation the gradient of sample i is gamma g'(z_i)/sigma times "
                 "(X_i - mean(X) - zhat_i sum_k zhat_k (X_k - mean(X))/n): the batch mean's row is removed and the "
                 "result is orthogonal to w."),
        extras={"full_minus_printed": bn_full_derivative(1) - formula})


def wn_formula_symbols():
    """The printed WN formula's symbols on the model (vectors read along v)."""
    return {printed.X_row: x1 * v1 + x2 * v2, printed.w_vec: w1 * v1 + w2 * v2, printed.Xw_dot: x1 * w1 + x2 * w2,
            printed.norm_w: norm(WEIGHTS), printed.z_in: unit_input(wn_normalize(WEIGHTS)[0])}


def derive_grad_formula_wn() -> Derivation:
    """The printed WN right-hand side is ``grad y_WN`` at ``w``; at ``alpha w`` the gradient is it over alpha."""
    at_w, at_aw = wn_derivative_at(1, 1), wn_derivative_at(1, alpha)
    formula = _printed_rhs(printed.GRAD_FORMULA_WN, wn_formula_symbols())
    return Derivation(
        result=at_w - formula,
        steps=[Step("v . grad y_WN at w", at_w), Step("the printed right-hand side along v", formula),
               Step("v . grad y_WN at alpha*w", at_aw)],
        proofs={"right-hand side = grad y_WN(X; w)": at_w - formula,
                "grad y_WN(X; alpha w) = right-hand side / alpha": at_aw - formula / alpha},
        summary=("The right-hand side (X/||w|| - w Xw/||w||^3) gamma g'(z) is the gradient at w: the left side should "
                 "read grad y_WN(X; w, gamma, beta). At alpha w the gradient is that divided by alpha (alpha > 0), as "
                 "the paper's next sentence says."))


def standardized_loss_radial(convention: str):
    """``u . grad_u L`` for ``L = F(s_1(u), s_2(u), s_3(u))`` (equal to ``w . grad_w L`` for u = Xw), one fraction."""
    if convention == STOPGRAD:
        expr = radial(F(*stopgrad_normalize(PREACT)), PREACT)
        return fraction(_put_back_statistics(expr, PREACT))
    return fraction(radial(F(*standardize(PREACT)), PREACT))


def derive_euler_orthogonal() -> Derivation:
    """Euler: ``w . grad L(w) = 0`` for a loss of scale-invariant outputs, with full backpropagation."""
    general = radial(angular_loss(WEIGHTS), WEIGHTS)
    proofs = {"any scale-invariant L of two weights, f(atan2(w2, w1))": general}
    proofs.update({f"BN/LN output {k + 1}: u . grad s_k(u)": radial(z, PREACT)
                   for k, z in enumerate(standardize(PREACT))})
    proofs["WN: w . grad zhat"] = radial(wn_normalize(WEIGHTS)[0], WEIGHTS)
    return Derivation(
        result=general,
        steps=[Step("w . grad f(atan2(w2, w1)) (the general scale-invariant function of two weights)", general),
               Step("u . grad s_1(u) (full BN with u = Xw, LN with u = xW)", radial(standardize(PREACT)[0], PREACT))],
        proofs=proofs,
        summary=("With full backpropagation every scale-invariant output or loss (BN, WN, LN with the whole matrix) "
                 "satisfies Euler's identity w . grad L(w) = 0 (differentiate L(alpha w) = L(w) in alpha at 1): the "
                 "gradient is orthogonal to w pointwise and the norm recursion has no cross term."))


def derive_euler_stopgrad() -> Derivation:
    """Stop-gradient: ``w . grad L = sum_k delta_k zhat_k + (mu/sigma) sum_k delta_k`` (not 0); 0 in expectation."""
    value = standardized_loss_radial(STOPGRAD)
    deltas = [sp.Symbol(f"F_{k}", real=True) for k in (1, 2, 3)]   # dL/dzhat_k at the point (see name_jets)
    mean, std = bn_statistics(PREACT)
    pointwise = sum(d * z for d, z in zip(deltas, standardize(PREACT))) + mean / std * sum(deltas)
    expectation = value.subs({d: 0 for d in deltas})   # E[delta_k | X] = 0 (Sec. 4 model); linear in the deltas
    return Derivation(
        result=expectation,
        steps=[Step("w . grad L in the stop-gradient convention, delta_k = F_k = dL/dzhat_k", value),
               Step("in expectation over the upstream gradients (E[delta_k | X] = 0)", expectation)],
        proofs={"pointwise form": value - pointwise, "expectation": expectation,
                "linear in the upstream gradients": value - sum(d * sp.diff(value, d) for d in deltas)},
        summary=("With gradients stopped at the batch statistics, w . grad L(w) = sum_k delta_k zhat_k + "
                 "(mu/sigma) sum_k delta_k, delta_k = dL/dzhat_k: not zero pointwise. It vanishes when the upstream "
                 "gradients sum to zero and are orthogonal to zhat over the batch (what full backpropagation "
                 "enforces), and in expectation under the Section 4 model (upstream gradients of mean zero given X). "
                 "So Sec. 4's recursion without a cross term holds in expectation in the paper's convention, and "
                 "pointwise only with full backpropagation."),
        extras={"pointwise": pointwise})


# ---- Section 5.4: Hessians ---------------------------------------------------------------------------------------
def derive_hess_scaling_bn_full() -> Derivation:
    """Full-backward BN: ``v^T grad^2 y(alpha w) v = v^T grad^2 y(w) v / alpha^2`` (on ``s(u)``, ``u = Xw``)."""
    return _scaling(lambda s: standardized_derivative_at(2, s), 2, "grad^2 y_BN (full backward)",
                    " (derived on s(u), u = Xw)")


def derive_hess_scaling_bn_stopgrad() -> Derivation:
    """Stop-gradient BN: the Hessian ``X^T X gamma^2 g''(z)/sigma^2`` scales like ``1/alpha^2``."""
    return _scaling(lambda s: bn_stopgrad_derivative_at(2, s), 2, "grad^2 y_BN (stop-gradient)")


def derive_hess_scaling_wn() -> Derivation:
    """WN: the Hessian scales like ``1/alpha^2``."""
    return _scaling(lambda s: wn_derivative_at(2, s), 2, "grad^2 y_WN")


def derive_hess_scaling_ln() -> Derivation:
    """LN (whole matrix): the Hessian scales like ``1/alpha^2`` (on ``s(u)``, ``u = xW``)."""
    return _scaling(lambda s: standardized_derivative_at(2, s), 2, "grad^2_W y_LN", " (derived on s(u), u = xW)")


def derive_hess_scaling_l2() -> Derivation:
    """Corrected Sec. 5.4: ``grad^2 L_lambda(alpha w) = grad^2 L_{lambda alpha^2}(w)/alpha^2``."""
    lhs = l2_loss_derivative_at(2, lam, alpha)
    rhs = l2_loss_derivative_at(2, lam * alpha**2, 1) / alpha**2
    return Derivation(
        result=lhs - rhs,
        steps=[Step("v^T grad^2 L_lambda v at alpha*w", lhs),
               Step("v^T grad^2 L_{lambda alpha^2} v at w, over alpha^2", rhs)],
        proofs={"grad^2 L_lambda(alpha w) = grad^2 L_{lambda alpha^2}(w)/alpha^2": lhs - rhs},
        summary=("The left side must be evaluated at alpha w_t: grad^2 L_lambda(alpha w) = grad^2 L(w)/alpha^2 + "
                 "2 lambda I = grad^2 L_{lambda alpha^2}(w)/alpha^2 (alpha > 0). As printed, both sides at w_t, the "
                 "residual is (1 - 1/alpha^2) grad^2 L(w_t), false unless alpha^2 = 1. The Newton argument that "
                 "follows uses the corrected form."))


def _hessian_euler(first, variables):
    """``v^T H w + v . grad y`` from the raw first derivative ``v . grad y``."""
    return radial(first, variables) + first


def derive_hess_euler() -> Derivation:
    """Euler for the Hessian: ``H(w) w = -grad L(w)`` for scale-invariant ``L`` (full backward); fails with
    stop-gradient BN."""
    general = _hessian_euler(along(angular_loss(WEIGHTS), WEIGHTS, DIRECTION), WEIGHTS)
    proofs = {"any scale-invariant L of two weights, f(atan2(w2, w1))": general}
    stop = _put_back_statistics(_hessian_euler(standardized_derivative(1, STOPGRAD), PREACT), PREACT)
    return Derivation(
        result=general,
        steps=[Step("v^T H w + v . grad L for L = f(atan2(w2, w1))", general)],
        proofs=proofs,
        summary=("Differentiating Euler's w . grad L(w) = 0 gives H(w) w = -grad L(w) for every scale-invariant L "
                 "with full backpropagation (proven here for any function of the direction of two weights, which "
                 "covers BN and WN units with two weights; the tests confirm BN, WN and LN numerically). In the "
                 "stop-gradient convention it fails: there H w + grad y = gamma g'(z) X/sigma + "
                 "gamma^2 g''(z) X (Xw)/sigma^2 (extras['stopgrad_residual'], on s(u))."),
        extras={"stopgrad_residual": stop})


def derive_hess_formula_bn() -> Derivation:
    """Stop-gradient BN Hessian equals ``X^T X gamma^2 g''(z)/sigma^2``; full backward differs."""
    stop = bn_stopgrad_derivative_at(2, 1)
    formula = _printed_rhs(printed.HESS_FORMULA_BN, stopgrad_formula_symbols())
    return Derivation(
        result=sp.expand(stop - formula),
        steps=[Step("stop-gradient: v^T grad^2 g(gamma (X_1.w - mu_B)/sigma_B + beta) v", bn_stopgrad_derivative(2)),
               Step("the printed formula along v (X^T X -> (X_1.v)^2)", formula)],
        proofs={"stop-gradient Hessian = X^T X gamma^2 g''(z)/sigma^2 (expanded)": sp.expand(stop - formula)},
        summary=("The printed Hessian X^T X gamma^2 g''(z)/sigma(Xw)^2 (X the sample's row) is exact in the "
                 "stop-gradient convention, as the second derivative with the statistics frozen. With full "
                 "backpropagation the Hessian has further terms (from mu's and sigma's dependence on w, including "
                 "g'(z) terms), so the formula is not the Hessian frameworks differentiate."),
        extras={"full_minus_printed": bn_full_derivative(2) - formula})


# ---- the claims ---------------------------------------------------------------------------------------------------
_P = printed
_INV = "Sec. 1 (y(X; alpha w) = y(X; w))"


CLAIMS = [
    _identity_claim("invariance.bn", "BN is scale-invariant", "y_BN(X; alpha w) = y_BN(X; w)", _INV,
                    _P.INVARIANCE["bn"], derive_invariance_bn, {"y_BN": _pre_activation(standardize, PREACT)},
                    condition="alpha > 0 (for alpha < 0, zhat(X; alpha w) = -zhat(X; w))", tags=("invariance", "bn")),
    _identity_claim("invariance.bn.epsilon", "BN with epsilon is not scale-invariant",
                    "y_BN,eps(X; alpha w) = y_BN,eps(X; w), sigma = sqrt(var + epsilon)", _INV + " with BN's epsilon",
                    _P.INVARIANCE["bn_eps"], derive_invariance_bn_epsilon,
                    {"y_BN_eps": _pre_activation(standardize, PREACT, epsilon=eps)},
                    condition=("epsilon = 0 and alpha > 0; with epsilon > 0 only y_eps(X; alpha w) = "
                               "y_{eps/alpha^2}(X; w) holds"), tags=("invariance", "bn", "epsilon")),
    _identity_claim("invariance.wn", "WN is scale-invariant", "y_WN(X; alpha w) = y_WN(X; w)", _INV,
                    _P.INVARIANCE["wn"], derive_invariance_wn, {"y_WN": _pre_activation(wn_normalize, WEIGHTS)},
                    condition="alpha > 0 (for alpha < 0, x.w/||w|| changes sign)", tags=("invariance", "wn")),
    _identity_claim("invariance.ln", "LN is invariant to uniform scaling of W", "y_LN(x; alpha W) = y_LN(x; W)",
                    _INV + "; footnote 1", _P.INVARIANCE["ln"], derive_invariance_ln,
                    {"y_LN": _pre_activation(standardize, PREACT)},
                    condition="alpha > 0 (for alpha < 0 every standardized output changes sign)",
                    tags=("invariance", "ln")),
    Claim(id="invariance.ln.per_unit", title="LN needs one scale factor for the whole layer",
          statement="y_LN(x; W diag(alpha_j)) = y_LN(x; W) for all x iff alpha_1 = alpha_2 = alpha_3",
          source="Sec. 1, footnote 1", printed=_P.LN_UNIFORM_SCALE, derive=derive_ln_uniform_scale,
          tags=("invariance", "ln")),
    _identity_claim("invariance.l1bn", "L1 batch norm is scale-invariant", "y_L1BN(X; alpha w) = y_L1BN(X; w)",
                    "Hoffer et al. 2018, Sec. 2 and 4", _P.INVARIANCE["l1bn"], derive_invariance_l1bn,
                    {"y_L1BN": _pre_activation(l1bn_normalize, WEIGHTS)}, tags=("invariance", "hoffer")),
    _identity_claim("invariance.linfbn", "L-infinity batch norm is scale-invariant",
                    "y_LinfBN(X; alpha w) = y_LinfBN(X; w)", "Hoffer et al. 2018, Sec. 2 and 4",
                    _P.INVARIANCE["linfbn"], derive_invariance_linfbn,
                    {"y_LinfBN": _pre_activation(linfbn_normalize, WEIGHTS)}, tags=("invariance", "hoffer")),
    Claim(id="hoffer.l1bn.constant", title="L1 batch norm constant sqrt(pi/2)",
          statement="C_L1 * mean_i |x_i - xbar| estimates sigma for Gaussian inputs, C_L1 = sqrt(pi/2)",
          source="Hoffer et al. 2018, Sec. 4", printed=_P.HOFFER_L1_CONSTANT, derive=derive_l1_constant,
          variables=(_P.inv_n,), tags=("hoffer", "constant")),
    Claim(id="hoffer.linfbn.constant", title="L-infinity batch norm constant",
          statement="C_Linf(n) * max_i |x_i - xbar| estimates sigma for Gaussian inputs",
          source="Hoffer et al. 2018, Sec. 4", printed=_P.HOFFER_LINF_CONSTANT, derive=derive_linf_constant,
          variables=(_P.log_n,), tags=("hoffer", "constant")),
    _identity_claim("l2.rescaling", "L2 strength and weight scale trade off",
                    "L_lambda(alpha w) = L_{lambda alpha^2}(w)", "Sec. 2", _P.L2_RESCALING, derive_l2_rescaling,
                    {"L_lambda": lambda strength, s: regularized_bn_loss(scaled(WEIGHTS, s), strength)}, tags=("l2",)),
    _identity_claim("l2.rescaling.middle", "Sec. 2's middle member drops alpha^2",
                    "L_lambda(alpha w) = sum_i l_i(y(X_i; w)) + lambda ||w||^2", "Sec. 2", _P.L2_RESCALING_MIDDLE,
                    derive_l2_rescaling_middle,
                    {"L_lambda": lambda strength, s: regularized_bn_loss(scaled(WEIGHTS, s), strength),
                     "L": lambda s: bn_loss(scaled(WEIGHTS, s)),
                     "sqnorm": lambda s: sp.expand(sum(wi**2 for wi in scaled(WEIGHTS, s)))},
                    condition=("the penalty term is lambda ||alpha w||^2 = lambda alpha^2 ||w||^2 (as printed it holds "
                               "only for alpha = 1)"), tags=("l2", "typo")),
    Claim(id="l2.optimum", title="lambda has no effect on the optimum",
          statement="the parameter lambda has no impact on the optimum, since the weights can be scaled to compensate",
          source="Sec. 2", printed=_P.L2_OPTIMUM, derive=derive_l2_optimum, judge=judge_l2_optimum, tags=("l2",)),
    _identity_claim("grad.scaling.bn_stopgrad", "BN gradient scales like 1/alpha (stop-gradient)",
                    "grad y_BN(alpha w) = grad y_BN(w)/alpha", "Sec. 3", _P.GRAD_SCALING["bn"],
                    derive_grad_scaling_bn_stopgrad, {"nabla_y_BN": lambda s: bn_stopgrad_derivative_at(1, s)},
                    convention=STOPGRAD, tags=("gradient", "bn")),
    _identity_claim("grad.scaling.bn_full", "BN gradient scales like 1/alpha (full backward)",
                    "grad y_BN(alpha w) = grad y_BN(w)/alpha", "Sec. 3", _P.GRAD_SCALING["bn"],
                    derive_grad_scaling_bn_full, {"nabla_y_BN": lambda s: standardized_derivative_at(1, s)},
                    tags=("gradient", "bn")),
    _identity_claim("grad.scaling.wn", "WN gradient scales like 1/alpha", "grad y_WN(alpha w) = grad y_WN(w)/alpha",
                    "Sec. 3", _P.GRAD_SCALING["wn"], derive_grad_scaling_wn,
                    {"nabla_y_WN": lambda s: wn_derivative_at(1, s)}, tags=("gradient", "wn")),
    _identity_claim("grad.scaling.ln", "LN gradient scales like 1/alpha", "grad_W y_LN(alpha W) = grad_W y_LN(W)/alpha",
                    "Sec. 3; Sec. 5.4", _P.GRAD_SCALING["ln"], derive_grad_scaling_ln,
                    {"nabla_y_LN": lambda s: standardized_derivative_at(1, s)}, tags=("gradient", "ln")),
    _identity_claim("grad.scaling.l2", "Regularized gradient rescaling law",
                    "grad L_lambda(alpha w) = grad L_{lambda alpha^2}(w)/alpha", "Sec. 3", _P.GRAD_SCALING["l2"],
                    derive_grad_scaling_l2,
                    {"nabla_L_lambda": lambda strength, s: l2_loss_derivative_at(1, strength, s)},
                    tags=("gradient", "l2")),
    _identity_claim("grad.formula.bn_stopgrad", "BN gradient formula X gamma g'(z)/sigma",
                    "grad y_BN = X gamma g'(z)/sigma(Xw)", "Sec. 3", _P.GRAD_FORMULA_BN, derive_grad_formula_bn,
                    {"nabla_y_BN": lambda s: bn_stopgrad_derivative_at(1, s)}, convention=STOPGRAD,
                    condition="gradients are stopped at the batch mean and standard deviation",
                    symbols=stopgrad_formula_symbols, tags=("gradient", "bn", "formula")),
    _identity_claim("grad.formula.wn", "WN gradient formula", "grad y_WN = (X/||w|| - w Xw/||w||^3) gamma g'(z)",
                    "Sec. 3", _P.GRAD_FORMULA_WN, derive_grad_formula_wn,
                    {"nabla_y_WN": lambda s: wn_derivative_at(1, s)},
                    condition=("the left side is grad y_WN(X; w) (not at alpha w); at alpha w the gradient is the "
                               "right side divided by alpha"), symbols=wn_formula_symbols,
                    tags=("gradient", "wn", "formula", "typo")),
    _identity_claim("grad.euler.orthogonal", "The gradient is orthogonal to w (full backward)", "w . grad L(w) = 0",
                    "Sec. 4 (implicit in the norm recursion)", _P.EULER_ORTHOGONAL, derive_euler_orthogonal,
                    {"w_dot_nabla_L": lambda s: at_scale(radial(angular_loss(WEIGHTS), WEIGHTS), s)},
                    condition="full backpropagation",
                    tags=("gradient", "euler")),
    _identity_claim("grad.euler.stopgrad", "The stop-gradient gradient is orthogonal to w only in expectation",
                    "E[w . grad L(w)] = 0", "Sec. 4 (the recursion for E||w_{t+1}||^2), in the Sec. 3 convention",
                    _P.EULER_IN_EXPECTATION, derive_euler_stopgrad,
                    {"E_w_dot_nabla_L": lambda s: derive_euler_stopgrad().result}, convention=STOPGRAD,
                    condition=("it is read in expectation over upstream gradients of mean zero given X (the Sec. 4 "
                               "model), or gradients are fully backpropagated; pointwise w . grad L = "
                               "sum_k delta_k zhat_k + (mu/sigma) sum_k delta_k"), tags=("gradient", "euler")),
    _identity_claim("hess.scaling.bn_full", "BN Hessian scales like 1/alpha^2 (full backward)",
                    "grad^2 y_BN(alpha w) = grad^2 y_BN(w)/alpha^2", "Sec. 5.4", _P.HESS_SCALING["bn"],
                    derive_hess_scaling_bn_full, {"nabla2_y_BN": lambda s: standardized_derivative_at(2, s)},
                    tags=("hessian", "bn")),
    _identity_claim("hess.scaling.bn_stopgrad", "BN Hessian scales like 1/alpha^2 (stop-gradient)",
                    "grad^2 y_BN(alpha w) = grad^2 y_BN(w)/alpha^2", "Sec. 5.4", _P.HESS_SCALING["bn"],
                    derive_hess_scaling_bn_stopgrad, {"nabla2_y_BN": lambda s: bn_stopgrad_derivative_at(2, s)},
                    convention=STOPGRAD, tags=("hessian", "bn")),
    _identity_claim("hess.scaling.wn", "WN Hessian scales like 1/alpha^2",
                    "grad^2 y_WN(alpha w) = grad^2 y_WN(w)/alpha^2", "Sec. 5.4", _P.HESS_SCALING["wn"],
                    derive_hess_scaling_wn,
                    {"nabla2_y_WN": lambda s: wn_derivative_at(2, s)}, tags=("hessian", "wn")),
    _identity_claim("hess.scaling.ln", "LN Hessian scales like 1/alpha^2",
                    "grad^2 y_LN(alpha W) = grad^2 y_LN(W)/alpha^2", "Sec. 5.4", _P.HESS_SCALING["ln"],
                    derive_hess_scaling_ln,
                    {"nabla2_y_LN": lambda s: standardized_derivative_at(2, s)}, tags=("hessian", "ln")),
    _identity_claim("hess.scaling.l2", "Regularized Hessian rescaling law (Sec. 5.4)",
                    "grad^2 L_lambda(alpha w) = grad^2 L_{lambda alpha^2}(w)/alpha^2", "Sec. 5.4",
                    _P.HESS_SCALING["l2"], derive_hess_scaling_l2,
                    {"nabla2_L_lambda": lambda strength, s: l2_loss_derivative_at(2, strength, s)},
                    condition=("the left side is evaluated at alpha w_t: grad^2 L_lambda(alpha w) = "
                               "grad^2 L_{lambda alpha^2}(w)/alpha^2, alpha > 0"), tags=("hessian", "l2", "typo")),
    Claim(id="hess.euler", title="H w = -grad y for scale-invariant outputs",
          statement="grad^2 y(w) w = -grad y(w) (full backpropagation)", source="follows from Sec. 1 (Euler)",
          printed=_P.HESS_EULER, derive=derive_hess_euler, tags=("hessian", "euler")),
    _identity_claim("hess.formula.bn_stopgrad", "BN Hessian formula X^T X gamma^2 g''(z)/sigma^2",
                    "grad^2 y_BN = X^T X gamma^2 g''(z)/sigma(Xw)^2", "Sec. 5.4", _P.HESS_FORMULA_BN,
                    derive_hess_formula_bn, {"nabla2_y_BN": lambda s: bn_stopgrad_derivative_at(2, s)},
                    convention=STOPGRAD, condition="gradients are stopped at the batch mean and standard deviation",
                    symbols=stopgrad_formula_symbols, tags=("hessian", "bn", "formula")),
]
