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
The parameter is a vector, or a matrix (``bn_unit_loss(rows=k)``: a layer of ``k`` units, each
Batch-Normalized), for the layer-wise methods (LARS, LAMB) that treat matrices differently; the angle of a
matrix is the Frobenius one. Only points in the small-angle regime enter the fit (both steps turn less than
``MAX_ANGLE``, where ``atan(x)`` and ``x`` differ by less than ``MAX_ANGLE**2/3``, and more than ``MIN_ANGLE``,
far above the float64 angle resolution ~1e-15); the grid is powers of two, so the starting points are exact
multiples. When one exponent does not fit every scale (a clamped trust ratio, an epsilon that takes over at
large norms), the measurement reports each regime with its range of ``alpha``
(:mod:`normlaws.testing.regimes`) instead of one ``k``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError
from .invariance import _single_threaded, _torch
from .regimes import MIN_POINTS, Regime, line_fit, regimes
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


def bn_unit_loss(d: int = 8, n: int = 32, seed: int = 0, rows: int | None = None):
    """A scale-invariant loss ``w -> mean_i delta_i * BN(X w)_i`` (float64, full BN backward, ``eps = 0``).

    ``X`` (``n x d``) and ``delta`` are fixed standard-normal draws from ``seed``. The gradient is exactly
    orthogonal to ``w`` and scales like ``1/||w||``. With ``rows=k`` the parameter is a ``k x d`` matrix, a layer
    of ``k`` units each Batch-Normalized over the batch (``delta`` is ``n x k``): invariant per row, so per layer.
    The loss has the attribute ``shape`` (and ``dim``, the number of entries).
    """
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    delta = torch.randn((n,) if rows is None else (n, rows), generator=gen, dtype=torch.float64)

    def loss(w):
        z = X @ w.T if w.ndim == 2 else (X * w).sum(dim=1)
        c = z - z.mean(0)
        return (delta * c / (c * c).mean(0).sqrt()).mean(0).sum()

    loss.shape = (d,) if rows is None else (rows, d)
    loss.dim = d if rows is None else rows * d
    return loss


def _angle(a, b) -> float:
    """The angle between two vectors, accurate for small angles: ``2 atan2(|a^ - b^|, |a^ + b^|)``."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    return 2 * math.atan2(np.linalg.norm(a - b), np.linalg.norm(a + b))


@dataclass
class StepScaling:
    """The measured scaling of an optimizer's angular step with the weight norm."""

    k: float                      # eta_eff ~ ||w||**-k (fitted; nan when the regimes differ)
    k_stderr: float
    norm_exponent: float          # ||w|| before the measured step ~ alpha**norm_exponent (1, or 0 if pinned)
    row: str                      # Table 1 row (or class of rows), or "unclassified: ..."
    alphas: list = field(default_factory=list)
    angles: list = field(default_factory=list)   # angle of the measured step at each alpha
    norms: list = field(default_factory=list)    # ||w|| before the measured step
    used: list = field(default_factory=list)     # whether each alpha entered the fit
    regimes: list = field(default_factory=list)  # the power-law regimes (one when a single k fits)

    def table(self) -> str:
        """The measurements, one line per alpha."""
        lines = ["     alpha     ||w||      angle  used"]
        for a, r, th, ok in zip(self.alphas, self.norms, self.angles, self.used):
            lines.append(f"{a:10.4g} {r:9.4g} {th:10.4g}  {'yes' if ok else 'no'}")
        return "\n".join(lines)

    def __str__(self) -> str:
        if math.isnan(self.k) and self.regimes:
            return "angular step ~ ||w||^-k, no single k: " + "; ".join(map(str, self.regimes))
        return (f"angular step ~ ||w||^-k with k = {self.k:.3f} +- {self.k_stderr:.3f} "
                f"(norm carried as alpha^{self.norm_exponent:.2f}): {self.row}")


@_single_threaded
def step_scaling(optimizer_factory, loss=None, *, alphas=None, warmup: int = 1, seed: int = 0) -> StepScaling:
    """Measure ``k`` in ``eta_eff ~ eta/||w||**k`` for ``optimizer_factory(params) -> torch.optim.Optimizer``.

    ``loss``: a scale-invariant ``w -> scalar`` on a float64 tensor of the loss's ``shape`` attribute (or a 1-D
    one of length ``dim``; default: :func:`bn_unit_loss`). ``alphas``: the starting norms (default
    ``2**-10 .. 2**10``). ``warmup``: steps before the measured one; after one, a rule that renormalizes
    (normalized SGD) sits at its fixed norm, which the fit sees as ``norm_exponent ~ 0``. The optimizer is
    stepped with a closure (so LBFGS-like optimizers work too). If the regimes of one power law differ across
    ``alphas`` (not just in their prefactor), ``k`` is nan and ``regimes`` lists them.
    """
    torch = _torch()
    loss = loss if loss is not None else bn_unit_loss()
    shape = getattr(loss, "shape", None)
    shape = tuple(shape) if shape is not None else ((loss.dim,) if isinstance(getattr(loss, "dim", None), int)
                                                    else None)
    if shape is None or not all(isinstance(n, int) and n > 0 for n in shape):
        raise UsageError("the loss needs an attribute 'shape' (a tuple) or an int 'dim' (the shape of w)")
    alphas = np.asarray(alphas if alphas is not None else 2.0 ** np.arange(-10, 11), dtype=float)
    w_hat = start_direction(shape, seed)
    angles, norms, used, turned = [], [], [], []
    for alpha in alphas:
        steps, norm = _run(torch, optimizer_factory, loss, float(alpha) * w_hat, warmup + 1)
        angles.append(steps[-1])
        norms.append(norm)
        used.append(all(MIN_ANGLE < th < MAX_ANGLE for th in steps))
        turned.append(max(steps))
    return _fit(alphas, np.array(angles), np.array(norms), np.array(used), np.array(turned))


