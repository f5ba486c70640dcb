"""The claims of normalization (van Laarhoven Sec. 1-3 and 5.4; Hoffer et al. 2018 Sec. 2 and 4): each printed
statement instantiated on the symbolic model (``theory.norm_model``) and compared with its derivation
(``theory.invariance``, ``theory.gradients``)."""
from __future__ import annotations


import sympy as sp

from . import printed
from .claim import Claim
from .symbols import eps
from .norm_model import (FULL, STOPGRAD, WEIGHTS, PREACT, scaled, standardize, l1bn_normalize, linfbn_normalize,
                         wn_normalize, unit_input, angular_loss, bn_loss, regularized_bn_loss)
from .norm_calculus import (radial, at_scale, standardized_derivative_at, bn_stopgrad_derivative_at, wn_derivative_at,
                            l2_loss_derivative_at, instantiator)
from .invariance import (derive_invariance_bn, derive_invariance_bn_epsilon, derive_invariance_wn,
                         derive_invariance_ln, derive_invariance_l1bn, derive_invariance_linfbn,
                         derive_ln_uniform_scale, derive_l1_constant, derive_linf_constant)
from .gradients import (derive_l2_rescaling, derive_l2_rescaling_middle, derive_l2_optimum, judge_l2_optimum,
                        derive_grad_scaling_bn_stopgrad, derive_grad_scaling_bn_full, derive_grad_scaling_wn,
                        derive_grad_scaling_ln, derive_grad_scaling_l2, stopgrad_formula_symbols,
                        derive_grad_formula_bn, wn_formula_symbols, derive_grad_formula_wn, derive_euler_orthogonal,
                        derive_euler_stopgrad, derive_hess_scaling_bn_full, derive_hess_scaling_bn_stopgrad,
                        derive_hess_scaling_wn, derive_hess_scaling_ln, derive_hess_scaling_l2, derive_hess_euler,
                        derive_hess_formula_bn)


def _identity_claim(cid, title, statement, source, entry, derive, concrete, convention=FULL, condition="alpha > 0",
                    symbols=None, tags=()):
    """A claim whose printed form is an identity, instantiated on the model through ``concrete``."""
    return Claim(id=cid, title=title, statement=statement, source=source, printed=entry, derive=derive,
                 convention=convention, condition=condition,
                 instantiate=instantiator(concrete, symbols, entry.domain), tags=tags)


def _pre_activation(normalize, weights, **kw):
    """A callable ``scale -> z_1`` (the first output's input to g, through which y depends on the weights)."""
    return lambda s: unit_input(normalize(scaled(weights, s), **kw)[0])



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
