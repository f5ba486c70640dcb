"""How an optimizer's angular step scales with the weight norm, and so which row of Table 1 it falls in.

For a scale-invariant loss the only thing a step of ``w`` changes that matters is its direction; the
angle turned per step is the *effective* learning rate. van Laarhoven's Table 1 sorts update rules by
``eta_eff ~ eta/||w||**k``: ``k = 2`` for SGD and momentum, ``k = 1`` for RMSProp and Adam (as their
``eps -> 0``), and normalized SGD keeps ``||w|| = 1`` (so ``eta_eff = eta``). These exponents are the
learning-rate exponents of the equivariance maps in :mod:`normlaws.testing.rules`, which the property suite
verifies on whole trajectories.

Newton's method is the exception. Its equivariance leaves ``eta`` alone (Table 1: ``eta_eff = eta``), but
on a scale-invariant loss Euler's identity ``H w = -g`` makes ``H^-1 g = -w``: without L2 a Newton step is
purely radial (``w <- (1 + eta) w``) and turns ``w`` by nothing. The direction moves only through the L2
term, and the equivalent unit-norm run has ``lam' = lam alpha**2``: the angle grows like ``lam ||w||**2``
while ``lam ||w||**2`` is small against the Hessian's scale, i.e. ``k = -2`` (and falls again, like
``1/(lam ||w||**2)``, beyond). :func:`angular_exponent` gives these measured-angle exponents.

:func:`step_scaling` measures ``k`` for any ``torch.optim`` factory: it starts the optimizer from
``alpha * w_hat`` for a geometric grid of ``alpha`` (fresh state each time) on a Batch-Normalized unit,
takes ``warmup`` steps and then one more, and fits ``log(angle of that step)`` against ``log alpha``.
Only points in the small-angle regime enter the fit (both steps turn less than ``MAX_ANGLE``, where
``atan(x)`` and ``x`` differ by less than ``MAX_ANGLE**2/3``, and more than ``MIN_ANGLE``, far above the
float64 angle resolution ~1e-15); the grid is powers of two, so the starting points are exact multiples.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError
from .invariance import _single_threaded, _torch
from .rules import RULES, step_exponent

MAX_ANGLE = 0.1
MIN_ANGLE = 1e-8
#: a measured k within this distance of an integer counts as that integer. Rows are 1 apart; the
#: small-angle bias of the slope is below MAX_ANGLE**2/3 / ln 2 ~ 0.005; the rest of the margin absorbs a
#: finite epsilon's pull at the largest norms and still flags a genuinely intermediate scaling.
K_TOLERANCE = 0.1


def angular_exponent(rule) -> int:
    """``k`` in ``angle per step ~ ||w||**-k`` for a rule of :data:`normlaws.testing.rules.RULES`.

    First-order rules and normalized SGD: Table 1's exponent (:func:`normlaws.testing.rules.step_exponent`).
    Newton: its step is radial at ``lam = 0``, so the angle is first order in ``lam' = lam alpha**2``:
    ``k = -(exponent of alpha in lam')`` (see the module docstring).

    >>> angular_exponent(RULES["adam"]), angular_exponent(RULES["newton"])
    (1, -2)
    """
    if rule.name == "newton":
        return -rule.rescale["lam"]
    return step_exponent(rule)


def _rows_by_k() -> dict:
    out: dict = {}
    for rule in RULES.values():
        rows = out.setdefault(angular_exponent(rule), [])
        if rule.table1_row not in rows:
            rows.append(rule.table1_row)
    return out


#: Table 1's rows grouped by the exponent of their angular step, from the verified equivariance exponents
ROWS_BY_K = _rows_by_k()
#: Table 1's row names
TABLE1_ROWS = tuple(row for rows in ROWS_BY_K.values() for row in rows)


def bn_unit_loss(d: int = 8, n: int = 32, seed: int = 0):
    """A scale-invariant loss ``w -> mean_i delta_i * BN(X w)_i`` (float64, full BN backward, ``eps = 0``).

    ``X`` (``n x d``) and ``delta`` are fixed standard-normal draws from ``seed``. The gradient is exactly
    orthogonal to ``w`` and scales like ``1/||w||``.
    """
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    delta = torch.randn(n, generator=gen, dtype=torch.float64)

    def loss(w):
        z = (X * w).sum(dim=1)
        c = z - z.mean()
        return (delta * c / (c * c).mean().sqrt()).mean()

    loss.dim = d
    return loss


def _angle(a, b) -> float:
    """The angle between two vectors, accurate for small angles: ``2 atan2(|a^ - b^|, |a^ + b^|)``."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    return 2 * math.atan2(np.linalg.norm(a - b), np.linalg.norm(a + b))


@dataclass
class StepScaling:
    """The measured scaling of an optimizer's angular step with the weight norm."""

    k: float                      # eta_eff ~ ||w||**-k (fitted)
    k_stderr: float
    norm_exponent: float          # ||w|| before the measured step ~ alpha**norm_exponent (1, or 0 if pinned)
    row: str                      # Table 1 row (or class of rows), or "unclassified: ..."
    alphas: list = field(default_factory=list)
    angles: list = field(default_factory=list)   # angle of the measured step at each alpha
    norms: list = field(default_factory=list)    # ||w|| before the measured step
    used: list = field(default_factory=list)     # whether each alpha entered the fit

    def table(self) -> str:
        """The measurements, one line per alpha."""
        lines = ["     alpha     ||w||      angle  used"]
        for a, r, th, ok in zip(self.alphas, self.norms, self.angles, self.used):
            lines.append(f"{a:10.4g} {r:9.4g} {th:10.4g}  {'yes' if ok else 'no'}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return (f"angular step ~ ||w||^-k with k = {self.k:.3f} +- {self.k_stderr:.3f} "
                f"(norm carried as alpha^{self.norm_exponent:.2f}): {self.row}")


@_single_threaded
def step_scaling(optimizer_factory, loss=None, *, alphas=None, warmup: int = 1, seed: int = 0) -> StepScaling:
    """Measure ``k`` in ``eta_eff ~ eta/||w||**k`` for ``optimizer_factory(params) -> torch.optim.Optimizer``.

    ``loss``: a scale-invariant ``w -> scalar`` on a 1-D float64 tensor with attribute ``dim`` (default:
    :func:`bn_unit_loss`). ``alphas``: the starting norms (default ``2**-10 .. 2**10``). ``warmup``: steps
    before the measured one; after one, a rule that renormalizes (normalized SGD) sits at its fixed norm,
    which the fit sees as ``norm_exponent ~ 0``. The optimizer is stepped with a closure (so LBFGS-like
    optimizers work too).
    """
    torch = _torch()
    loss = loss if loss is not None else bn_unit_loss()
    d = getattr(loss, "dim", None)
    if not isinstance(d, int):
        raise UsageError("the loss needs an int attribute 'dim' (the length of w)")
    alphas = np.asarray(alphas if alphas is not None else 2.0 ** np.arange(-10, 11), dtype=float)
    w_hat = torch.randn(d, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    w_hat = w_hat / w_hat.norm()
    angles, norms, used = [], [], []
    for alpha in alphas:
        steps, norm = _run(torch, optimizer_factory, loss, float(alpha) * w_hat, warmup + 1)
        angles.append(steps[-1])
        norms.append(norm)
        used.append(all(MIN_ANGLE < th < MAX_ANGLE for th in steps))
    return _fit(alphas, np.array(angles), np.array(norms), np.array(used))


def _run(torch, factory, loss, w0, n_steps):
    w = torch.nn.Parameter(w0.clone())
    opt = factory([w])

    def closure():
        opt.zero_grad()
        value = loss(w)
        value.backward()
        return value

    angles, norm = [], float("nan")
    for _ in range(n_steps):
        before = w.detach().numpy().copy()
        norm = float(np.linalg.norm(before))
        opt.step(closure)
        after = w.detach().numpy().copy()
        angles.append(_angle(before, after) if np.all(np.isfinite(after)) else float("nan"))
    return angles, norm


def _fit(alphas, angles, norms, used) -> StepScaling:
    def make(k, se, ne, row):
        return StepScaling(k, se, ne, row, alphas.tolist(), angles.tolist(), norms.tolist(), used.tolist())

    if used.sum() < 3 or alphas[used].max() < 4 * alphas[used].min():
        s = make(float("nan"), float("nan"), float("nan"), "unclassified: too few points in the small-angle regime")
        raise UsageError(f"need 3+ scale factors spanning 4x with angles in ({MIN_ANGLE:g}, {MAX_ANGLE:g}); "
                         f"change the learning rate or alphas (a step that is purely radial, like Newton's method "
                         f"without L2 on a scale-invariant loss, turns w by nothing)\n{s.table()}")
    x = np.log(alphas[used])
    coef, cov = np.polyfit(x, np.log(angles[used]), 1, cov="unscaled")
    resid = np.log(angles[used]) - np.polyval(coef, x)
    se = float(np.sqrt(resid @ resid / max(used.sum() - 2, 1) * cov[0, 0]))
    slope = coef[0]
    norm_exp = float(np.polyfit(x, np.log(norms[used]), 1)[0])
    k = -float(slope)
    return make(k, se, norm_exp, classify(k, norm_exp))


def classify(k: float, norm_exponent: float = 1.0) -> str:
    """The Table 1 row (or class of rows) for a measured ``k``; ``norm_exponent ~ 0`` marks a rule that pins ``||w||``.

    >>> classify(2.002)
    'k=2 (SGD, Momentum)'
    >>> classify(0.0, norm_exponent=0.0)
    'Normalized SGD'
    """
    nearest = round(k) if math.isfinite(k) else None
    if nearest is None or abs(k - nearest) > K_TOLERANCE or nearest not in ROWS_BY_K:
        return f"unclassified: k = {k:.3f} is not within {K_TOLERANCE} of a Table 1 exponent {sorted(ROWS_BY_K)}"
    pinned = abs(norm_exponent) < 0.5
    if nearest == 0 and not pinned:
        return "unclassified: k = 0 without a fixed norm (normalized SGD pins ||w||; no Table 1 row has this)"
    rows = ROWS_BY_K[nearest]
    return rows[0] if len(rows) == 1 else f"k={nearest} ({', '.join(rows)})"


def assert_table1_row(optimizer_factory, row: str, loss=None, **kwargs) -> StepScaling:
    """Assert the optimizer's measured step scaling puts it in Table 1's ``row`` (e.g. 'ADAM'); return the measurement.

    Rows with the same ``k`` cannot be told apart by this measurement (SGD and Momentum share ``k = 2``;
    RMSProp and ADAM ``k = 1``); either name passes for that class.
    """
    if row not in TABLE1_ROWS:
        raise UsageError(f"unknown Table 1 row {row!r}; rows are {list(TABLE1_ROWS)}")
    s = step_scaling(optimizer_factory, loss, **kwargs)
    if row != s.row and not (s.row.startswith("k=") and row in s.row):
        expected = [k for k, rows in ROWS_BY_K.items() if row in rows][0]
        raise AssertionError(f"expected Table 1 row {row!r} (angular step ~ ||w||^{-expected}), measured {s}\n"
                             f"{s.table()}")
    return s


def assert_step_exponent(optimizer_factory, k: float, loss=None, **kwargs) -> StepScaling:
    """Assert ``eta_eff ~ eta/||w||**k`` within :data:`K_TOLERANCE`; return the measurement."""
    s = step_scaling(optimizer_factory, loss, **kwargs)
    if not abs(s.k - k) <= K_TOLERANCE:
        raise AssertionError(f"expected angular step ~ ||w||^-{k}, measured {s}\n{s.table()}")
    return s
