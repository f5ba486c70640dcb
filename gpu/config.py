"""Training configurations: one hyperparameter block with units, presets, grids and canonical keys.

Torch-free, so that records, figures and the claims registry can read configurations without torch.

Convention: ``lam`` is the paper's lambda everywhere (penalty ``lam*||w||^2`` on every decayed weight, gradient
``2*lam*w``); the conversion to torch's ``weight_decay = 2*lam`` happens once, in ``normlaws.gpu.optim``.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace

#: update rules of the harness (see ``normlaws.gpu.optim`` for the exact steps)
OPTIMIZERS = ("sgd", "nesterov", "rmsprop", "adam", "adamw", "normalized")

#: default momentum of each rule that has one (Section 6: Nesterov with rho = 0.9)
DEFAULT_MOMENTUM = {"sgd": 0.0, "nesterov": 0.9, "normalized": 0.9}

#: the paper's widths are not given; these are ours (output channels of the four 3x3 convolutions)
DEFAULT_WIDTHS = (32, 64, 128, 256)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one training run (one model of an ensemble).

    Units: ``eta`` per step (the base learning rate before the drops), ``lam`` the paper's lambda (penalty
    ``lam*||w||^2``), ``epochs`` passes over the ``n_train`` images, ``milestones`` epochs after which the
    learning rate is divided by ``lr_drop``, ``translate`` pixels of random shift each way.
    """

    optimizer: str = "nesterov"        # one of OPTIMIZERS
    eta: float = 0.01                  # base learning rate (per step)
    lam: float = 5e-4                  # paper's lambda: L + lam*||w||^2 on conv and head weights
    epochs: int = 100                  # Section 6: 100 epochs
    batch_size: int = 128              # Section 6: 128 images per step (shared by the M models)
    milestones: tuple = (50, 80)       # Section 6: lr / 10 after epochs 50 and 80
    lr_drop: float = 10.0              # factor of each drop
    widths: tuple = DEFAULT_WIDTHS     # output channels of conv1..conv4
    seed: int = 0                      # initial weights and the data stream (shared across a grid)
    n_train: int = 50_000              # first n_train training images, canonical order
    n_test: int = 10_000               # first n_test test images
    translate: int = 4                 # random translation, pixels each way (zero padding = mean colour)
    flip: bool = True                  # random horizontal flips
    momentum: float | None = None      # sgd / nesterov / normalized; None -> DEFAULT_MOMENTUM
    rho: float = 0.9                   # RMSProp second-moment decay (Section 6: rho = 0.9)
    beta1: float = 0.9                 # Adam / AdamW (Section 6: 0.9, 0.999)
    beta2: float = 0.999
    eps: float = 1e-8                  # RMSProp / Adam epsilon, added outside the square root (torch's)
    decay_head: bool = True            # also apply L2 to the linear head's weight (never to BN or biases)

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if self.momentum is None:
            object.__setattr__(self, "momentum", DEFAULT_MOMENTUM.get(self.optimizer, 0.0))
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if len(self.widths) != 4:
            raise ValueError(f"widths must be 4 numbers (conv1..conv4), got {self.widths}")

    def as_dict(self) -> dict:
        """The configuration as a JSON-ready dict (tuples become lists)."""
        out = asdict(self)
        out["milestones"], out["widths"] = list(self.milestones), list(self.widths)
        return out

    @property
    def key(self) -> str:
        """Canonical hash of the configuration: the identity of its record (16 hex digits)."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def shared(self) -> tuple:
        """What models of one ensemble must share: everything but ``eta`` and ``lam``."""
        d = self.as_dict()
        d.pop("eta"), d.pop("lam")
        return tuple(sorted((k, json.dumps(v)) for k, v in d.items()))

    def lr_factor(self, epoch: int) -> float:
        """Learning-rate multiplier during ``epoch`` (0-based): ``lr_drop**-(milestones passed)``.

        >>> TrainConfig().lr_factor(49), TrainConfig().lr_factor(50), TrainConfig().lr_factor(80)
        (1.0, 0.1, 0.01)
        """
        return self.lr_drop ** -sum(epoch >= m for m in self.milestones)

    @property
    def fit_epoch(self) -> int:
        """Number of epochs after which the norm is read for fits: the end of the first constant-lr phase."""
        first = min((m for m in self.milestones if 0 < m <= self.epochs), default=self.epochs)
        return first

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Rebuild from :meth:`as_dict` output (unknown keys are an error)."""
        return cls(**d)


