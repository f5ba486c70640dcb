"""The scale relations of a whole network, module by module: which joint rescalings leave it unchanged.

A rescaling multiplies parameter tensor ``u`` by ``alpha**g_u``. If the loss is unchanged for every alpha > 0 the
group ``{u : g_u = 1}`` is jointly scale-invariant, and by Euler's identity ``sum_u g_u <theta_u, grad_u L> = 0``.
A network found this way only through its whole gradient needs about as many gradients as it has tensors. Here the
search is local instead. One forward pass records every module call (its inputs and its output); then, for each
call, a Jacobian of that module alone (its children replaced by their recorded outputs; central differences in the
log-scales) gives how its output and its children's inputs change when its inputs, its own parameters and its
children's outputs are each scaled. Where such an activation ``a`` comes out as ``a * alpha**c`` (homogeneous of
degree ``c``), the log-scale exponents satisfy a linear relation; the relations of all calls, with degree 0 at the
network's input and output, form one linear system whose solutions ``g`` are the rescalings that leave the output
unchanged because every activation on the way is homogeneous and a normalization (any module whose output does not
depend on its input's scale, found numerically) absorbs the scale. :func:`invariant_subspace` returns them; the 0/1
vectors in that subspace are the candidate groups, found by linear programming in :mod:`normlaws.audit_groups` and
confirmed there by rescaling the whole network.

Cost: one recorded forward, plus for each call two evaluations of that call alone per input, own parameter and
child (a few forward passes of the network in all, since a call's children are not evaluated again). Modules that
return something other than one tensor, or take tensor keyword arguments, are not cut: their parameters join the
nearest call that can be.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: a singular value below this fraction of the largest (columns normalised) is a relation
LOCAL_RTOL = 1e-8
#: the relative step of the central differences in the log-scales (a power of two: 1 +- h is exact); their
#: error, (h**2/6) times the third derivative ~ 1e-11 and rounding/h ~ 1e-11, sits between the two tolerances below
FD_STEP = 2.0 ** -17
#: a Jacobian column below this fraction of the largest one is zero (rounding errors of an exact zero)
ZERO_RTOL = 1e-9
#: an eigenvalue of the global system (a sum of projectors) below this fraction of the largest is a solution
GLOBAL_RTOL = 1e-10


@dataclass
class Call:
    """One module call of the recorded forward pass."""

    index: int
    module: object
    parent: int | None
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    output: object = None
    children: list = field(default_factory=list)

    def cuttable(self, torch) -> bool:
        """Whether the call can be replaced by its recorded output: one floating tensor out, no tensor keywords."""
        return (isinstance(self.output, torch.Tensor) and self.output.is_floating_point()
                and not any(isinstance(v, torch.Tensor) for v in self.kwargs.values()))

    def tensor_args(self, torch) -> list:
        """Positions of the floating-point tensor arguments (the ones that can be scaled)."""
        return [i for i, a in enumerate(self.args) if isinstance(a, torch.Tensor) and a.is_floating_point()]


def record_calls(torch, model, inputs) -> list:
    """Run ``model(*inputs)`` once (no autograd) and return every module call, outermost first."""
    calls, stack, handles = [], [], []

    def pre(module, args, kwargs):
        parent = stack[-1] if stack else None
        call = Call(len(calls), module, parent,
                    tuple(a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args), dict(kwargs))
        calls.append(call)
        if parent is not None:
            calls[parent].children.append(call.index)
        stack.append(call.index)

    def post(module, args, kwargs, output):
        calls[stack.pop()].output = output.detach().clone() if isinstance(output, torch.Tensor) else output

    for module in model.modules():
        handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(module.register_forward_hook(post, with_kwargs=True))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return calls


class Variables:
    """Indices of the unknowns: one log-scale per parameter tensor, per call input and per call output."""

    def __init__(self, param_names):
        self.index = {("param", n): i for i, n in enumerate(param_names)}
        self.n_params = len(param_names)

    def __call__(self, key) -> int:
        return self.index.setdefault(key, len(self.index))

    def __len__(self) -> int:
        return len(self.index)


def _null_space(torch, columns, rtol=LOCAL_RTOL) -> np.ndarray:
    """An orthonormal basis (as columns) of the null space of the matrix with these columns.

    Columns are scaled to unit norm first (a relation between a large and a tiny activation is still one);
    a column of zeros (a scale that does not reach this activation, or that the module removes, where the
    Jacobian holds only rounding errors) is a relation by itself.
    """
    A = torch.stack([c.detach().reshape(-1) for c in columns], dim=1)
    norms = torch.linalg.vector_norm(A, dim=0)
    live = (norms > ZERO_RTOL * float(norms.max())).numpy() if len(norms) else np.zeros(0, bool)
    k = A.shape[1]
    basis = np.eye(k)[:, ~live]
    if live.any():
        M = A[:, torch.as_tensor(live)] / norms[torch.as_tensor(live)]
        _, s, vh = torch.linalg.svd(M, full_matrices=M.shape[0] < M.shape[1])
        rank = int((s > rtol * s[0]).sum())
        null = (vh[rank:].T / norms[torch.as_tensor(live), None]).numpy()   # undo the column scaling
        full = np.zeros((k, null.shape[1]))
        full[live] = null
        basis = np.hstack([basis, full])
    if basis.shape[1] == 0:
        return basis
    u, s, _ = torch.linalg.svd(torch.as_tensor(basis), full_matrices=False)    # torch's LAPACK: torch's threads
    return u[:, s > 1e-12 * s[0]].numpy()


def _owners(torch, model, calls) -> dict:
    """``{call index: [parameter names]}``: each parameter joins the nearest call that can be cut and owns it."""
    cut = {c.index for c in calls if c.cuttable(torch)}
    calls_of = {}
    for c in calls:
        if c.index in cut:
            calls_of.setdefault(id(c.module), []).append(c.index)
    modules = dict(model.named_modules())
    out = {}
    for pname, _ in model.named_parameters():
        path = pname.split(".")[:-1]
        while True:
            owner = modules[".".join(path)]
            if id(owner) in calls_of:
                for i in calls_of[id(owner)]:
                    out.setdefault(i, []).append(pname)
                break
            if not path:
                break
            path = path[:-1]
    return out


class _Stubs:
    """Replace the forward of the cut children of one call by their recorded outputs (times a factor)."""

    def __init__(self, calls, children):
        self.calls, self.children = calls, children
        self.factors, self.captured = {}, []

    def __enter__(self):
        by_module: dict = {}
        for i in self.children:
            by_module.setdefault(id(self.calls[i].module), []).append(i)
        self.patched = []
        for indices in by_module.values():
            module = self.calls[indices[0]].module
            self.patched.append((module, module.__dict__.get("forward")))
            module.forward = self._stub(indices)
        return self

    def _stub(self, indices):
        counter = iter(indices)

        def forward(*args, **kwargs):
            i = next(counter)
            self.captured.append((i, args))
            factor = self.factors.get(("out", i))      # a copy: the caller may change it in place (out += x)
            return self.calls[i].output.clone() if factor is None else self.calls[i].output * factor
        return forward

    def __exit__(self, *exc):
        for module, own in self.patched:
            if own is None:
                del module.forward
            else:
                module.forward = own


def call_relations(torch, model, calls, variables, progress=None):
    """Yield, for every cut call, ``(var indices, null-space basis)`` pairs: its local scale relations."""
    owners = _owners(torch, model, calls)
    params = dict(model.named_parameters())
    for call in calls:
        if progress:
            progress.advance(1, "module relations")
        if not call.cuttable(torch):
            continue
        children = [i for i in call.children if calls[i].cuttable(torch)]
        yield from _relations_of(torch, model, calls, call, children, owners.get(call.index, []), params, variables)


def _relations_of(torch, model, calls, call, children, own, params, variables):
    arg_pos = call.tensor_args(torch)
    keys = [("in", p) for p in arg_pos] + [("param", n) for n in own] + [("out", i) for i in children]
    var_of_key = [variables(("in", call.index, p)) for p in arg_pos] + \
        [variables.index[("param", n)] for n in own] + [variables(("out", i)) for i in children]
    owned = {g: params[g] for g in own}
    stubs = _Stubs(calls, children)

    def evaluate(key=None, factor=1.0):
        """The call's output and its cut children's inputs, with one scale variable multiplied by ``factor``."""
        stubs.factors, stubs.captured = ({key: factor} if key else {}), []
        args = tuple(a * factor if key == ("in", p) else a.clone() if isinstance(a, torch.Tensor) else a
                     for p, a in enumerate(call.args))       # copies: an in-place module changes its input
        scaled = owned.get(key[1]) if key and key[0] == "param" else None
        with torch.no_grad(), stubs:
            saved = scaled.detach().clone() if scaled is not None else None
            if scaled is not None:
                scaled.copy_(saved * factor)
            try:
                out = call.module(*args, **call.kwargs)
            finally:
                if scaled is not None:
                    scaled.copy_(saved)
        seen = [a for _, args_ in stubs.captured for a in args_
                if isinstance(a, torch.Tensor) and a.is_floating_point()]
        return (out, *seen)

    columns = [[(hi - lo) / (2 * FD_STEP) for hi, lo in zip(evaluate(k, 1 + FD_STEP), evaluate(k, 1 - FD_STEP))]
               for k in keys]
    targets = [(variables(("out", call.index)), call.output)]
    for i in children:
        for p in calls[i].tensor_args(torch):
            targets.append((variables(("in", i, p)), calls[i].args[p]))
    for k, (target_var, value) in enumerate(targets):
        basis = _null_space(torch, [col[k] for col in columns] + [-value.to(torch.float64)])
        yield var_of_key + [target_var], basis


def invariant_subspace(torch, model, inputs, progress=None):
    """``(basis, system)``: an orthonormal basis (n_params x r) of the log-scalings ``g`` of the parameter tensors
    (in ``model.named_parameters()`` order) that leave the output unchanged through homogeneous activations, and
    the solved system (for the degrees of every activation under a given ``g``: :class:`DegreeSolver`)."""
    names = [n for n, _ in model.named_parameters()]
    calls = record_calls(torch, model, inputs)
    variables = Variables(names)
    relations = list(call_relations(torch, model, calls, variables, progress))
    S = np.zeros((len(variables), len(variables)))
    for var_idx, basis in relations:
        idx = np.asarray(var_idx)
        S[np.ix_(idx, idx)] += np.eye(len(idx)) - basis @ basis.T
    root = calls[0]
    for v in [variables(("in", 0, p)) for p in root.tensor_args(torch)] + [variables(("out", 0))]:
        S[v, v] += 1.0                                   # the data and the output keep their scale
    bound = GLOBAL_RTOL * max(float(np.abs(S).sum(1).max()), 1.0)      # >= the largest eigenvalue
    lam, vec = torch.linalg.eigh(torch.as_tensor(S))        # torch's LAPACK keeps to torch's threads
    null = vec[:, lam <= bound].numpy()
    g = torch.as_tensor(null[:variables.n_params])
    u, sg, _ = torch.linalg.svd(g, full_matrices=False)
    basis = (u[:, sg > 1e-6] if len(sg) else g).numpy()
    return basis, {"S": S, "variables": variables, "calls": calls, "names": names,
                   "module_names": {id(m): n for n, m in model.named_modules()}, "owners": _owners(torch, model, calls)}


class DegreeSolver:
    """The log-scale of every recorded activation under a given rescaling of the parameters, by least squares on
    the relations (the parameters in ``free`` take whatever scale fits; one factorization for every query)."""

    def __init__(self, torch, system, free=()):
        S, variables, names = system["S"], system["variables"], system["names"]
        n = variables.n_params
        self.S, self.names, self.index = S, names, variables.index
        self.fixed = np.array([i < n and names[i] not in free for i in range(len(variables))])
        lam, vec = torch.linalg.eigh(torch.as_tensor(S[np.ix_(~self.fixed, ~self.fixed)]))
        lam, vec = lam.numpy(), vec.numpy()
        keep = lam > 1e-10 * max(float(lam.max()), 1.0) if len(lam) else lam > 0
        self.pinv = (vec[:, keep] / lam[keep]) @ vec[:, keep].T      # minimum-norm least squares
        self.coupling = S[np.ix_(~self.fixed, self.fixed)]

    def __call__(self, g: dict) -> tuple:
        """``(degrees, residual)`` for parameters scaled by ``alpha**g[name]``; a residual above rounding means
        the rescaling is not explained by homogeneous activations."""
        n = len(self.names)
        v = np.zeros(len(self.S))
        v[:n] = [g.get(name, 0.0) for name in self.names]
        v[~self.fixed] = -self.pinv @ (self.coupling @ v[self.fixed])
        return {key: v[i] for key, i in self.index.items()}, float(v @ self.S @ v)


def removers(system, degrees) -> list:
    """The module calls that absorb the scale: an input or own parameter scaled, the output not, and no child
    call that already does (the normalization itself rather than the block around it)."""
    calls, owned, modules, index = system["calls"], system["owners"], system["module_names"], system["variables"].index
    v = np.array([abs(degrees.get(key, 0.0)) > 0.5 for key in index])
    hit = {}
    for call in calls:
        out = index.get(("out", call.index))
        if out is None or v[out]:
            hit[call.index] = False
            continue
        ins = [index[("in", call.index, p)] for p in range(len(call.args)) if ("in", call.index, p) in index]
        hit[call.index] = bool(v[ins].any()) or any(v[index[("param", n)]] for n in owned.get(call.index, []))
    below = {}
    for call in reversed(calls):                 # children are recorded after their parent
        below[call.index] = any(below[i] or hit[i] for i in call.children)
    names = []
    for call in calls:
        if hit[call.index] and not below[call.index]:
            name = modules.get(id(call.module), "?") or "(the model)"
            if name not in names:
                names.append(name)
    return names