def start_direction(shape, seed: int = 0):
    """The unit-norm starting direction of :func:`step_scaling` (standard normal from ``seed + 1``, normalized)."""
    torch = _torch()
    w = torch.randn(tuple(shape), generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    return w / w.norm()


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
        before = w.detach().numpy().reshape(-1).copy()
        norm = float(np.linalg.norm(before))
        opt.step(closure)
        after = w.detach().numpy().reshape(-1).copy()
        angles.append(_angle(before, after) if np.all(np.isfinite(after)) else float("nan"))
    return angles, norm


def _fit(alphas, angles, norms, used, turned) -> StepScaling:
    def make(k, se, ne, row, found=()):
        return StepScaling(k, se, ne, row, alphas.tolist(), angles.tolist(), norms.tolist(), used.tolist(),
                           list(found))

    if used.sum() < 3 or alphas[used].max() < 4 * alphas[used].min():
        s = make(float("nan"), float("nan"), float("nan"), "unclassified: too few points in the small-angle regime")
        raise UsageError(f"need 3+ scale factors spanning 4x with angles in ({MIN_ANGLE:g}, {MAX_ANGLE:g}); "
                         f"change the learning rate or alphas (a step that is purely radial, like Newton's method "
                         f"without L2 on a scale-invariant loss, turns w by nothing)\n{s.table()}")
    x = np.log(alphas[used])
    norm_exp = line_fit(x, np.log(norms[used]))[0]
    found = _merge(regimes(alphas[used], angles[used], turned[used]), norm_exp)
    if not found:
        return make(float("nan"), float("nan"), norm_exp, "unclassified: no power law over four consecutive scales")
    rows = {classify(r.k, norm_exp) for r in found}
    ks = np.array([r.k for r in found])
    outside = int(used.sum()) - sum(r.points for r in found) + (len(found) - 1)
    if len(found) == 1 and outside >= MIN_POINTS:        # a power law on part of the range only
        r = found[0]
        return make(float("nan"), float("nan"), norm_exp,
                    f"regimes: {classify(r.k, norm_exp)} for alpha in [{r.lo:.4g}, {r.hi:.4g}] only; no power law "
                    f"over {outside} other scales", found)
    if len(rows) == 1 and ks.max() - ks.min() <= K_TOLERANCE:
        # one exponent at every scale; the regimes differ at most in the prefactor (a level shift between them)
        weights = np.array([r.points for r in found], float) / sum(r.points for r in found)
        se = float(np.sqrt(np.sum((weights * [r.k_stderr for r in found]) ** 2)))
        return make(float(weights @ ks), se, norm_exp, rows.pop(), found)
    listed = "; ".join(f"{classify(r.k, norm_exp)} for alpha in [{r.lo:.4g}, {r.hi:.4g}]" for r in found)
    return make(float("nan"), float("nan"), norm_exp, f"regimes: {listed}", found)


def _merge(found, norm_exp) -> list:
    """Adjacent regimes of the same Table 1 class and exponents within :data:`K_TOLERANCE` as one (a run split
    only because its first points, at the largest angles, bend away from the power law)."""
    out = []
    for r in found:
        prev = out[-1] if out else None
        if prev and classify(prev.k, norm_exp) == classify(r.k, norm_exp) and abs(prev.k - r.k) <= K_TOLERANCE:
            n = prev.points + r.points - 1
            k = (prev.k * prev.points + r.k * r.points) / (prev.points + r.points)
            se = math.hypot(prev.k_stderr * prev.points, r.k_stderr * r.points) / (prev.points + r.points)
            out[-1] = Regime(k, se, prev.lo, r.hi, n)
        else:
            out.append(r)
    return out


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
    """Assert ``eta_eff ~ eta/||w||**k`` within :data:`K_TOLERANCE` over the whole range of ``alphas`` (regimes that
    differ only in their prefactor count as one); return the measurement. With regimes of different exponents
    the message lists them: restrict ``alphas`` to one to test it alone."""
    s = step_scaling(optimizer_factory, loss, **kwargs)
    if math.isnan(s.k) and s.regimes:
        raise AssertionError(f"expected angular step ~ ||w||^-{k} at every scale, measured {s}: pass alphas within "
                             f"one regime to test it alone\n{s.table()}")
    if not abs(s.k - k) <= K_TOLERANCE:
        raise AssertionError(f"expected angular step ~ ||w||^-{k}, measured {s}\n{s.table()}")
    return s
