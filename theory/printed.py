"""The formulas exactly as the papers print them: data, kept in one place, mistakes included.

Every entry is a :class:`normlaws.theory.claim.Printed` with the section, equation or table cell it comes
from. Nothing here is assumed to be right: the registry compares each with its derivation and computes a
verdict. Symbols follow the paper: ``r`` is ``||w||_2``, ``sigma_nabla`` the upstream-gradient std,
``gamma`` the BN gain, ``rho`` the momentum / RMSProp decay, ``eta`` and ``lambda`` the learning rate and the
L2 strength of the penalty ``lambda*||w||^2``.

Source: T. van Laarhoven, "L2 Regularization versus Batch and Weight Normalization", NIPS 2017
(arXiv 1706.05350), as in ``../shared/papers/``.
"""
import sympy as sp

from .claim import Printed
from .symbols import alpha, beta1, beta2, eps, eta, gamma, lam, r, rho, sigma_g

_root = lambda x, n: x ** sp.Rational(1, n)  # noqa: E731 - n-th root as the paper writes it

# ---- Section 3.1 and Table 1, column "effective learning rate" (for any weight scale) -----------------
EFF_LR = {
    "sgd": Printed(eta / r**2, "exact", "Sec. 3.1 (eta_eff = eta/||w||^2); Table 1 row SGD, col. 1"),
    "momentum": Printed(eta / r**2, "exact", "Sec. 5.1; Table 1 row Momentum, col. 1"),
    "rmsprop": Printed(eta / r, "exact", "Sec. 5.2; Table 1 row RMSProp, col. 1"),
    "adam": Printed(eta / r, "exact", "Sec. 5.3; Table 1 row ADAM, col. 1"),
    "normalized": Printed(eta, "exact", "Sec. 5.5; Table 1 row Normalized SGD, col. 1"),
    "newton": Printed(eta, "exact", "Sec. 5.4 (eta_eff = eta); Table 1 row Newton, col. 1"),
}

# ---- Table 1, column "weight scale ||w||_2" at equilibrium (O(.) statements) --------------------------
NORM_EQ = {
    "sgd": Printed(_root(eta / lam, 4), "order", "Sec. 4 (||w|| ~ O((eta/lambda)^(1/4))); Table 1 row SGD, col. 2"),
    "momentum": Printed(_root(eta / lam, 4), "order", "Table 1 row Momentum, col. 2 (O((eta/lambda)^(1/4)))"),
    "rmsprop": Printed(_root(eta / lam, 3), "order", "Table 1 row RMSProp, col. 2 (O((eta/lambda)^(1/3)))"),
    "adam": Printed(_root(eta / lam, 3), "order", "Table 1 row ADAM, col. 2; Sec. 6 (O((eta/lambda)^(1/3)))"),
    "normalized": Printed(sp.Integer(1), "exact", "Sec. 5.5; Table 1 row Normalized SGD, col. 2 (||w|| = 1)"),
}

#: Sec. 5.1, as printed: "converges to the order of sqrt[4]{eta/(1-rho)lambda}" -- read with the usual precedence,
#: eta/(1 - rho) times lambda
SEC51_MOMENTUM_NORM = Printed(_root(eta / (1 - rho) * lam, 4), "order",
                              "Sec. 5.1 (the norm converges to the order of sqrt[4]{eta/(1-rho)lambda})",
                              text="as printed, eta/(1-rho)lambda is (eta/(1-rho)) lambda",
                              intended=_root(eta / ((1 - rho) * lam), 4))
#: Sec. 5.2: ||w||_2 = O(cbrt(eta sigma_nabla gamma / lambda))
SEC52_RMSPROP_NORM = Printed(_root(eta * sigma_g * gamma / lam, 3), "order",
                             "Sec. 5.2 (||w||_2 = O((eta sigma_nabla gamma/lambda)^(1/3)))")

