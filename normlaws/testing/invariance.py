"""Assertions for a torch layer or model: scale invariance, and homogeneity of its gradient and Hessian.

Call them from your own tests, usually inside a Hypothesis ``@given`` that draws the inputs and the scale
factor with :mod:`normlaws.testing.strategies`. A parameter is scaled *per layer* (one ``alpha`` for the
whole tensor) or *per channel* (a vector ``alpha``, one factor per slice along dimension 0, i.e. per
output channel of a ``Linear``/``Conv`` weight). The model is deep-copied for every evaluation, so its
parameters and running statistics are left untouched.

Tolerances come from rounding, estimated for the model at hand (it is a black box): a backward-stable
forward pass returns the exact result for inputs perturbed by relative errors of order ``sqrt(m) u``
(Higham & Mary 2019, probabilistic bound with constant ``LAMBDA``: fails with probability below
``2 exp(-LAMBDA^2/2)``, about 3e-8), ``m`` the number of scalars that enter it and ``u`` the unit
roundoff of the model's dtype. How much such perturbations move each output is measured with
``PROBES`` random relative perturbations of size ``h = sqrt(u)`` of every parameter and input
(a finite-difference estimate of the componentwise condition number), taking the largest response
and a factor ``PROBE_SAFETY`` for an unlucky draw. The bound is then
``tol_i = LAMBDA * sqrt(m) * u * PROBE_SAFETY * max_probe|df_i|/h + 2 u |f_i|``, for each of the two
evaluations compared. That bound follows the result's derivatives, so it misses the rounding of a
quantity that cancels to zero identically (the gradient of a one-input BN unit is exactly 0, and computed as
+-1e-17; so is the Hessian of a BN unit fed a batch with one nonzero sample). Such a quantity is summed from
terms as large as its value at generic points nearby, so a floor adds ``LAMBDA * sqrt(m) * u`` times the
largest value found at ``GENERIC_PROBES`` points where every input and parameter moves by
``GENERIC_SHIFT`` times its own largest entry (additively, so zeros move too): over the whole output, over
each slice ``c`` of the gradient, over each block ``(c, c')`` of the Hessian.

Epsilon: a normalization with ``eps`` is invariant only up to ``eps``: ``BN_eps(alpha w) = BN_{eps/alpha^2}(w)``
exactly. Pass ``rescale_eps=('bn',)`` to check that identity instead (the named submodules get
``eps/alpha^2`` on the unscaled side), or keep ``eps`` far below ``alpha^2 Var``.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from ..errors import MissingPart, UsageError

LAMBDA = 6.0
PROBES = 4
PROBE_SAFETY = 3.0
GENERIC_PROBES = 2
GENERIC_SHIFT = 1e-2


def _torch():
    try:
        import torch
    except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without torch
        raise MissingPart("normlaws.testing's layer assertions need torch (pip install 'normlaws[torch]')") from exc
    return torch


class _Target:
    """A model, its inputs, and the parameter(s) to scale."""

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
        self.base = {n: params[n].detach().clone() for n in self.names}
        self.dtype = self.base[self.names[0]].dtype
        raw = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
        self.inputs = tuple(self._tensor(x) for x in raw)
        self.u = float(torch.finfo(self.dtype).eps) / 2
        self.m = sum(p.numel() for p in model.parameters()) + sum(x.numel() for x in self.inputs)

    def _tensor(self, x):
        torch = _torch()
        t = torch.as_tensor(x)
        return t.to(self.dtype) if t.is_floating_point() else t

    # ---- scaling --------------------------------------------------------------------------------
    def scales(self, alpha) -> dict:
        """``{name: tensor}`` broadcastable against each parameter: ``alpha`` per layer or per channel."""
        torch = _torch()
        a = torch.as_tensor(np.asarray(alpha, dtype=float), dtype=self.dtype)
        if self.per == "layer":
            if a.ndim != 0:
                raise UsageError(f"per='layer' needs one scale factor, got shape {tuple(a.shape)}")
            return {n: a for n in self.names}
        out = {}
        for n, p in self.base.items():
            if a.ndim != 1 or a.numel() != p.shape[0]:
                raise UsageError(f"per='channel' needs one scale factor per slice of {n!r} along dimension 0 "
                                 f"(shape ({p.shape[0]},)), got shape {tuple(a.shape)}")
            out[n] = a.reshape((-1,) + (1,) * (p.ndim - 1))
        return out

    def values(self, scales=None) -> dict:
        return {n: p * scales[n] if scales is not None else p.clone() for n, p in self.base.items()}

    # ---- evaluation ---------------------------------------------------------------------------------
    def _prepared(self, eps, perturb):
        torch = _torch()
        model = copy.deepcopy(self.model)
        for name, value in (eps or {}).items():
            model.get_submodule(name).eps = value
        inputs = self.inputs
        if perturb is not None:
            gen, h, additive = perturb if len(perturb) == 3 else (*perturb, False)

            def jiggle(t):
                sign = (2 * torch.randint(0, 2, t.shape, generator=gen) - 1).to(t.dtype)
                if additive:
                    return t + h * t.abs().max() * torch.rand(t.shape, generator=gen, dtype=t.dtype) * sign
                return t * (1 + h * sign)
            with torch.no_grad():
                for p in model.parameters():
                    p.copy_(jiggle(p))
            inputs = tuple(jiggle(x) if x.is_floating_point() else x for x in inputs)
            return model, inputs, jiggle
        return model, inputs, None

    def _call(self, model, inputs, values):
        torch = _torch()
        out = torch.func.functional_call(model, values, inputs)
        if not isinstance(out, torch.Tensor):
            raise UsageError(f"the model must return one tensor, got {type(out).__name__}")
        return out

    def evaluate(self, kind: str, values: dict, upstream=None, eps=None, perturb=None):
        """The model's output, or the gradient / Hessian of ``<upstream, output>`` in the scaled parameters."""
        torch = _torch()
        model, inputs, jiggle = self._prepared(eps, perturb)
        if jiggle is not None:
            values = {n: jiggle(v) for n, v in values.items()}
        if kind == "output":
            with torch.no_grad():
                return self._call(model, inputs, values).detach()
        flat0 = torch.cat([v.reshape(-1) for v in values.values()]).detach()
        shapes = [(n, v.shape, v.numel()) for n, v in values.items()]

        def loss(flat):
            parts, i = {}, 0
            for n, shape, k in shapes:
                parts[n] = flat[i:i + k].reshape(shape)
                i += k
            out = self._call(model, inputs, parts)
            return (self.upstream_for(out, upstream) * out).sum()

        if kind == "gradient":
            flat = flat0.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(loss(flat), flat)
            return g.detach()
        if kind == "hessian":
            return torch.autograd.functional.hessian(loss, flat0).detach()
        raise ValueError(kind)

    def upstream_for(self, out, upstream):
        torch = _torch()
        if upstream is None:
            gen = torch.Generator().manual_seed(0)
            return torch.randn(out.shape, generator=gen, dtype=torch.float64).to(out.dtype)
        up = self._tensor(upstream)
        if up.shape != out.shape:
            raise UsageError(f"upstream gradient has shape {tuple(up.shape)}, the output {tuple(out.shape)}")
        return up

    def with_tolerance(self, kind, values, upstream=None, eps=None, seed=0):
        """``(f, tol)``: the evaluation and its elementwise rounding bound (see the module docstring)."""
        f, response = self._response(kind, values, upstream, eps, seed)
        floor = self._term_size(kind, f, values, upstream, eps)
        tol = LAMBDA * math.sqrt(self.m) * self.u * (PROBE_SAFETY * response + floor) + 2 * self.u * f.abs()
        return f, tol

    def _response(self, kind, values, upstream, eps, seed=0):
        """``(f, max_probe |f(perturbed) - f| / h)``: the result and its response to relative perturbations."""
        torch = _torch()
        f = self.evaluate(kind, values, upstream, eps)
        gen = torch.Generator().manual_seed(seed)
        h = math.sqrt(self.u)
        response = torch.zeros_like(f)
        for _ in range(PROBES):
            probe = self.evaluate(kind, values, upstream, eps, perturb=(gen, h))
            response = torch.maximum(response, (probe - f).abs() / h)
        return f, response

    def _term_size(self, kind, f, values, upstream, eps):
        """The size of the terms the result is summed from: its largest value at generic nearby points,
        over the whole output, each gradient slice, each Hessian block (see the module docstring)."""
        torch = _torch()
        gen = torch.Generator().manual_seed(1)
        size = f.abs()
        for _ in range(GENERIC_PROBES):
            nearby = self.evaluate(kind, values, upstream, eps, perturb=(gen, GENERIC_SHIFT, True))
            size = torch.maximum(size, torch.nan_to_num(nearby.abs(), nan=0.0, posinf=0.0))
        if kind == "output":
            return size.max()
        slices = torch.cat([torch.arange(v.shape[0] if v.ndim else 1).repeat_interleave(v[0].numel() if v.ndim else 1)
                            + 10**6 * i for i, v in enumerate(values.values())])
        _, slices = torch.unique(slices, return_inverse=True)
        k = int(slices.max()) + 1
        if kind == "gradient":
            per = torch.zeros(k, dtype=size.dtype).scatter_reduce(0, slices, size, "amax")
            return per[slices]
        block = slices[:, None] * k + slices[None, :]
        per = torch.zeros(k * k, dtype=size.dtype).scatter_reduce(0, block.reshape(-1), size.reshape(-1), "amax")
        return per[block]


