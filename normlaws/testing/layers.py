"""Reference normalization layers in numpy, with their floating-point error bounds.

Each layer maps a batch ``X`` (``n x d``) and weights ``W`` (``d`` or ``d x k``) to normalized outputs.
They are plain, readable definitions (the algorithms, not closed forms): Batch Normalization (Ioffe &
Szegedy 2015) and Hoffer et al.'s L1 and L-infinity variants (arXiv 1803.01814, Sec. 4), Weight
Normalization (Salimans & Kingma 2016), Layer Normalization (Ba et al. 2016). Dot products are written as
elementwise products and sums so that the reduction order depends only on the shapes: the result of
scaling by a power of two is then bitwise predictable (no BLAS kernel choice in between).

Error bounds are first-order, worst-case, with Higham's ``gamma_k ~ k*u`` (``u`` the unit roundoff); they
are stated beside each function and used as the tolerances of the property suite.
"""
from __future__ import annotations

import math

import numpy as np

from .invariance import single_thread


def unit_roundoff(dtype=np.float64) -> float:
    """``u = eps/2``, the largest relative rounding error of one operation.

    >>> unit_roundoff() == 2.0**-53
    True
    """
    return float(np.finfo(dtype).eps) / 2


def matvec(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``X @ W`` as elementwise products and a sum over the input axis (fixed reduction order)."""
    W2 = W if W.ndim == 2 else W[:, None]
    out = (X[:, :, None] * W2[None, :, :]).sum(axis=1)
    return out if W.ndim == 2 else out[:, 0]


#: Hoffer et al.'s constants, making the L1 and L-infinity spreads estimate the standard deviation of a
#: Gaussian: E|x - mu| = sqrt(2/pi) sigma, and E max|x - mu| ~ sigma sqrt(2 ln n).
def spread_constant(p, n: int) -> float:
    """Constant ``C`` in ``D = C * S(c)`` for the ``p``-spread (2: std, 1: mean |c|, inf: max |c|)."""
    if p == 2:
        return 1.0
    if p == 1:
        return math.sqrt(math.pi / 2)
    return 1.0 / math.sqrt(2 * math.log(max(n, 2)))


def normalize(z: np.ndarray, axis: int = 0, p=2, eps: float = 0.0):
    """``(z - mean(z)) / D`` along ``axis``; ``D = sqrt(var + eps)`` (p=2), ``C*mean|c|`` (p=1), ``C*max|c|`` (p=inf).

    Returns ``(y, D)``. Every ``D`` is positively homogeneous of degree 1 in ``z`` (when ``eps = 0``), so
    ``y`` is invariant under ``z -> alpha z`` for ``alpha > 0`` and flips sign for ``alpha < 0``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # a batch without spread gives nan, not a warning
        return _normalize(z, axis, p, eps)


def _normalize(z, axis, p, eps):
    c = z - z.mean(axis=axis, keepdims=True)
    if p == 2:
        D = np.sqrt((c * c).mean(axis=axis, keepdims=True) + eps)
    elif p == 1:
        D = spread_constant(1, z.shape[axis]) * np.abs(c).mean(axis=axis, keepdims=True)
    elif p == np.inf:
        D = spread_constant(np.inf, z.shape[axis]) * np.abs(c).max(axis=axis, keepdims=True)
    else:
        raise ValueError(f"p must be 1, 2 or inf, got {p!r}")
    return c / D, D


def batch_norm(X, W, eps: float = 0.0, p=2):
    """Batch Normalization of ``X @ W`` over the batch (axis 0), each output unit separately: ``(y, D)``."""
    return normalize(matvec(X, W), axis=0, p=p, eps=eps)


def layer_norm(X, W, eps: float = 0.0):
    """Layer Normalization of ``X @ W`` (``W``: ``d x m``) over the ``m`` units of each sample: ``(y, D)``."""
    return normalize(matvec(X, W), axis=1, p=2, eps=eps)


def weight_norm(X, W):
    """Weight Normalization: ``X @ W / ||W||`` with the norm of each column (each output unit): ``(y, norm)``."""
    norm = np.sqrt((W * W).sum(axis=0, keepdims=True if W.ndim == 2 else False))
    with np.errstate(divide="ignore", invalid="ignore"):
        return matvec(X, W) / norm, norm


def normalization_bound(X, W, y, D, axis: int, C: float = 1.0, dtype=np.float64):
    """Elementwise bound on ``|y(alpha W) - y(W)|`` from rounding alone (two evaluations of a normalization).

    First-order analysis, ``gamma_k ~ k u``. One evaluation computes ``z = X W`` with ``|dz| <= d u R``
    where ``R = |X||W|``; the mean over the ``m`` reduced entries adds ``m u max R``, the subtraction
    ``u |c|``; so the centred values carry ``M <= (2d + m + 4) u max R`` (scaling ``W`` by alpha adds one
    more ``u R``). Every spread ``S`` (std, mean|c|, max|c|) is 1-Lipschitz in the max-norm, so ``D = C S``
    moves by ``C M`` plus its own ``(m + 2) u D``, and ``y = c/D`` by at most
    ``(1 + C|y|) M/D + (m + 3) u |y|``. The ratio ``max R / D`` is the condition number: large when the
    pre-activations are big compared with their spread (cancellation in the centring). Two evaluations
    double the bound.
    """
    u = unit_roundoff(dtype)
    d = X.shape[1]
    m = y.shape[axis]
    W2 = W if W.ndim == 2 else W[:, None]
    R = (np.abs(X)[:, :, None] * np.abs(W2)[None]).sum(axis=1)
    R = R if W.ndim == 2 else R[:, 0]
    M = (2 * d + m + 5) * u * R.max(axis=axis, keepdims=True)
    return 2 * ((1 + C * np.abs(y)) * M / D + (m + 3) * u * np.abs(y))


def weight_norm_bound(X, W, y, norm, dtype=np.float64):
    """Elementwise bound on ``|WN(alpha W) - WN(W)|`` from rounding.

    Per evaluation: the dot product ``d u R`` (``R = |X||W|``), the norm's ``(d + 2) u`` relative error and
    the division: ``(d + 2) u R/||w|| + (d + 3) u |y|``; two evaluations double it.
    """
    u = unit_roundoff(dtype)
    d = X.shape[1]
    W2 = W if W.ndim == 2 else W[:, None]
    R = (np.abs(X)[:, :, None] * np.abs(W2)[None]).sum(axis=1)
    R = R if W.ndim == 2 else R[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2 * ((d + 2) * u * R / norm + (d + 3) * u * np.abs(y))


# ---- a Batch-Normalized unit with a loss: value and gradient in both backward conventions ------------

def bn_unit_loss(X, w, upstream, eps: float = 0.0) -> float:
    """``L(w) = sum_i upstream_i * tanh(BN(X w)_i)``: one BN unit, a tanh nonlinearity, a linear readout."""
    y, _ = batch_norm(X, w, eps=eps)
    return float((upstream * np.tanh(y)).sum())


def bn_unit_grad(X, w, upstream, backward: str = "full", eps: float = 0.0) -> np.ndarray:
    """Gradient of :func:`bn_unit_loss` in ``w``.

    ``backward='full'`` differentiates through the batch mean and standard deviation (what frameworks do):
    ``dL/dz = (r - mean(r) - y mean(r y)) / D`` with ``r = dL/dy``. ``backward='stop_gradient'`` treats them as
    constants (the paper's Section 3): ``dL/dz = r / D``. Both give ``dL/dw = X^T dL/dz``; both scale like
    ``1/alpha`` under ``w -> alpha w``. Checked against torch autograd in the property suite.
    """
    y, D = batch_norm(X, w, eps=eps)
    r = upstream * (1 - np.tanh(y) ** 2)
    if backward == "full":
        dz = (r - r.mean() - y * (r * y).mean()) / D
    elif backward == "stop_gradient":
        dz = r / D
    else:
        raise ValueError(f"backward must be 'full' or 'stop_gradient', got {backward!r}")
    return (X * dz[:, None]).sum(axis=0)


def bn_unit_hessian(X, w, upstream) -> np.ndarray:
    """Hessian in ``w`` of ``sum_i upstream_i * tanh(zhat_i)``, ``zhat`` the full-backward BN of ``X w`` (eps = 0).

    Computed by torch autograd in float64 on one thread (torch is imported only here): an independent reference
    for the degree -2 homogeneity and the Euler identity ``H w = -grad``.
    """
    import torch
    X_t, up = torch.as_tensor(X), torch.as_tensor(upstream)

    def loss(v):
        z = (X_t * v).sum(1)
        c = z - z.mean()
        return (up * torch.tanh(c / (c * c).mean().sqrt())).sum()
    with single_thread():
        return torch.autograd.functional.hessian(loss, torch.as_tensor(w)).numpy()
