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
    "momentum": Printed(_root(eta / ((1 - rho) * lam), 4), "order",
                        "Sec. 5.1 (order of (eta/((1-rho)lambda))^(1/4)); Table 1 row Momentum, col. 2"),
    "rmsprop": Printed(_root(eta * sigma_g * gamma / lam, 3), "order",
                       "Sec. 5.2 (||w|| = O((eta sigma gamma/lambda)^(1/3))); Table 1 row RMSProp, col. 2"),
    "adam": Printed(_root(eta / lam, 3), "order", "Table 1 row ADAM, col. 2; Sec. 6 (O((eta/lambda)^(1/3)))"),
    "normalized": Printed(sp.Integer(1), "exact", "Sec. 5.5; Table 1 row Normalized SGD, col. 2 (||w|| = 1)"),
}

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
