"""The simulators: update rules equal the theory's one-step maps, the scalar reduction equals the full-vector
chain in law, and the BN unit's backward passes are the true derivatives of its forward pass.

Fixed seeds. Two-sample KS tests reject at alpha = 1e-3; mean comparisons use 4 combined standard errors.
"""
import numpy as np
import pytest
import sympy as sp
from scipy import stats

from normlaws.simulate import Hyper, Spec, estimate, run
from normlaws.simulate.models import BNUnit, Section4Noise
from normlaws.simulate.rng import stream
from normlaws.simulate.rules import VectorChains
from normlaws.simulate.scalar import ScalarSGD
from normlaws.theory import symbols as S
from normlaws.theory import updates

ALPHA = 1e-3


class FixedGradients:
    """A stub model: returns a given sequence of gradients whatever the point (the theory maps take g as given)."""

    coordinate_second_moment = 1.0

    def __init__(self, grads):
        self.grads, self.k = grads, 0

    def gradient(self, rng, w, r, out):
        out[...] = self.grads[self.k]
        self.k += 1
        return out


def theory_trajectory(name, w0, grads, theta, consts):
    """The theory's coordinate-wise one-step map (``updates.RULES[name].step``) iterated numerically."""
    rule = updates.RULES[name]
    hyper = {h: sp.Float(theta[str(h)]) for h in rule.hyper}
    w = [sp.Float(x) for x in w0.reshape(-1)]
    state = {s: [sp.Float(0)] * len(w) for s in rule.state}
    out = []
    for k, g in enumerate(grads):
        numbers = {**consts, S.t: k + 1}
        new_w, new_state = [], {s: [] for s in rule.state}
        for j, gj in enumerate(g.reshape(-1)):
            wj, st = rule.step(w[j], {s: state[s][j] for s in rule.state}, sp.Float(gj), hyper)
            new_w.append(sp.Float(sp.N(sp.sympify(wj).subs(numbers), 30)))
            for s in rule.state:
                new_state[s].append(sp.Float(sp.N(sp.sympify(st[s]).subs(numbers), 30)))
        w, state = new_w, new_state
        out.append(np.array([float(x) for x in w]).reshape(w0.shape))
    return out


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "rmsprop_torch", "adam", "adamw"])
def test_vector_rules_are_the_theorys_one_step_maps(name):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((1, 2, 3))
    grads = [rng.standard_normal((1, 2, 3)) for _ in range(3)]
    theta = {"eta": 0.07, S.lam.name: 0.3, S.eps.name: 0.02}
    consts = {S.rho: 0.8, S.beta1: 0.85, S.beta2: 0.95}
    expected = theory_trajectory(name, w0, grads, theta, consts)
    hyper = Hyper(eta=0.07, lam=0.3, eps=0.02, rho=0.8, beta1=0.85, beta2=0.95)
    chains = VectorChains(name, hyper, FixedGradients(grads), w0, warm=False, dtype=np.float64)
    for k in range(3):
        chains.step(None)
        np.testing.assert_allclose(chains.w, expected[k], rtol=1e-12, atol=1e-14)


def test_normalized_sgd_is_the_papers_rule():
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((1, 2, 4))
    w0 /= np.linalg.norm(w0, axis=-1, keepdims=True)
    g = rng.standard_normal((1, 2, 4))
    chains = VectorChains("normalized", Hyper(eta=0.1, lam=0.2), FixedGradients([g]), w0, dtype=np.float64)
    chains.step(None)
    raw = w0 - 0.1 * (g + 2 * 0.2 * w0)
    np.testing.assert_allclose(chains.w, raw / np.linalg.norm(raw, axis=-1, keepdims=True), rtol=1e-13)


def _final_window_means(reduce, variant, seed):
    spec = Spec("sgd", Hyper(eta=0.1, lam=0.05), d=16, chains=4096 if reduce else 1024, burn=300, steps=400,
                reduce=reduce, variant=variant, seed=seed, progress=False)
    r = run(spec)
    return r.blocks["N"], estimate(r.blocks["N"])


