"""Symbolic against numeric: closed forms of ``theory/``, lambdified, against direct numpy computations.

For each claim id in ``REFERENCES`` a hand-written numpy reference, from first principles (the layer, the
update rule, the model's definition), is compared with the claim's lambdified result or extras. Points are
drawn from a fixed-seed generator, as many as the Hypothesis profile's examples (``ci``: 20,
``thorough``: 2,000); Monte-Carlo references run once, with a tolerance of 4 standard errors and a fixed
seed. A claim that is not in the registry (the theory module is absent or renamed it) is skipped with a
reason. Closed forms without a reference here are checked by the Monte-Carlo and training legs, or are
leading-order statements (equilibrium norms and rates) that a direct computation cannot pin exactly.
"""
import zlib

import numpy as np
import pytest
import sympy as sp
from hypothesis import settings
from scipy.optimize import brentq

from normlaws import registry
from normlaws.testing.layers import batch_norm, layer_norm, normalization_bound, unit_roundoff
from normlaws.testing.rules import RULES

U = unit_roundoff()
REFERENCES = {}


def reference(*claim_ids, monte_carlo=False):
    """Register a numpy reference ``check(claim, rng)`` for each of ``claim_ids``."""
    def register(check):
        for cid in claim_ids:
            REFERENCES[cid] = (check, monte_carlo)
        return check
    return register


#: the L2 strength's symbol is spelled 'lamda' in SymPy ('lambda' is a Python keyword); the references say 'lam'
_ALIASES = {"lamda": "lam", "lambda": "lam"}


def value(expr, **values) -> float:
    """``expr`` lambdified and evaluated at ``values`` (keyed by symbol name; 'lam' for the L2 strength)."""
    syms = sorted(sp.sympify(expr).free_symbols, key=lambda s: s.name)
    keys = [_ALIASES.get(s.name, s.name) for s in syms]
    missing = [k for k in keys if k not in values]
    if missing:
        raise AssertionError(f"the closed form has symbols {missing} the numpy reference does not supply")
    return float(np.real(sp.lambdify(syms, expr, "numpy")(*[values[k] for k in keys])))


def log_uniform(rng, low, high):
    return float(10 ** rng.uniform(np.log10(low), np.log10(high)))


# ---- normalizations ------------------------------------------------------------------------------------

def _first_output_ratio(kind, rng):
    """``zhat_1(alpha w)/zhat_1(w)`` for a random batch and weights, with its relative rounding bound."""
    alpha = log_uniform(rng, 1e-2, 1e2) * rng.choice([-1.0, 1.0])
    if kind == "ln":
        u = rng.standard_normal((1, 3))
        y, D = layer_norm(u, np.eye(3))
        y_a, _ = layer_norm(u, alpha * np.eye(3))
        bound = normalization_bound(u, np.eye(3), y, D, axis=1)
        return alpha, y_a[0, 0] / y[0, 0], 2 * bound[0, 0] / abs(y[0, 0])
    X, w = rng.standard_normal((5, 2)), rng.standard_normal(2)
    if kind == "wn":
        y = X @ w / np.linalg.norm(w)
        y_a = X @ (alpha * w) / np.linalg.norm(alpha * w)
        return alpha, y_a[0] / y[0], 16 * 5 * U * np.abs(X[0]) @ np.abs(w) / abs(X[0] @ w)
    p = {"bn": 2, "l1bn": 1, "linfbn": np.inf}[kind]
    y, D = batch_norm(X, w, p=p)
    y_a, _ = batch_norm(X, alpha * w, p=p)
    bound = normalization_bound(X, w, y, D, axis=0, C=2.0)
    return alpha, y_a[0] / y[0], 2 * bound[0] / abs(y[0])


@reference("invariance.bn", "invariance.wn", "invariance.ln", "invariance.l1bn", "invariance.linfbn")
def check_sign_ratio(claim, rng):
    """extras['zhat_ratio_real_alpha'] = alpha/|alpha|: the normalized output's ratio under a real scale."""
    kind = claim.id.split(".")[1]
    alpha, ratio, rel = _first_output_ratio(kind, rng)
    assert abs(ratio - value(claim.derivation.extras["zhat_ratio_real_alpha"], alpha=alpha)) <= rel


