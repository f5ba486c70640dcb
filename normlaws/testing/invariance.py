"""Assertions for a torch layer or model: scale invariance, and homogeneity of its gradient and Hessian.

Call them from your own tests, usually inside a Hypothesis ``@given`` that draws the inputs and the scale
factor with :mod:`normlaws.testing.strategies`. A parameter is scaled *per layer* (one ``alpha`` for the
whole tensor) or *per channel* (a vector ``alpha``, one factor per slice along dimension 0, i.e. per
output channel of a ``Linear``/``Conv`` weight). Invariance and homogeneity are properties of the function,
so the model is evaluated in float64 (a deep copy for every evaluation: your model, its parameters and its
running statistics are left untouched), where the check is sharpest.

Tolerance: the rounding error of each float64 evaluation, measured rather than guessed. To first order an
evaluation's rounding error is ``u * E`` with ``E`` set by the inputs and the algorithm, ``u`` the unit
roundoff; so the same model is also evaluated in float32 (``SHADOW_DRAWS`` times: once as is, then with
every input and parameter moved by one float32 rounding, for fresh rounding patterns), and
``|f32 - f64| * u64/u32`` is the float64 error at the same ``E``. This sees everything an a-priori bound
would have to guess for a black box: cancellation in the centring, gradients that cancel to zero
identically (a one-input BN unit's gradient is exactly 0, computed as +-1e-17). Errors within one output
tensor, one gradient slice ``c`` or one Hessian block ``(c, c')`` come from the same sums, so the largest
one in the slice is used for all its entries, times ``SAFETY`` for an unlucky draw of rounding signs; each
of the two evaluations compared contributes its own. A float32 evaluation can also be exact by structure
where float64 is not (a one-input weight-normalized unit: ``w/|w| = +-1`` exactly in float32), so a floor
adds the probabilistic bound ``LAMBDA * sqrt(m) * u64`` (Higham & Mary 2019; ``m`` scalars enter the
evaluation; it fails with probability below ``2 exp(-LAMBDA^2/2)``, about 3e-8) times the size of the
terms the result is summed from: ``max|output|`` for the output; ``sum|upstream| * max|output| / ||w_c||``
for the gradient entries of slice ``c``, and ``/ (||w_c|| ||w_c'||)`` for the Hessian (a derivative of a
normalized output in the weights is a sum of output-sized terms over the weight norm).

Epsilon: a normalization with ``eps`` is invariant only up to ``eps``: ``BN_eps(alpha w) = BN_{eps/alpha^2}(w)``
exactly. Pass ``rescale_eps=('bn',)`` to check that identity instead (the named submodules get
``eps/alpha^2`` on the unscaled side), or keep ``eps`` far below ``alpha^2 Var``.
"""
from __future__ import annotations

import copy
import functools
import math
from contextlib import contextmanager

import numpy as np

from ..errors import MissingPart, UsageError
from .messages import (_companion_hints, _degree_notes, _eps_hints, _eval_hints, _fail, _invariance_notes,
                       _worst)

SHADOW_DRAWS = 3
SAFETY = 8.0
LAMBDA = 6.0


@contextmanager
def single_thread():
    """Run torch single-threaded inside the block (restored after): for the tiny models these checks
    evaluate, a thread pool only adds synchronization, which on a busy machine costs 100 ms per call."""
    torch = _torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _torch():
    try:
        import torch
    except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without torch
        raise MissingPart("normlaws.testing's layer assertions need torch (pip install 'normlaws[torch]')") from exc
    return torch


