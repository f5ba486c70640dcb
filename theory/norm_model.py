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

from .symbols import beta, gamma, lam

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
@lru_cache(maxsize=None)
def _tidy(expr):
    """Expand, then pull common factors out of every sum (a common scale factor shows as a factor). Memoized: the
    forward passes tidy the same sums again and again (``factor_terms`` is not cached by SymPy)."""
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


