"""The update rules on the full weight vector, for many chains at once (in place, one Python call per step).

Shapes: ``w`` is ``(G, n, d)`` (grid points, chains, weights); ``eta`` and ``lam`` broadcast as ``(G, 1, 1)``.
Conventions (as ``normlaws.theory.updates``; the L2 term is ``lam*||w||^2``, gradient ``2*lam*w``; ``g`` is the
unregularized gradient from the model):

- ``sgd``:        ``w <- w - eta (g + 2 lam w)``
- ``momentum``:   ``v <- rho v - eta (g(w) + 2 lam w);  w <- w + v``           (heavy ball, Sec. 5.1 first form)
- ``nesterov``:   ``u = w + rho v;  v <- rho v - eta (g(u) + 2 lam u);  w <- w + v``   (Sec. 5.1 second form;
                  the chains track the paper's variable ``w``)
- ``nesterov_torch``: ``b <- rho b + G(p);  p <- p - eta (G(p) + rho b)``, ``G = g + 2 lam p``
                  (``torch.optim.SGD(nesterov=True)``; the chains track torch's iterate ``p = w + rho v``)
- ``rmsprop``:    ``s <- rho s + (1-rho) G^2;  w <- w - eta G / sqrt(s + eps)``  (``G = g + 2 lam w``, eps inside)
- ``rmsprop_torch``: the same with ``G / (sqrt(s) + eps)`` (eps outside, as ``torch.optim.RMSprop``)
- ``adam``:       ``m <- b1 m + (1-b1) G;  s <- b2 s + (1-b2) G^2;
                  w <- w - eta (m/(1-b1^t)) / (sqrt(s/(1-b2^t)) + eps)``         (Kingma-Ba bias correction)
- ``adamw``:      Adam on ``g`` alone, then ``w <- w - eta lam w`` (decoupled decay, from the step's start)
- ``normalized``: ``w~ = w - eta G;  w <- w~/||w~||``                            (Sec. 5.5)
- ``lion``:       ``c = b1 m + (1-b1) g;  w <- (1 - eta lam) w - eta sign(c);  m <- b2 m + (1-b2) g``
                  (Chen et al. 2023; decoupled decay, as ``theory.lion`` and AdamW)

A *warm* start puts the optimizer state at its stationary mean (velocity and first moment 0, second moments at
the gradient's per-coordinate second moment ``c/||w||^2``, bias correction already 1); a cold start zeroes it.

``renormalize=True`` runs the *reference* chains of the effective-learning-rate check: after each step ``w`` is
scaled back to unit norm and the state with it, by the powers of the equivariance (``updates.RULES[rule]
.state_exponents``: velocity ``alpha``, first moment ``1/alpha``, second moment ``1/alpha^2``).
"""
from __future__ import annotations

import numpy as np

from normlaws.theory import updates

from .params import Hyper, check_rule

#: the theory's name for each state buffer and the attribute here that holds it
_STATE_ATTR = {"v": "v", "b": "v", "m": "m", "s": "s"}


def state_exponents(rule: str) -> dict:
    """``{attribute: exponent}``: the state scales as ``alpha**exponent`` when ``w`` scales by ``alpha``."""
    theory_rule = updates.RULES.get(rule)
    if theory_rule is None or not theory_rule.state_exponents:
        return {}
    return {_STATE_ATTR[str(s)]: int(e) for s, e in theory_rule.state_exponents.items()}


