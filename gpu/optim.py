"""Per-model update rules, vectorised over the M models of an ensemble, and the map to ``torch.optim``.

Every parameter has a leading model axis (M, ...); ``eta`` and ``lam`` are tensors of shape (M,). Rules are
named as in :mod:`normlaws.rules`. The L2 term of the coupled rules is the paper's: penalty ``lam*||w||^2`` on the
decayed weights, gradient ``2*lam*w``, i.e. torch's ``weight_decay = torch_weight_decay(lam) = 2*lam``. With
``g = grad L + 2*lam*w``:

- ``sgd``:            ``w <- w - eta*g``, torch's ``SGD``.
- ``momentum``:       ``b <- mu*b + g; w <- w - eta*b``, torch's ``SGD(momentum=mu)`` (heavy ball; theory's
  ``momentum`` with ``v = -eta*b``).
- ``nesterov_torch``: ``b <- mu*b + g; w <- w - eta*(g + mu*b)``, torch's ``SGD(nesterov=True)``: Section 5.1's
  Sutskever form ``v <- mu*v - eta*grad L(w + mu*v)`` read at the look-ahead point ``w + mu*v`` (the
  vocabulary's ``nesterov_torch``; the paper's variable is ``nesterov``).
- ``rmsprop_torch``:  ``s <- rho*s + (1-rho)*g^2; w <- w - eta*g/(sqrt(s) + eps)``, torch's ``RMSprop(alpha=rho)``:
  epsilon *outside* the square root (Section 5.2's ``rmsprop`` has ``sqrt(s + eps)``).
- ``adam``:           torch's ``Adam(betas)``: ``m <- b1*m + (1-b1)*g``, ``v <- b2*v + (1-b2)*g^2``,
  ``w <- w - eta/(1-b1^t) * m / (sqrt(v/(1-b2^t)) + eps)``.
- ``adamw``:          decoupled: ``w <- (1 - eta*lam)*w`` then the Adam step on ``grad L`` alone; torch's
  ``AdamW(weight_decay=lam)`` (``conventions.adamw_weight_decay``): its lam is the per-step shrink rate.
- ``normalized``:     Section 5.5: the ``nesterov_torch`` step, then every BN-followed filter rescaled to norm 1
  (the filters start at norm 1 too). Section 5.5 writes a plain SGD step; we keep the momentum so that Figure 3
  compares with the Nesterov runs of Figure 2 (``momentum=0`` gives the plain form).
- ``lion``:           Chen et al. 2023 with decoupled decay: ``c = b1*m + (1-b1)*grad L``,
  ``w <- (1 - eta*lam)*w - eta*sign(c)``, ``m <- b2*m + (1-b2)*grad L`` (``theory.updates``' ``lion``).
"""
from __future__ import annotations

import math

import torch

from ..conventions import adamw_weight_decay, torch_weight_decay
from ..rules import is_decoupled
from .config import OPTIMIZERS

RULES = OPTIMIZERS
_STEP = {"sgd": "_sgd", "momentum": "_sgd", "nesterov_torch": "_sgd", "normalized": "_sgd",
         "rmsprop_torch": "_rmsprop", "adam": "_adam", "adamw": "_adamw", "lion": "_lion"}