@reference("invariance.bn.epsilon")
def check_bn_epsilon_ratio(claim, rng):
    """extras['ratio'] = BN_eps(alpha w)/BN_eps(w) as a function of alpha, eps and sigma(Xw)."""
    X, w = rng.standard_normal((6, 3)), rng.standard_normal(3)
    alpha, eps = log_uniform(rng, 1e-2, 1e2), log_uniform(rng, 1e-6, 1e1)
    y, D = batch_norm(X, w, eps=eps)
    y_a, D_a = batch_norm(X, alpha * w, eps=eps)
    i = int(np.argmax(np.abs(y)))
    rel = (normalization_bound(X, w, y, D, 0)[i] + normalization_bound(X, alpha * w, y_a, D_a, 0)[i]) / abs(y[i])
    expected = value(claim.derivation.extras["ratio"], alpha=alpha, epsilon=eps, sigma_Xw=np.std(X @ w))
    assert abs(y_a[i] / y[i] - expected) <= 2 * rel * abs(expected)


@reference("invariance.ln.per_unit")
def check_ln_per_unit(claim, rng):
    """extras['per_unit_residual']: LN's first output with units scaled by (alpha1, alpha2, alpha1), minus before."""
    u, a1, a2 = rng.standard_normal(3), log_uniform(rng, 1e-1, 1e1), log_uniform(rng, 1e-1, 1e1)
    scaled = u * np.array([a1, a2, a1])
    y, D = layer_norm(u[None], np.eye(3))
    y_s, D_s = layer_norm(scaled[None], np.eye(3))
    bound = normalization_bound(u[None], np.eye(3), y, D, 1)[0, 0] + \
        normalization_bound(scaled[None], np.eye(3), y_s, D_s, 1)[0, 0]
    expected = value(claim.derivation.extras["per_unit_residual"], u1=u[0], u2=u[1], u3=u[2], alpha1=a1, alpha2=a2)
    assert abs((y_s[0, 0] - y[0, 0]) - expected) <= bound + 8 * U * abs(expected)


@reference("hoffer.l1bn.constant", monte_carlo=True)
def check_l1_constant(claim, rng):
    """extras['expected_mad'] = E[mean_i |x_i - xbar|] for N(0, sigma^2) batches of size n (Monte-Carlo)."""
    for n in (2, 3, 5, 10):
        sigma = 1.7
        x = rng.normal(0, sigma, (100_000, n))
        mad = np.abs(x - x.mean(1, keepdims=True)).mean(1)
        se = mad.std(ddof=1) / np.sqrt(len(mad))
        assert abs(mad.mean() - value(claim.derivation.extras["expected_mad"], sigma=sigma, n=n)) <= 4 * se
        assert abs(value(claim.derivation.extras["constant_n"], n=n)
                   * value(claim.derivation.extras["expected_mad"], sigma=1.0, n=n) - 1) <= 8 * U


@reference("hoffer.linfbn.constant", monte_carlo=True)
def check_linf_constant(claim, rng):
    """extras['exact_n2'], ['exact_n3']: C(n) E[max_i |x_i - xbar|] = sigma for n = 2, 3 (Monte-Carlo)."""
    for n, key in ((2, "exact_n2"), (3, "exact_n3")):
        x = rng.standard_normal((200_000, n))
        m = np.abs(x - x.mean(1, keepdims=True)).max(1)
        se = m.std(ddof=1) / np.sqrt(len(m))
        assert abs(m.mean() - 1 / value(claim.derivation.extras[key])) <= 4 * se


@reference("l2.rescaling")
def check_l2_rescaling(claim, rng):
    """L_lambda(alpha w) - L_{lambda alpha^2}(w) on a BN unit: zero up to rounding of the penalties."""
    X, w, up = rng.standard_normal((5, 2)), rng.standard_normal(2), rng.standard_normal(5)
    alpha, lam = log_uniform(rng, 1e-2, 1e2), log_uniform(rng, 1e-5, 1e-1)
    loss = lambda v: float(up @ np.tanh(batch_norm(X, v)[0]))  # noqa: E731
    numeric = loss(alpha * w) + lam * np.sum((alpha * w) ** 2) - (loss(w) + lam * alpha**2 * np.sum(w**2))
    y, D = batch_norm(X, w)
    bound = np.abs(up) @ normalization_bound(X, w, y, D, 0) + 16 * U * (np.abs(up).sum() + lam * alpha**2 * w @ w)
    assert abs(numeric - value(claim.derivation.result, alpha=alpha, lam=lam, w1=w[0], w2=w[1])) <= bound


