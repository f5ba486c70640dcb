"""The gradient second moment of a real Batch-Normalized unit at finite batch size: the Section 4 constant ``C``.

The unit (the paper's Sections 1, 3 and 4): a batch ``X`` of ``B`` inputs ``X_i ~ N(0, sigma_X^2 I_d)``, the
pre-activations ``h = X w``, batch normalization ``x_hat_i = (h_i - mean h)/std h`` (biased std over the batch,
no epsilon), ``z_i = gamma x_hat_i + beta`` (``gamma > 0``), ``y_i = g(z_i)`` with ``g`` a ReLU (or the identity),
and an upstream gradient ``delta_i = dL/dy_i ~ N(0, sigma_nabla^2)`` independent of everything else.

Conventions (each one a parameter of :func:`unit_C`):

* **loss normalization**: ``'sum'`` differentiates ``sum_i l_i`` (the paper's Sec. 2, ``L = sum_i l_i``);
  ``'mean'`` differentiates ``(1/B) sum_i l_i`` (what frameworks minimize). The mean's ``C`` is the sum's / ``B^2``.
* **backward**: ``'stop_gradient'`` holds the batch mean and std fixed (the paper's Sec. 3); ``'full'``
  differentiates through them (Ioffe & Szegedy 2015; what every framework computes).

``C`` is the gradient's squared norm at unit weight norm, ``C = E||grad L(w)||^2 ||w||^2`` (the gradient has
degree -1, so this does not depend on ``||w||``): the constant of the Section 4 model, where the stochastic
gradient at ``w`` is ``g/||w||`` with ``E||g||^2 = C``. The derivation is exact for every ``d >= 2`` and
``B >= 4``; two facts about a Gaussian batch carry it:

1. ``x = X w_hat`` is an i.i.d. ``N(0, sigma_X^2)`` sample and the rest of ``X`` (orthogonal to ``w_hat``) is
   independent of it. The batch's normalized vector ``x_hat`` is uniform on the sphere ``{sum x_hat = 0,
   sum x_hat^2 = B}`` and independent of the batch std ``s`` and mean; ``B s^2/sigma_X^2 ~ chi2_{B-1}``, so
   ``E[1/s^2] = B/((B-3) sigma_X^2)``.
2. One coordinate of ``x_hat`` is ``sqrt(B-1) v`` with ``v^2 ~ Beta(1/2, (B-2)/2)``, symmetric in sign. So the
   ReLU's pass probability ``p = P(gamma x_hat_i + beta > 0)`` and ``q = E[x_hat_i^2 [gamma x_hat_i + beta > 0]]``
   are regularized incomplete beta functions of ``beta^2/(gamma^2 (B-1))``; at ``beta = 0`` both are 1/2.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .derivation import Derivation, Step
from .symbols import beta, d, gamma, sigma_g, sigma_x

#: the batch size
B = sp.Symbol("B", positive=True, integer=True)
#: the ReLU's pass probability P(z_i > 0) and the pass-weighted second moment E[x_hat_i^2 [z_i > 0]], as symbols
p_pass, q_pass = sp.symbols("p q", positive=True)

LOSSES = ("sum", "mean")
BACKWARDS = ("stop_gradient", "full")
ACTIVATIONS = ("relu", "linear")
#: the paper's own unit: a ReLU, gradients stopped at the batch statistics (Sec. 3), the loss a sum (Sec. 2)
PAPER_UNIT = {"loss": "sum", "backward": "stop_gradient", "activation": "relu"}


def _threshold() -> sp.Expr:
    """``beta^2/(gamma^2 (B - 1))``, capped at 1: where the ReLU's threshold sits on the law of ``v^2``."""
    return sp.Min(1, beta**2 / (gamma**2 * (B - 1)))


def pass_probability(activation: str = "relu") -> sp.Expr:
    """``p = P(gamma x_hat_i + beta > 0)`` for one sample of a Gaussian batch of ``B`` (1 for the identity).

    >>> pass_probability().subs(beta, 0)
    1/2
    """
    if activation == "linear":
        return sp.Integer(1)
    return sp.Rational(1, 2) + sp.sign(beta) / 2 * sp.betainc_regularized(sp.Rational(1, 2), (B - 2) / 2, 0,
                                                                           _threshold())