class VectorChains:
    """``n`` independent chains per grid point of one rule on the full weight vector; see the module docstring.

    After :meth:`step`, ``N`` holds ``||w||^2``; ``angle`` and ``step_sq`` (if ``track_angle``) the angle between
    the weight vectors before and after the step and ``||w_{t+1} - w_t||^2``; ``grad_norm`` (if ``track_grad``) ``||grad L(p)||`` of the step and
    ``grad_point_r`` the norm of the point ``p`` it was taken at (``w`` before the step; Nesterov's look-ahead).
    """

    def __init__(self, rule: str, hyper: Hyper, model, w0: np.ndarray, *, warm: bool = True,
                 renormalize: bool = False, track_angle: bool = False, track_grad: bool = False,
                 dtype=np.float32):
        if rule != "rmsprop_torch":
            check_rule(rule)
        self.rule, self.hyper, self.model = rule, hyper, model
        self.dtype = np.dtype(dtype)
        self.renormalize, self.track_angle, self.track_grad = renormalize, track_angle, track_grad
        f = self.dtype.type
        eta, lam = hyper.flat(2)
        self.eta, self.lam2 = eta.astype(self.dtype), (2 * lam).astype(self.dtype)
        self.neg_eta = (-eta).astype(self.dtype)
        self.decoupled = (1 - eta * lam).astype(self.dtype)      # AdamW's factor (1 - eta lam)
        self.rho, self.b1, self.b2, self.eps = f(hyper.rho), f(hyper.beta1), f(hyper.beta2), f(hyper.eps)
        self.w = np.array(w0, dtype=self.dtype)
        G, n, d = self.w.shape
        self.N = np.einsum("gnd,gnd->gn", self.w, self.w)
        self.r = np.sqrt(self.N)
        self.grad = np.empty_like(self.w)
        self.delta = self.grad                                    # the step's displacement (shares the buffer)
        self.work = np.empty_like(self.w)
        self.angle = np.zeros((G, n), self.dtype)
        self.grad_norm = np.zeros((G, n), self.dtype)
        self.grad_point_r = np.ones((G, n), self.dtype)
        self._dw = np.empty((G, n), self.dtype)
        self.step_sq = self._dd = np.empty((G, n), self.dtype)    # ||w_{t+1} - w_t||^2 (with track_angle)
        self.t = 10**6 if warm else 0                             # bias correction is 1 for a warm start
        second = model.coordinate_second_moment / self.N[..., None] if warm else 0.0
        if rule in ("momentum", "nesterov", "nesterov_torch"):
            self.v = np.zeros_like(self.w)
        if rule in ("rmsprop", "rmsprop_torch", "adam", "adamw"):
            self.s = np.broadcast_to(np.asarray(second, self.dtype), self.w.shape).copy()
        if rule in ("adam", "adamw", "lion"):
            self.m = np.zeros_like(self.w)
        self._exponents = state_exponents(rule) if renormalize else {}
        self._step = getattr(self, f"_{rule}")

    # ---- one step ---------------------------------------------------------------------------------------
    def step(self, rng) -> None:
        """Advance every chain by one step of the rule."""
        self._step(rng)
        np.einsum("gnd,gnd->gn", self.w, self.w, out=self.N)
        if self.renormalize:
            self._renormalize()
        np.sqrt(self.N, out=self.r)

    def _gradient(self, rng, at=None, r=None):
        r = self.r if r is None else r
        if self.track_grad:
            np.copyto(self.grad_point_r, r)                       # the norm of the point the gradient is at
        g = self.model.gradient(rng, self.w if at is None else at, r, self.grad)
        if self.track_grad:
            np.einsum("gnd,gnd->gn", g, g, out=self.grad_norm)
            np.sqrt(self.grad_norm, out=self.grad_norm)
        return g

    def _move(self, delta) -> None:
        """``w += delta``, measuring the angle it turns ``w`` by (before moving) if asked."""
        if self.track_angle:
            np.einsum("gnd,gnd->gn", delta, self.w, out=self._dw)
            np.einsum("gnd,gnd->gn", delta, delta, out=self._dd)
            along = self.r + self._dw / self.r
            across = np.sqrt(np.maximum(self._dd - self._dw * self._dw / self.N, 0))
            np.arctan2(across, along, out=self.angle)
        self.w += delta

    def _add_decay(self, g, at=None) -> None:
        g += self.lam2 * (self.w if at is None else at)

    def _sgd(self, rng):
        g = self._gradient(rng)
        self._add_decay(g)
        g *= self.neg_eta
        self._move(g)

    def _momentum(self, rng):
        g = self._gradient(rng)
        self._add_decay(g)
        self.v *= self.rho
        g *= self.eta
        self.v -= g
        self._move(self.v)

    def _nesterov(self, rng):
        u = self.work
        np.multiply(self.v, self.rho, out=u)
        u += self.w
        r_u = np.sqrt(np.einsum("gnd,gnd->gn", u, u))
        g = self._gradient(rng, at=u, r=r_u)
        self._add_decay(g, at=u)
        self.v *= self.rho
        g *= self.eta
        self.v -= g
        self._move(self.v)

    def _nesterov_torch(self, rng):
        """torch's form on its iterate ``p`` (here ``w``); ``v`` holds torch's buffer ``b``."""
        g = self._gradient(rng)
        self._add_decay(g)
        self.v *= self.rho
        self.v += g
        np.multiply(self.v, self.rho, out=self.work)
        g += self.work                                             # G + rho b
        g *= self.neg_eta
        self._move(g)

    def _lion(self, rng):
        """Lion: the sign of an interpolation of the momentum and the gradient; decoupled decay."""
        g = self._gradient(rng)
        c = self.work
        np.multiply(self.m, self.b1, out=c)
        c += (1 - self.b1) * g
        self.m *= self.b2
        self.m += (1 - self.b2) * g
        np.sign(c, out=c)
        c *= self.neg_eta
        c -= (1 - self.decoupled) * self.w                          # - eta lam w (w at the step's start)
        self._move(c)

    def _rmsprop(self, rng):
        g = self._gradient(rng)
        self._add_decay(g)
        self._accumulate_second(g, self.rho)
        den = self.work
        np.add(self.s, self.eps, out=den)
        np.sqrt(den, out=den)
        g /= den
        g *= self.neg_eta
        self._move(g)

    def _rmsprop_torch(self, rng):
        """RMSProp with epsilon outside the square root (``torch.optim.RMSprop``): ``G / (sqrt(s) + eps)``."""
        g = self._gradient(rng)
        self._add_decay(g)
        self._accumulate_second(g, self.rho)
        den = self.work
        np.sqrt(self.s, out=den)
        den += self.eps
        g /= den
        g *= self.neg_eta
        self._move(g)

    def _accumulate_second(self, g, decay) -> None:
        self.s *= decay
        np.multiply(g, g, out=self.work)
        self.work *= 1 - decay
        self.s += self.work

    def _adam_delta(self, g):
        """Adam's step ``-eta m_hat/(sqrt(s_hat) + eps)`` from gradient ``g``, written into ``g``'s buffer."""
        self.t += 1
        c1 = 1.0 / (1.0 - float(self.hyper.beta1) ** self.t)
        c2 = 1.0 / np.sqrt(1.0 - float(self.hyper.beta2) ** self.t)
        self._accumulate_second(g, self.b2)
        self.m *= self.b1
        np.multiply(g, 1 - self.b1, out=self.work)
        self.m += self.work
        den = self.work
        np.sqrt(self.s, out=den)
        den *= self.dtype.type(c2)
        den += self.eps
        np.divide(self.m, den, out=g)
        g *= self.neg_eta * self.dtype.type(c1)
        return g

    def _adam(self, rng):
        g = self._gradient(rng)
        self._add_decay(g)
        self._move(self._adam_delta(g))

    def _adamw(self, rng):
        g = self._gradient(rng)
        delta = self._adam_delta(g)
        delta -= (1 - self.decoupled) * self.w                    # - eta lam w (w at the step's start)
        self._move(delta)

    def _normalized(self, rng):
        g = self._gradient(rng)
        self._add_decay(g)
        g *= self.neg_eta
        self._move(g)
        np.einsum("gnd,gnd->gn", self.w, self.w, out=self.N)
        self.w /= np.sqrt(self.N)[..., None]
        if self.track_angle:                                        # both ends on the unit sphere
            np.cos(self.angle, out=self.step_sq)
            self.step_sq *= -2
            self.step_sq += 2

    def _renormalize(self) -> None:
        scale = 1.0 / np.sqrt(self.N)
        self.w *= scale[..., None]
        for name, power in self._exponents.items():
            getattr(self, name)[...] *= (scale ** power)[..., None]
        self.N[...] = 1
