"""The finite-batch BN unit: the derived ``C`` and the Section 4 fixed point against a direct simulation of the unit.

The simulation here is written out in numpy from the unit's definition (the paper's Secs. 1, 3, 4): Gaussian
batches, batch normalization, a ReLU, an upstream Gaussian gradient, the loss a sum over the batch, the backward
pass stopped at the batch statistics or taken through them. It shares no code with ``normlaws.simulate``.
Measured moments are compared raw, never rescaled by ``B`` or ``d``.
"""
import math

import numpy as np
import pytest
import sympy as sp

from normlaws import registry
from normlaws.theory import bn_unit
from normlaws.theory.symbols import C as C_model, beta, d, eta, gamma, lam, r, sigma_g

Z = 4.0


def bn_gradient(x, delta, w, gamma_, beta_, backward):
    """Gradient of ``sum_i delta_i relu(gamma x_hat_i + beta)`` w.r.t. ``w`` for batches ``x`` (n, B, d)."""
    h = np.einsum("nbd,nd->nb", x, w)
    c = h - h.mean(1, keepdims=True)
    s = np.sqrt((c * c).mean(1, keepdims=True))
    x_hat = c / s
    u = delta * gamma_ * (gamma_ * x_hat + beta_ > 0)
    if backward == "full":
        u = u - u.mean(1, keepdims=True) - x_hat * (u * x_hat).mean(1, keepdims=True)
    return np.einsum("nb,nbd->nd", u / s, x)


def C_of(loss, backward, **values):
    return float(sp.N(bn_unit.unit_C(loss, backward).subs({bn_unit.B: values["B"], d: values["d"],
                                                           gamma: values["gamma"], beta: values["beta"],
                                                           sigma_g: values["sigma"]})))


@pytest.mark.parametrize("backward", bn_unit.BACKWARDS)
@pytest.mark.parametrize("dim, batch, gamma_, beta_, sigma", [(16, 8, 1.0, 0.0, 1.0), (12, 16, 0.7, 0.5, 1.5),
                                                             (8, 6, 1.3, -0.8, 0.9)])
def test_unit_C_is_the_raw_simulated_second_moment(backward, dim, batch, gamma_, beta_, sigma):
    """``E||grad L||^2 ||w||^2`` of the unit (sum loss) equals ``bn_unit.unit_C`` within 4 SE; mean loss: /B^2."""
    rng = np.random.default_rng([dim, batch])
    n, rounds, norm = 4000, 10, 2.7
    values = []
    for _ in range(rounds):
        w = rng.standard_normal((n, dim))
        w *= norm / np.linalg.norm(w, axis=1, keepdims=True)
        x = rng.standard_normal((n, batch, dim)) * 1.9
        delta = rng.standard_normal((n, batch)) * sigma
        g = bn_gradient(x, delta, w, gamma_, beta_, backward)
        values.append((g * g).sum(1) * norm**2)
    v = np.concatenate(values)
    measured, se = v.mean(), v.std(ddof=1) / math.sqrt(v.size)
    predicted = C_of("sum", backward, B=batch, d=dim, gamma=gamma_, beta=beta_, sigma=sigma)
    assert abs(measured - predicted) <= Z * se, (measured, se, predicted)
    mean_loss = C_of("mean", backward, B=batch, d=dim, gamma=gamma_, beta=beta_, sigma=sigma)
    assert mean_loss * batch**2 == pytest.approx(predicted, rel=1e-12)


def test_grad_second_moment_claim_is_the_per_sample_per_coordinate_moment():
    """The claim's derived value at finite B is what one sample's gradient coordinate has (raw, B = 8, d = 16)."""
    dim, batch, norm = 16, 8, 1.6
    rng = np.random.default_rng(5)
    per_coordinate = []
    for _ in range(10):
        w = rng.standard_normal((4000, dim))
        w *= norm / np.linalg.norm(w, axis=1, keepdims=True)
        x = rng.standard_normal((4000, batch, dim))
        delta = rng.standard_normal((4000, batch))
        # the sum loss's gradient is a sum of the samples' contributions, uncorrelated (independent zero-mean
        # delta_i): its second moment over B d is one sample's, per coordinate
        g = bn_gradient(x, delta, w, 1.0, 0.0, "stop_gradient")
        per_coordinate.append((g * g).sum(1) / (batch * dim))
    v = np.concatenate(per_coordinate)
    measured, se = v.mean(), v.std(ddof=1) / math.sqrt(v.size)
    derived = registry.get("sec4.grad_second_moment").derivation.result
    predicted = float(derived.subs({bn_unit.B: batch, d: dim, gamma: 1, sigma_g: 1, r: norm}))
    assert abs(measured - predicted) <= Z * se, (measured, se, predicted)
    printed = float(registry.get("sec4.grad_second_moment").printed.expr.subs({gamma: 1, sigma_g: 1, r: norm}))
    assert abs(measured - printed) > Z * se        # the paper's B -> oo value misses at B = 8 (factor 1.575)


