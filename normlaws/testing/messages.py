"""The failure messages of :mod:`normlaws.testing.invariance`: the counterexample, the measured degree, and
hints that say what usually causes the failure, each checked before it is given (a companion parameter with
which the scaling does leave the output unchanged; a normalization eps, only when the output is unchanged with
every eps at :data:`EPS_NEGLIGIBLE`; a BatchNorm in eval mode)."""
from __future__ import annotations

import copy
import math

import numpy as np

#: the eps a failure hint tries in place of each normalization's, to tell whether its eps is the cause
EPS_NEGLIGIBLE = 1e-30


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


def _eps_hints(target, scales, reference, tol) -> list[str]:
    """Name the normalization eps only when it is the cause: with every eps at 1e-30 the output is unchanged."""
    import torch  # optional dependency: only the layer assertions need it
    modules = [(name, sub) for name, sub in target.model.named_modules()
               if isinstance(getattr(sub, "eps", None), float) and sub.eps > EPS_NEGLIGIBLE]
    if not modules:
        return []
    tiny = {name: EPS_NEGLIGIBLE for name, _ in modules}
    ref = target.evaluate("output", target.values(), eps=tiny)
    act = target.evaluate("output", target.values(scales), eps=tiny)
    if not bool(torch.isfinite(act).all() and torch.isfinite(ref).all()) or _worst(act, ref, tol)[1]:
        return []
    return [f"submodule {name!r} ({type(sub).__name__}) has eps={sub.eps:g}: with every eps at "
            f"{EPS_NEGLIGIBLE:g} the output is unchanged, so the eps is the cause: BN_eps(alpha w) = "
            f"BN_(eps/alpha^2)(w); pass rescale_eps=({name!r},) to check that identity, or test with eps far below "
            f"alpha^2 Var" for name, sub in modules]


def _companion_hints(target, alpha, scales, reference, tol) -> list[str]:
    """The other parameters of the tested ones' modules with which the scaling does leave the output unchanged
    (a weight's bias, a gain's shift): found by trying each, and all of them together, with every normalization
    eps at :data:`EPS_NEGLIGIBLE` (the structure, not the eps, is what the hint is about)."""
    import torch  # optional dependency: only the layer assertions need it
    params = dict(target.model.named_parameters())
    owners = {n.rsplit(".", 1)[0] if "." in n else "" for n in target.names}
    others = [n for n in params if n not in target.names and (n.rsplit(".", 1)[0] if "." in n else "") in owners]
    if not others:
        return []
    tiny = {n: EPS_NEGLIGIBLE for n, m in target.model.named_modules() if isinstance(getattr(m, "eps", None), float)}
    model = copy.deepcopy(target.model).to(torch.float64)
    for name in tiny:
        model.get_submodule(name).eps = EPS_NEGLIGIBLE
    if tiny:
        reference = target.evaluate("output", target.values(), eps=tiny)
    factor = torch.as_tensor(np.asarray(alpha, dtype=float), dtype=torch.float64)
    for extra in [[n] for n in others] + ([others] if len(others) > 1 else []):
        values = target.values(scales)
        for n in extra:
            p = params[n].detach().to(torch.float64)
            if factor.ndim and (p.ndim == 0 or p.shape[0] != factor.numel()):
                break
            values[n] = p * (factor.reshape((-1,) + (1,) * (p.ndim - 1)) if factor.ndim else factor)
        else:
            with torch.no_grad():
                out = torch.func.functional_call(model, values, target.inputs)
            if bool(torch.isfinite(out).all()) and not _worst(out, reference, tol)[1]:
                names = tuple(target.names) + tuple(extra)
                return [f"scaled together with {', '.join(map(repr, extra))} the output is unchanged"
                        f"{' (with every eps at %g)' % EPS_NEGLIGIBLE if tiny else ''}: the invariance is joint, "
                        f"pass param={names!r}"]
    return []


def _eval_hints(model) -> list[str]:
    import torch  # optional dependency: only the layer assertions need it
    return [f"submodule {name!r} is in eval mode: its running statistics are fixed buffers and do not rescale "
            f"with the weights (eval-mode BN is invariant only together with running_mean -> alpha*running_mean, "
            f"running_var -> alpha^2*running_var, e.g. re-estimated under the scaled weights)"
            for name, sub in model.named_modules()
            if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm) and not sub.training and sub.track_running_stats]


def _fail(title, target, alpha, actual, expected, tol, index, notes):
    at = f" at {index}" if index else ""
    diff = float((actual - expected).abs().max())
    lines = [f"{title} (parameter {', '.join(map(repr, target.names))}, per {target.per}, "
             f"alpha = {_fmt_alpha(alpha)}; evaluated in float64)",
             f"  counterexample{at}: expected {float(expected[index]):.10g}, got {float(actual[index]):.10g} "
             f"(rounding tolerance there {float(tol[index]):.3g}); max |difference| = {diff:.3g}"]
    lines += ["  " + n for n in notes]
    raise AssertionError("\n".join(lines))


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
    return notes


def _degree_notes(actual, reference, alpha, what):
    p = _measured_degree(actual, reference, alpha)
    if p is None:
        return []
    return [f"measured degree: ||{what}(alpha w)|| / ||{what}(w)|| = |alpha|^{p:.3f}"]