# ---- messages ------------------------------------------------------------------------------------------

def _worst(actual, expected, tol):
    excess = (actual - expected).abs() - tol
    i = int(excess.reshape(-1).argmax())
    index = tuple(int(j) for j in np.unravel_index(i, tuple(actual.shape))) if actual.ndim else ()
    return index, float(excess.reshape(-1)[i]) > 0


def _fmt_alpha(alpha) -> str:
    a = np.asarray(alpha, dtype=float)
    return f"{float(a):.6g}" if a.ndim == 0 else np.array2string(a, precision=4, separator=", ")


def _measured_degree(actual, reference, alpha):
    a = np.asarray(alpha, dtype=float)
    ra, rr = float(actual.norm()), float(reference.norm())
    if a.ndim != 0 or abs(abs(float(a)) - 1) < 1e-12 or ra == 0 or rr == 0:
        return None
    return math.log(ra / rr) / math.log(abs(float(a)))


def _eps_hints(model) -> list[str]:
    torch = _torch()
    lines = []
    for name, sub in model.named_modules():
        eps = getattr(sub, "eps", None)
        if isinstance(eps, float) and eps > 0:
            lines.append(f"submodule {name!r} ({type(sub).__name__}) has eps={eps:g}: it is invariant only up to "
                         f"eps, BN_eps(alpha w) = BN_(eps/alpha^2)(w); pass rescale_eps=({name!r},) to check "
                         f"that identity, or test with eps far below alpha^2 Var")
        if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm) and not sub.training \
                and sub.track_running_stats:
            lines.append(f"submodule {name!r} is in eval mode: its running statistics are fixed buffers and do "
                         f"not rescale with the weights (eval-mode BN is invariant only together with "
                         f"running_mean -> alpha*running_mean, running_var -> alpha^2*running_var)")
    return lines