# ---- update rules ----------------------------------------------------------------------------------------

class _Problem:
    """A BN-unit loss stream (as in test_properties_updates), full backward."""

    def __init__(self, rng, d=3, steps=6, n=6):
        self.X, self.up = rng.standard_normal((steps, n, d)), rng.standard_normal((steps, n))

    def grad(self, w, t):
        from normlaws.testing.layers import bn_unit_grad
        return bn_unit_grad(self.X[t], w, self.up[t])

    def hess(self, w, t):
        pytest.importorskip("torch")
        from normlaws.testing.layers import bn_unit_hessian
        return bn_unit_hessian(self.X[t], w, self.up[t])


_SYMBOL_TO_HYPER = {"eta": "eta", "lam": "lam", "epsilon": "eps"}


def _hyper(rule, rng):
    draws = {"eta": log_uniform(rng, 1e-4, 1e-1), "lam": log_uniform(rng, 1e-5, 1e-2),
             "wd": log_uniform(rng, 1e-5, 1e-2),
             "rho": rng.uniform(0, 0.99), "beta1": rng.uniform(0, 0.99), "beta2": rng.uniform(0.5, 0.9999),
             "eps": log_uniform(rng, 1e-10, 1e-1)}
    return {h: draws[h] for h in rule.hyper}


@reference(*[f"update.{n}.equivariance" for n in ("sgd", "momentum", "nesterov", "rmsprop", "rmsprop_torch",
                                                  "adam", "adamw", "newton")])
def check_equivariance_map(claim, rng):
    """The theory's rescaled hyperparameters, lambdified, make whole numpy trajectories agree bitwise:
    run(alpha w0; h) = alpha run(w0; h') with h' from the claim's matrix and alpha a power of two."""
    rule = RULES[claim.id.split(".")[1]]
    if rule.name == "newton":
        pytest.importorskip("torch")
    hyper, problem = _hyper(rule, rng), _Problem(rng)
    alpha = 2.0 ** int(rng.integers(-8, 9))
    own = {_SYMBOL_TO_HYPER[s]: s for s in ("eta", "lam", "epsilon")}
    if rule.name == "adamw":
        own["wd"] = own.pop("lam")
    symbols = {own[h]: v for h, v in hyper.items() if h in own}
    mapped = [value(e, alpha=alpha, **symbols) for e in claim.derivation.result]
    names = [h for h in rule.hyper if h in own][:len(mapped)]
    rescaled = {**hyper, **dict(zip(names, mapped))}
    w0 = rng.standard_normal(3)
    big = rule.run(alpha * w0, hyper, problem, 5)
    small = rule.run(w0, rescaled, problem, 5)
    if np.all(np.isfinite(big)) and np.all(np.isfinite(small)):
        assert np.array_equal(big, alpha * small)


@reference("table1.sgd.eff_lr", "table1.momentum.eff_lr", "table1.rmsprop.eff_lr", "table1.adam.eff_lr",
           "table1.newton.eff_lr")
def check_eff_lr(claim, rng):
    """One step from r w_hat (lambda = 0, eps = 0, fresh state) is r times one step from w_hat at eta_eff(r):
    the rule's direction moves as if the learning rate were the claim's eta/r**k (r a power of two: exact)."""
    name = claim.id.split(".")[1]
    rule = RULES[name]
    if name == "newton":
        pytest.importorskip("torch")
    hyper = {**_hyper(rule, rng), "lam": 0.0, **({"eps": 0.0} if "eps" in rule.hyper else {})}
    r, problem = 2.0 ** int(rng.integers(-8, 9)), _Problem(rng)
    w_hat = rng.standard_normal(3)
    w_hat /= np.linalg.norm(w_hat)
    eff = value(claim.derivation.result, eta=hyper["eta"], r=r)
    big = rule.run(r * w_hat, hyper, problem, 1)[1]
    small = rule.run(w_hat, {**hyper, "eta": eff}, problem, 1)[1]
    assert np.array_equal(big, r * small)


