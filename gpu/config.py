"""Training configurations: one hyperparameter block with units, canonical keys, and the rule vocabulary.

Torch-free, so that records, figures and the claims registry can read configurations without torch. The grids
and presets (the paper's, the CPU one) are in :mod:`normlaws.gpu.presets`.

Convention: ``lam`` is the paper's lambda everywhere (penalty ``lam*||w||^2`` on every decayed weight, gradient
``2*lam*w``); the conversion to torch's ``weight_decay = 2*lam`` happens once, in ``normlaws.gpu.optim``. For the
decoupled rules (``adamw``, ``lion``) ``lam`` is the per-step shrink rate ``w <- (1 - eta*lam) w``.

Update rules are named as in :mod:`normlaws.rules` (the suite's one vocabulary): ``sgd``, ``momentum`` (heavy
ball, torch's ``SGD(momentum=mu)``), ``nesterov_torch`` (torch's ``SGD(nesterov=True)`` iterate), ``rmsprop_torch``
(torch's ``RMSprop``, epsilon outside the root), ``adam``, ``adamw``, ``normalized`` and ``lion``. Records
written before the vocabulary spelled torch's rules ``nesterov``, ``rmsprop`` and heavy-ball ``sgd`` with a
momentum; :meth:`TrainConfig.from_dict` reads them (``rules.RECORD_ALIASES``) and their keys stay valid.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from ..rules import RECORD_ALIASES, canonical, check

#: update rules of the harness (see ``normlaws.gpu.optim`` for the exact steps), in the suite's vocabulary
OPTIMIZERS = ("sgd", "momentum", "nesterov_torch", "rmsprop_torch", "adam", "adamw", "normalized", "lion")
#: the names a record's ``config.optimizer`` may have: the vocabulary's and the harness's older spellings
RECORD_OPTIMIZERS = OPTIMIZERS + tuple(RECORD_ALIASES)


def rule_name(name: str) -> str:
    """The harness's name for a rule given on the command line: the vocabulary's, or an older spelling of the
    harness (``nesterov``, ``rmsprop``) read as torch's rule it always trained.

    >>> rule_name("nesterov"), rule_name("adam")
    ('nesterov_torch', 'adam')
    """
    return canonical(name, RECORD_ALIASES)


#: how the key hashes a rule: its name before the vocabulary, so that a record keeps its identity across it
_KEY_NAME = {"nesterov_torch": "nesterov", "rmsprop_torch": "rmsprop", "momentum": "sgd"}

#: default momentum of each rule that has one (Section 6: Nesterov with rho = 0.9)
DEFAULT_MOMENTUM = {"momentum": 0.9, "nesterov_torch": 0.9, "normalized": 0.9}
#: default (beta1, beta2) per rule: Adam's (0.9, 0.999) (Section 6); Lion's own (0.9, 0.99) (Chen et al. 2023)
DEFAULT_BETA2 = {"lion": 0.99}

#: the paper's widths are not given; these are ours (output channels of the four 3x3 convolutions)
DEFAULT_WIDTHS = (32, 64, 128, 256)
#: the two networks (``normlaws.gpu.model``): the paper's, and one whose every trained parameter is scale-invariant
NETWORKS = ("standard", "invariant")
#: the rules of the paper's own figures (Section 6: Nesterov, Adam, normalized SGD); the default of a full sweep
PAPER_RULES = ("nesterov_torch", "adam", "normalized")
#: input resolutions: CIFAR-10's 32 x 32, or the images average-pooled to 16 x 16 or 8 x 8 (the CPU preset)
IMAGE_SIZES = (32, 16, 8)

#: fields added after the first records; a field at its default is left out of the key, so that older records
#: (which lack it) keep their keys
ADDED_DEFAULTS = {"network": "standard", "image_size": 32, "init_scale": 1.0, "bn_eps": 1e-5}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one training run (one model of an ensemble).

    Units: ``eta`` per step (the base learning rate before the drops), ``lam`` the paper's lambda (penalty
    ``lam*||w||^2``; decoupled rules: the shrink rate), ``epochs`` passes over the ``n_train`` images,
    ``milestones`` epochs after which the learning rate is divided by ``lr_drop``, ``translate`` pixels of
    random shift each way (at 32 x 32, before any pooling), ``init_scale`` the factor on the initial
    BN-followed conv weights, ``bn_eps`` BatchNorm's epsilon.
    """

    optimizer: str = "nesterov_torch"  # one of OPTIMIZERS
    eta: float = 0.01                  # base learning rate (per step)
    lam: float = 5e-4                  # paper's lambda: L + lam*||w||^2 on the decayed weights
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
    momentum: float | None = None      # momentum / nesterov_torch / normalized; None -> DEFAULT_MOMENTUM
    rho: float = 0.9                   # RMSProp second-moment decay (Section 6: rho = 0.9)
    beta1: float = 0.9                 # Adam / AdamW / Lion (Section 6: 0.9, 0.999)
    beta2: float | None = None         # None -> 0.999 (Adam, AdamW), 0.99 (Lion)
    eps: float = 1e-8                  # RMSProp / Adam epsilon, added outside the square root (torch's)
    decay_head: bool = True            # standard network: also L2 on the linear head's weight
    network: str = "standard"          # "standard" (the paper's) or "invariant" (every trained weight invariant)
    image_size: int = 32               # 32, or CIFAR-10 average-pooled to 16 or 8 pixels
    init_scale: float = 1.0            # initial BN-followed conv weights times this
    bn_eps: float = 1e-5               # BatchNorm epsilon

    def __post_init__(self):
        name = canonical(self.optimizer, RECORD_ALIASES)
        if name not in OPTIMIZERS:
            check(name, OPTIMIZERS)           # one UsageError line listing the rules
        momentum = DEFAULT_MOMENTUM.get(name, 0.0) if self.momentum is None else float(self.momentum)
        if name == "sgd" and momentum > 0:
            name = "momentum"                 # the vocabulary's name for SGD with heavy-ball momentum
        object.__setattr__(self, "optimizer", name)
        object.__setattr__(self, "momentum", momentum)
        if self.beta2 is None:
            object.__setattr__(self, "beta2", DEFAULT_BETA2.get(name, 0.999))
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if len(self.widths) != 4:
            raise ValueError(f"widths must be 4 numbers (conv1..conv4), got {self.widths}")
        if self.network not in NETWORKS:
            raise ValueError(f"unknown network {self.network!r}; choose from {', '.join(NETWORKS)}")
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {self.image_size}")

    def as_dict(self) -> dict:
        """The configuration as a JSON-ready dict (tuples become lists)."""
        out = asdict(self)
        out["milestones"], out["widths"] = list(self.milestones), list(self.widths)
        return out

    @property
    def key(self) -> str:
        """Canonical hash of the configuration: the identity of its record (16 hex digits).

        Hashed as the harness wrote configurations before the vocabulary (``nesterov_torch`` as ``nesterov``,
        fields added since left out at their defaults), so that a record keeps its key.
        """
        d = self.as_dict()
        d["optimizer"] = _KEY_NAME.get(self.optimizer, self.optimizer)
        for name, default in ADDED_DEFAULTS.items():
            if d[name] == default:
                del d[name]
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
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

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (the last incomplete batch is dropped).

        >>> TrainConfig(n_train=1000, batch_size=128).steps_per_epoch
        7
        """
        return self.n_train // self.batch_size

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Rebuild from :meth:`as_dict` output, or from a record written before the vocabulary (unknown keys are
        an error).

        >>> TrainConfig.from_dict({"optimizer": "nesterov"}).optimizer
        'nesterov_torch'
        """
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise TypeError(f"unknown configuration fields {sorted(unknown)}")
        return cls(**d)


def group_configs(configs: list, max_models: int) -> list:
    """Split configurations into ensembles: same :meth:`TrainConfig.shared`, at most ``max_models`` each."""
    by_shared: dict = {}
    for cfg in configs:
        by_shared.setdefault(cfg.shared(), []).append(cfg)
    groups = []
    for members in by_shared.values():
        groups += [members[i:i + max_models] for i in range(0, len(members), max_models)]
    return groups
