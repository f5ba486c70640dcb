"""The sweeps' grids: the paper's (on a GPU) and the CPU preset ``--quick`` (what ``normlaws verify`` trains).

Torch-free. A preset is a list of :class:`Block` s -- one rule on one network, its (eta, lam) cells and its seeds --
on top of a base :class:`~normlaws.gpu.config.TrainConfig`.

**The CPU preset** is laid out from the derived relaxation times, so that every training check of
:mod:`normlaws.gpu.checks` gets equilibrated runs: a run of ``QUICK_STEPS`` steps has an equilibrium window when
three relaxation times ``tau`` fit before its last epochs (``analysis.equilibrium_epochs``). For the rules whose
``tau`` the theory gives in eta and lam alone (``later.angle.<rule>``: ``(1 - rho)/(8 eta lam)`` for SGD and the
momentum rules, ``1/(2 eta lam)`` for AdamW and Lion) the cells sit on three lines of constant ``tau``
(:data:`QUICK_TAUS` steps), each line at three learning rates a factor ``QUICK_ETA_SPAN`` apart: the lines of
constant relaxation time are not the lines of constant test error for every rule (Adam's are ``eta^2 lam``), and
the spread along each line is what identifies the slope of the optimal learning rate. Adam and RMSProp with L2
relax at ``1/(3 c eta)`` with ``c = 2 lam sqrt(d N/C)`` (``theory.moments``): their cells come from the closure's
``c`` at conv1's fan-in and the gradient scale :data:`QUICK_C` measured in a pilot run of this preset (conv1,
invariant network, 16 x 16 images), at learning rates high enough that the weights leave their initial RMS behind
early: the equilibrium window (``gpu.settling``) opens after the first or second epoch (in an 8-epoch pilot at
``eta ~ 1e-3`` the norm settled only after 300-400 steps, longer than the run). Each of those six rules is trained on the invariant network with three seeds (the
optimal-learning-rate checks' intervals are over seeds) and on the standard network beside it; Lion, normalized
SGD and the runs without decay (SGD, heavy ball) get one seed on the invariant network. Images are CIFAR-10's,
average-pooled to 16 x 16, the first 3,200 for training (100 steps of 32 per epoch) and 1,000 for testing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import sympy as sp

from ..simulate.predict import coupled_c, lion_Q
from ..theory.symbols import eta as eta_s
from ..theory.symbols import lam as lam_s
from ..theory.symbols import rho as rho_s
from .analysis import RELAXATION_CLAIMS
from .config import OPTIMIZERS, PAPER_RULES, TrainConfig
from .derived import derivation


@dataclass(frozen=True)
class Block:
    """One rule on one network: its (eta, lam) cells and its seeds."""

    rule: str
    cells: tuple                # ((eta, lam), ...)
    network: str = "invariant"
    seeds: tuple = (0,)
    overrides: tuple = ()       # ((field, value), ...) of the base configuration, for this block only

    def configs(self, base: TrainConfig) -> list:
        """Every configuration of the block on top of ``base``, seed by seed (one ensemble per seed)."""
        fixed = {"optimizer": self.rule, "momentum": None, "beta2": None, "network": self.network,
                 **dict(self.overrides)}
        return [replace(base, eta=e, lam=l, seed=s, **fixed) for s in self.seeds for e, l in self.cells]


def sig(x: float) -> float:
    """``x`` rounded to 4 significant digits (stable configuration keys).

    >>> sig(0.123456)
    0.1235
    """
    return float(f"{x:.4g}")


def log_grid(lo: float, hi: float, n: int) -> tuple:
    """``n`` log-spaced values from ``lo`` to ``hi``, rounded to 4 significant digits (stable keys).

    >>> log_grid(1e-3, 1e-1, 3)
    (0.001, 0.01, 0.1)
    """
    if n == 1:
        return (sig(lo),)
    step = (math.log10(hi) - math.log10(lo)) / (n - 1)
    return tuple(sig(10 ** (math.log10(lo) + i * step)) for i in range(n))


def configs_of(blocks, base: TrainConfig, rules=None) -> list:
    """The configurations of ``blocks`` (those of ``rules`` only, if given) on top of ``base``."""
    return [cfg for b in blocks if rules is None or b.rule in rules for cfg in b.configs(base)]


# ---- the CPU preset -------------------------------------------------------------------------------------------
QUICK_EPOCHS, QUICK_STEPS_PER_EPOCH, QUICK_BATCH = 3, 100, 32
QUICK_STEPS = QUICK_EPOCHS * QUICK_STEPS_PER_EPOCH
QUICK_BASE = TrainConfig(epochs=QUICK_EPOCHS, milestones=(), widths=(4, 8, 16, 32), batch_size=QUICK_BATCH,
                         n_train=QUICK_STEPS_PER_EPOCH * QUICK_BATCH, n_test=1_000, image_size=16, network="invariant")
#: relaxation times (steps) of the three lines of cells: three of the longest fit into the first of three epochs,
#: leaving two for the equilibrium window
QUICK_TAUS = (QUICK_STEPS_PER_EPOCH / 3, QUICK_STEPS_PER_EPOCH / 6, QUICK_STEPS_PER_EPOCH / 12)
QUICK_ETA_SPAN = 10.0 ** 0.5
#: conv1's unit-scale gradient second moment in a pilot run of this preset (Adam and RMSProp, invariant network,
#: 8 epochs, seed 0: median 0.23 over cells and epochs, 10-90 % range 0.11-0.49): sets Adam's and RMSProp's cells
QUICK_C = 0.25
QUICK_SEEDS = (0, 1, 2)
#: the standard network beside: two seeds, enough for an interval of its deviation
QUICK_STANDARD_SEEDS = (0, 1)
#: the learning rate at the middle of each line, per rule (AdamW's and Lion's: see :func:`decoupled_eta`)
QUICK_ETA = {"sgd": 0.3, "momentum": 0.03, "nesterov_torch": 0.03, "rmsprop_torch": 1e-2, "adam": 1e-2,
             "normalized": 0.03}
#: Adam and AdamW in the CPU preset: beta2 = 0.99, so that v follows the gradient's second moment within the run
#: (memory 1/(1 - beta2) = 100 steps; 0.999's 1,000 steps outlast the 300-step run, and the normalized noise the
#: laws assume to have unit power would not)
QUICK_ADAPTIVE = (("beta2", 0.99),)
#: conv3's fan-in (input channels x 3 x 3), the unit dimension AdamW's and Lion's cells are laid out for
QUICK_D = QUICK_BASE.widths[1] * 9
#: RMS of conv3's initial weights (torch's default init: uniform with bound 1/sqrt(fan_in))
INIT_RMS = 1 / math.sqrt(3 * QUICK_D)
#: conv1's fan-in (3 input channels x 3 x 3): Adam's and RMSProp's relaxation time depends on it, and the
#: equilibrium windows are read from conv1 (``analysis.equilibrium_epochs``)
COUPLED_D = 3 * 9


def lam_for_tau(rule: str, eta: float, tau: float, d: int = COUPLED_D, C: float = QUICK_C) -> float:
    """The lam at which ``rule`` relaxes with time constant ``tau`` steps at learning rate ``eta``.

    From the derived leading relaxation times (``later.angle.<rule>``'s ``relaxation_leading``, solved for lam);
    for Adam and RMSProp with L2, from ``tau = 1/(3 c eta)`` and the closure's ``c(lam)`` at gradient scale ``C``
    and dimension ``d`` (``simulate.predict.coupled_c``, inverted by bisection in log lam).
    """
    if rule in ("adam", "rmsprop_torch"):
        model = "adam" if rule == "adam" else "rmsprop"
        target = 1.0 / (3 * tau * eta)            # relaxation_leading = 1/(3 c eta)
        lo, hi = math.log(1e-8), math.log(1e4)
        for _ in range(80):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _coupled_c_or_inf(model, eta, math.exp(mid), d, C) < target else (lo, mid)
        return sig(math.exp((lo + hi) / 2))
    name = {"normalized": "nesterov_torch"}.get(rule, rule)
    tau_expr = derivation(RELAXATION_CLAIMS[name]).extras["relaxation_leading"]
    rho = {"sgd": 0.0}.get(name, 0.9)
    solved = sp.solve(sp.Eq(tau_expr.subs(rho_s, sp.Rational(str(rho))), tau), lam_s)[0]
    return sig(float(solved.subs(eta_s, eta)))


def _coupled_c_or_inf(model: str, eta: float, lam: float, d: int, C: float) -> float:
    """The closure's ``c``; ``inf`` where it has no root below ``1/eta`` (``lam`` too large for an equilibrium)."""
    try:
        return coupled_c(model, eta, lam, d, C)
    except ValueError:
        return math.inf


def decoupled_eta(rule: str, tau: float) -> float:
    """The learning rate at which AdamW or Lion, relaxing in ``tau`` steps (``eta lam = 1/(2 tau)``), settles at
    the RMS of the initial weights (:data:`INIT_RMS`): their equilibrium norm is C-free (``later.adamw.rms``,
    ``later.norm.lion``), and a run that starts near it has only the linear relaxation to go.

    AdamW: ``RMS^2 = eta/(2 lam) = eta^2 tau`` (leading order); Lion: ``RMS^2 = eta^2 tau (1 + 2 Q)``.
    """
    if rule == "adamw":
        return sig(INIT_RMS / math.sqrt(tau))
    return sig(INIT_RMS / math.sqrt(tau * (1 + 2 * lion_Q(0.0, 0.0, 0.9, 0.99))))


def quick_cells(rule: str) -> tuple:
    """Three lines of constant relaxation time (:data:`QUICK_TAUS`) at three learning rates each."""
    mid = QUICK_ETA[rule] if rule in QUICK_ETA else decoupled_eta(rule, QUICK_TAUS[1])
    etas = [sig(mid / QUICK_ETA_SPAN), sig(mid), sig(mid * QUICK_ETA_SPAN)]
    return tuple((e, lam_for_tau(rule, e, tau)) for tau in QUICK_TAUS for e in etas)


#: the rules whose optimal-learning-rate laws are checked: three seeds, both networks
QUICK_LR_RULES = ("sgd", "momentum", "nesterov_torch", "rmsprop_torch", "adam", "adamw")


def quick_blocks() -> list:
    """The CPU preset's blocks (see the module docstring)."""
    blocks = []
    for rule in QUICK_LR_RULES:
        cells = quick_cells(rule)
        extra = QUICK_ADAPTIVE if rule in ("adam", "adamw") else ()
        blocks += [Block(rule, cells, "invariant", QUICK_SEEDS, extra),
                   Block(rule, cells, "standard", QUICK_STANDARD_SEEDS, extra)]
    blocks.append(Block("lion", quick_cells("lion")[1::3], "invariant"))    # the middle eta of each line
    blocks.append(Block("normalized", tuple((e, l) for e in (0.01, 0.03, 0.1) for l in (1e-4,)), "invariant"))
    blocks += [Block(rule, ((QUICK_ETA[rule], 0.0), (sig(QUICK_ETA[rule] / 3), 0.0)), "invariant")
               for rule in ("sgd", "momentum")]
    return blocks


# ---- the paper's grid (Section 6; 7 x 7 per rule) ----------------------------------------------------------------
_SGD_ETAS = log_grid(1e-3, 1.0, 7)       # half-decade steps
_ADAM_ETAS = log_grid(1e-5, 1e-2, 7)
_LAMS = log_grid(1e-5, 1e-2, 7)
#: per rule the paper's 7 learning rates and 7 lambdas (the decoupled rules' lam is a shrink rate per step, so
#: their lambdas are larger: eta*lam over the same range as Adam's)
PAPER_ETAS = {"sgd": log_grid(1e-2, 10.0, 7), "momentum": _SGD_ETAS, "nesterov_torch": _SGD_ETAS,
              "normalized": _SGD_ETAS, "rmsprop_torch": _ADAM_ETAS, "adam": _ADAM_ETAS, "adamw": _ADAM_ETAS,
              "lion": log_grid(1e-6, 1e-3, 7)}
PAPER_LAMS = {**{r: _LAMS for r in OPTIMIZERS}, "adamw": log_grid(1e-3, 1.0, 7), "lion": log_grid(1e-2, 10.0, 7)}
PAPER_BASE = TrainConfig()


def grid_block(rule: str, network: str = "standard", seeds=(0,), etas=None, lams=None) -> Block:
    """The paper's 7 x 7 grid of ``rule`` (or the product of explicit ``etas`` and ``lams``)."""
    etas = tuple(etas) if etas else PAPER_ETAS[rule]
    lams = tuple(lams) if lams else PAPER_LAMS[rule]
    return Block(rule, tuple((e, l) for e in etas for l in lams), network, tuple(seeds))


def preset_configs(quick: bool, base: TrainConfig, rules=None, etas=None, lams=None, networks=None,
                   seeds=None) -> list:
    """The configurations of a sweep: the preset's (``quick``: :func:`quick_blocks`; else the paper's grid of
    ``rules``, default :data:`PAPER_RULES`), with explicit ``etas``/``lams`` (their product, for every rule),
    ``networks`` and ``seeds`` replacing the preset's where given."""
    if quick and not (etas or lams):
        blocks = [b for b in quick_blocks() if (rules is None or b.rule in rules)
                  and (networks is None or b.network in networks)]
        if seeds is not None:
            blocks = [replace(b, seeds=tuple(seeds)) for b in blocks]
        return configs_of(blocks, base)
    rules = list(rules or (("nesterov_torch",) if quick else PAPER_RULES))
    blocks = [grid_block(r, n, seeds or (base.seed,), etas, lams) for r in rules for n in (networks or ("standard",))]
    return configs_of(blocks, base)
