"""The L2 rescaling law (Sec. 2), gradient homogeneity and orthogonality (Sec. 3) and Hessian homogeneity (Sec. 5.4),
derived on the normalization model (``theory.norm_model``)."""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from . import printed
from .compare import Verdict, judged
from .derivation import Derivation, Step
from .symbols import alpha, lam
from .norm_model import (STOPGRAD, w1, w2, WEIGHTS, v1, v2, DIRECTION, x1, x2, BATCH, PREACT, F, scaled,
                         pre_activations, standardize, bn_statistics, bn_normalize, stopgrad_normalize, norm,
                         wn_normalize, unit_input, penalty, angular_loss, bn_loss, regularized_bn_loss)
from .norm_calculus import (along, radial, pull_scale, at_scale, fraction, standardized_derivative,
                            _put_back_statistics, standardized_derivative_at, bn_stopgrad_derivative,
                            bn_stopgrad_derivative_at, bn_full_derivative, wn_derivative_at, l2_loss_derivative_at)


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


@lru_cache(maxsize=None)
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


