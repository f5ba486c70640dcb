"""The real torch layers: BatchNorm1d/2d, LayerNorm and weight normalization (torch.nn.utils.parametrizations),
in train and eval mode, checked with the public assertions of ``normlaws.testing``.

What holds (derived in ``normlaws.testing.layers``; the eps identity ``BN_eps(alpha z) = BN_{eps/alpha^2}(z)``
because ``Var(alpha z) + eps = alpha^2 (Var(z) + eps/alpha^2)``):

* BatchNorm, train mode: per output channel, for ``alpha > 0``, exactly up to eps; with eps rescaled, exactly.
  torch refuses ``eps = 0`` in training, so plain invariance is checked with eps below float resolution.
* BatchNorm, eval mode: *not* invariant in the weights alone (running statistics are fixed buffers);
  invariant again once the running statistics are re-estimated under the scaled weights.
* LayerNorm: per layer only (one alpha for the whole weight, and the bias too if there is one); not per
  channel. Train and eval mode are the same computation.
* Weight normalization (``weight = g v/||v||``, ``dim=0``): invariant in ``v`` per output row, with no eps;
  the output is homogeneous of degree 1 in ``g``.
"""
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import normlaws.testing as nt

torch = pytest.importorskip("torch")
from torch.nn.utils.parametrizations import weight_norm  # noqa: E402

TINY_EPS = 1e-30  # below float resolution of any alpha^2 Var here (>= 1e-10), and a normal float32


