"""Per-model update rules, vectorised over the M models of an ensemble, and the map to ``torch.optim``.

Every parameter has a leading model axis (M, ...); ``eta`` and ``lam`` are tensors of shape (M,). The L2 term
is the paper's: penalty ``lam*||w||^2`` on the decayed weights, gradient ``2*lam*w``, i.e. torch's
``weight_decay = torch_weight_decay(lam) = 2*lam``. With ``g = grad L + 2*lam*w`` (coupled rules):

- ``sgd``:        ``b <- mu*b + g; w <- w - eta*b`` (``mu = 0``: plain SGD), torch's ``SGD(momentum=mu)``.
- ``nesterov``:   ``b <- mu*b + g; w <- w - eta*(g + mu*b)``, torch's ``SGD(nesterov=True)``. This is the
  Sutskever form ``v <- mu*v - eta*grad L(w + mu*v)`` of Section 5.1 after the change of variables
  ``w + mu*v -> w``, ``v -> -eta*b``; the two differ only at a learning-rate drop (torch keeps ``b`` in
  gradient units, so a drop acts at once).
- ``rmsprop``:    ``s <- rho*s + (1-rho)*g^2; w <- w - eta*g/(sqrt(s) + eps)``, torch's ``RMSprop(alpha=rho)``.
  The epsilon is added *outside* the square root (torch's choice); Section 5.2 writes ``sqrt(s + eps)``.
- ``adam``:       torch's ``Adam(betas)``: ``m <- b1*m + (1-b1)*g``, ``v <- b2*v + (1-b2)*g^2``,
  ``w <- w - eta/(1-b1^t) * m / (sqrt(v/(1-b2^t)) + eps)``.
- ``adamw``:      decoupled: ``w <- (1 - eta*lam)*w`` then the Adam step on ``grad L`` alone; torch's
  ``AdamW(weight_decay=lam)`` (``conventions.adamw_weight_decay``). Decoupled decay is stated in its own
  convention, as in Loshchilov & Hutter, PyTorch and ``theory.updates``/``theory.section4``: its lam is the
  per-step shrink rate, not the penalty's (``conventions.decoupled_decay_factor``).
- ``normalized``: Section 5.5: the ``nesterov`` step, then every BN-followed filter rescaled to norm 1 (the
  filters start at norm 1 too). Section 5.5 writes a plain SGD step; we keep the momentum so that Figure 3
  compares with the Nesterov runs of Figure 2 (``momentum=0`` gives the plain form).
"""
from __future__ import annotations

import math

import torch

from ..conventions import adamw_weight_decay, torch_weight_decay

RULES = ("sgd", "nesterov", "rmsprop", "adam", "adamw", "normalized")
_STEP = {"sgd": "_sgd", "nesterov": "_sgd", "normalized": "_sgd", "rmsprop": "_rmsprop", "adam": "_adam",
         "adamw": "_adamw"}