# ---- Table 1, last column: the effective learning rate at equilibrium, in terms of eta and lambda ----
EFF_LR_EQ = {
    "sgd": Printed(sp.sqrt(eta / lam), "order", "Sec. 4 (eta_eff = sqrt(eta/lambda)); Table 1 row SGD, col. 3; Sec. 6"),
    "momentum": Printed(sp.sqrt(eta / lam), "order", "Table 1 row Momentum, col. 3; Sec. 6 (Nesterov)"),
    "rmsprop": Printed(_root(eta**2 / lam, 3), "order", "Sec. 5.2 (eta_eff = (eta^2/lambda)^(1/3)); Table 1 row RMSProp, col. 3"),
    "adam": Printed(_root(eta**2 / lam, 3), "order", "Table 1 row ADAM, col. 3; Sec. 6"),
    "normalized": Printed(eta, "exact", "Table 1 row Normalized SGD, col. 3"),
    "newton": Printed(eta, "exact", "Table 1 row Newton, col. 3"),
}

# ---- Section 3.1 and Figure 4: optimal learning rate against lambda (proportionality) ----------------
OPTIMAL_LR = {
    "sgd": Printed(1 / lam, "order", "Sec. 3.1 (eta* proportional to 1/lambda); Sec. 6, Figure 4 (SGD, Nesterov)"),
    "momentum": Printed(1 / lam, "order", "Sec. 6, Figure 4 (Nesterov momentum: inverse linear)"),
    "rmsprop": Printed(1 / sp.sqrt(lam), "order", "Sec. 5.2 (eta* proportional to 1/sqrt(lambda)); Figure 4"),
    "adam": Printed(1 / sp.sqrt(lam), "order", "Sec. 6, Figure 4 (ADAM: 1/sqrt(lambda))"),
}

# ---- Section 4: the stochastic model of SGD -------------------------------------------------------------
#: E[grad L(w_t)^2] with a rectifier (g'(z) in {0, 1} with equal probability)
SEC4_GRAD_SECOND_MOMENT = Printed(sigma_g**2 * gamma**2 / (2 * r**2), "exact",
                                  "Sec. 4 (E[grad L(w_t)^2] = sigma^2 gamma^2/(2||w_t||^2))")
#: E[||w_{t+1}||^2] given ||w_t|| = r, minus r^2 (the printed recursion, as an increment)
SEC4_SGD_RECURSION = Printed((1 - eta * lam)**2 * r**2 + eta**2 * gamma**2 * sigma_g**2 / (2 * r**2) - r**2,
                             "exact", "Sec. 4, recursion for E[||w_{t+1}||^2] (written as its increment)")
#: the steady-state norm ||w_t|| of SGD
SEC4_SGD_FIXED_POINT = Printed(_root(eta**2 * gamma**2 * sigma_g**2 / (4 * eta * lam - 2 * eta**2 * lam**2), 4),
                               "exact", "Sec. 4, steady-state ||w_t||")
#: the RMSProp recursion of Sec. 5.2, as an increment
SEC52_RMSPROP_RECURSION = Printed((1 - eta * lam * r / (sigma_g * gamma))**2 * r**2 + eta**2 / 2 - r**2, "exact",
                                  "Sec. 5.2, recursion for E[||w_{t+1}||^2] with RMSProp (written as its increment)")