def pass_second_moment(activation: str = "relu") -> sp.Expr:
    """``q = E[x_hat_i^2 [gamma x_hat_i + beta > 0]]`` for one sample (1 for the identity, where E[x_hat^2] = 1).

    With ``v^2 ~ Beta(1/2, (B-2)/2)``: ``E[v^2 [v^2 < c]] = E[v^2] I_c(3/2, (B-2)/2)`` and ``E[v^2] = 1/(B-1)``.

    >>> pass_second_moment().subs(beta, 0)
    1/2
    """
    if activation == "linear":
        return sp.Integer(1)
    return sp.Rational(1, 2) + sp.sign(beta) / 2 * sp.betainc_regularized(sp.Rational(3, 2), (B - 2) / 2, 0,
                                                                           _threshold())


def _sum_loss_C(backward: str) -> sp.Expr:
    """``C`` for the batch-sum loss in terms of the symbols ``p``, ``q`` (see :func:`unit_C_derivation`)."""
    scale = sigma_g**2 * gamma**2
    if backward == "stop_gradient":
        return scale * B * (p_pass * ((d - 1) * B + 1) / (B - 3) + q_pass)
    return scale * (d - 1) * B * (p_pass * (B - 1) - q_pass) / (B - 3)


@lru_cache(maxsize=None)
def unit_C(loss: str = "sum", backward: str = "stop_gradient", activation: str = "relu") -> sp.Expr:
    """``C = E||grad L(w)||^2 ||w||^2`` of the BN unit, exact at finite ``d`` and ``B``, in ``d, B, gamma, beta,
    sigma_nabla``.

    >>> sp.factor(unit_C().subs(beta, 0))
    B*gamma**2*sigma_nabla**2*(B*d - 2)/(2*(B - 3))
    >>> sp.factor(unit_C(backward="full").subs(beta, 0))
    B*gamma**2*sigma_nabla**2*(B - 2)*(d - 1)/(2*(B - 3))
    """
    _check(loss, backward, activation)
    C_sum = _sum_loss_C(backward).subs({p_pass: pass_probability(activation), q_pass: pass_second_moment(activation)},
                                       simultaneous=True)
    return C_sum / B**2 if loss == "mean" else C_sum


def radial_share(activation: str = "relu") -> sp.Expr:
    """Stop-gradient: ``E[(w_hat . grad L)^2] / E||grad L||^2``, the share of the gradient along ``w`` (the
    full backward's gradient is exactly orthogonal to ``w``: share 0). About ``1/d`` at ``beta = 0``.

    >>> sp.factor(radial_share().subs(beta, 0))
    (B - 2)/(B*d - 2)
    """
    radial = p_pass / (B - 3) + q_pass
    total = p_pass * ((d - 1) * B + 1) / (B - 3) + q_pass
    return (radial / total).subs({p_pass: pass_probability(activation), q_pass: pass_second_moment(activation)},
                                 simultaneous=True)


def per_sample_coordinate_moment(loss: str = "sum", backward: str = "stop_gradient") -> sp.Expr:
    """``C/(B d)`` for the sum loss (``C B/d`` for the mean's, i.e. the sum's per sample): the moment per sample
    and coordinate that the paper's ``E[grad L(w_t)^2] ||w_t||^2`` names, at finite ``B``."""
    C_sum = unit_C("sum", backward)
    return C_sum / (B * d)


def _check(loss: str, backward: str, activation: str) -> None:
    if loss not in LOSSES or backward not in BACKWARDS or activation not in ACTIVATIONS:
        raise ValueError(f"unknown BN-unit convention ({loss!r}, {backward!r}, {activation!r}); choose the loss "
                         f"from {LOSSES}, the backward from {BACKWARDS}, the activation from {ACTIVATIONS}")


# ---- the derivation and its proofs -------------------------------------------------------------------------
_k = sp.Symbol("k", positive=True)
_x = sp.Symbol("x", positive=True)
_v = sp.Symbol("v", real=True)


def inverse_chi2_mean() -> sp.Expr:
    """``E[1/X]`` for ``X ~ chi2_k``, by integration against the density (``1/(k - 2)`` for ``k > 2``)."""
    density = _x ** (_k / 2 - 1) * sp.exp(-_x / 2) / (2 ** (_k / 2) * sp.gamma(_k / 2))
    value = sp.integrate(density / _x, (_x, 0, sp.oo), conds="none")
    return sp.simplify(sp.gammasimp(value))


def coordinate_density(batch: int) -> sp.Expr:
    """The density of ``v = x_hat_i/sqrt(B-1)`` on ``[-1, 1]`` at a given batch size: ``(1 - v^2)^((B-4)/2)/Beta``."""
    a, b = sp.Rational(1, 2), sp.Rational(batch - 2, 2)
    return (1 - _v**2) ** sp.Rational(batch - 4, 2) * sp.gamma(a + b) / (sp.gamma(a) * sp.gamma(b))


