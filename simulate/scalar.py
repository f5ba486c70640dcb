"""The exact scalar reduction of SGD in the Section 4 model: ``N = ||w||^2`` alone is a Markov chain.

One SGD step is ``w' = a w - eta g/r`` with ``a = 1 - 2 eta lam``. Split ``g = g_par w_hat + g_perp``. The law
of ``g`` is invariant under rotations about ``w`` (isotropic, or isotropic in the orthogonal complement), so
only ``g_par`` and ``Q = ||g_perp||^2`` matter, and

    N' = (a r - eta g_par / r)^2 + eta^2 Q / N,        angle(w, w') = atan2(eta sqrt(Q)/r, a r - eta g_par/r)

- isotropic (``g ~ N(0, C/d I)``):  ``g_par ~ N(0, C/d)``, ``Q ~ (C/d) chi2_{d-1}``, independent;
- orthogonal (full BN backward):   ``g_par = 0``,        ``Q ~ (C/(d-1)) chi2_{d-1}``.

So one chain-step costs one normal and one Gamma((d-1)/2) draw instead of ``d`` normals; the tests compare
its stationary law with the full-vector chain's (means and a two-sample Kolmogorov-Smirnov test).
"""
from __future__ import annotations

import numpy as np

from .models import VARIANTS
from .params import Hyper
from .rng import Gammas, Normals


class ScalarSGD:
    """``n`` chains per grid point of the reduced SGD chain; the same interface as ``VectorChains``."""

    rule = "sgd"

    def __init__(self, hyper: Hyper, d: int, C: float, variant: str, N0: np.ndarray, *,
                 track_angle: bool = False, track_grad: bool = False, dtype=np.float32):
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}")
        self.variant, self.dtype = variant, np.dtype(dtype)
        self.track_angle, self.track_grad = track_angle, track_grad
        eta, lam = hyper.flat(1)
        free = d if variant == "isotropic" else d - 1
        sigma2 = C / free
        self.a = (1 - 2 * eta * lam).astype(self.dtype)
        self.eta_sigma = (eta * np.sqrt(sigma2)).astype(self.dtype)
        self.q_scale = (2 * eta**2 * sigma2).astype(self.dtype)       # chi2 = 2 Gamma((d-1)/2)
        self.sigma = self.dtype.type(np.sqrt(sigma2))
        self.N = np.array(N0, dtype=self.dtype)
        self.r = np.sqrt(self.N)
        shape, size = self.N.shape, self.N.size
        self._z = np.empty(shape, self.dtype)
        self._q = np.empty(shape, self.dtype)
        self._par = np.empty(shape, self.dtype)
        self.angle = np.zeros(shape, self.dtype)
        self.step_sq = np.zeros(shape, self.dtype)                   # ||w_{t+1} - w_t||^2 (with track_angle)
        self.grad_norm = np.zeros(shape, self.dtype)
        self.grad_point_r = np.ones(shape, self.dtype)               # ||w|| before the step (the gradient's point)
        self._normals = Normals(size, self.dtype) if variant == "isotropic" else None
        self._gammas = Gammas((d - 1) / 2, size, self.dtype)

    def step(self, rng) -> None:
        """Advance every chain by one SGD step (in distribution exactly as the full-vector chain)."""
        z, q, par = self._z, self._q, self._par
        self._gammas.fill(rng, q.reshape(-1))                        # Q / (2 sigma^2)
        if self._normals is not None:
            self._normals.fill(rng, z.reshape(-1))                   # g_par / sigma
        if self.track_grad:
            self._measure_grad_norm(z, q)
        np.multiply(self.r, self.a, out=par)                          # a r
        if self._normals is not None:
            z *= self.eta_sigma
            z /= self.r
            par -= z                                                  # a r - eta g_par / r
        q *= self.q_scale
        q /= self.N                                                   # eta^2 Q / N
        if self.track_angle:
            np.sqrt(q, out=self.angle)
            np.arctan2(self.angle, par, out=self.angle)
            np.subtract(par, self.r, out=self.step_sq)
            self.step_sq *= self.step_sq
            self.step_sq += q
        np.multiply(par, par, out=self.N)
        self.N += q
        np.sqrt(self.N, out=self.r)

    def _measure_grad_norm(self, z, q) -> None:
        """``||grad L(w)|| = ||g||/r`` with ``||g||^2 = sigma^2 (z^2 + 2 Gamma)``."""
        out = self.grad_norm
        np.copyto(self.grad_point_r, self.r)
        np.multiply(q, self.dtype.type(2), out=out)
        if self._normals is not None:
            out += z * z
        np.sqrt(out, out=out)
        out *= self.sigma
        out /= self.r