# ---- Sections 3.1, 5.1-5.4: the rescaling equivalences, as (eta', lambda', epsilon') for w = alpha*w' ---
TRANSFORM = {
    "sgd": Printed(sp.Matrix([eta / alpha**2, lam * alpha**2]), "exact",
                   "Sec. 3.1 (w' <- w' - eta/alpha^2 grad L_{lambda alpha^2}(w'))"),
    "momentum": Printed(sp.Matrix([eta / alpha**2, lam * alpha**2]), "exact",
                        "Sec. 5.1 ('as with SGD, scaling the weights by alpha corresponds to learning rate eta/alpha^2')"),
    # the last display of Sec. 5.2 keeps grad L_lambda(w') (no alpha^2 on lambda), unlike the display above it
    "rmsprop": Printed(sp.Matrix([eta / alpha, lam, eps * alpha**2]), "exact",
                       "Sec. 5.2, last display (learning rate eta/alpha, epsilon alpha^2, grad L_lambda(w'))"),
    # Sec. 5.3 names only eta' and epsilon'; the derived tuple is compared on (eta', lambda', epsilon')
    "adam": Printed(sp.Matrix([eta / alpha, lam * alpha**2, alpha * eps]), "exact",
                    "Sec. 5.3 (eta' = eta/alpha, epsilon' = alpha epsilon; lambda' as in Sec. 3.1)"),
    "newton": Printed(sp.Matrix([eta, lam * alpha**2]), "exact",
                      "Sec. 5.4 (w' <- w' - eta grad L_{lambda alpha^2}(w') / grad^2 L_{lambda alpha^2}(w'))"),
}
#: Table 1, row Newton, column "weight scale": the limit of ||w|| is 0
NEWTON_NORM = Printed(sp.Integer(0), "exact", "Table 1 row Newton, col. 2 ('-> 0')")
#: Sec. 5.3: the Adam step, eta * v/(1 - rho1) / (sqrt(g/(1 - rho2)) + epsilon), with rho1 = beta1, rho2 = beta2
_v, _g = sp.symbols("v g", positive=True)
ADAM_STEP = Printed(eta * (_v / (1 - beta1)) / (sp.sqrt(_g / (1 - beta2)) + eps), "exact",
                    "Sec. 5.3, the Adam update rule")

# ---- Sections 1-3, 5.4 and 7: normalization identities (printed) ----
# The statements below are written abstractly, as the papers write them: ``w`` is a unit's weight vector, ``W``
# a layer's weight matrix, and every function (``y_BN``, ``nabla_y_BN``, ``L_lambda``, ...) is an undefined SymPy
# function named after the paper's symbol. ``normlaws.theory.normalization`` and ``normlaws.theory.discussion``
# instantiate them on their symbolic batch (``Claim.instantiate``). In the printed gradient and Hessian formulas
# ``X`` is the sample's input row (a vector), ``Xw`` the scalar X.w, ``XtX`` the matrix X^T X, ``norm_w`` ||w||_2,
# ``sigma`` sigma(Xw), ``z`` the input to the nonlinearity g; vectors are read along a direction v (X -> X.v).
# ``domain`` widens a positive symbol to the paper's domain where the paper states no restriction.
from .symbols import alpha as _alpha, beta  # noqa: E402

w_vec = sp.Symbol("w")                      # a unit's weight vector, abstractly
W_mat = sp.Symbol("W")                      # a layer's weight matrix, abstractly
X_row, Xw_dot, XtX_mat = sp.symbols("X Xw XtX")
z_in = sp.Symbol("z")                       # the input to the nonlinearity
sigma_Xw = sp.Symbol("sigma", positive=True)  # sigma(Xw), the batch standard deviation
norm_w = sp.Symbol("norm_w", positive=True)   # ||w||_2
g_fn = sp.Function("g")                     # the nonlinearity
c_gamma = sp.Symbol("c", positive=True)     # Sec. 7: the factor gamma is scaled by
alpha_1 = sp.Symbol("alpha1", positive=True)  # footnote 1: the scale factor of the first unit of a layer
log_n = sp.Symbol("log_n", positive=True)   # ln(n), n the number of values normalized (Hoffer's L-inf constant)
inv_n = sp.Symbol("inv_n", positive=True)   # 1/n, n the batch size (Hoffer's L1 constant, read at batch size n)
_fn = sp.Function


def _eq(lhs, rhs):
    """The printed equation ``lhs = rhs``, held as stated: SymPy is not asked whether it holds (the registry's
    derivation decides that; asking here only cost time at import)."""
    return sp.Eq(lhs, rhs, evaluate=False)


#: Sec. 1 states no sign for the scale factor; "scaling" and Sec. 3.1's alpha = ||w||_2 make it positive. Read so (a
#: verdict rests on what the paper says); for alpha < 0 the normalized output changes sign (the derivation says so)
_SCALING_TEXT = "alpha > 0, as 'scaling' and Sec. 3.1's alpha = ||w||_2 read; for alpha < 0 the output changes sign"