@lru_cache(maxsize=None)
def unit_C_derivation(loss: str = "sum", backward: str = "stop_gradient") -> Derivation:
    """The exact ``C`` of the BN unit under one loss normalization and one backward convention (ReLU)."""
    _check(loss, backward, "relu")
    result = unit_C(loss, backward)
    per_sample = sp.limit(unit_C("sum", backward).subs(beta, 0) / B, B, sp.oo)
    steps = [
        Step("split X_i = x_i w_hat + X_perp_i: x = X w_hat is N(0, sigma_X^2) i.i.d., X_perp independent with "
             "E||X_perp_i||^2 = (d - 1) sigma_X^2; h = ||w|| x, so s(h) = ||w|| s(x) and the gradient has degree -1"),
        Step("for a Gaussian batch x_hat is uniform on {sum x_hat = 0, sum x_hat^2 = B}, independent of s(x) and "
             "mean(x); B s^2/sigma_X^2 ~ chi2_(B-1) and E[1/chi2_k] = 1/(k - 2) gives E[1/s^2]",
             B / ((B - 3) * sigma_x**2)),
        Step("ReLU pass probability p = P(gamma x_hat_i + beta > 0), with x_hat_i = sqrt(B-1) v and "
             "v^2 ~ Beta(1/2, (B-2)/2)", pass_probability()),
        Step("and q = E[x_hat_i^2 [z_i > 0]]", pass_second_moment()),
    ]
    if backward == "stop_gradient":
        steps.append(Step("stop-gradient, sum loss: grad L = sum_i delta_i gamma g'_i X_i/s(h); the delta_i are "
                          "independent and zero-mean, so E||grad||^2 ||w||^2 = sigma_nabla^2 gamma^2 E[sum_i g'_i "
                          "(x_i^2 + ||X_perp_i||^2)/s(x)^2] with x_i = mean(x) + s(x) x_hat_i", _sum_loss_C(backward)))
    else:
        steps.append(Step("full backward: dL/dh = P u/s(h), u_i = delta_i gamma g'_i, P = I - 11^T/B - x_hat "
                          "x_hat^T/B (a projector of rank B - 2: one degree of freedom to the mean, one to the "
                          "variance); P x = 0 so grad = X_perp^T P u/s(h), exactly orthogonal to w, and "
                          "E[u^T P u] = sigma_nabla^2 gamma^2 (p (B - 1) - q)", _sum_loss_C(backward)))
    if loss == "mean":
        steps.append(Step("the batch-mean loss divides the gradient by B, its square by B^2", result))
    steps.append(Step("as B -> oo at beta = 0, per sample (sum loss / B)", per_sample))
    at_zero = sp.factor(unit_C("sum", backward).subs(beta, 0))
    expected_zero = (B * gamma**2 * sigma_g**2 * (B * d - 2) / (2 * (B - 3)) if backward == "stop_gradient"
                     else B * gamma**2 * sigma_g**2 * (B - 2) * (d - 1) / (2 * (B - 3)))
    proofs = {
        "inverse_chi2": inverse_chi2_mean() - 1 / (_k - 2),
        "relu_symmetric_at_beta_0": pass_probability().subs(beta, 0) - sp.Rational(1, 2),
        "pass_moment_at_beta_0": pass_second_moment().subs(beta, 0) - sp.Rational(1, 2),
        "closed_form_at_beta_0": at_zero - expected_zero,
        "per_sample_limit": per_sample - (d * gamma**2 * sigma_g**2 / 2 if backward == "stop_gradient"
                                          else (d - 1) * gamma**2 * sigma_g**2 / 2),
        "mean_is_sum_over_B_squared": sp.simplify(unit_C("mean", backward) * B**2 - unit_C("sum", backward)),
        # the law of one coordinate: a density, with E[x_hat_i^2] = (B - 1) E[v^2] = 1 (sum x_hat^2 = B), at B = 8
        "coordinate_law_normalized": sp.integrate(coordinate_density(8), (_v, -1, 1)) - 1,
        "coordinate_law_second_moment": 7 * sp.integrate(_v**2 * coordinate_density(8), (_v, -1, 1)) - 1,
    }
    return Derivation(
        result=result, steps=steps, proofs=proofs,
        summary=("C = E||grad L||^2 ||w||^2 of a BN + ReLU unit, exact at finite d and B for Gaussian inputs: "
                 + ("stop-gradient" if backward == "stop_gradient" else "full backward") + f", {loss} loss; at "
                 "beta = 0 " + sp.sstr(sp.factor(result.subs(beta, 0)))),
        extras={"at_beta_0": sp.factor(result.subs(beta, 0)), "per_sample_limit": per_sample,
                "radial_share": radial_share() if backward == "stop_gradient" else sp.Integer(0)})
