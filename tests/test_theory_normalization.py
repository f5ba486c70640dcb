"""Symbolic claims of normalization (Sec. 1-3, 5.4, 7; Hoffer et al. L1 / L-inf BN), checked three ways:

1. every proof residual of every claim reduces to zero, and every verdict is a known kind;
2. an independent numpy model (its own BN / WN / LN / L1 / L-inf forward passes, finite differences for gradients
   and Hessians, batches larger than the symbolic ones) confirms each derived identity at random points and that the
   counterexamples (alpha < 0, per-unit LN scaling, epsilon > 0 at small norms, gamma scaled alone) are real;
3. the verdict computed by SymPy agrees with a numeric evaluation of the statement *as printed*, on the domain the
   paper states: "agrees exactly" where the printed statement holds at random points, "disagrees" where it fails.

Finite-difference tolerances: central differences with step h have truncation error h^2 |f'''|/6 and round-off
about 1e-16 |f| / h. With h = 1e-5 (gradients) and O(1) derivatives on these well-conditioned random batches the
error is below 1e-9, so rtol 1e-6 / atol 1e-7 leaves a factor >= 100. Second differences with h = 1e-4 have
truncation h^2 |f''''|/12 ~ 1e-8 and round-off 1e-16/h^2 = 1e-8: atol 1e-5. A "violation" must exceed 1e-3,
far above both.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from normlaws.theory import discussion as D
from normlaws.theory import normalization as N
from normlaws.theory import norm_model as M
from normlaws.theory import invariance as I
from normlaws.theory import gradients as G
from normlaws.theory.compare import AGREES, AGREES_LEADING, AGREES_SCALING, DISAGREES, NOT_COMPARABLE, VERDICT_KINDS
from normlaws.theory import symbols as S
from normlaws.theory.symbols import alpha, beta, gamma

CLAIMS = {c.id: c for c in N.CLAIMS + D.CLAIMS}
GRAD_RTOL, GRAD_ATOL = 1e-6, 1e-7
HESS_ATOL = 1e-5
VIOLATION = 1e-3
GAMMA, BETA = 1.3, 0.4


# ---- independent numpy models --------------------------------------------------------------------------------------
def standardize(u, eps=0.0):
    """(u - mean) / sqrt(var + eps) over the last axis (biased variance)."""
    c = u - u.mean(axis=-1, keepdims=True)
    return c / np.sqrt((c**2).mean(axis=-1, keepdims=True) + eps)


def bn_out(X, w, eps=0.0):
    """BN unit over the batch: tanh(gamma * BN(Xw) + beta), all samples (g = tanh)."""
    return np.tanh(GAMMA * standardize(X @ w, eps) + BETA)


def bn_out_frozen(X, w, w_stats):
    """BN unit with the batch statistics frozen at w_stats (the stop-gradient convention's function)."""
    u0 = X @ w_stats
    return np.tanh(GAMMA * (X @ w - u0.mean()) / u0.std() + BETA)


def wn_out(x, w):
    """WN unit: tanh(gamma x.w/||w|| + beta)."""
    return np.tanh(GAMMA * (x @ w) / np.linalg.norm(w) + BETA)


def ln_out(x, W):
    """LN of a layer: tanh(gamma * standardize(x W) + beta), all units; W is (inputs, units)."""
    return np.tanh(GAMMA * standardize(x @ W) + BETA)


def l1bn_out(X, w):
    """Hoffer's L1 batch norm unit (constant sqrt(pi/2))."""
    c = X @ w - (X @ w).mean()
    return np.tanh(GAMMA * c / (math.sqrt(math.pi / 2) * np.abs(c).mean()) + BETA)


def linfbn_out(X, w):
    """Hoffer's L-infinity batch norm unit (constant 1: it does not matter for invariance)."""
    c = X @ w - (X @ w).mean()
    return np.tanh(GAMMA * c / np.abs(c).max() + BETA)


def bn_loss(X, w, target):
    """A loss of the BN unit's batch: mean squared error of tanh(gamma BN(Xw) + beta)."""
    return float(np.mean((bn_out(X, w) - target) ** 2))


def fd_grad(f, w, h=1e-5):
    """Central-difference gradient of a scalar f at w (any shape)."""
    g = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[idx] = h
        g[idx] = (f(w + e) - f(w - e)) / (2 * h)
    return g


def fd_quad(f, w, v, h=1e-4):
    """Second difference along v: v^T H v."""
    return (f(w + h * v) - 2 * f(w) + f(w - h * v)) / h**2


def fd_hess_times(f, w, u, v, h=1e-4):
    """Mixed second difference: v^T H u."""
    return (f(w + h * u + h * v) - f(w + h * u - h * v) - f(w - h * u + h * v) + f(w - h * u - h * v)) / (4 * h**2)


@pytest.fixture
def rng():
    """A fixed-seed generator."""
    return np.random.default_rng(20170616)   # fixed seed: every numeric check is reproducible


def batch(rng, n=5, d=3):
    """A random batch (n samples, d features), larger than the symbolic 3 x 2 one."""
    return rng.normal(size=(n, d)) + rng.normal(size=d)   # non-centred features


def sym_values(rng):
    """Random values for the symbolic model's symbols, for lambdify-based checks."""
    names = list(M.WEIGHTS) + list(M.DIRECTION) + list(M.INPUT) + [M.a11, M.a12, M.a21, M.a22] + list(M.MEANS)
    return {s: float(rng.normal()) for s in names} | {gamma: GAMMA, beta: BETA}


def concrete(expr):
    """Replace the undefined nonlinearity g by tanh and evaluate the derivatives."""
    return sp.sympify(expr).replace(M.g, sp.tanh).doit()


# ---- 1. proofs and verdict kinds ----------------------------------------------------------------------------------
@pytest.mark.timeout(120)
@pytest.mark.parametrize("claim_id", list(CLAIMS))
def test_proof_residuals_reduce_to_zero(claim_id):
    assert CLAIMS[claim_id].proof_failures() == {}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("claim_id", list(CLAIMS))
def test_verdict_is_a_known_kind(claim_id):
    assert CLAIMS[claim_id].verdict.kind in VERDICT_KINDS


@pytest.mark.timeout(120)
@pytest.mark.parametrize("claim_id", [cid for cid, c in CLAIMS.items() if c.printed.form == "identity"])
def test_identity_result_is_a_zero_residual(claim_id):
    from normlaws.theory.derivation import reduce_to_zero
    assert reduce_to_zero(CLAIMS[claim_id].derivation.result) == 0


def test_claim_ids_are_unique_and_in_the_registry():
    from normlaws import registry
    ids = [c.id for c in registry.claims()]
    assert len(ids) == len(set(ids))
    assert set(CLAIMS) <= set(ids)


# ---- 2. independent numeric confirmations ----------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["bn", "wn", "l1bn", "linfbn"])
def test_scale_invariance_needs_a_positive_factor(rng, model):
    X, w = batch(rng), rng.normal(size=3)
    out = {"bn": bn_out, "wn": lambda X, w: wn_out(X[0], w), "l1bn": l1bn_out, "linfbn": linfbn_out}[model]
    for a in (0.3, 2.0, 17.0):
        np.testing.assert_allclose(out(X, a * w), out(X, w), rtol=1e-12, atol=1e-12)
    assert np.max(np.abs(out(X, -1.5 * w) - out(X, w))) > VIOLATION   # alpha < 0: the sign of zhat flips


def test_ln_invariance_uniform_positive_only_and_not_per_unit(rng):
    x, W = rng.normal(size=4), rng.normal(size=(4, 5))
    np.testing.assert_allclose(ln_out(x, 3.0 * W), ln_out(x, W), rtol=1e-12, atol=1e-12)
    assert np.max(np.abs(ln_out(x, -3.0 * W) - ln_out(x, W))) > VIOLATION
    per_unit = W * np.array([1.0, 2.0, 1.0, 1.0, 1.0])   # one unit's weights scaled
    assert np.max(np.abs(ln_out(x, per_unit) - ln_out(x, W))) > VIOLATION


def test_ln_per_unit_symbolic_residual_is_a_counterexample(rng):
    residual = CLAIMS["invariance.ln.per_unit"].derivation.extras["per_unit_residual"]
    f = sp.lambdify((M.PREACT, I.ALPHAS), residual)
    assert abs(f(rng.normal(size=3), (1.0, 2.0, 1.0))) > VIOLATION
    assert CLAIMS["invariance.ln.per_unit"].derivation.result == I.ALPHAS[0]


def test_bn_epsilon_law_and_breakdown_at_small_norms(rng):
    X, eps = batch(rng), 1e-3
    w = 1e-2 * rng.normal(size=3)                     # small norm: sigma(Xw)^2 comparable to epsilon
    a = 10.0
    np.testing.assert_allclose(bn_out(X, a * w, eps), bn_out(X, w, eps / a**2), rtol=1e-12)   # exact law
    assert np.max(np.abs(bn_out(X, a * w, eps) - bn_out(X, w, eps))) > VIOLATION
    # large norm: the first-order relative change eps (1 - 1/a^2)/(2 sigma^2) of the derivation is accurate
    w_big = 10 * rng.normal(size=3)
    rel = standardize(X @ (a * w_big), eps)[0] / standardize(X @ w_big, eps)[0] - 1
    first = CLAIMS["invariance.bn.epsilon"].derivation.extras["relative_change_first_order"]
    predicted = float(first.subs({alpha: a, S.eps: eps, sp.Symbol("sigma_Xw", positive=True): (X @ w_big).std()}))
    assert rel == pytest.approx(predicted, rel=1e-3)   # second order: eps/sigma^2 ~ 1e-5 relative


@pytest.mark.parametrize("model", ["bn_full", "bn_stopgrad", "wn", "ln"])
def test_gradient_and_hessian_scale_like_inverse_powers(rng, model):
    X, x = batch(rng), rng.normal(size=4)
    if model == "ln":
        w, v = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
        f = lambda w_: ln_out(x, w_)[0]             # noqa: E731
    elif model == "wn":
        w, v = rng.normal(size=3), rng.normal(size=3)
        f = lambda w_: wn_out(X[0], w_)              # noqa: E731
    elif model == "bn_full":
        w, v = rng.normal(size=3), rng.normal(size=3)
        f = lambda w_: bn_out(X, w_)[0]              # noqa: E731
    for a in (0.5, 2.5):
        if model == "bn_stopgrad":
            w, v = rng.normal(size=3), rng.normal(size=3)
            g_w = fd_grad(lambda w_: bn_out_frozen(X, w_, w)[0], w)
            g_aw = fd_grad(lambda w_: bn_out_frozen(X, w_, a * w)[0], a * w)
            h_w = fd_quad(lambda w_: bn_out_frozen(X, w_, w)[0], w, v)
            h_aw = fd_quad(lambda w_: bn_out_frozen(X, w_, a * w)[0], a * w, v)
        else:
            g_w, g_aw = fd_grad(f, w), fd_grad(f, a * w)
            h_w, h_aw = fd_quad(f, w, v), fd_quad(f, a * w, v)
        np.testing.assert_allclose(a * g_aw, g_w, rtol=GRAD_RTOL, atol=GRAD_ATOL)
        assert a**2 * h_aw == pytest.approx(h_w, abs=HESS_ATOL * max(1, a**2))


def test_regularized_gradient_and_hessian_rescaling(rng):
    """grad L_lambda(a w) = grad L_{lambda a^2}(w)/a holds; the printed Hessian law (both sides at w) fails and the
    corrected one (left side at a w) holds."""
    X, t, lam_, a = batch(rng), rng.normal(size=5), 0.3, 2.0
    w, v = rng.normal(size=3), rng.normal(size=3)
    L = lambda w_, l_: bn_loss(X, w_, t) + l_ * float(w_ @ w_)   # noqa: E731
    np.testing.assert_allclose(fd_grad(lambda w_: L(w_, lam_), a * w),
                               fd_grad(lambda w_: L(w_, lam_ * a**2), w) / a, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    h = lambda point, l_: fd_quad(lambda w_: L(w_, l_), point, v)   # noqa: E731
    assert h(a * w, lam_) == pytest.approx(h(w, lam_ * a**2) / a**2, abs=HESS_ATOL)
    assert abs(h(w, lam_) - h(w, lam_ * a**2) / a**2) > VIOLATION


def test_l2_rescaling_and_the_middle_member(rng):
    X, t, lam_, w = batch(rng), rng.normal(size=5), 0.3, rng.normal(size=3)
    for a in (0.5, 3.0):
        lhs = bn_loss(X, a * w, t) + lam_ * float((a * w) @ (a * w))
        assert lhs == pytest.approx(bn_loss(X, w, t) + lam_ * a**2 * float(w @ w), rel=1e-12)
        middle = bn_loss(X, w, t) + lam_ * float(w @ w)    # as printed
        assert lhs - middle == pytest.approx(lam_ * (a**2 - 1) * float(w @ w), rel=1e-9)


def test_l2_objective_has_no_stationary_point(rng):
    """w . grad L_lambda = 2 lambda ||w||^2 > 0 (BN loss, 3 weights; LN loss, 20 weights): L_lambda decreases
    strictly towards w = 0 along every ray, so it has no minimiser."""
    X, t, lam_ = batch(rng), rng.normal(size=5), 0.3
    x, target = rng.normal(size=4), rng.normal(size=5)
    losses = [(lambda w_: bn_loss(X, w_, t), rng.normal(size=3)),
              (lambda W_: float(np.mean((ln_out(x, W_) - target) ** 2)), rng.normal(size=(4, 5)))]
    for loss, w in losses:
        L = lambda w_: loss(w_) + lam_ * float(np.sum(w_ * w_))   # noqa: E731
        radial = float(np.sum(w * fd_grad(L, w)))
        assert radial == pytest.approx(2 * lam_ * float(np.sum(w * w)), rel=1e-6)
        values = [L(s * w) for s in (1.0, 0.5, 0.1, 0.01)]
        assert all(b_ < a_ for a_, b_ in zip(values, values[1:]))


def printed_bn_formulas(rng):
    """The printed X gamma g'(z)/sigma and X^T X gamma^2 g''(z)/sigma^2 (read along v, lambdified from the printed
    forms on the symbolic batch) and finite differences of the frozen-statistics and of the full model there."""
    vals = sym_values(rng)
    Xs = np.array([[float(e.subs(vals)) for e in row] for row in M.BATCH])
    w = np.array([vals[M.w1], vals[M.w2]])
    v = np.array([vals[M.v1], vals[M.v2]])
    sym = G.stopgrad_formula_symbols()
    printed = {"grad": float(concrete(G._printed_rhs(N.printed.GRAD_FORMULA_BN, sym)).subs(vals)),
               "hess": float(concrete(G._printed_rhs(N.printed.HESS_FORMULA_BN, sym)).subs(vals))}
    frozen = lambda w_: bn_out_frozen(Xs, w_, w)[0]   # noqa: E731
    full = lambda w_: bn_out(Xs, w_)[0]               # noqa: E731
    stop = {"grad": float(fd_grad(frozen, w) @ v), "hess": fd_quad(frozen, w, v)}
    return printed, stop, {"grad": float(fd_grad(full, w) @ v), "hess": fd_quad(full, w, v)}


def test_printed_bn_gradient_and_hessian_are_the_stop_gradient_ones(rng):
    """The printed formulas match finite differences of the frozen-statistics model, not of the full one."""
    printed, stop, full = printed_bn_formulas(rng)
    assert stop["grad"] == pytest.approx(printed["grad"], rel=GRAD_RTOL, abs=GRAD_ATOL)
    assert stop["hess"] == pytest.approx(printed["hess"], abs=HESS_ATOL)
    assert abs(full["grad"] - printed["grad"]) > VIOLATION
    assert abs(full["hess"] - printed["hess"]) > VIOLATION


def printed_wn_gradient(rng, a=3.0):
    """The printed WN right-hand side (at w, along v) and finite-difference gradients at w and at a*w."""
    vals = sym_values(rng)
    x = np.array([vals[M.x1], vals[M.x2]])
    w, v = np.array([vals[M.w1], vals[M.w2]]), np.array([vals[M.v1], vals[M.v2]])
    rhs = float(concrete(G._printed_rhs(N.printed.GRAD_FORMULA_WN, G.wn_formula_symbols())).subs(vals))
    f = lambda w_: wn_out(x, w_)   # noqa: E731
    return rhs, float(fd_grad(f, w) @ v), float(fd_grad(f, a * w) @ v)


def test_printed_wn_gradient_is_the_gradient_at_w_not_at_alpha_w(rng):
    a = 3.0
    rhs, at_w, at_aw = printed_wn_gradient(rng, a)
    assert at_w == pytest.approx(rhs, rel=GRAD_RTOL, abs=GRAD_ATOL)
    assert at_aw == pytest.approx(rhs / a, rel=GRAD_RTOL, abs=GRAD_ATOL)
    assert abs(at_aw - rhs) > VIOLATION


def test_euler_identities_with_full_backprop(rng):
    """w . grad y = 0 and H w = -grad y for BN (full), WN and LN (finite differences, larger than the symbols)."""
    X, x = batch(rng), rng.normal(size=4)
    cases = [(lambda w_: bn_out(X, w_)[1], rng.normal(size=3), rng.normal(size=3)),
             (lambda w_: wn_out(X[0], w_), rng.normal(size=3), rng.normal(size=3)),
             (lambda W_: ln_out(x, W_)[2], rng.normal(size=(4, 5)), rng.normal(size=(4, 5)))]
    for f, w, v in cases:
        g = fd_grad(f, w)
        assert abs(float(np.sum(w * g))) < GRAD_ATOL * 10
        assert fd_hess_times(f, w, w, v) == pytest.approx(-float(np.sum(v * g)), abs=HESS_ATOL)


def test_euler_fails_pointwise_with_stop_gradient_but_holds_in_expectation(rng):
    """w . grad L_stop = sum_k delta_k zhat_k + (mu/sigma) sum_k delta_k (not 0); its mean over upstream gradients
    delta ~ N(0, 1) independent of X is 0 within 4 standard errors (the Sec. 4 model)."""
    X, w = batch(rng), rng.normal(size=3)
    u = X @ w
    zhat = standardize(u)

    def radial_stop(delta):   # L = sum_k delta_k zhat_k(w') with frozen statistics: linear in the upstream gradients
        L = lambda w_: float(delta @ ((X @ w_ - u.mean()) / u.std()))   # noqa: E731
        return float(w @ fd_grad(L, w))

    delta = rng.normal(size=5)
    value = radial_stop(delta)
    assert value == pytest.approx(float(delta @ zhat + u.mean() / u.std() * delta.sum()), rel=1e-6)
    assert abs(value) > VIOLATION
    draws = np.array([radial_stop(d) for d in rng.normal(size=(2000, 5))])
    se = draws.std(ddof=1) / math.sqrt(len(draws))
    assert abs(draws.mean()) < 4 * se   # 4 standard errors: a false alarm has probability < 1e-4
    # the symbolic extras say the same: evaluated at zhat of the model they equal the pointwise form
    stop_residual = CLAIMS["hess.euler"].derivation.extras["stopgrad_residual"]
    f = sp.lambdify((M.PREACT, M.PREACT_DIRECTION, gamma, beta), concrete(stop_residual))
    assert abs(f(rng.normal(size=3), rng.normal(size=3), GAMMA, BETA)) > VIOLATION


def test_hoffer_l1_constant_monte_carlo(rng):
    """E[mean_i |x_i - xbar|] = sigma sqrt(2/pi) sqrt((n-1)/n) (derived); Hoffer's sqrt(pi/2) * that mean is biased
    low by sqrt((n-1)/n) at n = 4, a bias far beyond the Monte-Carlo standard error."""
    n, sigma, draws = 4, 1.7, 400_000
    x = rng.normal(scale=sigma, size=(draws, n))
    mad = np.abs(x - x.mean(axis=1, keepdims=True)).mean(axis=1)
    se = mad.std(ddof=1) / math.sqrt(draws)
    theory = float(CLAIMS["hoffer.l1bn.constant"].derivation.extras["expected_mad"].subs({I._sigma: sigma, I.n_b: n}))
    assert abs(mad.mean() - theory) < 4 * se
    assert abs(math.sqrt(math.pi / 2) * mad.mean() - sigma) > 20 * se * math.sqrt(math.pi / 2)


def test_hoffer_linf_constant_monte_carlo(rng):
    """E max|x_i - xbar| = sigma/sqrt(pi) (n = 2) and sigma sqrt(3/pi) (n = 3); at n = 128 Hoffer's constant times
    that mean overestimates sigma by more than 30% (the asymptotic factor is 1.54)."""
    derivation = CLAIMS["hoffer.linfbn.constant"].derivation
    for n, exact in ((2, derivation.extras["exact_n2"]), (3, derivation.extras["exact_n3"])):
        x = rng.normal(size=(400_000, n))
        m = np.abs(x - x.mean(axis=1, keepdims=True)).max(axis=1)
        se = m.std(ddof=1) / math.sqrt(len(m))
        assert abs(m.mean() - 1 / float(exact)) < 4 * se
    n = 128
    x = rng.normal(size=(20_000, n))
    m = np.abs(x - x.mean(axis=1, keepdims=True)).max(axis=1).mean()
    hoffer = float(N.printed.HOFFER_LINF_CONSTANT.expr.subs(N.printed.log_n, math.log(n)))
    assert hoffer * m > 1.3
    assert float(derivation.extras["asymptotic_ratio"]) == pytest.approx(1.5434, abs=1e-4)


# ---- Sec. 7 ------------------------------------------------------------------------------------------------------
def relu(u):
    """max(u, 0)."""
    return np.maximum(u, 0.0)


def two_layer(x, p):
    """x (n,) -> BN(w1 x) -> relu(g1 z + b1) (2 units) -> BN(h W2) -> relu(g2 z + b2) (2 units) -> V h + b."""
    z1 = standardize((np.outer(x, p["w1"])).T).T           # 2 units, each standardized over the batch
    h1 = relu(p["g1"] * z1 + p["b1"])
    z2 = standardize((h1 @ p["w2"]).T).T
    h2 = relu(p["g2"] * z2 + p["b2"])
    return h2 @ p["V"] + p["b"]


def random_params(rng):
    """Random parameters of :func:`two_layer` (positive gammas, as initialised in practice)."""
    return {"w1": rng.normal(size=2), "g1": rng.uniform(0.5, 2, 2), "b1": rng.normal(size=2),
            "w2": rng.normal(size=(2, 2)), "g2": rng.uniform(0.5, 2, 2), "b2": rng.normal(size=2),
            "V": rng.normal(size=2), "b": rng.normal()}


def test_relu_is_positively_homogeneous_only():
    u = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(relu(2.5 * u), 2.5 * relu(u))
    assert np.max(np.abs(relu(-2.5 * u) + 2.5 * relu(u))) > VIOLATION


def test_gamma_and_beta_must_be_scaled_together_and_uniformly(rng):
    x, p = rng.normal(size=8), random_params(rng)
    out = two_layer(x, p)
    np.testing.assert_allclose(two_layer(x, p | {"g1": 3 * p["g1"], "b1": 3 * p["b1"]}), out, rtol=1e-12)
    assert np.max(np.abs(two_layer(x, p | {"g1": 3 * p["g1"]}) - out)) > VIOLATION          # gamma alone
    per_unit = np.array([3.0, 1.0])
    assert np.max(np.abs(two_layer(x, p | {"g1": per_unit * p["g1"], "b1": per_unit * p["b1"]}) - out)) > VIOLATION
    np.testing.assert_allclose(two_layer(x, p | {"g1": 3 * p["g1"], "b1": 0 * p["b1"]}),
                               two_layer(x, p | {"b1": 0 * p["b1"]}), rtol=1e-12)                # beta = 0


def test_which_parameters_l2_regularizes(rng):
    """Scaling w1, (g1, b1), w2 by any c > 0 leaves the output unchanged; g2, b2, V and b change it; the orbit
    (c g2, c b2, V/c) preserves it, along which the penalty has the derived positive minimum."""
    x, p = rng.normal(size=8), random_params(rng)
    out = two_layer(x, p)
    c_ = 2.7
    for group in (("w1",), ("g1", "b1"), ("w2",)):
        np.testing.assert_allclose(two_layer(x, p | {k: c_ * p[k] for k in group}), out, rtol=1e-12, atol=1e-12)
    for group in (("g2", "b2"), ("V",), ("b",), ("g2",)):
        assert np.max(np.abs(two_layer(x, p | {k: c_ * p[k] for k in group}) - out)) > VIOLATION
    np.testing.assert_allclose(two_layer(x, p | {"g2": c_ * p["g2"], "b2": c_ * p["b2"], "V": p["V"] / c_}), out,
                               rtol=1e-12)
    lam_, nn, vv = 0.1, float(p["g2"] @ p["g2"] + p["b2"] @ p["b2"]), float(p["V"] @ p["V"])
    cs = np.exp(np.linspace(-5, 5, 200_001))
    numeric_min = float(np.min(lam_ * (cs**2 * nn + vv / cs**2)))
    minimum = CLAIMS["discussion.regularized_parameters"].derivation.extras["orbit_penalty_minimum"]
    derived = float(minimum.subs({S.lam: lam_, sp.Symbol("N_last", positive=True): nn,
                                  sp.Symbol("V2", positive=True): vv}))
    assert numeric_min == pytest.approx(derived, rel=1e-6)
    assert derived > 0


# ---- 3. the computed verdict agrees with a numeric reading of the printed statement --------------------------------
def _signed_alphas(rng):
    return [float(a) for a in rng.uniform(0.2, 3, 3) * np.array([1, -1, 1])]


def _holds_invariance(rng, out, alphas=None):
    """Sec. 1 read as the registry reads it: for scale factors alpha > 0 ('scaling', Sec. 3.1's alpha = ||w||)."""
    X, w = batch(rng), rng.normal(size=3)
    alphas = rng.uniform(0.2, 3, 3) if alphas is None else alphas
    return all(np.max(np.abs(out(X, a * w) - out(X, w))) < 1e-9 for a in alphas)


def _holds_ln(rng, alphas=None):
    x, W = rng.normal(size=4), rng.normal(size=(4, 5))
    alphas = rng.uniform(0.2, 3, 3) if alphas is None else alphas
    return all(np.max(np.abs(ln_out(x, a * W) - ln_out(x, W))) < 1e-9 for a in alphas)


def test_a_negative_scale_factor_breaks_every_invariance(rng):
    # the claims' condition: for alpha < 0 the normalized outputs change sign (BN, WN, LN alike)
    assert not _holds_invariance(rng, bn_out, _signed_alphas(rng))
    assert not _holds_invariance(rng, lambda X, w: wn_out(X[0], w), _signed_alphas(rng))
    assert not _holds_ln(rng, _signed_alphas(rng))
    assert all("alpha < 0" in CLAIMS[c].condition for c in ("invariance.bn", "invariance.wn", "invariance.ln"))


def _holds_positive_invariance(rng, out):
    X, w = batch(rng), rng.normal(size=3)
    return all(np.max(np.abs(out(X, a * w) - out(X, w))) < 1e-9 for a in rng.uniform(0.2, 3, 3))


def _holds_gradient_scaling(rng, model):
    a = 2.0
    X, x, t = batch(rng), rng.normal(size=4), rng.normal(size=5)
    w = rng.normal(size=3)
    if model == "ln":
        W = rng.normal(size=(4, 5))
        g = lambda point: fd_grad(lambda W_: ln_out(x, W_)[0], point)   # noqa: E731
        return bool(np.allclose(a * g(a * W), g(W), rtol=GRAD_RTOL, atol=GRAD_ATOL))
    if model == "l2":
        lam_ = 0.3
        g = lambda point, l_: fd_grad(lambda w_: bn_loss(X, w_, t) + l_ * float(w_ @ w_), point)   # noqa: E731
        return bool(np.allclose(g(a * w, lam_), g(w, lam_ * a**2) / a, rtol=GRAD_RTOL, atol=GRAD_ATOL))
    if model == "bn_stopgrad":
        g = lambda point: fd_grad(lambda w_: bn_out_frozen(X, w_, point)[0], point)   # noqa: E731
    else:
        f = {"bn_full": lambda w_: bn_out(X, w_)[0], "wn": lambda w_: wn_out(X[0], w_)}[model]
        g = lambda point: fd_grad(f, point)   # noqa: E731
    return bool(np.allclose(a * g(a * w), g(w), rtol=GRAD_RTOL, atol=GRAD_ATOL))


def _holds_hessian_scaling(rng, model):
    a, X, x = 2.0, batch(rng), rng.normal(size=4)
    if model == "ln":
        w, v = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
        return abs(a**2 * fd_quad(lambda W_: ln_out(x, W_)[0], a * w, v)
                   - fd_quad(lambda W_: ln_out(x, W_)[0], w, v)) < HESS_ATOL * a**2
    w, v = rng.normal(size=3), rng.normal(size=3)
    if model == "bn_stopgrad":
        q = lambda point: fd_quad(lambda w_: bn_out_frozen(X, w_, point)[0], point, v)   # noqa: E731
    else:
        f = {"bn_full": lambda w_: bn_out(X, w_)[0], "wn": lambda w_: wn_out(X[0], w_)}[model]
        q = lambda point: fd_quad(f, point, v)   # noqa: E731
    return abs(a**2 * q(a * w) - q(w)) < HESS_ATOL * a**2


def _holds_printed_l2_hessian(rng):
    X, t, lam_, a = batch(rng), rng.normal(size=5), 0.3, 2.0
    w, v = rng.normal(size=3), rng.normal(size=3)
    h = lambda l_: fd_quad(lambda w_: bn_loss(X, w_, t) + l_ * float(w_ @ w_), w, v)   # noqa: E731
    return abs(h(lam_) - h(lam_ * a**2) / a**2) < HESS_ATOL


def _holds_euler_in_expectation(rng):
    """The stop-gradient cross term read as the Sec. 4 recursion reads it: E[w . grad L] = 0 over upstream gradients
    independent of the batch (within 4 standard errors; pointwise it is not 0)."""
    X, w = batch(rng), rng.normal(size=3)
    u = X @ w
    radial = np.array([float(w @ fd_grad(lambda w_: float(d @ ((X @ w_ - u.mean()) / u.std())), w))
                       for d in rng.normal(size=(2000, 5))])
    return abs(radial.mean()) < 4 * radial.std(ddof=1) / math.sqrt(len(radial))


def _holds_l2_optimum(rng):
    """Sec. 2, 'lambda has no impact on the optimum since the weights can be scaled to compensate': along the ray
    alpha w the regularized loss tends to L(w) as alpha -> 0, whatever lambda (its infimum does not depend on it)."""
    X, t, w = batch(rng), rng.normal(size=5), rng.normal(size=3)
    infimum = {lam_: bn_loss(X, 1e-4 * w, t) + lam_ * 1e-8 * float(w @ w) for lam_ in (0.3, 3.0)}
    return abs(infimum[0.3] - infimum[3.0]) < 1e-6 and abs(infimum[0.3] - bn_loss(X, w, t)) < 1e-6


def _holds_euler(rng, stopgrad):
    X, t, w = batch(rng), rng.normal(size=5), rng.normal(size=3)
    if stopgrad:
        L = lambda w_: float(np.mean((bn_out_frozen(X, w_, w) - t) ** 2))   # noqa: E731
    else:
        L = lambda w_: bn_loss(X, w_, t)   # noqa: E731
    return abs(float(w @ fd_grad(L, w))) < GRAD_ATOL * 10


def _holds_l2_rescaling(rng, middle):
    """Sec. 2: L_lambda(a w) = L_{lambda a^2}(w), or = L(w) + lambda ||w||^2 as the middle member prints it."""
    X, t, lam_, w = batch(rng), rng.normal(size=5), 0.3, rng.normal(size=3)
    ok = []
    for a in (0.5, 3.0):
        lhs = bn_loss(X, a * w, t) + lam_ * float((a * w) @ (a * w))
        rhs = bn_loss(X, w, t) + lam_ * (1 if middle else a**2) * float(w @ w)
        ok.append(abs(lhs - rhs) < 1e-9)
    return all(ok)


def _holds_bn_formula(rng, which):
    printed, stop, _ = printed_bn_formulas(rng)
    return abs(stop[which] - printed[which]) < (GRAD_ATOL * 10 if which == "grad" else HESS_ATOL)


def _holds_wn_formula_as_printed(rng):
    rhs, _, at_aw = printed_wn_gradient(rng)   # the printed left side is the gradient at alpha w
    return abs(at_aw - rhs) < GRAD_ATOL * 10


def _holds_gamma_scaling(rng):
    x, p = rng.normal(size=8), random_params(rng)
    return bool(np.allclose(two_layer(x, p | {"g1": 3 * p["g1"]}), two_layer(x, p), rtol=1e-9, atol=1e-12))


def _holds_only_last_gamma_regularized(rng):
    """The printed claim implies that scaling any group other than the last layer's gammas leaves the output
    unchanged (so L2 cannot regularize it)."""
    x, p = rng.normal(size=8), random_params(rng)
    out = two_layer(x, p)
    return all(np.allclose(two_layer(x, p | {k: 2.0 * p[k]}), out, rtol=1e-9, atol=1e-12)
               for k in ("w1", "w2", "b2", "V", "b"))


def _holds_ln_footnote(rng):
    """Footnote 1: LN is invariant under uniform scaling of W, and not under per-unit scaling."""
    x, W = rng.normal(size=4), rng.normal(size=(4, 5))
    uniform = np.max(np.abs(ln_out(x, 2.0 * W) - ln_out(x, W))) < 1e-9
    per_unit = np.max(np.abs(ln_out(x, W * np.array([2.0, 1, 1, 1, 1])) - ln_out(x, W))) > VIOLATION
    return bool(uniform and per_unit)


PRINTED_HOLDS = {
    "invariance.bn": lambda rng: _holds_invariance(rng, bn_out),
    "invariance.bn.epsilon": lambda rng: _holds_invariance(rng, lambda X, w: bn_out(X, w, 1e-3)),
    "invariance.wn": lambda rng: _holds_invariance(rng, lambda X, w: wn_out(X[0], w)),
    "invariance.ln": _holds_ln,
    "invariance.ln.per_unit": _holds_ln_footnote,
    "invariance.l1bn": lambda rng: _holds_positive_invariance(rng, l1bn_out),
    "invariance.linfbn": lambda rng: _holds_positive_invariance(rng, linfbn_out),
    "l2.rescaling": lambda rng: _holds_l2_rescaling(rng, middle=False),
    "l2.rescaling.middle": lambda rng: _holds_l2_rescaling(rng, middle=True),
    "l2.optimum": _holds_l2_optimum,
    "grad.scaling.bn_stopgrad": lambda rng: _holds_gradient_scaling(rng, "bn_stopgrad"),
    "grad.scaling.bn_full": lambda rng: _holds_gradient_scaling(rng, "bn_full"),
    "grad.scaling.wn": lambda rng: _holds_gradient_scaling(rng, "wn"),
    "grad.scaling.ln": lambda rng: _holds_gradient_scaling(rng, "ln"),
    "grad.scaling.l2": lambda rng: _holds_gradient_scaling(rng, "l2"),
    "grad.formula.bn_stopgrad": lambda rng: _holds_bn_formula(rng, "grad"),
    "grad.formula.wn": _holds_wn_formula_as_printed,
    "grad.euler.orthogonal": lambda rng: _holds_euler(rng, stopgrad=False),
    "grad.euler.stopgrad": _holds_euler_in_expectation,
    "hess.scaling.bn_full": lambda rng: _holds_hessian_scaling(rng, "bn_full"),
    "hess.scaling.bn_stopgrad": lambda rng: _holds_hessian_scaling(rng, "bn_stopgrad"),
    "hess.scaling.wn": lambda rng: _holds_hessian_scaling(rng, "wn"),
    "hess.scaling.ln": lambda rng: _holds_hessian_scaling(rng, "ln"),
    "hess.scaling.l2": _holds_printed_l2_hessian,
    "hess.formula.bn_stopgrad": lambda rng: _holds_bn_formula(rng, "hess"),
    "discussion.gamma_scaling": _holds_gamma_scaling,
    "discussion.regularized_parameters": _holds_only_last_gamma_regularized,
}


def test_every_identity_claim_has_a_numeric_reading():
    identity = {cid for cid, c in CLAIMS.items() if c.printed.form == "identity"}
    assert identity <= set(PRINTED_HOLDS)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("claim_id", list(PRINTED_HOLDS))
def test_verdict_matches_a_numeric_reading_of_the_printed_statement(rng, claim_id):
    holds = PRINTED_HOLDS[claim_id](rng)
    assert CLAIMS[claim_id].verdict.kind == (AGREES if holds else DISAGREES)


@pytest.mark.timeout(120)
def test_constant_verdicts_follow_the_limits():
    """sqrt(pi/2) is the n -> oo limit of the exact L1 constant (leading order); Hoffer's L-inf constant has the
    derived (ln n)^(-1/2) law with a different prefactor (scaling only); H w = -grad has no printed form."""
    assert CLAIMS["hoffer.l1bn.constant"].verdict.kind == AGREES_LEADING
    assert CLAIMS["hoffer.linfbn.constant"].verdict.kind == AGREES_SCALING
    assert CLAIMS["hess.euler"].verdict.kind == NOT_COMPARABLE


def test_the_network_witness_in_floating_point_is_the_exact_one_to_30_digits():
    """Differential: ``discussion.witness_residual`` (60-digit floats) against the exact algebraic evaluation."""
    def exact(params):
        point = {s: D.WITNESS[s] for group in D.GROUPS.values() for s in group}
        changed = {**point, **{s: sp.sympify(v).subs(D.WITNESS) for s, v in params.items()}}
        inputs = tuple(D.WITNESS[x] for x in D.INPUTS)
        return sp.N(D.network(changed, D.first_layer(changed, inputs))
                    - D.network(point, D.first_layer(point, inputs)), 30)

    cases = [D.scaled_group((name,)) for name in D.GROUPS] + [{D.gamma1: D.c * D.gamma1}]
    for params in cases:
        fast, reference = D.witness_residual(params), exact(params)
        assert abs(fast - reference) <= sp.Float("1e-28") * max(1, abs(reference)), (params, fast, reference)
