"""Gradient oracles: the paper's Section 4 model and a real Batch-Normalized unit.

An oracle fills ``out`` (shape ``(G, n, d)``: grid points, chains, weights) with the gradient of the
*unregularized* loss at the points ``w`` (same shape) whose norms are ``r`` (shape ``(G, n)``). Both are
scale-invariant losses: the gradient at ``alpha*w`` is the gradient at ``w`` divided by ``alpha``.

- :class:`Section4Noise`: ``grad L(w) = g/||w||`` with ``g`` Gaussian, ``E||g||^2 = C``, drawn afresh each
  call. ``variant='isotropic'``: ``g ~ N(0, C/d I)`` (zero-mean along ``w``: the stop-gradient picture);
  ``variant='orthogonal'``: ``g`` is isotropic in the ``d-1`` directions orthogonal to ``w``,
  ``N(0, C/(d-1))`` each (the full BN backward, whose gradient is exactly orthogonal to ``w``). Both have
  ``E||g||^2 = C``, as the theory's model states. ``variant='unscaled'``: ``g ~ N(0, C/d I)`` not divided by
  ``||w||`` (i.i.d. Gaussian gradient coordinates, the model of Lion's derivation: a sign update ignores scale).
- :class:`BNUnit`: inputs ``X ~ N(0, sigma_x^2)`` in batches of ``B``, pre-activation ``h = X w``, batch
  normalization ``x_hat = (h - mean h)/std h`` (population std over the batch, ``eps`` added to the
  variance, 0 by default so the unit is exactly scale-invariant), ``z = gamma x_hat + beta``, ReLU, and an
  upstream gradient ``dL/dy ~ N(0, sigma_nabla^2)`` per sample. The loss is the batch *mean*
  (``loss='mean'``, ``normlaws.conventions.CANONICAL``) or the batch *sum* (``loss='sum'``, the paper's
  Section 2). ``backward='stop_gradient'`` treats the batch mean and std as constants (the paper's Section 3);
  ``backward='full'`` differentiates through them (what frameworks do). Its model constant ``C`` is
  ``theory.bn_unit.unit_C``, exact at finite ``d`` and ``B``.
"""
from __future__ import annotations

import numpy as np

from normlaws.errors import UsageError

from . import predict
from .rng import Normals

VARIANTS = ("isotropic", "orthogonal", "unscaled")
BACKWARDS = ("stop_gradient", "full")
LOSSES = ("mean", "sum")


class Section4Noise:
    """The Section 4 model's gradient ``g/||w||``; see the module docstring."""

    kind = "section4"

    def __init__(self, d: int, C: float, variant: str, shape: tuple, dtype=np.float32):
        if variant not in VARIANTS:
            raise UsageError(f"unknown variant {variant!r}; choose {' or '.join(VARIANTS)}")
        if d < 2:
            raise UsageError("the dimension d must be >= 2")
        self.d, self.C, self.variant, self.dtype = int(d), float(C), variant, np.dtype(dtype)
        free = d - 1 if variant == "orthogonal" else d
        self.sigma = self.dtype.type(np.sqrt(C / free))
        self._normals = Normals(int(np.prod(shape)) * d, dtype)
        self._proj = np.empty(shape, self.dtype)
        self._scale = np.empty(shape, self.dtype)
        #: per-coordinate E[(dL/dw_j)^2] at unit norm (warm-starts second-moment accumulators)
        self.coordinate_second_moment = self.C / self.d

    def gradient(self, rng, w: np.ndarray, r: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out = g / r`` with fresh noise ``g`` (projected orthogonal to ``w`` in the orthogonal variant; ``g``
        itself, not divided by ``r``, in the unscaled variant)."""
        self._normals.fill(rng, out.reshape(-1))
        if self.variant == "unscaled":
            out *= self.sigma
            return out
        if self.variant == "orthogonal":
            np.einsum("gnd,gnd->gn", out, w, out=self._proj)
            self._proj /= r
            self._proj /= r
            out -= self._proj[..., None] * w
        np.divide(self.sigma, r, out=self._scale)
        out *= self._scale[..., None]
        return out


class BNUnit:
    """A real BN unit with a rectifier; :meth:`gradient` draws a fresh batch and back-propagates it."""

    kind = "bn-unit"

    def __init__(self, d: int, batch: int, backward: str, shape: tuple, dtype=np.float32, gamma: float = 1.0,
                 beta: float = 0.0, sigma_x: float = 1.0, sigma_nabla: float = float(np.sqrt(2.0)),
                 eps: float = 0.0, loss: str = "mean"):
        if backward not in BACKWARDS:
            raise UsageError(f"unknown BN backward {backward!r}; choose {' or '.join(BACKWARDS)}")
        if loss not in LOSSES:
            raise UsageError(f"unknown loss normalization {loss!r}; choose {' or '.join(LOSSES)}")
        if batch < 4:
            raise UsageError("the batch size must be >= 4 for batch statistics to make sense")
        if not gamma > 0:
            raise UsageError("the BN gain gamma must be > 0")
        self.d, self.batch, self.backward, self.dtype = int(d), int(batch), backward, np.dtype(dtype)
        self.loss = loss
        self.gamma, self.beta, self.sigma_x, self.sigma_nabla, self.eps = gamma, beta, sigma_x, sigma_nabla, eps
        G, n = shape
        self._x = np.empty((G, n, batch, d), self.dtype)
        self._delta = np.empty((G, n, batch), self.dtype)
        self._nx = Normals(self._x.size, dtype)
        self._nd = Normals(self._delta.size, dtype)
        self.last = {}
        #: the model constant C = E||grad L||^2 ||w||^2, exact (theory.bn_unit), and its mean per coordinate
        #: (warm-starts second-moment accumulators)
        self.C = predict.bn_unit_C(d, batch, gamma, beta, sigma_nabla, loss, backward)
        self.coordinate_second_moment = self.C / self.d

    def forward_backward(self, x: np.ndarray, delta: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The gradient of the loss (batch mean or sum) w.r.t. ``w`` for inputs ``x`` ``(..., B, d)`` and upstream
        gradients ``delta`` ``(..., B)``; also keeps ``x_hat`` and the batch std in ``self.last``."""
        B = x.shape[-2]
        h = np.matmul(x, w[..., None])[..., 0]                     # (..., B)
        centred = h - h.mean(-1, keepdims=True)
        std = np.sqrt((centred * centred).mean(-1, keepdims=True) + self.eps)
        x_hat = centred / std
        z = self.gamma * x_hat + self.beta
        scale = self.gamma / B if self.loss == "mean" else self.gamma
        d_xhat = scale * delta * (z > 0)                           # ReLU; batch-mean or batch-sum loss
        if self.backward == "stop_gradient":
            d_h = d_xhat / std
        else:
            d_h = (d_xhat - d_xhat.mean(-1, keepdims=True)
                   - x_hat * (d_xhat * x_hat).mean(-1, keepdims=True)) / std
        self.last = {"x_hat": x_hat, "std": std[..., 0]}
        return np.matmul(d_h[..., None, :], x)[..., 0, :]          # (..., d)

    def gradient(self, rng, w: np.ndarray, r: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out`` = the gradient of the loss on a fresh batch at ``w`` (``r`` is not needed: BN finds it)."""
        self._nx.fill(rng, self._x.reshape(-1))
        if self.sigma_x != 1.0:
            self._x *= self.dtype.type(self.sigma_x)
        self._nd.fill(rng, self._delta.reshape(-1))
        self._delta *= self.dtype.type(self.sigma_nabla)
        out[...] = self.forward_backward(self._x, self._delta, w)
        return out
