"""Hypothesis strategies for normalization properties: batches, weight tensors, scale factors.

Every strategy draws float64 numpy arrays (the assertions convert them to torch where needed). They shrink
towards simple examples (small integers of units, scale factors near 1), so a failing property reports a
counterexample a person can read. Weights are drawn as a direction times a log-uniform norm, so tiny and
huge norms are reached on purpose: that is where a normalization's epsilon shows.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import find, strategies as st
from hypothesis.errors import NoSuchExample
from hypothesis.extra import numpy as hnp

from ..errors import UsageError
from .profiles import search_settings

#: entries in [-1, 1]; magnitudes below 1e-6 become 0, so that weights scaled down to norm 1e-6 and by 1e-3
#: stay far from float64's subnormal range (where scaling by a power of two would stop being exact)
_UNIT = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False, allow_subnormal=False,
                  width=64).map(lambda x: x if abs(x) >= 1e-6 else 0.0)


def _size(value):
    """An int, or a strategy for one, as a strategy."""
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, int) and value > 0:
        return st.just(value)
    raise UsageError(f"a size must be a positive int or a Hypothesis strategy, got {value!r}")


def _log_uniform(low: float, high: float):
    if not (0 < low <= high):
        raise UsageError(f"need 0 < low <= high for a magnitude range, got ({low}, {high})")
    return st.floats(math.log10(low), math.log10(high)).map(lambda e: 10.0 ** e)


def arrays(shape, bound: float = 1.0):
    """Float64 arrays of ``shape`` (a tuple of ints or strategies) with entries in ``[-bound, bound]``."""
    dims = st.tuples(*(_size(s) for s in shape))
    elements = _UNIT if bound == 1.0 else _UNIT.map(lambda x: x * bound)
    return dims.flatmap(lambda sh: hnp.arrays(np.float64, sh, elements=elements))


def batches(n=st.integers(3, 12), d=st.integers(2, 6), bound: float = 1.0):
    """Input batches ``X`` of shape ``(n, d)``: ``n`` samples of ``d`` inputs (``n``, ``d``: int or strategy)."""
    return arrays((n, d), bound)


def weights(shape, min_norm: float = 1e-6, max_norm: float = 1e3):
    """Weight tensors of ``shape`` (ints or strategies): a nonzero direction times a log-uniform Frobenius norm.

    The norm ranges over ``[min_norm, max_norm]`` so that a property meets the tiny weight norms where an
    epsilon inside a normalization stops being negligible.
    """
    if isinstance(shape, (int, st.SearchStrategy)):
        shape = (shape,)
    direction = arrays(shape).filter(lambda a: np.linalg.norm(a) > 1e-3)
    return st.tuples(direction, _log_uniform(min_norm, max_norm)).map(
        lambda dn: dn[0] * (dn[1] / np.linalg.norm(dn[0])))


def scale_factors(min_magnitude: float = 1e-3, max_magnitude: float = 1e3, sign: str = "positive",
                  power_of_two: bool = False, shape=None):
    """Scale factors ``alpha`` with log-uniform magnitude in ``[min_magnitude, max_magnitude]``.

    ``sign``: 'positive', 'negative' or 'any'. ``power_of_two``: draw ``2**k`` only; multiplying by a
    power of two is exact in binary floating point (it commutes with rounding, barring over/underflow), so
    a property over such factors can demand bitwise equality. ``shape``: an int ``k`` (or strategy) for a
    vector of ``k`` independent factors, one per output channel.
    """
    if sign not in ("positive", "negative", "any"):
        raise UsageError(f"sign must be 'positive', 'negative' or 'any', got {sign!r}")
    if power_of_two:
        lo, hi = math.ceil(math.log2(min_magnitude)), math.floor(math.log2(max_magnitude))
        if lo > hi:
            raise UsageError(f"no power of two in [{min_magnitude}, {max_magnitude}]")
        magnitude = st.integers(lo, hi).map(lambda k: 2.0 ** k)
    else:
        magnitude = _log_uniform(min_magnitude, max_magnitude)
    signs = {"positive": st.just(1.0), "negative": st.just(-1.0), "any": st.sampled_from([1.0, -1.0])}[sign]
    scalar = st.tuples(signs, magnitude).map(lambda sm: sm[0] * sm[1])
    if shape is None:
        return scalar
    return _size(shape).flatmap(lambda k: st.lists(scalar, min_size=k, max_size=k)).map(np.array)


def epsilons(low: float = 1e-12, high: float = 1e-1):
    """Normalization / optimizer epsilons, log-uniform in ``[low, high]``."""
    return _log_uniform(low, high)


def find_counterexample(check, *strategies, floor: int = 300, shrink: bool | None = None):
    """Arguments (one per strategy) for which ``check(*args)`` raises ``AssertionError``, as simple as found.

    Returns ``None`` when the search (the current profile's examples, at least ``floor``) finds none.
    ``shrink``: see :func:`normlaws.testing.profiles.search_settings` (default: shrink except under the
    suite's ``ci`` and ``thorough`` profiles).
    Use it to show that a property *fails* where theory says it must, with the very strategies that make
    it hold elsewhere.
    """
    def fails(args) -> bool:
        try:
            check(*args)
        except AssertionError:
            return True
        return False

    try:
        return find(st.tuples(*strategies), fails, settings=search_settings(floor, shrink))
    except NoSuchExample:
        return None
