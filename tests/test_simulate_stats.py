"""Standard errors, the drift test, the jackknife and the weighted line fit on data with known answers."""
import numpy as np
import pytest
from scipy import stats as sps

from normlaws.simulate.stats import Z_DRIFT, estimate, fit_line, jackknife


def test_estimate_se_matches_the_known_error_of_independent_blocks():
    rng = np.random.default_rng(0)
    blocks = rng.normal(3.0, 2.0, size=(400, 20))
    e = estimate(blocks)
    assert e.se == pytest.approx(2.0 / np.sqrt(8000), rel=0.1)
    assert abs(e.mean - 3.0) < 4 * e.se and e.equilibrated


def test_chain_se_catches_correlation_that_batch_means_miss():
    """Blocks that share a per-chain offset are correlated in time: the chain SE sees it, batch means do not."""
    rng = np.random.default_rng(1)
    blocks = rng.normal(0, 1, size=(200, 20)) + rng.normal(0, 1, size=(200, 1))
    e = estimate(blocks)
    assert e.se_chains > 3 * e.se_blocks and e.se == e.se_chains
    assert e.se_chains == pytest.approx(np.sqrt(1 + 1 / 20) / np.sqrt(200), rel=0.15)


def test_drift_is_detected_and_stationarity_is_not_flagged():
    rng = np.random.default_rng(2)
    flat = rng.normal(0, 1, size=(64, 20))
    ramp = flat + np.linspace(0, 1.0, 20)
    assert estimate(flat).equilibrated
    e = estimate(ramp)
    assert not e.equilibrated and abs(e.drift) > Z_DRIFT * e.drift_se


def test_jackknife_of_a_product_matches_the_delta_method():
    rng = np.random.default_rng(3)
    a = rng.normal(2.0, 0.5, size=(2000, 4))
    b = rng.normal(3.0, 0.7, size=(2000, 4))
    value, se = jackknife(lambda x, y: x * y, a, b)
    ma, mb = a.mean(1), b.mean(1)
    delta = np.sqrt((mb.mean() * ma.std()) ** 2 + (ma.mean() * mb.std()) ** 2) / np.sqrt(2000)
    assert value == pytest.approx(ma.mean() * mb.mean())
    assert se == pytest.approx(delta, rel=0.05)


def test_fit_line_equals_linregress_for_equal_weights_and_consistent_noise():
    rng = np.random.default_rng(4)
    x = np.linspace(0, 3, 12)
    y = 0.25 * x + 1 + 0.05 * rng.standard_normal(12)
    fit = fit_line(x, y, np.full(12, 0.05))
    ref = sps.linregress(x, y)
    assert fit.slope == pytest.approx(ref.slope, rel=1e-10)
    assert fit.ci[0] < 0.25 < fit.ci[1]
    half = (fit.ci[1] - fit.ci[0]) / 2
    assert half == pytest.approx(sps.t.ppf(0.975, 10) * fit.se)


def test_fit_line_widens_the_interval_when_points_scatter_beyond_their_errors():
    x = np.arange(5.0)
    y = np.array([0.0, 1.3, 1.7, 3.4, 3.9])
    tight = fit_line(x, y, np.full(5, 0.01))
    assert tight.chi2_red > 1 and tight.se > 0.01 / np.sqrt(10)
