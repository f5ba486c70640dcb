"""Run many independent chains: chunked over chains, one Python loop over time, block means on the fly.

:func:`run` is the one entry point. The chains of a run are cut into chunks of about ``2**16`` numbers per
state array (so a chunk's buffers stay in cache); each chunk has its own random stream
(``rng.stream(seed, chunk)``) and runs burn-in and measurement on its own. Every observable is summed into
float32 partial sums (at most 64 steps, relative rounding below 4e-6) that are flushed into float64 block sums.
Chunks run one after the other: on this 2-core machine two threads gave between no gain and 1.4x
(``bench``'s "2 threads" row, depending on the load from other processes), not enough to trade the simple,
order-independent loop for.

Observables, per chain and step of the measurement window:
``N = ||w||^2``, ``N2 = N^2``, ``inv_N = 1/N``, ``norm = ||w||``, ``angle`` (between ``w_t`` and ``w_{t+1}``, radians),
``chord = ||w_{t+1} - w_t||^2``,
``grad_ratio = ||grad L(p_t)|| / ||p_t||`` (unregularized loss, at the point ``p_t`` where the rule evaluates it: ``w_t``
but for Nesterov), ``grad_sq = ||grad L(p_t)||^2`` and ``grad_sq_N = ||grad L(p_t)||^2 ||p_t||^2`` (whose mean is the
model constant ``C``). ``curve=True`` also records the means over
chains of ``N``, ``N^2`` and ``1/N`` at every step from the start (the relaxation curve), with standard errors.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from normlaws.errors import UsageError

from . import predict
from .models import BNUnit, Section4Noise
from .params import Hyper, check_rule
from ..progress import Progress
from .rng import Normals, stream
from .rules import VectorChains
from .scalar import ScalarSGD

CHUNK_NUMBERS = 1 << 16      # numbers per state array in one chunk
FLUSH = 64                   # steps summed in float32 before a flush to float64
BURN_RELAXATIONS = 5         # burn-in, in relaxation times (deviations shrink by e^-5 = 0.7 %)
WINDOW_RELAXATIONS = 20      # default measurement window, in relaxation times


@dataclass
class Spec:
    """Everything that defines a run (the seed included); ``run(spec)`` is deterministic given it."""

    rule: str
    hyper: Hyper
    d: int = 64
    chains: int = 256
    steps: int | None = None          # measurement steps (default: WINDOW_RELAXATIONS relaxation times)
    burn: int | None = None           # burn-in steps (default: BURN_RELAXATIONS relaxation times + memory)
    model: str = "section4"           # "section4" or "bn-unit"
    variant: str = "isotropic"        # Section 4 noise: "isotropic" or "orthogonal"
    backward: str = "stop_gradient"   # BN unit: "stop_gradient" or "full"
    batch: int = 64                   # BN unit batch size
    loss: str = "mean"                # BN unit loss over the batch: "mean" (frameworks) or "sum" (the paper's Sec. 2)
    gamma: float = 1.0                # BN unit gain
    beta: float = 0.0                 # BN unit shift
    sigma_nabla: float = math.sqrt(2.0)  # BN unit upstream-gradient std (sqrt(2): unit variance per coordinate)
    C: float | None = None            # Section 4 model constant (default d: unit variance per coordinate)
    seed: int = 0
    start: float | str = "closure"    # N_0 = ||w_0||^2, or "closure" for the closure's N*
    warm: bool = True                 # optimizer state at its stationary mean (else zero)
    blocks: int = 20
    curve: bool = False
    track_angle: bool = True
    track_grad: bool = False
    reduce: bool = True               # SGD on the Section 4 model: use the exact scalar chain
    renormalize: bool = False         # reference chains held at unit norm (effective-learning-rate check)
    dtype: str = "float32"
    progress: bool = True
    label: str = ""

    def __post_init__(self):
        check_rule(self.rule)
        if self.model not in ("section4", "bn-unit"):
            raise UsageError(f"unknown model {self.model!r}; choose section4 or bn-unit")
        if self.d < 2 or self.chains < 1 or self.blocks < 2:
            raise UsageError("need d >= 2, chains >= 1 and blocks >= 2")
        if self.dtype not in ("float32", "float64"):
            raise UsageError("dtype must be float32 or float64")

    @property
    def model_C(self) -> float:
        """``C = E||grad L(w_hat)||^2`` of the model at unit norm (exact for the BN unit: ``theory.bn_unit``)."""
        if self.model == "bn-unit":
            return predict.bn_unit_C(self.d, self.batch, self.gamma, self.beta, self.sigma_nabla, self.loss,
                                     self.backward)
        return float(self.d if self.C is None else self.C)

    @property
    def scalar(self) -> bool:
        """Whether this run uses the exact scalar reduction."""
        return (self.reduce and self.rule == "sgd" and self.model == "section4" and not self.renormalize
                and self.variant != "unscaled")

    def as_dict(self) -> dict:
        """JSON-ready description (for records)."""
        out = asdict(self)
        out["hyper"] = self.hyper.as_dict()
        out["model_C"] = self.model_C
        return out


def timescales(rule: str, hyper: Hyper, d: int, C: float) -> tuple[np.ndarray, float]:
    """``(tau, memory)``: the norm's relaxation time in steps on the grid, and the optimizer's memory in steps.

    ``tau`` is the slowest mode of the rule's second-moment map (``predict.relaxation_time``, Lion's from its
    derivation): for SGD it is Section 4's ``-1/ln(2a^2 - 1)``; momentum's norm relaxes like SGD at
    ``eta/(1 - rho)``. ``memory`` is the longest EMA's ``1/(1 - decay)`` (momentum, the accumulators), which the
    moment map holds at its mean. Without decay there is no equilibrium: ``tau`` is infinite.
    """
    memory = {"momentum": 1 / (1 - hyper.rho), "nesterov": 1 / (1 - hyper.rho), "nesterov_torch": 1 / (1 - hyper.rho),
              "rmsprop": 1 / (1 - hyper.rho), "adam": 1 / (1 - hyper.beta2), "adamw": 1 / (1 - hyper.beta2),
              "lion": 1 / (1 - hyper.beta2)}.get(rule, 0.0)
    if rule == "normalized":
        return np.ones(hyper.grid_shape), memory

    def tau(eta: float, lam: float) -> float:
        if lam <= 0:
            return math.inf
        return predict.equilibrium(rule, eta, lam, d, C, hyper.rho, hyper.beta1, hyper.beta2)["tau"]

    eta, lam = np.broadcast_arrays(np.asarray(hyper.eta, float), np.asarray(hyper.lam, float))
    return np.broadcast_to(np.vectorize(tau, otypes=[float])(eta, lam), hyper.grid_shape), memory


def default_lengths(spec: Spec) -> tuple[int, int]:
    """``(burn, steps)`` from :func:`timescales`: 5 relaxation times (+ 5 memories) and 20 relaxation times.

    From a given start ``N_0`` far from the closure's ``N*`` the return begins slower than the linearised rate
    (for SGD the local rate at ``3 N*`` is ~0.56 of it), so the burn-in is stretched by ``1 + 2 |ln(N_0/N*)|``.
    """
    if spec.burn is not None and spec.steps is not None:
        return spec.burn, int(math.ceil(spec.steps / spec.blocks) * spec.blocks)
    tau, memory = timescales(spec.rule, spec.hyper, spec.d, spec.model_C)
    tau = float(np.max(tau))
    if not math.isfinite(tau):
        raise UsageError("without weight decay there is no equilibrium to burn in to: give the burn-in and the "
                         "number of steps explicitly")
    stretch = 1.0
    if spec.start != "closure" and spec.rule != "normalized":
        N_star = predict.closure_N(spec.rule, spec.hyper, spec.d, spec.model_C)
        stretch = 1.0 + 2.0 * float(np.max(np.abs(np.log(float(spec.start) / N_star))))
    burn = spec.burn if spec.burn is not None else int(math.ceil(BURN_RELAXATIONS * (tau * stretch + memory)))
    steps = spec.steps if spec.steps is not None else int(max(WINDOW_RELAXATIONS * tau, 10 * memory, 200))
    steps = int(math.ceil(steps / spec.blocks) * spec.blocks)
    return burn, steps


@dataclass
class Run:
    """What a run measured: block means per observable ``(*grid, chains, blocks)`` and the relaxation curve."""

    spec: Spec
    burn: int
    steps: int
    blocks: dict
    curve: dict | None
    N0: np.ndarray
    seconds: float
    chain_steps: int
    extra: dict = field(default_factory=dict)

    @property
    def grid_shape(self) -> tuple:
        """Shape of the (eta, lam) grid."""
        return self.spec.hyper.grid_shape


def _observables(spec: Spec) -> list[str]:
    names = ["N", "N2", "inv_N", "norm"]
    if spec.track_angle:
        names += ["angle", "chord"]
    if spec.track_grad:
        names += ["grad_ratio", "grad_sq", "grad_sq_N"]
    return names


def _start_N(spec: Spec) -> np.ndarray:
    if spec.start == "closure":
        return predict.closure_N(spec.rule, spec.hyper, spec.d, spec.model_C)
    value = float(spec.start)
    if not value > 0:
        raise UsageError("the start N_0 = ||w_0||^2 must be > 0")
    return np.full(spec.hyper.grid_shape, value)


def _chunk_layout(spec: Spec) -> list[int]:
    per_chain = 1 if spec.scalar else spec.d * (spec.batch if spec.model == "bn-unit" else 1)
    per_chunk = max(1, min(spec.chains, CHUNK_NUMBERS // max(1, spec.hyper.size * per_chain)))
    sizes = [per_chunk] * (spec.chains // per_chunk)
    if spec.chains % per_chunk:
        sizes.append(spec.chains % per_chunk)
    return sizes


def _make_chains(spec: Spec, hyper: Hyper, N0: np.ndarray, n: int, rng, dtype):
    G = hyper.size
    N0 = np.broadcast_to(N0.reshape(G, 1), (G, n))
    if spec.scalar:
        return ScalarSGD(hyper, spec.d, spec.model_C, spec.variant, N0, track_angle=spec.track_angle,
                         track_grad=spec.track_grad, dtype=dtype)
    if spec.model == "section4":
        model = Section4Noise(spec.d, spec.model_C, spec.variant, (G, n), dtype)
    else:
        model = BNUnit(spec.d, spec.batch, spec.backward, (G, n), dtype, gamma=spec.gamma, beta=spec.beta,
                       sigma_nabla=spec.sigma_nabla, loss=spec.loss)
    w0 = random_directions(rng, (G, n, spec.d), dtype) * np.sqrt(N0)[..., None].astype(dtype)
    return VectorChains(spec.rule, hyper, model, w0, warm=spec.warm, renormalize=spec.renormalize,
                        track_angle=spec.track_angle, track_grad=spec.track_grad, dtype=dtype)


def random_directions(rng, shape: tuple, dtype=np.float32) -> np.ndarray:
    """Unit vectors uniform on the sphere, ``shape = (..., d)``."""
    x = np.empty(shape, dtype)
    Normals(x.size, dtype).fill(rng, x.reshape(-1))
    x /= np.sqrt(np.einsum("...d,...d->...", x, x))[..., None]
    return x


def _value(chains, name: str, scratch: np.ndarray) -> np.ndarray:
    if name == "N":
        return chains.N
    if name == "norm":
        return chains.r
    if name == "N2":
        return np.multiply(chains.N, chains.N, out=scratch)
    if name == "inv_N":
        return np.divide(1.0, chains.N, out=scratch)
    if name == "angle":
        return chains.angle
    if name == "chord":                # ||w_{t+1} - w_t||^2
        return chains.step_sq
    if name == "grad_ratio":
        return np.divide(chains.grad_norm, chains.grad_point_r, out=scratch)
    if name == "grad_sq":
        return np.multiply(chains.grad_norm, chains.grad_norm, out=scratch)
    if name == "grad_sq_N":            # ||grad L(p)||^2 ||p||^2: the model constant C, measured
        np.multiply(chains.grad_norm, chains.grad_point_r, out=scratch)
        return np.multiply(scratch, scratch, out=scratch)
    raise KeyError(name)


#: statistics of N recorded at every step by ``curve=True``: their chain means and standard errors
CURVE_STATS = {"N": lambda N: N, "N2": lambda N: N * N, "inv_N": lambda N: 1.0 / N}


def _record_curve(curve: dict, t: int, N: np.ndarray) -> None:
    for name, function in CURVE_STATS.items():
        value = function(N)
        curve[name][0, :, t] = value.sum(1)
        curve[name][1, :, t] = np.einsum("gn,gn->g", value, value)


def _run_chunk(spec, hyper, N0, n, index, burn, steps, names, dtype, progress):
    """Burn in and measure one chunk of ``n`` chains; return block sums and curve sums."""
    rng = stream(spec.seed, index)
    chains = _make_chains(spec, hyper, N0, n, rng, dtype)
    G, k = hyper.size, spec.blocks
    length = steps // k
    partial = {name: np.zeros((G, n), dtype) for name in names}
    sums = {name: np.zeros((G, n, k)) for name in names}
    scratch = np.empty((G, n), dtype)
    total = burn + steps
    curve = {name: np.zeros((2, G, total)) for name in CURVE_STATS} if spec.curve else None
    pending = 0
    for t in range(total):
        chains.step(rng)
        if curve is not None:
            _record_curve(curve, t, chains.N.astype(float))
        if t >= burn:
            for name in names:
                partial[name] += _value(chains, name, scratch)
            pending += 1
            block_end = (t - burn + 1) % length == 0
            if pending == FLUSH or block_end:
                block = (t - burn) // length
                for name in names:
                    sums[name][:, :, block] += partial[name]
                    partial[name][...] = 0
                pending = 0
        if t % 64 == 63:
            progress.advance(64)
    progress.advance(total % 64)
    return sums, curve


def run(spec: Spec) -> Run:
    """Run the chains of ``spec``; see the module docstring for what is measured."""
    burn, steps = default_lengths(spec)
    if steps < spec.blocks:
        raise UsageError(f"need at least {spec.blocks} measurement steps (one per block)")
    hyper, dtype = spec.hyper, np.dtype(spec.dtype)
    names = _observables(spec)
    N0 = _start_N(spec).reshape(-1)
    layout = _chunk_layout(spec)
    progress = Progress(len(layout) * (burn + steps), spec.label or f"{spec.rule} chains", spec.progress,
                        after=3.0)
    started = time.perf_counter()
    sums, curve_sums = [], []
    for index, n in enumerate(layout):
        s, c = _run_chunk(spec, hyper, N0, n, index, burn, steps, names, dtype, progress)
        sums.append(s)
        curve_sums.append(c)
    progress.close()
    seconds = time.perf_counter() - started
    grid, k = hyper.grid_shape, spec.blocks
    length = steps // k
    blocks = {name: np.concatenate([s[name] for s in sums], axis=1).reshape(grid + (spec.chains, k)) / length
              for name in names}
    curve = None
    if spec.curve:
        curve = {"t": np.arange(1, burn + steps + 1)}
        n = spec.chains
        for name in CURVE_STATS:
            total = sum(c[name] for c in curve_sums)
            mean = total[0] / n
            var = np.maximum(total[1] / n - mean**2, 0) * n / max(n - 1, 1)
            curve[name] = {"mean": mean.reshape(grid + (-1,)), "se": np.sqrt(var / n).reshape(grid + (-1,))}
    return Run(spec, burn, steps, blocks, curve, N0.reshape(grid), seconds,
               hyper.size * spec.chains * (burn + steps))