def seeded(module, seed):
    """Random affine parameters for the normalization layers (gamma, beta away from 1 and 0)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if not name.startswith("linear") and not name.startswith("conv"):
                p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2 - 0.5)
    return module


def linear_norm(W, norm, bias=True, seed=0):
    """Linear (weight ``W``; bias, if any, drawn from ``seed``) then ``norm``: a function of the case alone (the bias
    once came from torch's global generator, which made a check's outcome depend on what ran before it)."""
    k, d = W.shape
    linear = torch.nn.Linear(d, k, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(W))
        if bias:
            gen = torch.Generator().manual_seed(seed + 1)
            linear.bias.copy_(torch.rand(k, generator=gen, dtype=torch.float64) * 2 - 1)
    return seeded(torch.nn.Sequential(OrderedDict(linear=linear, norm=norm)), seed)


@st.composite
def linear_cases(draw, n_min=2, sign="positive", per_channel=True):
    """``(X, W, alpha, seed)``: inputs, a ``k x d`` Linear weight whose pre-activations vary over the batch."""
    n, d, k = draw(st.integers(n_min, 8)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    X, W = draw(nt.batches(n, d)), draw(nt.weights((k, d), min_norm=1e-3, max_norm=1e3))
    z = X @ W.T
    assume(np.all(np.linalg.norm(W, axis=1) > 0) and np.all(z.std(0) > 1e-6 * np.abs(z).max(0)))
    alpha = draw(nt.scale_factors(1e-2, 1e2, sign=sign, shape=k if per_channel else None))
    return X, W, alpha, draw(st.integers(0, 2**16))


# ---- BatchNorm ------------------------------------------------------------------------------------------

@pytest.mark.claims("invariance.bn")
@given(linear_cases(), st.booleans())
def test_batchnorm1d_train_is_invariant_per_channel(case, bias):
    X, W, alpha, seed = case
    model = linear_norm(W, torch.nn.BatchNorm1d(W.shape[0], eps=TINY_EPS, dtype=torch.float64), bias, seed)
    nt.assert_scale_invariant(model, X, alpha, param="linear.weight", per="channel")


@pytest.mark.claims("invariance.bn.epsilon")
@given(linear_cases(per_channel=False), nt.epsilons(1e-8, 1e-1))
def test_batchnorm1d_train_eps_identity(case, eps):
    X, W, alpha, seed = case
    model = linear_norm(W, torch.nn.BatchNorm1d(W.shape[0], eps=eps, dtype=torch.float64), True, seed)
    nt.assert_scale_invariant(model, X, alpha, param="linear.weight", rescale_eps=("norm",))


def check_default_bn(case):
    X, W, alpha, seed = case
    model = linear_norm(W, torch.nn.BatchNorm1d(W.shape[0], dtype=torch.float64), True, seed)
    nt.assert_scale_invariant(model, X, alpha, param="linear.weight")


@pytest.mark.claims("invariance.bn.epsilon")
def test_search_finds_batchnorm_default_eps_counterexample():
    found = nt.find_counterexample(check_default_bn, linear_cases(per_channel=False), floor=40)
    assert found is not None, "BatchNorm1d's eps=1e-5 breaks exact invariance; the search must show it"


@pytest.mark.claims("invariance.bn")
def test_search_finds_batchnorm_negative_scale_counterexample():
    def check(case):
        X, W, alpha, seed = case
        model = linear_norm(W, torch.nn.BatchNorm1d(W.shape[0], eps=TINY_EPS, dtype=torch.float64), True, seed)
        nt.assert_scale_invariant(model, X, alpha, param="linear.weight", per="channel")
    found = nt.find_counterexample(check, linear_cases(sign="any"), floor=40)
    assert found is not None and np.any(found[0][2] < 0)


@pytest.mark.claims("invariance.bn")
@given(st.data())
def test_batchnorm2d_after_conv_is_invariant_per_output_channel(data):
    n, c, k = data.draw(st.integers(2, 3)), data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))
    X = data.draw(nt.arrays((n, c, 3, 3)))
    W = data.draw(nt.weights((k, c, 2, 2), min_norm=1e-3, max_norm=1e3))
    conv = torch.nn.Conv2d(c, k, 2, dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(W))
        z = conv(torch.as_tensor(X))
    assume(bool((z.std(dim=(0, 2, 3)) > 1e-6 * z.abs().amax(dim=(0, 2, 3))).all()))
    model = seeded(torch.nn.Sequential(OrderedDict(
        conv=conv, norm=torch.nn.BatchNorm2d(k, eps=TINY_EPS, dtype=torch.float64))), 0)
    alpha = data.draw(nt.scale_factors(1e-2, 1e2, shape=k))
    nt.assert_scale_invariant(model, X, alpha, param="conv.weight", per="channel")


class Recalibrated(torch.nn.Module):
    """Eval-mode BN whose running statistics are re-estimated, with the current weights, on a calibration
    batch (a train-mode pass with momentum 1 after a reset: the statistics are that batch's)."""

    def __init__(self, W, calibration, eps, seed):
        super().__init__()
        self.inner = linear_norm(W, torch.nn.BatchNorm1d(W.shape[0], eps=eps, momentum=1.0, dtype=torch.float64),
                                 True, seed)
        self.register_buffer("calibration", torch.as_tensor(calibration))

    def forward(self, x):
        self.inner.norm.reset_running_stats()
        self.inner.train()
        self.inner(self.calibration)
        self.inner.eval()
        return self.inner(x)


@pytest.mark.claims("invariance.bn.epsilon")
@given(linear_cases(n_min=3, per_channel=False), st.data(), nt.epsilons(1e-8, 1e-1))
def test_batchnorm_eval_is_invariant_once_running_stats_are_reestimated(case, data, eps):
    X, W, alpha, seed = case
    calibration = data.draw(nt.arrays((X.shape[0], X.shape[1])))
    z = calibration @ W.T
    assume(np.all(z.std(0) > 1e-6 * np.abs(z).max(0)))
    model = Recalibrated(W, calibration, eps, seed)
    nt.assert_scale_invariant(model, X, alpha, param="inner.linear.weight", rescale_eps=("inner.norm",))


@pytest.mark.claims("invariance.bn")
def test_search_finds_batchnorm_eval_with_fixed_running_stats_not_invariant():
    def check(case):
        X, W, alpha, seed = case
        model = linear_norm(W, torch.nn.BatchNorm1d(W.shape[0], eps=TINY_EPS, dtype=torch.float64), True, seed)
        model(torch.as_tensor(X))          # running statistics from one train-mode pass at w
        model.eval()
        nt.assert_scale_invariant(model, X, alpha, param="linear.weight", rescale_eps=("norm",))
    found = nt.find_counterexample(check, linear_cases(per_channel=False), floor=40)
    assert found is not None, "eval-mode BN with fixed running statistics is not invariant; the search must show it"


# ---- LayerNorm ------------------------------------------------------------------------------------------

@st.composite
def ln_cases(draw, per_channel=False):
    n, d, k = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(2, 5))
    X, W = draw(nt.batches(n, d)), draw(nt.weights((k, d), min_norm=1e-3, max_norm=1e3))
    z = X @ W.T
    assume(np.all(z.std(1) > 1e-6 * np.abs(z).max(1)))
    return X, W, draw(nt.scale_factors(1e-2, 1e2, shape=k if per_channel else None)), draw(st.integers(0, 2**16))