#: Sec. 1: y(X; alpha w, gamma, beta) = y(X; w, gamma, beta) "for each normalization strategy" (no sign stated)
INVARIANCE = {
    "bn": Printed(_eq(_fn("y_BN")(_alpha * w_vec), _fn("y_BN")(w_vec)), "identity",
                  "Sec. 1, eq. y(X; alpha w, gamma, beta) = y(X; w, gamma, beta), for BN", text=_SCALING_TEXT),
    "bn_eps": Printed(_eq(_fn("y_BN_eps")(_alpha * w_vec), _fn("y_BN_eps")(w_vec)), "identity",
                      "Sec. 1, the same equation, for BN as frameworks compute it: sigma = sqrt(var + epsilon)",
                      text="the paper's BN formula has no epsilon; every framework adds one (1e-5 by default); "
                           + _SCALING_TEXT),
    "wn": Printed(_eq(_fn("y_WN")(_alpha * w_vec), _fn("y_WN")(w_vec)), "identity",
                  "Sec. 1, the same equation, for WN", text=_SCALING_TEXT),
    "ln": Printed(_eq(_fn("y_LN")(_alpha * W_mat), _fn("y_LN")(W_mat)), "identity",
                  "Sec. 1, the same equation, for LN, with footnote 1 (the whole matrix W scaled uniformly)",
                  text=_SCALING_TEXT),
    # Hoffer et al. 2018, Sec. 2: BN(||w||_2 w_hat x) = BN(w_hat x); the scale factor is a norm, so positive
    "l1bn": Printed(_eq(_fn("y_L1BN")(_alpha * w_vec), _fn("y_L1BN")(w_vec)), "identity",
                    "Hoffer et al. 2018, Sec. 2 (BN(||w|| w_hat x) = BN(w_hat x), factor ||w|| > 0), for L1 "
                    "batch norm"),
    "linfbn": Printed(_eq(_fn("y_LinfBN")(_alpha * w_vec), _fn("y_LinfBN")(w_vec)), "identity",
                      "Hoffer et al. 2018, Sec. 2 (factor ||w|| > 0), for L-infinity batch norm"),
}

#: footnote 1: "LN is only invariant if the whole weight matrix for the layer is scaled uniformly": every unit's
#: scale factor must equal the first unit's
LN_UNIFORM_SCALE = Printed(alpha_1, "exact", "Sec. 1, footnote 1 (LN invariant only under uniform scaling of W)")

#: Hoffer et al. 2018, Sec. 4: L1 batch norm divides by C_L1 * mean|x - mu| with C_L1 = sqrt(pi/2)
HOFFER_L1_CONSTANT = Printed(sp.sqrt(sp.pi / 2), "approx",
                             "Hoffer et al. 2018, Sec. 4 (L1 batch norm, C_L1 = sqrt(pi/2)); models/lp_norm.py",
                             text="the Gaussian population's constant (mean absolute deviation from the true mean), "
                                  "read as the large-batch value of the constant that makes C * mean|x_i - mean(x)| "
                                  "estimate sigma at batch size n; the paper's text is not here, so no stronger "
                                  "(finite-batch) reading is attributed to it")
#: Hoffer et al. 2018, Sec. 4: L-infinity batch norm divides by C_Linf(n) * max|x - mu| with
#: C_Linf(n) = (1 + sqrt(pi ln 4)) / (2 sqrt(2 ln n)) (the mean of two bounds on sigma / E[max of n Gaussians])
HOFFER_LINF_CONSTANT = Printed((1 + sp.sqrt(sp.pi * sp.log(4))) / (2 * sp.sqrt(2 * log_n)), "order",
                               "Hoffer et al. 2018, Sec. 4 (L-inf batch norm constant C_Linf(n)); transcribed from "
                               "the authors' code, models/lp_norm.py (TopkBatchNorm2d, k = 1)",
                               text="the mean of two bounds on sigma/E[max of n Gaussians]: a heuristic whose scaling "
                                    "(ln n)^(-1/2) is what it asserts; the paper's full text is not in "
                                    "../shared/papers; log_n stands for ln(n)")