def _fail(title, target, alpha, actual, expected, tol, index, notes):
    at = f" at {index}" if index else ""
    diff = float((actual - expected).abs().max())
    lines = [f"{title} (parameter {', '.join(map(repr, target.names))}, per {target.per}, "
             f"alpha = {_fmt_alpha(alpha)}, {str(target.dtype).replace('torch.', '')})",
             f"  counterexample{at}: expected {float(expected[index]):.10g}, got {float(actual[index]):.10g} "
             f"(rounding tolerance there {float(tol[index]):.3g}); max |difference| = {diff:.3g}"]
    lines += ["  " + n for n in notes]
    raise AssertionError("\n".join(lines))


# ---- public assertions -----------------------------------------------------------------------------

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
    actual, tol_act = target.with_tolerance("output", target.values(scales))
    tol = tol_ref + tol_act
    index, failed = _worst(actual, reference, tol)
    if failed:
        _fail("not scale-invariant", target, alpha, actual, reference, tol, index,
              _invariance_notes(model, actual, reference, alpha, tol, rescale_eps))


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


def _invariance_notes(model, actual, reference, alpha, tol, rescale_eps):
    notes = []
    a = np.asarray(alpha, dtype=float)
    if (a < 0).any() and bool(((actual + reference).abs() <= tol).all()):
        notes.append("f(alpha w) = -f(w) here: the output flips sign under a negative scale; normalizations are "
                     "invariant for alpha > 0 only (positively homogeneous of degree 0)")
        return notes
    p = _measured_degree(actual, reference, alpha)
    if p is not None:
        notes.append(f"measured degree: ||f(alpha w)|| / ||f(w)|| = |alpha|^{p:.3f} (0 for an invariant layer; "
                     f"-1 e.g. for a weight norm that divides by ||w||^2, +1 for a missing division)")
    if not rescale_eps:
        notes += _eps_hints(model)
    return notes


