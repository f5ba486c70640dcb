"""Derivatives on the normalization model (``theory.norm_model``) and their values at a rescaled ``w``, and the
instantiation of the printed statements (undefined functions) on the model."""
from __future__ import annotations

from functools import lru_cache

import sympy as sp
from sympy.core.function import AppliedUndef

from . import printed
from .symbols import lam
from .norm_model import (FULL, STOPGRAD, WEIGHTS, DIRECTION, mu_B, sigma_B, PREACT, PREACT_DIRECTION, scaled,
                         pre_activations, standardize, bn_statistics, bn_normalize, stopgrad_normalize, wn_normalize,
                         unit_output, penalty, angular_loss)


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