#: Sec. 2: L_lambda(alpha w) = sum_i l_i(y(X_i; w)) + lambda ||w||^2 = L_{lambda alpha^2}(w)
L2_RESCALING = Printed(_eq(_fn("L_lambda")(lam, _alpha * w_vec), _fn("L_lambda")(lam * _alpha**2, w_vec)),
                       "identity", "Sec. 2, L_lambda(alpha w) = L_{lambda alpha^2}(w) (alpha as in Sec. 1, read > 0)")
L2_RESCALING_MIDDLE = Printed(_eq(_fn("L_lambda")(lam, _alpha * w_vec), _fn("L")(w_vec) + lam * _fn("sqnorm")(w_vec)),
                              "identity",
                              "Sec. 2, the middle member: sum_i l_i(y(X_i; w, gamma, beta)) + lambda ||w||_2^2")
#: Sec. 2: "the parameter lambda has no impact on the optimum, since the weights can be scaled to compensate"
L2_OPTIMUM = Printed(None, "verbal", "Sec. 2 (lambda has no impact on the optimum)",
                     text="And the parameter lambda has no impact on the optimum, since the weights can be scaled to "
                          "compensate.")

#: Sec. 3 and 5.4 (alpha = ||w||_2 > 0 in Sec. 3.1)
GRAD_SCALING = {
    "bn": Printed(_eq(_fn("nabla_y_BN")(_alpha * w_vec), _fn("nabla_y_BN")(w_vec) / _alpha), "identity",
                  "Sec. 3, grad y_BN(X; alpha w) = grad y_BN(X; w) / alpha"),
    "wn": Printed(_eq(_fn("nabla_y_WN")(_alpha * w_vec), _fn("nabla_y_WN")(w_vec) / _alpha), "identity",
                  "Sec. 3 (WN: 'this again scales like 1/alpha')"),
    "ln": Printed(_eq(_fn("nabla_y_LN")(_alpha * W_mat), _fn("nabla_y_LN")(W_mat) / _alpha), "identity",
                  "Sec. 3 (batch and layer normalization treated alike); Sec. 5.4 (the same holds for LN)"),
    "l2": Printed(_eq(_fn("nabla_L_lambda")(lam, _alpha * w_vec),
                        _fn("nabla_L_lambda")(lam * _alpha**2, w_vec) / _alpha),
                  "identity", "Sec. 3, grad L_lambda(alpha w) = grad L_{lambda alpha^2}(w) / alpha"),
}
#: Sec. 3: grad y_BN(X; w, gamma, beta) = X / sigma(Xw) gamma g'(z) (gradients not propagated through mu, sigma)
GRAD_FORMULA_BN = Printed(_eq(_fn("nabla_y_BN")(w_vec), X_row / sigma_Xw * gamma * sp.Derivative(g_fn(z_in), z_in)),
                          "identity", "Sec. 3, grad y_BN = X/sigma(Xw) gamma g'(z)")
#: Sec. 3: grad y_WN(X; alpha w, gamma, beta) = (X/||w|| - w Xw/||w||^3) gamma g'(z)  (left side at alpha w, as printed)
GRAD_FORMULA_WN = Printed(_eq(_fn("nabla_y_WN")(_alpha * w_vec),
                                (X_row / norm_w - w_vec * Xw_dot / norm_w**3) * gamma
                                * sp.Derivative(g_fn(z_in), z_in)),
                          "identity", "Sec. 3, grad y_WN(X; alpha w) = (X/||w|| - w Xw/||w||^3) gamma g'(z)")
