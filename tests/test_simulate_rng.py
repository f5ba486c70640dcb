"""The fast samplers draw from the laws they claim (KS tests and moments), and the streams are reproducible.

Statistical tests use fixed seeds. KS tests reject at alpha = 1e-3 (a false alarm once in a thousand seeds);
moment checks use 4 standard errors (6e-5 two-sided): at these sizes the variance check catches a 1 % error in
the scale, the KS test a 3 % one (``test_a_wrong_law_is_rejected``).
"""
import numpy as np
import pytest
from scipy import stats

from normlaws.simulate.rng import Gammas, Normals, stream

ALPHA = 1e-3
N = 200_000


def test_box_muller_is_standard_normal():
    x = Normals(N).fill(stream(11), np.empty(N, np.float32)).astype(float)
    assert stats.kstest(x, "norm").pvalue > ALPHA
    assert abs(x.mean()) < 4 / np.sqrt(N)
    assert abs(x.var() - 1) < 4 * np.sqrt(2 / N)
    assert abs(np.mean(x**4) - 3) < 4 * np.sqrt(96 / N)      # Var(x^4) = 105 - 9 = 96


def test_box_muller_odd_size_fills_every_entry():
    out = np.full(7, np.nan, np.float32)
    Normals(7).fill(stream(1), out)
    assert np.all(np.isfinite(out)) and len(set(out.tolist())) == 7


@pytest.mark.parametrize("shape", [1.0, 3.0, 31.5])
def test_marsaglia_tsang_is_gamma(shape):
    x = Gammas(shape, N).fill(stream(12), np.empty(N, np.float32)).astype(float)
    assert stats.kstest(x, "gamma", args=(shape,)).pvalue > ALPHA
    assert abs(x.mean() - shape) < 4 * np.sqrt(shape / N)
    assert abs(x.var() - shape) < 4 * np.sqrt((6 * shape + 2 * shape**2) / N)  # Var of the sample variance


def test_a_wrong_law_is_rejected():
    """The tests above can fail: KS at this size rejects a 3 % error in the scale, the variance check a 1 % one."""
    x = Normals(N).fill(stream(11), np.empty(N, np.float32)).astype(float)
    assert stats.kstest(x * 1.03, "norm").pvalue < ALPHA
    assert abs((x * 1.01).var() - 1) > 4 * np.sqrt(2 / N)


def test_streams_are_reproducible_and_independent():
    a = stream(5, 2).random(4)
    assert np.array_equal(a, stream(5, 2).random(4))
    assert not np.array_equal(a, stream(5, 3).random(4))
    assert not np.array_equal(a, stream(6, 2).random(4))
