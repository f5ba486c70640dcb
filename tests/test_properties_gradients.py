"""Gradient and Hessian homogeneity (degrees -1 and -2) through torch autograd, in both BN backward
conventions; orthogonality of the gradient to the weights, exact or in expectation.

For a loss ``L(w)`` with ``L(alpha w) = L(w)`` (``alpha > 0``), differentiating gives
``grad L(alpha w) = grad L(w)/alpha`` and ``Hess L(alpha w) = Hess L(w)/alpha^2``, and Euler's theorem
for degree 0 gives ``<grad L(w), w> = 0``. Stopping the gradient at the batch statistics (the paper's
Section 3) keeps the homogeneity (the stopped statistics scale along) but loses the exact orthogonality:
``<g_sg, w> = sum_i r_i z_i / sigma``, zero only in expectation over upstream gradients ``r`` independent
of the batch with mean zero (the Section 4 model).
"""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import normlaws.testing as nt
from normlaws.testing.invariance import _Target
from normlaws.testing.layers import batch_norm, bn_unit_grad, unit_roundoff

torch = pytest.importorskip("torch")

BACKWARDS = st.sampled_from(["full", "stop_gradient"])


class BNUnits(torch.nn.Module):
    """``k`` BN units on a fixed batch: ``tanh(BN(X W^T))`` (``W``: ``k x d``), in either backward convention."""

    def __init__(self, W, backward="full"):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.as_tensor(W, dtype=torch.float64))
        self.backward = backward

    def forward(self, X):
        z = (X[:, None, :] * self.weight[None]).sum(-1)
        mu, var = z.mean(0), ((z - z.mean(0)) ** 2).mean(0)
        if self.backward == "stop_gradient":
            mu, var = mu.detach(), var.detach()
        return torch.tanh((z - mu) / var.sqrt())


class WNUnits(torch.nn.Module):
    """``k`` weight-normalized units: ``tanh(X W^T / ||W_row||)``."""

    def __init__(self, W):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.as_tensor(W, dtype=torch.float64))

    def forward(self, X):
        return torch.tanh((X[:, None, :] * self.weight[None]).sum(-1) / self.weight.norm(dim=1))


@st.composite
def unit_cases(draw, k_max=2, d_max=4, sign="positive", per_channel=False):
    """``(X, W, alpha)`` with a non-degenerate batch of pre-activations for every unit."""
    n, d, k = draw(st.integers(3, 8)), draw(st.integers(1, d_max)), draw(st.integers(1, k_max))
    X, W = draw(nt.batches(n, d)), draw(nt.weights((k, d), min_norm=1e-3, max_norm=1e3))
    z = X @ W.T
    assume(np.all(np.linalg.norm(W, axis=1) > 0) and np.all(z.std(0) > 1e-6 * np.abs(z).max(0)))
    alpha = draw(nt.scale_factors(1e-2, 1e2, sign=sign, shape=k if per_channel else None))
    return X, W, alpha


# ---- homogeneity -------------------------------------------------------------------------------------

@pytest.mark.claims("grad.scaling.bn_stopgrad", "grad.scaling.bn_full")
@given(unit_cases(per_channel=True), BACKWARDS)
def test_bn_gradient_is_homogeneous_of_degree_minus_one(case, backward):
    X, W, alpha = case
    nt.assert_gradient_homogeneous(BNUnits(W, backward), X, alpha, per="channel")


@pytest.mark.claims("grad.scaling.wn")
@given(unit_cases(per_channel=True))
def test_wn_gradient_is_homogeneous_of_degree_minus_one(case):
    X, W, alpha = case
    nt.assert_gradient_homogeneous(WNUnits(W), X, alpha, per="channel")


@pytest.mark.claims("hess.scaling.bn_full", "hess.scaling.bn_stopgrad")
@given(unit_cases(k_max=2, d_max=3), BACKWARDS)
def test_bn_hessian_is_homogeneous_of_degree_minus_two(case, backward):
    X, W, alpha = case
    nt.assert_hessian_homogeneous(BNUnits(W, backward), X, alpha)


@pytest.mark.claims("hess.scaling.bn_full")
@given(unit_cases(k_max=2, d_max=3, per_channel=True))
def test_bn_hessian_per_channel_is_s_inverse_h_s_inverse(case):
    X, W, alpha = case
    nt.assert_hessian_homogeneous(BNUnits(W), X, alpha, per="channel")


@pytest.mark.claims("hess.scaling.wn")
@given(unit_cases(k_max=1, d_max=3))
def test_wn_hessian_is_homogeneous_of_degree_minus_two(case):
    X, W, alpha = case
    nt.assert_hessian_homogeneous(WNUnits(W), X, alpha)


@pytest.mark.claims("grad.scaling.bn_stopgrad",
                    "grad.scaling.bn_full",
                    "hess.scaling.bn_full",
                    "hess.scaling.bn_stopgrad")
@pytest.mark.parametrize("backward", ["full", "stop_gradient"])
def test_measured_degrees_are_0_minus_1_minus_2(backward):
    gen = np.random.default_rng(0)
    X, W = gen.standard_normal((16, 3)), gen.standard_normal((2, 3))
    model = BNUnits(W, backward)
    degrees = [nt.homogeneity_degree(model, X, of=of) for of in ("output", "gradient", "hessian")]
    # exact power laws in float64: the fitted slopes carry only rounding (~1e-15 in the logs)
    assert np.allclose(degrees, [0, -1, -2], rtol=0, atol=1e-9), degrees