class _Target:
    """A model, its inputs, and the parameter(s) to scale; evaluations in float64 with measured rounding."""

    def __init__(self, model, inputs, param, per: str):
        torch = _torch()
        if not isinstance(model, torch.nn.Module):
            raise UsageError(f"expected a torch.nn.Module, got {type(model).__name__}")
        if per not in ("layer", "channel"):
            raise UsageError(f"per must be 'layer' or 'channel', got {per!r}")
        self.model, self.per = model, per
        self.names = (param,) if isinstance(param, str) else tuple(param)
        params = dict(model.named_parameters())
        missing = [n for n in self.names if n not in params]
        if missing:
            raise UsageError(f"no parameter {missing[0]!r} in the model; it has {sorted(params)}")
        self.base = {n: params[n].detach().to(torch.float64) for n in self.names}
        raw = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
        self.inputs = tuple(self._tensor(x) for x in raw)

    @staticmethod
    def _tensor(x):
        torch = _torch()
        t = torch.as_tensor(x)
        return t.to(torch.float64) if t.is_floating_point() else t

    # ---- scaling --------------------------------------------------------------------------------
    def scales(self, alpha) -> dict:
        """``{name: tensor}`` broadcastable against each parameter: ``alpha`` per layer or per channel."""
        torch = _torch()
        a = torch.as_tensor(np.asarray(alpha, dtype=float), dtype=torch.float64)
        if self.per == "layer":
            if a.ndim != 0:
                raise UsageError(f"per='layer' needs one scale factor, got shape {tuple(a.shape)}")
            return {n: a for n in self.names}
        out = {}
        for n, p in self.base.items():
            if a.ndim != 1 or p.ndim == 0 or a.numel() != p.shape[0]:
                raise UsageError(f"per='channel' needs one scale factor per slice of {n!r} along dimension 0 "
                                 f"(shape ({p.shape[0] if p.ndim else 1},)), got shape {tuple(a.shape)}")
            out[n] = a.reshape((-1,) + (1,) * (p.ndim - 1))
        return out

    def values(self, scales=None) -> dict:
        """The parameters to evaluate at: the model's own, or scaled."""
        return {n: p * scales[n] if scales is not None else p.clone() for n, p in self.base.items()}

    # ---- evaluation ---------------------------------------------------------------------------------
    def evaluate(self, kind: str, values: dict, upstream=None, eps=None, dtype=None, nudge=None):
        """The output, or the gradient / Hessian of ``<upstream, output>`` in the scaled parameters (flattened).

        ``dtype``: float64 by default; ``nudge``: a generator to move every input and parameter by about one
        unit in the last place of ``dtype`` (a fresh rounding pattern).
        """
        torch = _torch()
        dtype = dtype or torch.float64
        model = copy.deepcopy(self.model).to(dtype)
        for name, value in (eps or {}).items():
            model.get_submodule(name).eps = value
        ulp = float(torch.finfo(dtype).eps)  # 1 +- ulp are the floats next to 1

        def cast(t):
            t = t.to(dtype) if t.is_floating_point() else t
            if nudge is None or not t.is_floating_point():
                return t
            return t * (1 + ulp * (2 * torch.randint(0, 2, t.shape, generator=nudge) - 1).to(dtype))

        if nudge is not None:
            with torch.no_grad():
                for p in model.parameters():
                    p.copy_(cast(p))
        inputs = tuple(cast(x) for x in self.inputs)
        values = {n: cast(v) for n, v in values.items()}
        if kind == "output":
            with torch.no_grad():
                return self._call(model, inputs, values).detach().to(torch.float64)
        shapes = [(n, v.shape, v.numel()) for n, v in values.items()]

        def loss(flat):
            parts, i = {}, 0
            for n, shape, k in shapes:
                parts[n] = flat[i:i + k].reshape(shape)
                i += k
            out = self._call(model, inputs, parts)
            return (self.upstream_for(out, upstream).to(out.dtype) * out).sum()

        flat0 = torch.cat([v.reshape(-1) for v in values.values()]).detach()
        if kind == "gradient":
            flat = flat0.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(loss(flat), flat)
            return g.detach().to(torch.float64)
        if kind == "hessian":
            return torch.autograd.functional.hessian(loss, flat0).detach().to(torch.float64)
        raise ValueError(kind)

    def _call(self, model, inputs, values):
        torch = _torch()
        out = torch.func.functional_call(model, values, inputs)
        if not isinstance(out, torch.Tensor):
            raise UsageError(f"the model must return one tensor, got {type(out).__name__}")
        return out

    def upstream_for(self, out, upstream):
        """The upstream gradient for ``<upstream, output>``: given, or fixed standard-normal draws (seed 0)."""
        torch = _torch()
        if upstream is None:
            gen = torch.Generator().manual_seed(0)
            return torch.randn(out.shape, generator=gen, dtype=torch.float64)
        up = self._tensor(upstream)
        if up.shape != out.shape:
            raise UsageError(f"upstream gradient has shape {tuple(up.shape)}, the output {tuple(out.shape)}")
        return up

    def with_tolerance(self, kind, values, upstream=None, eps=None, scaled=False):
        """``(f, tol)``: the float64 evaluation and its measured rounding error (see the module docstring).

        A non-finite result at the model's own parameters is a degenerate input (``UsageError``); at the
        scaled ones (``scaled=True``), while finite at the model's own, it is a failure of the property.
        """
        torch = _torch()
        f = self.evaluate(kind, values, upstream, eps)
        if not bool(torch.isfinite(f).all()):
            if scaled:
                raise AssertionError(f"the model's {kind} is finite at w but not at the scaled parameters "
                                     f"(overflow, underflow or a division that the scaling makes zero)")
            raise UsageError(f"the model's {kind} is not finite at these inputs (a degenerate input, e.g. a batch "
                             f"whose pre-activations do not vary); exclude such inputs, e.g. with hypothesis.assume")
        gen = torch.Generator().manual_seed(0)
        err = torch.zeros_like(f)
        for draw in range(SHADOW_DRAWS):
            shadow = self.evaluate(kind, values, upstream, eps, dtype=torch.float32, nudge=gen if draw else None)
            err = torch.maximum(err, (shadow - f).abs())
        if not bool(torch.isfinite(err).all()):
            raise UsageError("cannot measure the rounding error: the model is not finite in float32 at these "
                             "inputs (keep weights, inputs and eps within float32 range)")
        u64, u32 = float(torch.finfo(torch.float64).eps), float(torch.finfo(torch.float32).eps)
        m = sum(p.numel() for p in self.model.parameters()) + sum(x.numel() for x in self.inputs)
        floor = LAMBDA * math.sqrt(m) * u64 / 2 * self._term_size(kind, f, values, upstream, eps)
        return f, SAFETY * (u64 / u32) * self._slice_max(kind, err, values) + floor

    def _term_size(self, kind, f, values, upstream, eps):
        """The size of the terms the result is summed from (see the module docstring)."""
        torch = _torch()
        if kind == "output":
            return f.abs().max().expand_as(f)
        out = self.evaluate("output", values, eps=eps)
        scale = float(self.upstream_for(out, upstream).abs().sum()) * float(out.abs().max())
        inv = torch.cat([(1 / v.reshape(v.shape[0], -1).norm(dim=1)).repeat_interleave(v[0].numel())
                         if v.ndim else (1 / v.abs()).reshape(1) for v in values.values()])
        return scale * (inv if kind == "gradient" else inv[:, None] * inv[None, :])

    def _slice_max(self, kind, err, values):
        """The largest error over the whole output, each gradient slice, each Hessian block."""
        torch = _torch()
        if kind == "output":
            return err.max().expand_as(err)
        ids = torch.cat([torch.arange(v.shape[0] if v.ndim else 1).repeat_interleave(v[0].numel() if v.ndim else 1)
                         + 10**9 * i for i, v in enumerate(values.values())])
        _, ids = torch.unique(ids, return_inverse=True)
        k = int(ids.max()) + 1
        if kind == "gradient":
            return torch.zeros(k, dtype=err.dtype).scatter_reduce(0, ids, err, "amax")[ids]
        block = ids[:, None] * k + ids[None, :]
        per = torch.zeros(k * k, dtype=err.dtype).scatter_reduce(0, block.reshape(-1), err.reshape(-1), "amax")
        return per[block]


