"""Scale invariance of BN, WN, LN and Hoffer's L1 / L-infinity BN (numpy reference layers), as properties.

Each invariance is asserted where theory says it holds, with a tolerance from the rounding analysis in
``normlaws.testing.layers`` (and, for BN's epsilon, the derived epsilon term); the same strategies must
find the counterexamples where it does not hold: a negative scale, per-unit scaling of LN, BN's epsilon
at tiny (scaled) weight norms.
"""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import normlaws.testing as nt
from normlaws.testing.layers import (batch_norm, bn_unit_loss, layer_norm, normalization_bound, spread_constant,
                                     unit_roundoff, weight_norm, weight_norm_bound)

U = unit_roundoff()
P_NORMS = st.sampled_from([2, 1, np.inf])  # BN, Hoffer's L1 BN, Hoffer's L-infinity BN


@st.composite
def layer_cases(draw, sign="positive", per_unit=True, power_of_two=False, min_norm=1e-6):
    """``(X, W, alpha)``: a batch, a ``d x k`` weight matrix, and one scale per unit (or one per layer)."""
    n, d, k = draw(st.integers(3, 10)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
    X = draw(nt.batches(n, d))
    W = draw(nt.weights((d, k), min_norm=min_norm))
    assume(np.all(np.linalg.norm(W, axis=0) > 0))  # every unit has weights
    alpha = draw(nt.scale_factors(sign=sign, power_of_two=power_of_two, shape=k if per_unit else None))
    return X, W, alpha


def nondegenerate(D):
    """The normalization is defined (a batch whose pre-activations all coincide has no spread)."""
    return bool(np.all(D > 0) and np.all(np.isfinite(D)))


# ---- Batch Normalization and Hoffer's L1 / L-infinity variants --------------------------------------

def check_bn_invariant(case, p=2):
    X, W, alpha = case
    y, D = batch_norm(X, W, p=p)
    assume(nondegenerate(D))
    y_scaled, _ = batch_norm(X, W * alpha, p=p)
    bound = normalization_bound(X, W, y, D, axis=0, C=spread_constant(p, X.shape[0]))
    assert np.all(np.abs(y_scaled - y) <= bound), f"max excess {np.max(np.abs(y_scaled - y) - bound):.3g}"


@pytest.mark.claims("invariance.bn")
@given(layer_cases(), P_NORMS)
def test_bn_is_invariant_per_unit_for_positive_scales(case, p):
    check_bn_invariant(case, p=p)


@pytest.mark.claims("invariance.bn")
@given(layer_cases(sign="any"), P_NORMS)
def test_bn_is_odd_under_negative_scales(case, p):
    """BN(alpha w) = sign(alpha) BN(w): every spread is positively homogeneous of degree 1."""
    X, W, alpha = case
    check_bn_invariant((X, W * np.sign(alpha), np.abs(alpha)), p=p)  # the invariance after taking the sign out
    y, D = batch_norm(X, W, p=p)
    assume(nondegenerate(D))
    y_neg, _ = batch_norm(X, -W, p=p)
    assert np.all(np.abs(y_neg + y) <= normalization_bound(X, W, y, D, 0, spread_constant(p, X.shape[0])))


@pytest.mark.claims("invariance.bn")
def test_search_finds_the_negative_scale_counterexample():
    found = nt.find_counterexample(check_bn_invariant, layer_cases(sign="any"))
    assert found is not None, "BN is not invariant under a negative scale, and the search must show it"
    (X, W, alpha), = found
    assert np.any(alpha < 0), f"the counterexample should have a negative scale, got alpha={alpha}"


@pytest.mark.claims("invariance.bn")
@given(layer_cases(power_of_two=True), P_NORMS)
def test_bn_is_bitwise_invariant_under_powers_of_two(case, p):
    """Multiplying by 2**k commutes with every rounding (no over/underflow here): exact equality is derived."""
    X, W, alpha = case
    y, D = batch_norm(X, W, p=p)
    assume(nondegenerate(D))
    assert np.array_equal(batch_norm(X, W * alpha, p=p)[0], y)


# ---- BN's epsilon ---------------------------------------------------------------------------------------

def eps_effect(y0, v, eps, alpha):
    """Bound on |BN_eps(alpha w) - BN_eps(w)| from eps: with ``y0 = c/sqrt(v)``,
    BN_eps(alpha w) = y0 / sqrt(1 + eps/(alpha^2 v)) and |1/sqrt(1+a) - 1/sqrt(1+b)| <= |a - b|/2."""
    return np.abs(y0) * eps * np.abs(1 / alpha**2 - 1) / (2 * v)


def bn_eps_parts(X, W, alpha, eps):
    y, D = batch_norm(X, W, eps=eps)
    y0, D0 = batch_norm(X, W)
    assume(nondegenerate(D0))
    return y, y0, D0**2, normalization_bound(X, W, y, D, axis=0)


@pytest.mark.claims("invariance.bn.epsilon")
@given(layer_cases(), nt.epsilons(1e-12, 1e-1))
def test_bn_eps_deviation_is_within_the_derived_eps_term(case, eps):
    X, W, alpha = case
    y, y0, v, bound = bn_eps_parts(X, W, alpha, eps)
    y_scaled, _ = batch_norm(X, W * alpha, eps=eps)
    assert np.all(np.abs(y_scaled - y) <= bound + eps_effect(y0, v, eps, alpha))


@pytest.mark.claims("invariance.bn.epsilon")
@given(layer_cases(), nt.epsilons(1e-12, 1e-1))
def test_bn_eps_identity_rescales_eps(case, eps):
    """BN_eps(alpha w) = BN_{eps/alpha^2}(w) exactly (per unit: eps/alpha_j^2 for unit j)."""
    X, W, alpha = case
    y_scaled, _ = batch_norm(X, W * alpha, eps=eps)
    y_ref, D_ref = batch_norm(X, W, eps=eps / alpha**2)
    assume(nondegenerate(D_ref))
    assert np.all(np.abs(y_scaled - y_ref) <= normalization_bound(X, W, y_ref, D_ref, axis=0))


@pytest.mark.claims("invariance.bn.epsilon")
@given(layer_cases(), st.floats(0.0, 1.0))
def test_bn_with_eps_below_float_resolution_is_invariant(case, fraction):
    """When eps/(alpha^2 Var) and eps/Var are below u, eps cannot move the result: plain invariance holds."""
    X, W, alpha = case
    _, D0 = batch_norm(X, W)
    assume(nondegenerate(D0))
    eps = fraction * U * float(np.min(D0**2 * np.minimum(1.0, alpha**2)))
    y, D = batch_norm(X, W, eps=eps)
    y_scaled, _ = batch_norm(X, W * alpha, eps=eps)
    assert np.all(np.abs(y_scaled - y) <= normalization_bound(X, W, y, D, axis=0))


TORCH_DEFAULT_EPS = 1e-5


def check_bn_eps_invariant(case):
    """Plain invariance (rounding tolerance only) of BN with torch's default eps: false at tiny scaled norms."""
    X, W, alpha = case
    y, D = batch_norm(X, W, eps=TORCH_DEFAULT_EPS)
    assume(nondegenerate(batch_norm(X, W)[1]))
    y_scaled, _ = batch_norm(X, W * alpha, eps=TORCH_DEFAULT_EPS)
    assert np.all(np.abs(y_scaled - y) <= normalization_bound(X, W, y, D, axis=0))


@pytest.mark.claims("invariance.bn.epsilon")
def test_search_finds_eps_breaking_invariance_at_tiny_weight_norms():
    found = nt.find_counterexample(check_bn_eps_invariant, layer_cases())
    assert found is not None, "BN with eps=1e-5 is not invariant at tiny weight norms; the search must show it"
    (X, W, alpha), = found
    y0, D0 = batch_norm(X, W)
    # the violation is explained by eps: Var of the smaller of the two pre-activations is not >> eps
    smaller_var = D0**2 * np.minimum(1.0, alpha**2)
    assert np.max(TORCH_DEFAULT_EPS / smaller_var) > U, f"eps/Var = {TORCH_DEFAULT_EPS / smaller_var}"


# ---- Weight Normalization ---------------------------------------------------------------------------

def check_wn_invariant(case):
    X, W, alpha = case
    y, norm = weight_norm(X, W)
    y_scaled, _ = weight_norm(X, W * alpha)
    assert np.all(np.abs(y_scaled - y) <= weight_norm_bound(X, W, y, norm))


@pytest.mark.claims("invariance.wn")
@given(layer_cases())
def test_wn_is_invariant_per_unit_for_positive_scales(case):
    check_wn_invariant(case)


@pytest.mark.claims("invariance.wn")
@given(layer_cases(power_of_two=True))
def test_wn_is_bitwise_invariant_under_powers_of_two(case):
    X, W, alpha = case
    assert np.array_equal(weight_norm(X, W * alpha)[0], weight_norm(X, W)[0])


@pytest.mark.claims("invariance.wn")
def test_search_finds_wn_negative_scale_counterexample():
    found = nt.find_counterexample(check_wn_invariant, layer_cases(sign="any"))
    assert found is not None and np.any(found[0][2] < 0)


# ---- Layer Normalization ------------------------------------------------------------------------------

@st.composite
def ln_cases(draw, per_unit=False, sign="positive"):
    """``(X, W, alpha)`` for LN over ``m >= 2`` units; ``alpha`` one scale for the layer or one per unit."""
    n, d, m = draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(2, 6))
    X, W = draw(nt.batches(n, d)), draw(nt.weights((d, m)))
    assume(np.all(np.linalg.norm(W, axis=0) > 0))
    return X, W, draw(nt.scale_factors(sign=sign, shape=m if per_unit else None))