def log_grid(lo: float, hi: float, n: int) -> tuple:
    """``n`` log-spaced values from ``lo`` to ``hi``, rounded to 4 significant digits (stable keys).

    >>> log_grid(1e-3, 1e-1, 3)
    (0.001, 0.01, 0.1)
    """
    if n == 1:
        return (float(f"{lo:.4g}"),)
    step = (math.log10(hi) - math.log10(lo)) / (n - 1)
    return tuple(float(f"{10 ** (math.log10(lo) + i * step):.4g}") for i in range(n))


@dataclass(frozen=True)
class Grid:
    """An (optimizer, eta, lam) grid: for each optimizer its eta values and lam values."""

    etas: dict = field(default_factory=dict)   # optimizer -> tuple of eta
    lams: dict = field(default_factory=dict)   # optimizer -> tuple of lam

    def configs(self, base: TrainConfig) -> list:
        """Every configuration of the grid on top of ``base``, optimizer by optimizer, eta-major."""
        return [replace(base, optimizer=opt, eta=e, lam=l, momentum=None)
                for opt in self.etas for e in self.etas[opt] for l in self.lams[opt]]


_SGD_ETAS = log_grid(1e-3, 1.0, 7)       # half-decade steps
_ADAM_ETAS = log_grid(1e-5, 1e-2, 7)
_LAMS = log_grid(1e-5, 1e-2, 7)

#: the grid of issue 4: Nesterov, Adam and normalized SGD, 7 x 7 (eta, lam) each (our choice of ranges)
PAPER_GRID = Grid(etas={"nesterov": _SGD_ETAS, "adam": _ADAM_ETAS, "normalized": _SGD_ETAS},
                  lams={"nesterov": _LAMS, "adam": _LAMS, "normalized": _LAMS})

#: the grids available for every optimizer with ``--optimizers``
DEFAULT_ETAS = {"sgd": log_grid(1e-2, 10.0, 7), "nesterov": _SGD_ETAS, "normalized": _SGD_ETAS,
                "rmsprop": _ADAM_ETAS, "adam": _ADAM_ETAS, "adamw": _ADAM_ETAS}

#: the --quick CPU preset: 5,000 / 1,000 images, narrow widths, 4 epochs at a constant learning rate,
#: a 3 x 3 grid (Nesterov by default; the other rules have their own 3 learning rates)
QUICK_BASE = TrainConfig(epochs=4, milestones=(), widths=(16, 16, 32, 32), n_train=5_000, n_test=1_000)
QUICK_ETAS = {"sgd": (0.1, 0.3, 1.0), "nesterov": (0.01, 0.03, 0.1), "normalized": (0.01, 0.03, 0.1),
              "rmsprop": (1e-4, 3e-4, 1e-3), "adam": (1e-4, 3e-4, 1e-3), "adamw": (1e-4, 3e-4, 1e-3)}
QUICK_LAMS = (1e-4, 1e-3, 1e-2)
QUICK_GRID = Grid(etas={"nesterov": QUICK_ETAS["nesterov"]}, lams={"nesterov": QUICK_LAMS})

#: the paper's Section 6 base configuration (100 epochs, drops after 50 and 80, batch 128)
PAPER_BASE = TrainConfig()


def preset_grid(quick: bool, rules=None, etas=None, lams=None) -> Grid:
    """The grid of a preset (paper or quick) for ``rules`` (default: the preset's), with explicit ``etas`` /
    ``lams`` replacing the per-rule defaults for every rule.

    >>> g = preset_grid(True, ["adam"])
    >>> g.etas["adam"], g.lams["adam"]
    ((0.0001, 0.0003, 0.001), (0.0001, 0.001, 0.01))
    """
    preset = QUICK_GRID if quick else PAPER_GRID
    default_etas = QUICK_ETAS if quick else DEFAULT_ETAS
    default_lams = QUICK_LAMS if quick else _LAMS
    rules = list(rules or preset.etas)
    return Grid(etas={o: tuple(etas) if etas else default_etas[o] for o in rules},
                lams={o: tuple(lams) if lams else default_lams for o in rules})


def group_configs(configs: list, max_models: int) -> list:
    """Split configurations into ensembles: same :meth:`TrainConfig.shared`, at most ``max_models`` each."""
    by_shared: dict = {}
    for cfg in configs:
        by_shared.setdefault(cfg.shared(), []).append(cfg)
    groups = []
    for members in by_shared.values():
        groups += [members[i:i + max_models] for i in range(0, len(members), max_models)]
    return groups