#: rules that keep a momentum buffer ``b`` in gradient units (torch's SGD)
BUFFERED = ("momentum", "nesterov_torch", "normalized")
#: rules whose step divides by ``sqrt(v) + eps`` (:meth:`EnsembleOptimizer.preconditioner`)
ADAPTIVE = ("rmsprop_torch", "adam", "adamw")


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
        first = self.params[0]
        self.eta = torch.as_tensor(eta, dtype=first.dtype, device=first.device).reshape(-1)
        self.lam = torch.as_tensor(lam, dtype=first.dtype, device=first.device).reshape(-1)
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
        wd = adamw_weight_decay(self.lam) if is_decoupled(self.rule) else torch_weight_decay(self.lam)
        for p in self.params:
            if p.grad is None:
                continue
            lr_b = per_model(lr, p)
            wd_b = per_model(wd, p) if id(p) in self._decayed else None
            g = p.grad
            if wd_b is not None and not is_decoupled(self.rule):
                g = g + wd_b * p
            getattr(self, _STEP[self.rule])(p, g, lr_b, wd_b)
        for f in self.filters:
            normalize_filters_(f)

    def _sgd(self, p, g, lr_b, wd_b):
        mu = self.momentum
        if self.rule in BUFFERED and mu:
            buf = self._buffer(p, "momentum").mul_(mu).add_(g)
            g = g + mu * buf if self.rule != "momentum" else buf
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

    def _lion(self, p, g, lr_b, wd_b):
        b1, b2 = self.betas
        m = self._buffer(p, "exp_avg")
        direction = torch.sign(m * b1 + g * (1 - b1))
        if wd_b is not None:
            p.mul_(1 - lr_b * wd_b)
        p.sub_(lr_b * direction)
        m.lerp_(g, 1 - b2)

    # --- the state the training statistics read ------------------------------------------------------
    def momentum_buffer(self, p) -> torch.Tensor | None:
        """The buffer ``b`` (gradient units, as torch's) of a momentum rule after the last step, else None."""
        return self.state[id(p)].get("momentum") if self.rule in BUFFERED else None

    def model_buffer(self, p) -> torch.Tensor | None:
        """The rule's buffer in its moment model's units (``theory.moments.MODELS``), at the base learning rate:
        heavy ball's and Nesterov's velocity ``v = -eta b``; Adam's and AdamW's first moment of the preconditioned
        gradient ``m_hat P``; else None (no buffer, or none yet)."""
        state = self.state[id(p)]
        eta = self.eta.view(-1, *[1] * (p.dim() - 1))
        if self.rule in ("momentum", "nesterov_torch") and "momentum" in state:
            return -eta * state["momentum"]
        if self.rule in ("adam", "adamw") and "exp_avg" in state and self.steps > 0:
            return state["exp_avg"] / (1 - self.betas[0] ** self.steps) * self.preconditioner(p)
        return None

    def preconditioner(self, p) -> torch.Tensor | None:
        """``1/(sqrt(v_hat) + eps)`` of an adaptive rule as applied in the last step (``v_hat`` bias-corrected
        for Adam and AdamW), else None."""
        state = self.state[id(p)]
        if self.rule == "rmsprop_torch" and "square_avg" in state:
            return 1.0 / (state["square_avg"].sqrt() + self.eps)
        if self.rule in ("adam", "adamw") and "exp_avg_sq" in state:
            return 1.0 / (state["exp_avg_sq"].sqrt() / math.sqrt(1 - self.betas[1] ** self.steps) + self.eps)
        return None


def torch_optimizer(net, cfg):
    """The ``torch.optim`` optimizer equal to our rule ``cfg.optimizer`` for one :class:`ConvNet`.

    The paper's ``lam`` becomes ``weight_decay=torch_weight_decay(lam)`` (= 2*lam; AdamW: ``lam``, decoupled)
    on the conv weights and (standard network, if ``cfg.decay_head``) the head weight; BN parameters and biases
    get none; frozen tensors are left out. ``normalized`` has no torch counterpart: it gets the
    ``nesterov_torch`` optimizer (the step before the rescaling). ``lion`` has none in torch: a ValueError.
    """
    decayed = [c.weight for c in net.convs] + ([net.head.weight] if cfg.decay_head and net.head.weight.requires_grad
                                               else [])
    ids = {id(p) for p in decayed}
    rest = [p for p in net.parameters() if id(p) not in ids and p.requires_grad]
    wd = adamw_weight_decay(cfg.lam) if is_decoupled(cfg.optimizer) else torch_weight_decay(cfg.lam)
    groups = [g for g in ({"params": decayed, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0})
              if g["params"]]
    rule, lr = cfg.optimizer, cfg.eta
    if rule in ("sgd", "momentum", "nesterov_torch", "normalized"):
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=rule != "momentum" and cfg.momentum > 0)
    if rule == "rmsprop_torch":
        return torch.optim.RMSprop(groups, lr=lr, alpha=cfg.rho, eps=cfg.eps)
    if rule == "lion":
        raise ValueError("torch.optim has no Lion")
    cls = torch.optim.AdamW if rule == "adamw" else torch.optim.Adam
    return cls(groups, lr=lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