def check_ln_invariant(case):
    X, W, alpha = case
    y, D = layer_norm(X, W)
    assume(nondegenerate(D))
    y_scaled, _ = layer_norm(X, W * alpha)
    assert np.all(np.abs(y_scaled - y) <= normalization_bound(X, W, y, D, axis=1))


@pytest.mark.claims("invariance.ln")
@given(ln_cases())
def test_ln_is_invariant_for_one_positive_scale_per_layer(case):
    check_ln_invariant(case)


@pytest.mark.claims("invariance.ln.per_unit")
def test_search_finds_ln_per_unit_counterexample():
    """LN normalizes across units, so scaling units differently changes the output (the paper's footnote 1)."""
    found = nt.find_counterexample(check_ln_invariant, ln_cases(per_unit=True))
    assert found is not None, "LN is not invariant under per-unit scaling; the search must show it"
    (X, W, alpha), = found
    assert np.ptp(alpha) > 0, f"the counterexample must scale units unequally, got alpha={alpha}"


# ---- L_lambda(alpha w) = L_{lambda alpha^2}(w) -------------------------------------------------------

@pytest.mark.claims("l2.rescaling")
@given(st.data(), nt.scale_factors(), st.floats(1e-6, 1.0))
def test_regularized_loss_rescales_lambda(data, alpha, lam):
    """``L(w) + lam ||alpha w||^2 = L(w) + (lam alpha^2) ||w||^2`` for a scale-invariant L (Sec. 2)."""
    n, d = data.draw(st.integers(3, 10)), data.draw(st.integers(1, 5))
    X, w, up = data.draw(nt.batches(n, d)), data.draw(nt.weights(d)), data.draw(nt.arrays((n,)))
    y, D = batch_norm(X, w)
    assume(nondegenerate(D))
    lhs = bn_unit_loss(X, alpha * w, up) + lam * np.sum((alpha * w) ** 2)
    rhs = bn_unit_loss(X, w, up) + (lam * alpha**2) * np.sum(w**2)
    # tanh is 1-Lipschitz: the loss moves by at most sum|up| * (BN bound); the sums and the penalties
    # round with at most (n + 1) u sum|up tanh y| and 2 (d + 3) u lam alpha^2 ||w||^2
    bound = (np.abs(up) @ normalization_bound(X, w, y, D, axis=0) + (n + 1) * U * np.sum(np.abs(up * np.tanh(y)))
             + 2 * (d + 3) * U * lam * alpha**2 * np.sum(w**2))
    assert abs(lhs - rhs) <= 2 * bound