def assert_gradient_homogeneous(model, inputs, alpha, *, param="weight", degree: float = -1, per: str = "layer",
                                upstream=None):
    """Assert ``grad L(alpha w) = alpha**degree * grad L(w)`` for ``L = <upstream, model(inputs)>``.

    A scale-invariant layer has ``degree = -1`` (per layer, ``alpha > 0``; per channel, each row of the
    gradient scales by its own ``1/alpha_c``). ``upstream`` defaults to fixed standard-normal values.
    """
    _check_per_degree(per, degree, -1)
    target = _Target(model, inputs, param, per)
    scales = target.scales(alpha)
    factor = _flat_factor(target, scales, degree)
    ref, tol_ref = target.with_tolerance("gradient", target.values(), upstream)
    act, tol_act = target.with_tolerance("gradient", target.values(scales), upstream)
    expected = ref * factor
    tol = tol_act + tol_ref * factor.abs()
    index, failed = _worst(act, expected, tol)
    if failed:
        _fail(f"gradient not homogeneous of degree {degree}", target, alpha, act, expected, tol, index,
              _degree_notes(act, ref, alpha, "gradient"))


def assert_hessian_homogeneous(model, inputs, alpha, *, param="weight", degree: float = -2, per: str = "layer",
                               upstream=None):
    """Assert ``Hess L(alpha w) = alpha**degree * Hess L(w)`` (per channel: ``S^-1 H S^-1``, ``S = diag(alpha)``).

    Computed with ``torch.autograd.functional.hessian``: keep the parameter small (its size squared entries).
    """
    _check_per_degree(per, degree, -2)
    target = _Target(model, inputs, param, per)
    scales = target.scales(alpha)
    s = _flat_factor(target, scales, -1 if per == "channel" else degree / 2)
    factor = s[:, None] * s[None, :]
    ref, tol_ref = target.with_tolerance("hessian", target.values(), upstream)
    act, tol_act = target.with_tolerance("hessian", target.values(scales), upstream)
    expected = ref * factor
    tol = tol_act + tol_ref * factor.abs()
    index, failed = _worst(act, expected, tol)
    if failed:
        _fail(f"Hessian not homogeneous of degree {degree}", target, alpha, act, expected, tol, index,
              _degree_notes(act, ref, alpha, "Hessian"))


def _check_per_degree(per, degree, invariant_degree):
    if per == "channel" and degree != invariant_degree:
        raise UsageError(f"per-channel scaling is only meaningful for a per-channel invariant layer "
                         f"(degree {invariant_degree}), got degree {degree}")


def _flat_factor(target, scales, power):
    torch = _torch()
    return torch.cat([(scales[n] ** power * torch.ones_like(p)).reshape(-1) for n, p in target.base.items()])


def _degree_notes(actual, reference, alpha, what):
    p = _measured_degree(actual, reference, alpha)
    if p is None:
        return []
    return [f"measured degree: ||{what}(alpha w)|| / ||{what}(w)|| = |alpha|^{p:.3f}"]


def homogeneity_degree(model, inputs, *, param="weight", of: str = "output", alphas=None, upstream=None) -> float:
    """The fitted ``p`` in ``||F(alpha w)|| ~ alpha**p`` for ``F`` = the output, its gradient or its Hessian.

    Least-squares slope of ``log ||F(alpha w)||`` against ``log alpha`` over ``alphas`` (default
    ``2**-3 .. 2**3``). A scale-invariant layer gives 0, -1, -2.
    """
    torch = _torch()
    if of not in ("output", "gradient", "hessian"):
        raise UsageError(f"of must be 'output', 'gradient' or 'hessian', got {of!r}")
    alphas = np.asarray(alphas if alphas is not None else 2.0 ** np.arange(-3, 4), dtype=float)
    if alphas.ndim != 1 or len(alphas) < 2 or (alphas <= 0).any():
        raise UsageError("alphas must be two or more positive scale factors")
    target = _Target(model, inputs, param, "layer")
    logs = [math.log(float(torch.linalg.vector_norm(target.evaluate(of, target.values(target.scales(a)), upstream))))
            for a in alphas]
    return float(np.polyfit(np.log(alphas), logs, 1)[0])