@reference("table1.normalized.eff_lr", "table1.normalized.eff_lr_eq")
def check_normalized_eff_lr(claim, rng):
    """Normalized SGD with (eta, lambda) from a unit vector = normalized SGD without decay at eta/(1 - 2 eta lam)."""
    rule, problem = RULES["normalized"], _Problem(rng)
    eta, lam = log_uniform(rng, 1e-4, 1e-1), log_uniform(rng, 1e-5, 1e-1)
    w = rng.standard_normal(3)
    w /= np.linalg.norm(w)
    eff = value(claim.derivation.result, eta=eta, lam=lam)
    a = rule.run(w, {"eta": eta, "lam": lam}, problem, 1)[1]
    b = rule.run(w, {"eta": eff, "lam": 0.0}, problem, 1)[1]
    g = problem.grad(w, 0)
    # each unnormalized step rounds by a few u relative to |w| + eta_eff |g| per component; normalizing
    # divides by ||w - eta_eff g|| and adds (d + 3) u
    tol = 8 * (3 + 4) * U * (1 + eff * np.linalg.norm(g)) / np.linalg.norm(w - eff * g)
    assert np.max(np.abs(a - b)) <= tol


@reference("update.adam.bias_correction")
def check_adam_step(claim, rng):
    """The closed-form Adam step at (v, g, t) equals the t-th step of Kingma & Ba's algorithm run in numpy."""
    beta1, beta2, eps, eta = rng.uniform(0, 0.99), rng.uniform(0.5, 0.9999), log_uniform(rng, 1e-10, 1e-1), 1e-2
    steps = int(rng.integers(1, 8))
    m = v = 0.0
    for grad in rng.standard_normal(steps):
        m, v = beta1 * m + (1 - beta1) * grad, beta2 * v + (1 - beta2) * grad**2
    step = eta * (m / (1 - beta1**steps)) / (np.sqrt(v / (1 - beta2**steps)) + eps)
    expected = value(claim.derivation.result, eta=eta, v=m, g=v, t=steps, beta1=beta1, beta2=beta2, epsilon=eps)
    assert abs(step - expected) <= 16 * U * abs(step) * steps


# ---- the Section 4 model --------------------------------------------------------------------------------

@reference("sec4.grad_second_moment", monte_carlo=True)
def check_grad_second_moment(claim, rng):
    """Per-sample, per-coordinate E[(dL/dw_j)^2] of a stop-gradient BN unit with a ReLU (beta = 0) over Gaussian
    batches of B (the batch's own std in the denominator), X ~ N(0, sigma_X^2 I), upstream ~ N(0, sigma_nabla^2):
    Monte-Carlo, 4 standard errors."""
    d, batch, gamma, s_x, s_g, n = 4, int(rng.choice([6, 8, 16])), 1.3, 0.7, 2.1, 40_000
    w = rng.standard_normal(d)
    X = rng.normal(0, s_x, (n, batch, d))
    delta = rng.normal(0, s_g, (n, batch))
    h = X @ w
    centred = h - h.mean(1, keepdims=True)
    std = np.sqrt((centred**2).mean(1, keepdims=True))
    relu_prime = (gamma * centred / std > 0).astype(float)
    per_sample = (delta * gamma * relu_prime / std)[..., None] * X          # one sample's gradient, (n, B, d)
    per_coordinate = (per_sample**2).mean((1, 2))
    se = per_coordinate.std(ddof=1) / np.sqrt(n)
    expected = value(claim.derivation.result, gamma=gamma, sigma_nabla=s_g, r=np.linalg.norm(w), d=d, B=batch)
    assert abs(per_coordinate.mean() - expected) <= 4 * se


def _expected_next_norm2(w, eta, lam, C):
    """E||w'||^2 for w' = (1 - 2 eta lam) w - eta g/||w||, g uniform on {+-sqrt(C) e_j}: zero mean,
    E||g||^2 = C, uncorrelated with w (an exact average over 2d points, no sampling)."""
    d, r = len(w), np.linalg.norm(w)
    points = np.concatenate([np.eye(d), -np.eye(d)]) * np.sqrt(C)
    nxt = (1 - 2 * eta * lam) * w[None, :] - eta * points / r
    return float((nxt**2).sum(1).mean())