def sgd_on_the_unit(dim, batch, backward, eta_, lam_, chains, burn, steps, seed):
    """SGD with L2 (gradient 2 lam w) on the paper's unit (sum loss, gamma = 1, beta = 0, sigma_nabla = 1):
    per-chain time averages of ||w||^2 and ||w||^4 over the window."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((chains, dim))
    N_sum, N2_sum = np.zeros(chains), np.zeros(chains)
    for t in range(burn + steps):
        x = rng.standard_normal((chains, batch, dim), dtype=np.float32)
        delta = rng.standard_normal((chains, batch), dtype=np.float32)
        w = w - eta_ * (bn_gradient(x, delta, w, 1.0, 0.0, backward) + 2 * lam_ * w)
        if t >= burn:
            N = (w * w).sum(1)
            N_sum += N
            N2_sum += N * N
    return N_sum / steps, N2_sum / steps


@pytest.mark.parametrize("backward", bn_unit.BACKWARDS)
def test_sgd_fixed_point_claim_predicts_the_paper_unit(backward):
    """``sec4.sgd.fixed_point`` (its derived formula, squared) is the stationary E||w||^2 of SGD on the unit.

    d = 128, B = 32, eta lam = 1e-3: relaxation time 1/(8 eta lam) = 125 steps; burn-in 6 of them. Tolerance
    4 SE (over chains) + the closure's bias bounded by CV^2 (the measured squared coefficient of variation of
    ||w||^2): the exact identity (1 - a^2) E[N] = eta^2 C E[1/N] gives E[N] = N* sqrt(1 + CV^2) to leading order,
    a bias of CV^2/2, bounded here by twice that.
    """
    dim, batch, eta_, lam_ = 128, 32, 0.1, 0.01
    N, N2 = sgd_on_the_unit(dim, batch, backward, eta_, lam_, chains=48, burn=750, steps=1500, seed=11)
    measured, se = N.mean(), N.std(ddof=1) / math.sqrt(N.size)
    cv2 = N2.mean() / measured**2 - 1
    claim = registry.get("sec4.sgd.fixed_point")
    values = {eta: eta_, lam: lam_, bn_unit.B: batch, d: dim, gamma: 1, sigma_g: 1, beta: 0}
    if backward == "stop_gradient":          # the claim's own unit
        predicted = float((claim.derivation.result ** 2).subs(values))
    else:                                    # the same closure with the full backward's C
        in_C = claim.derivation.extras["in_C"] ** 2
        predicted = float(in_C.subs(C_model, bn_unit.unit_C("sum", "full")).subs(values))
    assert abs(measured - predicted) <= Z * se + cv2 * predicted, (measured, se, predicted, cv2)
    printed = float((claim.printed.expr ** 2).subs({**values, r: 1}))
    assert abs(measured - printed) > Z * se + cv2 * predicted      # the paper's formula misses the unit


@pytest.mark.parametrize("beta_", [-0.8, 0.0, 0.5, 3.0])
def test_numeric_bridge_evaluates_the_incomplete_beta_like_sympy(beta_):
    """``simulate.predict`` lambdifies ``unit_C``; SymPy's printer once dropped the parentheses of
    ``I_x2 - I_x1`` inside ``sign(beta) * (...)``, giving 86.9 instead of 39.1 at beta = -0.8."""
    from normlaws.simulate import predict
    for backward in bn_unit.BACKWARDS:
        exact = C_of("sum", backward, B=6, d=8, gamma=1.3, beta=beta_, sigma=0.9)
        assert predict.bn_unit_C(8, 6, 1.3, beta_, 0.9, "sum", backward) == pytest.approx(exact, rel=1e-10)
