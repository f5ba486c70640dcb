"""``normlaws.testing``: Hypothesis strategies and assertions to check your own layers and optimizers.

Is your layer scale-invariant in a weight, per layer or per output channel? Of what degree is its
gradient homogeneous? How does your optimizer's angular step scale with the weight norm, and which row of
van Laarhoven's Table 1 does that put it in? Use these from your own pytest suite::

    from hypothesis import given
    import normlaws.testing as nt

    @given(x=nt.batches(n=8, d=4), alpha=nt.scale_factors())
    def test_my_layer_is_scale_invariant(x, alpha):
        nt.assert_scale_invariant(MyLayer().double(), x, alpha, param="linear.weight", rescale_eps=("bn",))

Strategies draw numpy float64 arrays and need only Hypothesis and numpy; the assertions on layers and
optimizers need torch (imported when called). Profiles: :func:`register_profiles` registers ``ci`` and
``thorough``; the pytest plugin (:mod:`normlaws.testing.plugin`) does that in every pytest run, so
``pytest --hypothesis-profile=thorough`` works without a conftest, and provides fixtures.
"""
from .invariance import (assert_gradient_homogeneous, assert_hessian_homogeneous, assert_scale_invariant,
                         homogeneity_degree)
from .optimizers import (TABLE1_ROWS, StepScaling, assert_step_exponent, assert_table1_row, bn_unit_loss,
                         classify, step_scaling)
from .regimes import Regime, regimes
from .profiles import CI, THOROUGH, register_profiles
from .strategies import arrays, batches, epsilons, find_counterexample, scale_factors, weights

__all__ = [
    "arrays", "batches", "weights", "scale_factors", "epsilons", "find_counterexample",
    "assert_scale_invariant", "assert_gradient_homogeneous", "assert_hessian_homogeneous", "homogeneity_degree",
    "step_scaling", "assert_table1_row", "assert_step_exponent", "classify", "bn_unit_loss", "StepScaling",
    "TABLE1_ROWS", "register_profiles", "CI", "THOROUGH", "Regime", "regimes",
]