@pytest.mark.claims("invariance.ln")
@given(ln_cases(), nt.epsilons(1e-8, 1e-1), st.booleans())
def test_layernorm_is_invariant_per_layer_in_train_and_eval_mode(case, eps, eval_mode):
    X, W, alpha, seed = case
    model = linear_norm(W, torch.nn.LayerNorm(W.shape[0], eps=eps, dtype=torch.float64), False, seed)
    model.train(not eval_mode)
    nt.assert_scale_invariant(model, X, alpha, param="linear.weight", rescale_eps=("norm",))


@pytest.mark.claims("invariance.ln")
@given(ln_cases(), nt.epsilons(1e-8, 1e-1))
def test_layernorm_with_bias_is_invariant_in_weight_and_bias_jointly(case, eps):
    X, W, alpha, seed = case
    model = linear_norm(W, torch.nn.LayerNorm(W.shape[0], eps=eps, dtype=torch.float64), True, seed)
    nt.assert_scale_invariant(model, X, alpha, param=("linear.weight", "linear.bias"), rescale_eps=("norm",))


def check_ln(case, bias=False, eps=TINY_EPS):
    X, W, alpha, seed = case
    model = linear_norm(W, torch.nn.LayerNorm(W.shape[0], eps=eps, dtype=torch.float64), bias, seed)
    nt.assert_scale_invariant(model, X, alpha, param="linear.weight", per="channel" if np.ndim(alpha) else "layer")


@pytest.mark.claims("invariance.ln.per_unit")
def test_search_finds_layernorm_per_channel_counterexample():
    found = nt.find_counterexample(check_ln, ln_cases(per_channel=True), floor=40)
    assert found is not None and np.ptp(found[0][2]) > 0


@pytest.mark.claims("invariance.ln")
def test_search_finds_layernorm_bias_breaking_weight_only_invariance():
    found = nt.find_counterexample(lambda case: check_ln(case, bias=True), ln_cases(), floor=40)
    assert found is not None


# ---- weight normalization ------------------------------------------------------------------------------

def weight_normed(W, seed=0, bias=True):
    k, d = W.shape
    linear = torch.nn.Linear(d, k, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(W))
    model = weight_norm(linear, dim=0)
    with torch.no_grad():
        g = model.parametrizations.weight.original0
        g.copy_(torch.rand(g.shape, generator=torch.Generator().manual_seed(seed), dtype=g.dtype) + 0.5)
    return model


@pytest.mark.claims("invariance.wn")
@given(linear_cases(n_min=1), st.booleans())
def test_weight_norm_is_invariant_in_v_per_row(case, eval_mode):
    X, W, alpha, seed = case
    model = weight_normed(W, seed).train(not eval_mode)
    nt.assert_scale_invariant(model, X, alpha, param="parametrizations.weight.original1", per="channel")


@pytest.mark.claims("invariance.wn")
def test_weight_norm_output_has_degree_one_in_g():
    """``g v/||v|| x`` is linear in ``g``: the fitted degree is 1 up to rounding in the logs (~1e-15 per point,
    so a slope error above 1e-9 would mean the output is not a power law of g)."""
    gen = np.random.default_rng(0)
    model = weight_normed(gen.standard_normal((3, 4)), bias=False)
    p = nt.homogeneity_degree(model, gen.standard_normal((5, 4)), param="parametrizations.weight.original0")
    assert abs(p - 1) < 1e-9, p


@pytest.mark.claims("invariance.wn")
def test_search_finds_weight_norm_negative_scale_counterexample():
    def check(case):
        X, W, alpha, seed = case
        nt.assert_scale_invariant(weight_normed(W, seed), X, alpha, param="parametrizations.weight.original1",
                                  per="channel")
    found = nt.find_counterexample(check, linear_cases(n_min=1, sign="any"), floor=40)
    assert found is not None and np.any(found[0][2] < 0)
