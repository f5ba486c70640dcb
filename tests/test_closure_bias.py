"""The closure's derived bias for RMSProp and Adam (``theory.closure_bias``) against the Monte-Carlo of the rules.

Both noise models (isotropic: zero-mean along ``w``; orthogonal: the full BN backward's gradient, exactly orthogonal
to ``w``) and both accumulator decays of the done-when (0.99, 0.999). The prediction is the closure's ``N*`` times
``1 + bias``; the tolerance is 4 standard errors (over chains) plus the derivation's second-order remainder bound.
"""
import pytest

from normlaws.simulate import bias as B
from normlaws.simulate import predict
from normlaws.simulate.engine import Spec, run
from normlaws.simulate.params import Hyper
from normlaws.simulate.stats import estimate
from normlaws.theory import closure_bias as T

Z = 4.0
D = 64


def measured_N(rule, accumulator, variant, seed=3):
    hyper = Hyper(eta=0.01, lam=0.1, rho=accumulator if rule == "rmsprop" else 0.9, beta2=accumulator)
    r = run(Spec(rule, hyper, d=D, chains=128, variant=variant, seed=seed, progress=False, track_angle=False))
    e = estimate(r.blocks["N"].reshape(r.blocks["N"].shape[-2:]))
    assert e.equilibrated
    return e, hyper


@pytest.mark.parametrize("accumulator", [0.99, 0.999])
@pytest.mark.parametrize("variant", T.NOISE_MODELS)
@pytest.mark.parametrize("rule", T.ADAPTIVE)
def test_derived_bias_predicts_the_stationary_norm(rule, variant, accumulator):
    e, hyper = measured_N(rule, accumulator, variant)
    closure = float(predict.closure_N(rule, hyper, D, float(D)))
    correction, bound, how = B.closure_bias(rule, "N", D, hyper, variant)
    predicted = closure * (1 + correction)
    assert abs(e.mean - predicted) <= Z * e.se + bound * predicted, (e.mean, e.se, closure, correction, bound)


def test_orthogonal_noise_lowers_the_norm_where_isotropic_noise_raises_it():
    """The sign the old isotropic-only model got wrong: at beta2 = 0.999, orthogonal noise sits below N*."""
    hyper = Hyper(eta=0.01, lam=0.1, beta2=0.999)
    orthogonal, _, _ = B.closure_bias("adam", "N", D, hyper, "orthogonal")
    isotropic, _, _ = B.closure_bias("adam", "N", D, hyper, "isotropic")
    assert orthogonal < 0 < isotropic
    e, _ = measured_N("adam", 0.999, "orthogonal")
    assert e.mean < float(predict.closure_N("adam", hyper, D, float(D))) - Z * e.se