@pytest.mark.claims("grad.scaling.bn_full")
def test_search_finds_negative_scale_breaking_gradient_homogeneity():
    def check(case):
        X, W, alpha = case
        nt.assert_gradient_homogeneous(BNUnits(W), X, alpha)
    found = nt.find_counterexample(check, unit_cases(sign="any"), floor=60)
    assert found is not None and found[0][2] < 0


# ---- the numpy reference gradient against autograd --------------------------------------------------

def bn_gradient_terms(X, w, up):
    """``sum_i |X_ij| (|r_i| + mean|r| + |y_i| mean|r y|) / D``: the magnitudes the gradient is summed from."""
    y, D = batch_norm(X, w)
    r = np.abs(up * (1 - np.tanh(y) ** 2))
    return np.abs(X).T @ (r + r.mean() + np.abs(y) * (r * np.abs(y)).mean()) / D


@pytest.mark.claims("grad.formula.bn_stopgrad")
@given(unit_cases(k_max=1), BACKWARDS, st.data())
def test_numpy_bn_gradient_matches_autograd(case, backward, data):
    X, W, _ = case
    n, d = X.shape
    up = data.draw(nt.arrays((n, 1)))
    g_numpy = bn_unit_grad(X, W[0], up[:, 0], backward=backward)
    g_torch = autograd_gradient(W, backward, X, up)
    # each implementation sums terms of the sizes above, rounding with at most (2n + d + 12) u relative
    # (the forward statistics, the backward means, the final sum over the batch), first order
    bound = 2 * (2 * n + d + 12) * unit_roundoff() * bn_gradient_terms(X, W[0], up[:, 0])
    assert np.all(np.abs(g_numpy - g_torch) <= bound)


def autograd_gradient(W, backward, X, up):
    model = BNUnits(W, backward)
    (model(torch.as_tensor(X)) * torch.as_tensor(up)).sum().backward()
    return model.weight.grad[0].numpy()


# ---- orthogonality ---------------------------------------------------------------------------------------

def inner_product_with_bound(model, X, W, up):
    """``<grad L(w), w>`` and the rounding bound on it: ``sum_j tol_j |w_j|`` from the gradient's rounding
    plus ``d u sum_j |g_j w_j|`` for the dot product itself."""
    target = _Target(model, X, "weight", "layer")
    g, tol = target.with_tolerance("gradient", target.values(), upstream=up)
    w = torch.as_tensor(W).reshape(-1)
    return float(g @ w), float(tol @ w.abs()) + w.numel() * unit_roundoff() * float((g * w).abs().sum())


@pytest.mark.claims("grad.euler.orthogonal")
@given(unit_cases(k_max=1), st.data())
def test_full_backward_gradient_is_orthogonal_to_w(case, data):
    X, W, _ = case
    up = data.draw(nt.arrays((X.shape[0], 1)))
    for model in (BNUnits(W, "full"), WNUnits(W)):
        value, bound = inner_product_with_bound(model, X, W, up)
        assert abs(value) <= bound, f"<grad, w> = {value:.3g} > {bound:.3g} for {type(model).__name__}"


@pytest.mark.claims("grad.euler.stopgrad")
def test_search_finds_stop_gradient_not_exactly_orthogonal():
    def check(case, up):
        X, W, _ = case
        value, bound = inner_product_with_bound(BNUnits(W, "stop_gradient"), X, W, up[: X.shape[0]])
        assert abs(value) <= bound
    found = nt.find_counterexample(check, unit_cases(k_max=1), nt.arrays((8, 1)), floor=50)
    assert found is not None, "stop-gradient BN is not exactly orthogonal; the search must show it"


def stop_gradient_inner_products(upstream_of, draws=4000, seed=0):
    """``<g_sg, w>/(||g_sg|| ||w||)`` over many upstream gradients for one fixed batch and weight vector."""
    gen = np.random.default_rng(seed)
    X, w = gen.standard_normal((16, 4)), gen.standard_normal(4)
    out = []
    for _ in range(draws):
        g = bn_unit_grad(X, w, upstream_of(gen, X, w), backward="stop_gradient")
        out.append(g @ w / (np.linalg.norm(g) * np.linalg.norm(w)))
    return np.array(out)


@pytest.mark.claims("grad.euler.stopgrad")
def test_stop_gradient_is_orthogonal_in_expectation():
    """Upstream gradients independent of the batch, mean zero: E<g_sg, w> = 0. Fixed seed; the mean of 4000
    bounded cosines is within 4 standard errors of 0 unless the expectation is not 0 (z = 4: a false alarm
    has probability 6e-5, and the seed is fixed, so the verdict is reproducible)."""
    c = stop_gradient_inner_products(lambda gen, X, w: gen.standard_normal(X.shape[0]))
    se = c.std(ddof=1) / np.sqrt(len(c))
    assert abs(c.mean()) <= 4 * se, f"mean cosine {c.mean():.3g}, standard error {se:.3g}"


@pytest.mark.claims("grad.euler.stopgrad")
def test_stop_gradient_orthogonality_needs_independent_upstream():
    """Teeth: an upstream gradient correlated with the pre-activations (here with (Xw)^2, i.e. with the
    mean the stop-gradient ignores) makes the expected inner product nonzero, and the same statistic sees it."""
    def correlated(gen, X, w):
        z = X @ w
        return (z / z.std()) ** 2 + gen.standard_normal(X.shape[0])
    c = stop_gradient_inner_products(correlated)
    se = c.std(ddof=1) / np.sqrt(len(c))
    assert abs(c.mean()) > 4 * se, f"mean cosine {c.mean():.3g}, standard error {se:.3g}"
