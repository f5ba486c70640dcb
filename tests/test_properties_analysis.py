"""Properties of the training leg's record analysis (numpy only): the per-layer summaries and the fits.

- ``layer_summary``: every finite filter is live or collapsed; the live mean lies between the live filters'
  extremes; scaling all norms by ``c > 0`` scales the live mean by ``c`` and keeps the counts (the collapse
  threshold is relative to the initial mean).
- ``ols``: the fit is unchanged by permuting the points (clusters moved with them), and the cluster-robust
  covariance with one point per cluster is the heteroscedasticity-robust HC1 sandwich (computed here directly).
"""
import numpy as np
from hypothesis import given, strategies as st

from normlaws.gpu.analysis import layer_summary
from normlaws.gpu.fits import ols

norm_st = st.one_of(st.floats(1e-3, 1e3), st.just(0.0), st.floats(1e-12, 1e-8))
grid_st = st.tuples(st.integers(2, 5), st.integers(1, 12)).flatmap(
    lambda shape: st.lists(st.lists(norm_st, min_size=shape[1], max_size=shape[1]), min_size=shape[0],
                           max_size=shape[0]))


@given(grid_st, st.floats(1e-3, 1e3))
def test_layer_summary_counts_and_scales(rows, c):
    norms = np.array(rows)
    norms[0] = np.abs(norms[0]) + 1.0                      # an initial epoch with a positive mean
    unit_sq = np.ones((len(norms) - 1, norms.shape[1]))
    out, scaled = layer_summary(norms, unit_sq), layer_summary(c * norms, unit_sq)
    floor = 1e-6 * norms[0].mean()
    for e in range(len(norms) - 1):
        live = norms[e + 1][norms[e + 1] > floor]
        assert out["collapsed_filters"][e] + len(live) == norms.shape[1]
        if len(live):
            assert live.min() * (1 - 1e-12) <= out["live_filter_norm_mean"][e] <= live.max() * (1 + 1e-12)
            assert np.isclose(scaled["live_filter_norm_mean"][e], c * out["live_filter_norm_mean"][e], rtol=1e-9)
        assert scaled["collapsed_filters"][e] == out["collapsed_filters"][e]


@given(st.integers(0, 10_000), st.integers(8, 30))
def test_ols_is_invariant_to_the_order_of_points_and_hc1_with_singleton_clusters(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 0.3 + 0.7 * x + rng.normal(size=n) * (1 + np.abs(x))
    labels = rng.integers(0, 4, n)
    perm = rng.permutation(n)
    a, b = ols({"x": x}, y, clusters=labels), ols({"x": x[perm]}, y[perm], clusters=labels[perm])
    if a is not None:
        assert np.allclose(a.coef, b.coef) and np.allclose(a.se, b.se)
    single = ols({"x": x}, y, clusters=np.arange(n))
    X = np.column_stack([np.ones(n), x])
    resid = y - X @ single.coef
    bread = np.linalg.inv(X.T @ X)
    hc1 = n / (n - 2) * bread @ (X.T * resid**2) @ X @ bread
    # CR1 with singleton clusters: G/(G-1) (n-1)/(n-k) = n/(n-1) (n-1)/(n-2) = n/(n-2), HC1's factor
    assert np.allclose(single.se, np.sqrt(np.diag(hc1)), rtol=1e-9)