def per_model(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape an (M,) tensor to broadcast against a parameter of shape (M, ...)."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def filter_norms(weight: torch.Tensor) -> torch.Tensor:
    """Per-filter norms of a conv weight (M, C_out, C_in, k, k) -> (M, C_out)."""
    return torch.linalg.vector_norm(weight.flatten(2), dim=2)


@torch.no_grad()
def normalize_filters_(weight: torch.Tensor) -> None:
    """Rescale each filter of a conv weight (M, C_out, ...) to unit norm, in place."""
    weight.div_(filter_norms(weight)[..., None, None, None])


class EnsembleOptimizer:
    """One update rule for M models at once, with per-model ``eta`` and ``lam`` (each of shape (M,))."""

    def __init__(self, params, rule: str, eta, lam, *, decayed=(), filters=(), momentum: float = 0.0,
                 rho: float = 0.9, betas=(0.9, 0.999), eps: float = 1e-8):
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; choose from {', '.join(RULES)}")
        self.params = list(params)
        self.rule, self.momentum, self.rho, self.betas, self.eps = rule, float(momentum), rho, betas, eps
        device = self.params[0].device
        self.eta = torch.as_tensor(eta, dtype=torch.float32, device=device).reshape(-1)
        self.lam = torch.as_tensor(lam, dtype=torch.float32, device=device).reshape(-1)
        self._decayed = {id(p) for p in decayed}
        self.filters = list(filters) if rule == "normalized" else []
        self.state = {id(p): {} for p in self.params}
        self.steps = 0
        for f in self.filters:
            normalize_filters_(f)

    @classmethod
    def for_model(cls, model, cfg, eta, lam) -> "EnsembleOptimizer":
        """The optimizer of an :class:`~normlaws.gpu.model.EnsembleConvNet` for the shared config ``cfg``."""
        return cls(model.parameters(), cfg.optimizer, eta, lam, decayed=model.decayed_parameters(cfg.decay_head),
                   filters=model.bn_followed_weights(), momentum=cfg.momentum, rho=cfg.rho,
                   betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)

    def zero_grad(self) -> None:
        """Drop the gradients (set to None, as torch.optim does by default)."""
        for p in self.params:
            p.grad = None

    def _buffer(self, p, name):
        state = self.state[id(p)]
        if name not in state:
            state[name] = torch.zeros_like(p)
        return state[name]

    @torch.no_grad()
    def step(self, lr_factor: float = 1.0, active: torch.Tensor | None = None) -> None:
        """One update of every model: learning rate ``eta * lr_factor``, zero for models not ``active``."""
        self.steps += 1
        lr = self.eta * lr_factor if active is None else self.eta * lr_factor * active
        wd = adamw_weight_decay(self.lam) if self.rule == "adamw" else torch_weight_decay(self.lam)
        for p in self.params:
            if p.grad is None:
                continue
            lr_b = per_model(lr, p)
            wd_b = per_model(wd, p) if id(p) in self._decayed else None
            g = p.grad
            if wd_b is not None and self.rule != "adamw":
                g = g + wd_b * p
            getattr(self, _STEP[self.rule])(p, g, lr_b, wd_b)
        for f in self.filters:
            normalize_filters_(f)

    def _sgd(self, p, g, lr_b, wd_b):
        mu = self.momentum
        if mu:
            buf = self._buffer(p, "momentum").mul_(mu).add_(g)
            g = g + mu * buf if self.rule in ("nesterov", "normalized") else buf
        p.sub_(lr_b * g)

    def _rmsprop(self, p, g, lr_b, wd_b):
        s = self._buffer(p, "square_avg").mul_(self.rho).addcmul_(g, g, value=1 - self.rho)
        p.sub_(lr_b * g / (s.sqrt() + self.eps))

    def _adam(self, p, g, lr_b, wd_b):
        b1, b2 = self.betas
        m = self._buffer(p, "exp_avg").lerp_(g, 1 - b1)
        v = self._buffer(p, "exp_avg_sq").mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (v.sqrt() / math.sqrt(1 - b2 ** self.steps)).add_(self.eps)
        p.sub_((lr_b / (1 - b1 ** self.steps)) * m / denom)

    def _adamw(self, p, g, lr_b, wd_b):
        if wd_b is not None:
            p.mul_(1 - lr_b * wd_b)
        self._adam(p, g, lr_b, wd_b)


def torch_optimizer(net, cfg):
    """The ``torch.optim`` optimizer equal to our rule ``cfg.optimizer`` for one :class:`ConvNet`.

    The paper's ``lam`` becomes ``weight_decay=torch_weight_decay(lam)`` (= 2*lam; AdamW: ``lam``, decoupled)
    on the conv weights and
    (if ``cfg.decay_head``) the head weight; BN parameters and biases get none. ``normalized`` has no torch
    counterpart: it gets the ``nesterov`` optimizer (the step before the rescaling).
    """
    decayed = [c.weight for c in net.convs] + ([net.head.weight] if cfg.decay_head else [])
    ids = {id(p) for p in decayed}
    rest = [p for p in net.parameters() if id(p) not in ids]
    wd = adamw_weight_decay(cfg.lam) if cfg.optimizer == "adamw" else torch_weight_decay(cfg.lam)
    groups = [{"params": decayed, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}]
    rule, lr = cfg.optimizer, cfg.eta
    if rule in ("sgd", "nesterov", "normalized"):
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=rule != "sgd" and cfg.momentum > 0)
    if rule == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=cfg.rho, eps=cfg.eps)
    cls = torch.optim.AdamW if rule == "adamw" else torch.optim.Adam
    return cls(groups, lr=lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