#: Sec. 4 writes E||w_{t+1}||^2 = (1 - eta lambda)^2 ||w_t||^2 + eta^2 E[grad L^2] with no cross term: w . grad L = 0
EULER_ORTHOGONAL = Printed(_eq(_fn("w_dot_nabla_L")(w_vec), 0), "identity",
                           "Sec. 4, the norm recursion without a cross term 2 eta (1 - eta lambda) w_t . grad L(w_t)",
                           text="the recursion holds only if w . grad L(w) = 0 (pointwise, or at least in expectation)")

#: Sec. 4's recursion is for E||w_{t+1}||^2: without a cross term it needs E[w . grad L(w)] = 0 (the model's
#: E[grad L(w_t)] = 0), not a pointwise identity
EULER_IN_EXPECTATION = Printed(_eq(_fn("E_w_dot_nabla_L")(w_vec), 0), "identity",
                               "Sec. 4, the recursion for E||w_{t+1}||^2 without a cross term 2 eta (1 - eta lambda) "
                               "E[w_t . grad L(w_t)]",
                               text="the recursion is an expectation: it holds if E[w . grad L(w)] = 0")

#: Sec. 5.4: grad^2 y_BN "scales like 1/alpha^2 when the weights are scaled by alpha"; "the same holds for WN and LN"
HESS_SCALING = {
    "bn": Printed(_eq(_fn("nabla2_y_BN")(_alpha * w_vec), _fn("nabla2_y_BN")(w_vec) / _alpha**2), "identity",
                  "Sec. 5.4 (grad^2 y_BN scales like 1/alpha^2)"),
    "wn": Printed(_eq(_fn("nabla2_y_WN")(_alpha * w_vec), _fn("nabla2_y_WN")(w_vec) / _alpha**2), "identity",
                  "Sec. 5.4 (the same holds for WN)"),
    "ln": Printed(_eq(_fn("nabla2_y_LN")(_alpha * W_mat), _fn("nabla2_y_LN")(W_mat) / _alpha**2), "identity",
                  "Sec. 5.4 (the same holds for LN)"),
    #: as printed: grad^2 L_lambda(w_t) = grad^2 L_{lambda alpha^2}(w_t) / alpha^2 (both sides at w_t)
    "l2": Printed(_eq(_fn("nabla2_L_lambda")(lam, w_vec), _fn("nabla2_L_lambda")(lam * _alpha**2, w_vec) / _alpha**2),
                  "identity", "Sec. 5.4, grad^2 L_lambda(w_t) = grad^2 L_{lambda alpha^2}(w_t) / alpha^2"),
}
#: not stated in the paper: differentiating Euler's identity gives grad^2 y(w) w = -grad y(w)
HESS_EULER = Printed(None, "none", "not in the paper; follows from Sec. 1's invariance by Euler's theorem")
#: Sec. 5.4: grad^2 y_BN(X; w, gamma, beta) = X^t X / sigma(Xw)^2 gamma^2 g''(z)
HESS_FORMULA_BN = Printed(_eq(_fn("nabla2_y_BN")(w_vec),
                                XtX_mat / sigma_Xw**2 * gamma**2 * sp.Derivative(g_fn(z_in), (z_in, 2))),
                          "identity", "Sec. 5.4, grad^2 y_BN = X^t X / sigma(Xw)^2 gamma^2 g''(z)")

#: Sec. 7: "with rectified linear activation functions, scaling of gamma also has no effect on the function value
#: in subsequent layers" (gamma scaled, beta not)
GAMMA_SCALING = Printed(_eq(_fn("y_next")(c_gamma * gamma, beta), _fn("y_next")(gamma, beta)), "identity",
                        "Sec. 7 (scaling of gamma has no effect on the function value in subsequent layers)")
#: Sec. 7: "the only parameters that are actually regularized are the gamma's for the last layer"; the set of
#: parameters is written as the sum of their symbols (R stands for the set L2 actually regularizes)
REGULARIZED = Printed(_eq(sp.Symbol("R"), sp.Symbol("gamma_last")), "identity",
                      "Sec. 7 (the only parameters actually regularized are the gamma's of the last layer)",
                      text="sets of parameters are written as sums of symbols, one per parameter group")
