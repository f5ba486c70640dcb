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

from .claim import Claim, Printed
from .compare import Verdict, judged
from .derivation import Derivation, Step, simplified
from .gradients import standardized_loss_radial
from .norm_model import FULL, STOPGRAD
from .symbols import beta, d, gamma, sigma_g, sigma_x
from .symbols import lam as lam_sym
from .symbols import r as r_sym

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
        "mean_is_sum_over_B_squared": simplified(unit_C("mean", backward) * B**2 - unit_C("sum", backward)),
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


# ---- the paper's statements about the unit's gradient (Secs. 3, 4 and 5.2) --------------------------------------
def grad_mean() -> Derivation:
    """``E[grad L] = 0``: the stop-gradient gradient is linear in the upstream gradients ``delta_i`` (zero-mean,
    independent of the inputs), and so is the full backward's."""
    delta = sp.symbols("delta_1:4", real=True)
    x_hat = sp.symbols("xhat_1:4", real=True)
    stop = sum(dl * gamma * xh for dl, xh in zip(delta, x_hat))        # one coordinate's gradient, up to X_ij/s
    mean = stop.subs({dl: 0 for dl in delta})                           # E[delta_i | X] = 0, linear in delta
    return Derivation(result=mean,
                      steps=[Step("each coordinate is sum_i delta_i gamma g'_i X_ij/s: linear in the delta_i", stop),
                             Step("E[delta_i | X] = 0 (the model's upstream gradients)", mean)],
                      proofs={"linear in delta": stop - sum(dl * sp.diff(stop, dl) for dl in delta)},
                      summary="E[grad L(w_t)] = 0 in the model: every backward pass is linear in the upstream "
                              "gradients, which have mean zero given the inputs")


def pass_indicator_second_moment() -> Derivation:
    """``E[g'(z)^2] = P(z > 0) = p``: the per-coordinate moment with the ReLU's derivative averaged out."""
    p = pass_probability()
    value = sigma_g**2 * gamma**2 * p / r_sym**2
    return Derivation(result=value.subs(beta, 0),
                      steps=[Step("g'(z) in {0, 1}, so E[g'(z)^2] = P(z > 0) = p (beta = 0: 1/2)", p),
                             Step("the moment, B -> oo (the batch std -> sigma_X ||w||), beta = 0", value.subs(beta, 0))],
                      proofs={"p at beta = 0": p.subs(beta, 0) - sp.Rational(1, 2)},
                      summary="an expectation cannot depend on the random z: the g'(z) in the printed moment must be "
                              "averaged, E[g'(z)^2] = p (1/2 at beta = 0), which the paper's next sentence does")


def equal_pass_probability() -> Derivation:
    """``P(g'(z) = 1) = p(beta/gamma, B)``, 1/2 exactly when ``beta = 0`` (for every B, by the sign symmetry)."""
    p = pass_probability()
    return Derivation(result=p, steps=[Step("P(gamma x_hat + beta > 0) for one sample of a Gaussian batch", p)],
                      proofs={"1/2 at beta = 0": p.subs(beta, 0) - sp.Rational(1, 2)},
                      summary="the ReLU passes with probability 1/2 exactly when beta = 0; a shift beta moves it to "
                              "1/2 + sign(beta) I(beta^2/(gamma^2 (B-1)); 1/2, (B-2)/2)/2 (Phi(beta/gamma) as B -> oo)",
                      extras={"at_one": float(p.subs({beta: 1, gamma: 1, B: 128}).evalf())})


def judge_equal_probability(dv: Derivation) -> Verdict:
    shifted = dv.extras["at_one"]
    return judged(abs(shifted - 0.5) < 1e-12, f"P(z > 0) = {shifted:.4f} at beta = gamma = 1, B = 128",
                  partial="the equal probability holds at beta = 0, for every batch size")


def accumulator_mean() -> Derivation:
    """RMSProp's accumulator at stationarity, per coordinate: ``E[(dL/dw_j + 2 lam w_j)^2]`` of one sample."""
    per_sample = unit_C("sum", "stop_gradient").subs(beta, 0) / (B * d)
    value = sp.factor(per_sample) / r_sym**2 + 4 * lam_sym**2 * r_sym**2 / d
    return Derivation(result=value,
                      steps=[Step("the gradient's per-coordinate moment, one sample (sec4.grad_second_moment)",
                                  sp.factor(per_sample) / r_sym**2),
                             Step("plus the L2 term (2 lam w_j)^2, E[w_j^2] = ||w||^2/d", 4 * lam_sym**2 * r_sym**2 / d)],
                      proofs={"large batch, no decay": sp.limit(value.subs(lam_sym, 0), B, sp.oo)
                              - sigma_g**2 * gamma**2 / (2 * r_sym**2)},
                      summary="E[g_{t+1}] = sigma^2 gamma^2 (d B - 2)/(2 d (B - 3) ||w||^2) + 4 lam^2 ||w||^2/d per "
                              "coordinate: the printed sigma^2 gamma^2/(2||w||^2) is its leading order (B -> oo, "
                              "lam -> 0)")