@pytest.mark.parametrize("variant", ["isotropic", "orthogonal"])
def test_scalar_reduction_has_the_full_vector_chains_stationary_law(variant):
    scalar_blocks, es = _final_window_means(True, variant, 1)
    vector_blocks, ev = _final_window_means(False, variant, 2)
    assert abs(es.mean - ev.mean) <= 4 * np.hypot(es.se, ev.se)
    # per-chain window means are i.i.d. within each run: equal laws give a uniform KS p-value
    assert stats.ks_2samp(scalar_blocks.mean(1), vector_blocks.mean(1)).pvalue > ALPHA


def test_scalar_one_step_law_equals_the_vector_one_step():
    n, d, N0 = 20000, 16, 3.0
    hyper = Hyper(eta=0.3, lam=0.05)
    scalar = ScalarSGD(hyper, d, float(d), "isotropic", np.full((1, n), N0), dtype=np.float64)
    scalar.step(stream(3))
    rng = stream(4)
    w0 = rng.standard_normal((1, n, d))
    w0 *= np.sqrt(N0) / np.linalg.norm(w0, axis=-1, keepdims=True)
    vector = VectorChains("sgd", hyper, Section4Noise(d, float(d), "isotropic", (1, n), np.float64), w0,
                          dtype=np.float64)
    vector.step(rng)
    assert stats.ks_2samp(scalar.N[0], vector.N[0]).pvalue > ALPHA
    # and a wrong reduction (noise variance C/(d-1) instead of C/d) is rejected by the same test
    wrong = ScalarSGD(hyper, d, float(d) * d / (d - 1) * 1.5, "isotropic", np.full((1, n), N0), dtype=np.float64)
    wrong.step(stream(3))
    assert stats.ks_2samp(wrong.N[0], vector.N[0]).pvalue < ALPHA


def _bn_loss(unit, x, delta, w, frozen=None):
    h = x @ w
    mu, std = (h.mean(), h.std()) if frozen is None else frozen
    y = np.maximum(unit.gamma * (h - mu) / std + unit.beta, 0)
    return float(np.mean(delta * y))


@pytest.mark.parametrize("backward", ["full", "stop_gradient"])
def test_bn_backward_is_the_derivative_of_the_forward(backward):
    rng = np.random.default_rng(5)
    d, B = 6, 10
    unit = BNUnit(d, B, backward, (1, 1), np.float64, beta=0.3)
    x, delta, w = rng.standard_normal((B, d)), rng.standard_normal(B), rng.standard_normal(d)
    grad = unit.forward_backward(x, delta, w)
    frozen = None if backward == "full" else ((x @ w).mean(), (x @ w).std())
    h = 1e-6
    numeric = np.array([(_bn_loss(unit, x, delta, w + h * e, frozen) - _bn_loss(unit, x, delta, w - h * e, frozen))
                        / (2 * h) for e in np.eye(d)])
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_bn_gradient_is_scale_invariant_and_full_backward_is_orthogonal():
    rng = np.random.default_rng(6)
    unit = BNUnit(5, 12, "full", (1, 1), np.float64)
    x, delta, w = rng.standard_normal((12, 5)), rng.standard_normal(12), rng.standard_normal(5)
    g = unit.forward_backward(x, delta, w)
    np.testing.assert_allclose(unit.forward_backward(x, delta, 3.0 * w), g / 3.0, rtol=1e-12)
    assert abs(g @ w) < 1e-13 * np.linalg.norm(g) * np.linalg.norm(w)


def test_reference_chains_stay_at_unit_norm_with_the_state_rescaled():
    hyper = Hyper(eta=0.01, lam=0.05)
    rng = stream(7)
    w0 = rng.standard_normal((1, 8, 16))
    model = Section4Noise(16, 16.0, "isotropic", (1, 8), np.float64)
    chains = VectorChains("adam", hyper, model, w0, renormalize=True, dtype=np.float64)
    for _ in range(50):
        chains.step(rng)
    np.testing.assert_allclose(np.linalg.norm(chains.w, axis=-1), 1.0, rtol=1e-12)