def _single_threaded(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with single_thread():
            return fn(*args, **kwargs)
    return wrapper


# ---- public assertions -----------------------------------------------------------------------------

@_single_threaded
def assert_scale_invariant(model, inputs, alpha, *, param="weight", per: str = "layer", rescale_eps=()):
    """Assert ``model(inputs)`` is unchanged when ``param`` is multiplied by ``alpha`` (per layer or channel).

    ``param``: a parameter name (as in ``model.named_parameters()``) or a tuple of names scaled together
    (e.g. a weight and its bias). ``alpha``: a float (``per='layer'``) or one float per output channel
    (``per='channel'``). ``rescale_eps``: names of normalization submodules whose ``eps`` is divided by
    ``alpha**2`` on the unscaled side, checking the exact identity ``BN_eps(alpha w) = BN_{eps/alpha^2}(w)``.
    On failure the message gives the counterexample, the measured degree ``p`` in
    ``||f(alpha w)|| = |alpha|**p ||f(w)||`` and what usually causes it.
    """
    target = _Target(model, inputs, param, per)
    scales = target.scales(alpha)
    eps = _rescaled_eps(model, rescale_eps, alpha, per)
    reference, tol_ref = target.with_tolerance("output", target.values(), eps=eps)
    actual, tol_act = target.with_tolerance("output", target.values(scales), scaled=True)
    tol = tol_ref + tol_act
    index, failed = _worst(actual, reference, tol)
    if failed:
        notes = _invariance_notes(model, actual, reference, alpha, tol, rescale_eps)
        if not any(n.startswith("f(alpha w) = -f(w)") for n in notes):
            notes += _eps_hints(target, scales, reference, tol) if not rescale_eps else []
            notes += _companion_hints(target, alpha, scales, reference, tol)
        _fail("not scale-invariant", target, alpha, actual, reference, tol, index, notes + _eval_hints(model))


def _rescaled_eps(model, names, alpha, per):
    if not names:
        return None
    if per != "layer":
        raise UsageError("rescale_eps needs one scale factor (per='layer'); a module has one eps, not one per channel")
    out = {}
    for name in names:
        try:
            sub = model.get_submodule(name)
        except AttributeError as exc:
            raise UsageError(f"no submodule {name!r} to rescale eps in") from exc
        if not isinstance(getattr(sub, "eps", None), float):
            raise UsageError(f"submodule {name!r} has no float eps")
        out[name] = sub.eps / float(alpha) ** 2
    return out


@_single_threaded
def assert_gradient_homogeneous(model, inputs, alpha, *, param="weight", degree: float = -1, per: str = "layer",
                                upstream=None, rescale_eps=()):
    """Assert ``grad L(alpha w) = alpha**degree * grad L(w)`` for ``L = <upstream, model(inputs)>``.

    A scale-invariant layer has ``degree = -1`` (per layer, ``alpha > 0``; per channel, each row of the
    gradient scales by its own ``1/alpha_c``). ``upstream`` defaults to fixed standard-normal values.
    ``rescale_eps``: as in :func:`assert_scale_invariant` (the unscaled side uses ``eps/alpha**2``).
    """
    _check_per_degree(per, degree, -1)
    target = _Target(model, inputs, param, per)
    scales = target.scales(alpha)
    factor = _flat_factor(target, scales, degree)
    eps = _rescaled_eps(model, rescale_eps, alpha, per)
    _assert_scaled_derivative("gradient", target, alpha, scales, factor, upstream, eps, degree)


@_single_threaded
def assert_hessian_homogeneous(model, inputs, alpha, *, param="weight", degree: float = -2, per: str = "layer",
                               upstream=None, rescale_eps=()):
    """Assert ``Hess L(alpha w) = alpha**degree * Hess L(w)`` (per channel: ``S^-1 H S^-1``, ``S = diag(alpha)``).

    Computed with ``torch.autograd.functional.hessian``: keep the parameter small (its size squared entries).
    ``rescale_eps``: as in :func:`assert_scale_invariant`.
    """
    _check_per_degree(per, degree, -2)
    target = _Target(model, inputs, param, per)
    scales = target.scales(alpha)
    s = _flat_factor(target, scales, -1 if per == "channel" else degree / 2)
    factor = s[:, None] * s[None, :]
    eps = _rescaled_eps(model, rescale_eps, alpha, per)
    _assert_scaled_derivative("hessian", target, alpha, scales, factor, upstream, eps, degree)


def _assert_scaled_derivative(kind, target, alpha, scales, factor, upstream, eps, degree):
    """Fail unless the ``kind`` ('gradient' or 'hessian') at the scaled point equals ``factor`` times the one at
    the unscaled point, within the sum of both sides' float tolerances."""
    ref, tol_ref = target.with_tolerance(kind, target.values(), upstream, eps)
    act, tol_act = target.with_tolerance(kind, target.values(scales), upstream, scaled=True)
    expected = ref * factor
    tol = tol_act + tol_ref * factor.abs()
    index, failed = _worst(act, expected, tol)
    if failed:
        label = "gradient" if kind == "gradient" else "Hessian"
        _fail(f"{label} not homogeneous of degree {degree}", target, alpha, act, expected, tol, index,
              _degree_notes(act, ref, alpha, label))


def _check_per_degree(per, degree, invariant_degree):
    if per == "channel" and degree != invariant_degree:
        raise UsageError(f"per-channel scaling is only meaningful for a per-channel invariant layer "
                         f"(degree {invariant_degree}), got degree {degree}")


def _flat_factor(target, scales, power):
    torch = _torch()
    return torch.cat([(scales[n] ** power * torch.ones_like(p)).reshape(-1) for n, p in target.base.items()])


@_single_threaded
def homogeneity_degree(model, inputs, *, param="weight", of: str = "output", alphas=None, upstream=None,
                       rescale_eps=()) -> float:
    """The fitted ``p`` in ``||F(alpha w)|| ~ alpha**p`` for ``F`` = the output, its gradient or its Hessian.

    Least-squares slope of ``log ||F(alpha w)||`` against ``log alpha`` over ``alphas`` (default
    ``2**-3 .. 2**3``). A scale-invariant layer gives 0, -1, -2. ``rescale_eps``: names of normalization
    submodules whose ``eps`` is multiplied by ``alpha**2`` along with the scaling, so that the exact identity
    ``BN_(alpha^2 eps)(alpha w) = BN_eps(w)`` is what is measured (degree 0 whatever the eps).
    """
    torch = _torch()
    if of not in ("output", "gradient", "hessian"):
        raise UsageError(f"of must be 'output', 'gradient' or 'hessian', got {of!r}")
    alphas = np.asarray(alphas if alphas is not None else 2.0 ** np.arange(-3, 4), dtype=float)
    if alphas.ndim != 1 or len(alphas) < 2 or (alphas <= 0).any():
        raise UsageError("alphas must be two or more positive scale factors")
    target = _Target(model, inputs, param, "layer")
    logs = []
    for a in alphas:
        eps = _rescaled_eps(model, rescale_eps, 1.0 / a, "layer")       # eps * alpha**2 on the scaled side
        value = target.evaluate(of, target.values(target.scales(a)), upstream, eps)
        logs.append(math.log(float(torch.linalg.vector_norm(value))))
    return float(np.polyfit(np.log(alphas), logs, 1)[0])