def frameworks_backward() -> Derivation:
    """The gradient of the BN forward pass (the chain rule through mu and sigma, what autodiff computes) satisfies
    Euler's identity ``w . grad = 0``; the stop-gradient one does not: they are different gradients."""
    full, stop = standardized_loss_radial(FULL), standardized_loss_radial(STOPGRAD)
    return Derivation(result=sp.Matrix([full, stop]),
                      steps=[Step("w . grad L of the forward pass differentiated through mu and sigma", full),
                             Step("w . grad L with mu and sigma held fixed (stop-gradient)", stop)],
                      proofs={"the forward pass's gradient is orthogonal to w": full},
                      summary="automatic differentiation of the BN forward pass (every framework: torch, TensorFlow, "
                              "JAX; the property leg checks torch.nn.BatchNorm1d) propagates through the batch mean "
                              "and std: its gradient is orthogonal to w, the stop-gradient one is not",
                      extras={"stop_radial": stop})


def judge_frameworks(dv: Derivation) -> Verdict:
    stop_differs = dv.extras["stop_radial"] != 0
    return judged(not stop_differs, "the stop-gradient 'gradient' is not the derivative of the forward pass (w . grad "
                  "is sum_k delta_k zhat_k + (mu/sigma) sum_k delta_k, not 0); frameworks differentiate the forward "
                  "pass, mu and sigma included (Ioffe & Szegedy 2015 give that backward pass)",
                  partial="the paper's analysis uses the stop-gradient convention; its conclusions hold for both "
                          "(grad.scaling.bn_full, grad.euler.*)")


def _claims():
    g_prime = sp.Symbol("g'(z)", nonnegative=True)
    return [
        Claim(id="sec3.frameworks_backpropagate_statistics", title="Do frameworks stop the gradient at the batch "
              "statistics?", statement="With batch and layer normalization, the gradients are usually not propagated "
              "through the batch mean and standard deviation functions.", source="Sec. 3",
              printed=Printed(None, "verbal", "Sec. 3", text="With batch and layer normalization, the gradients are "
                              "usually not propagated through the batch mean and standard deviation functions."),
              derive=frameworks_backward, judge=judge_frameworks, tags=("verbal", "practice")),
        Claim(id="sec4.grad_mean_zero", title="The gradient has mean zero in the Section 4 model",
              statement="E[grad L(w_t)] = 0", source="Sec. 4",
              printed=Printed(sp.Integer(0), "exact", "Sec. 4 (E[grad L(w_t)] = 0)"), derive=grad_mean,
              variables=(), tags=("section4",)),
        Claim(id="sec4.grad_second_moment.g_prime", title="The second moment with g'(z) inside the expectation",
              statement="E[grad L(w_t)^2] = sigma_nabla^2 gamma^2 g'(z)/||w_t||^2", source="Sec. 4",
              printed=Printed(sigma_g**2 * gamma**2 * g_prime / r_sym**2, "exact",
                              "Sec. 4 (E[grad L(w_t)^2] = sigma^2 gamma^2 g'(z)/||w_t||^2)",
                              text="the random g'(z) stands inside a value that is an expectation",
                              intended=sigma_g**2 * gamma**2 / (2 * r_sym**2)),
              derive=pass_indicator_second_moment, variables=(), tags=("section4",)),
        Claim(id="sec4.relu_equal_probability", title="A ReLU passes the gradient with probability 1/2",
              statement="if the nonlinearity is a rectifier, then its gradient g'(z) is 0 or 1 with equal probability",
              source="Sec. 4", printed=Printed(None, "verbal", "Sec. 4", text="Furthermore, if the nonlinearity is a "
                                               "rectifier, then its gradient g'(z) is 0 or 1 with equal probability"),
              derive=equal_pass_probability, judge=judge_equal_probability, tags=("section4", "verbal")),
        Claim(id="sec52.rmsprop.accumulator", title="RMSProp's accumulator at equilibrium",
              statement="E[g_{t+1}] = sigma_nabla^2 gamma^2/(2 ||w_t||^2)", source="Sec. 5.2",
              printed=Printed(sigma_g**2 * gamma**2 / (2 * r_sym**2), "exact",
                              "Sec. 5.2 (E[g_{t+1} = sigma^2 gamma^2/(2||w_t||^2], bracket as printed)"),
              derive=accumulator_mean, variables=(lam_sym,), large=(B,), tags=("section4",)),
    ]


CLAIMS = _claims()