@reference("sec4.sgd.recursion")
def check_sgd_recursion(claim, rng):
    d = int(rng.integers(1, 6))
    gamma, s_g = log_uniform(rng, 0.1, 10), log_uniform(rng, 0.1, 10)
    eta, lam = log_uniform(rng, 1e-4, 1e-1), log_uniform(rng, 1e-5, 1e-1)
    w = rng.standard_normal(d) * log_uniform(rng, 1e-2, 1e2)
    C = d * gamma**2 * s_g**2 / 2        # d coordinates of variance gamma^2 sigma^2 / 2 at unit norm
    r = np.linalg.norm(w)
    numeric = _expected_next_norm2(w, eta, lam, C) - r**2
    # the recursion in the model constant C (the BN unit's C is tested against a simulated unit in test_bn_unit)
    expected = value(claim.derivation.extras["in_C"], C=C, eta=eta, r=r, lam=lam)
    assert abs(numeric - expected) <= 16 * (d + 4) * U * (r**2 + eta**2 * C / r**2)


def _closure_map(N, eta, lam, C):
    """The closure of the SGD recursion: N -> (1 - 2 eta lam)^2 N + eta^2 C / N."""
    return (1 - 2 * eta * lam) ** 2 * N + eta**2 * C / N


@reference("sec4.sgd.fixed_point")
def check_sgd_fixed_point(claim, rng):
    """extras['N_star']: the root of the closure map's increment, found by bisection (brentq) in numpy."""
    eta, lam, C = log_uniform(rng, 1e-4, 1e-1), log_uniform(rng, 1e-5, 1e-1), log_uniform(rng, 1e-2, 1e2)
    root = brentq(lambda N: _closure_map(N, eta, lam, C) - N, 1e-12, 1e12, xtol=1e-300, rtol=1e-15)
    expected = value(claim.derivation.extras["N_star"], eta=eta, C=C, lam=lam)
    # the increment (a^2 - 1) N + eta^2 C/N cancels two terms of size N: its rounding ~3uN, divided by its slope
    # 2(1 - a^2) at the root, moves the root by 2u/(1 - a^2) relative; plus brentq's rtol and the closed form's
    one_minus_a2 = 1 - (1 - 2 * eta * lam) ** 2
    assert abs(root - expected) <= (1e-15 + 2 * U / one_minus_a2 + 16 * U) * root


@reference("sec4.sgd.relaxation")
def check_sgd_relaxation(claim, rng):
    """-1/log of the closure map's slope at its fixed point, by a central difference (step delta):
    truncation f''' (delta N)^2/6 = (1 - a^2) delta^2, rounding ~ 2u/delta in the slope."""
    eta, lam, C = log_uniform(rng, 1e-3, 1e-1), log_uniform(rng, 1e-3, 1e-1), log_uniform(rng, 1e-2, 1e2)
    N = np.sqrt(eta**2 * C / (1 - (1 - 2 * eta * lam) ** 2))
    assert abs(_closure_map(N, eta, lam, C) - N) <= 8 * U * N      # the fixed point (from the recursion)
    delta = 1e-5
    slope = (_closure_map(N * (1 + delta), eta, lam, C) - _closure_map(N * (1 - delta), eta, lam, C)) / (2 * delta * N)
    tau = -1 / np.log(slope)
    slope_error = delta**2 + 8 * U / delta
    expected = value(claim.derivation.result, eta=eta, lam=lam)
    assert abs(tau - expected) <= 2 * tau * slope_error / (slope * abs(np.log(slope)))


# ---- the tests ---------------------------------------------------------------------------------------------

def _claim_or_skip(claim_id):
    if claim_id not in {c.id for c in registry.claims()}:
        pytest.skip(f"claim {claim_id!r} is not in the registry (theory module absent or id renamed)")
    return registry.get(claim_id)


@pytest.mark.parametrize("claim_id", [pytest.param(cid, marks=pytest.mark.claims(cid)) for cid in sorted(REFERENCES)])
def test_closed_form_agrees_with_numpy(claim_id):
    claim = _claim_or_skip(claim_id)
    check, monte_carlo = REFERENCES[claim_id]
    points = 1 if monte_carlo else settings.default.max_examples
    for seed in range(points):
        check(claim, np.random.default_rng([seed, zlib.crc32(claim_id.encode())]))
