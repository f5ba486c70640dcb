"""Every scale invariance of a network: single tensors, and groups of tensors within and across modules.

:func:`find_invariances` runs on the probe of :mod:`normlaws.audit_probe`:

1. **single tensors**: Euler's identity (``<theta, grad L> = 0`` exactly when ``L`` is 0-homogeneous in
   ``theta``) on a few random gradients proposes the tensors that are invariant per channel or per layer and
   those whose gradient is zero (no effect);
2. **groups**: the scale relations of :mod:`normlaws.audit_graph` give the subspace of log-scalings that leave
   the output unchanged; its 0/1 vectors (with the single tensors above free to take any scale) are found by
   linear programming: one program for the largest set of tensors that any nonnegative solution touches, then,
   from each tensor of that set not yet in a group, the smallest 0/1 solution that contains it. A group found
   this way cannot be split into invariant parts (it is the smallest containing its seed), and every jointly
   invariant set is a union of such groups;
3. **confirmation**: every claim is checked on the whole network by rescaling (random factors, per channel
   where claimed, signs included for no-effect), all claims of a round at once and then bisected if the output
   changes. Only confirmed claims are reported; a failed per-channel claim is retried per layer.

Each confirmed invariance names the modules that absorb its scale (:func:`normlaws.audit_graph.removers`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from . import audit_graph, audit_probe

#: factors of the rescaling test: log-uniform in [e^-1.2, e^1.2], per-layer ones at least e^0.3 from 1
LOG_RANGE, LOG_MIN = 1.2, 0.3
DRAWS = 2
#: a solution whose entries are within this of 0 or 1 is a 0/1 vector (the relations of a branch that a
#: layer scale of 1e-6 multiplies are known to ~1e-6; the rescaling test decides)
ZERO_ONE_ATOL = 1e-3


@dataclass
class Invariance:
    """A confirmed invariance: these tensors scaled together (or one tensor), per channel or per layer, or a tensor
    with no effect at all; and the modules that absorb the scale."""

    members: tuple
    per: str                    # "channel", "layer" or "no-effect"
    removed_by: tuple = ()
    alternatives: tuple = ()    # ((these members, can be exchanged for these), ...): equivalent groups

    @property
    def joint(self) -> bool:
        return len(self.members) > 1


def zero_one_vectors(basis, free, modules=None) -> list:
    """The groups (index tuples) from the 0/1 vectors of the column span of ``basis`` (see the module docstring).

    ``free``: boolean mask of coordinates that may take any value (tensors already invariant by themselves);
    they are never members. ``modules``: for each coordinate, the module that owns it; the tensors of a seed's
    own module are tried first (a 0/1 vector in the span whose parts are not: no linear program needed).
    """
    n, r = basis.shape
    bound = ~np.asarray(free, bool) & (np.abs(basis).max(1) > 1e-9 if r else False)   # outside the span: never
    if r == 0 or not bound.any():
        return []
    u, sv, _ = np.linalg.svd(basis[bound], full_matrices=False)   # the span's bound coordinates, orthonormal
    Q = u[:, sv > 1e-9 * sv[0]]
    k, r = Q.shape
    owner = np.asarray(modules if modules is not None else np.arange(n))[bound]

    def in_span(indices):
        g = np.zeros(k)
        g[list(indices)] = 1.0
        return np.abs(Q @ (Q.T @ g) - g).max() < ZERO_ONE_ATOL
    # largest support of a nonnegative solution: max sum s, s <= Q c, 0 <= s <= 1, Q c >= 0
    slack = ZERO_ONE_ATOL / 10          # the span is known to ~1e-6: exact bounds could cut its 0/1 vectors off
    res = linprog(np.r_[np.zeros(r), -np.ones(k)], A_ub=np.block([[-Q, np.zeros((k, k))], [-Q, np.eye(k)]]),
                  b_ub=np.r_[np.full(k, slack), np.zeros(k)], bounds=[(None, None)] * r + [(0, 1)] * k, method="highs")
    support = np.flatnonzero(res.x[r:] > 0.5) if res.status == 0 else np.arange(k)
    groups, covered = [], set()
    for seed in support:
        if seed in covered:
            continue
        local = [i for i in np.flatnonzero(owner == owner[seed]) if i in set(support)]
        if len(local) > 1 and in_span(local) and not any(in_span([i]) for i in local):
            members = tuple(int(i) for i in np.flatnonzero(bound)[local])
            covered.update(local)
            groups.append(members)
            continue
        res = linprog(Q.sum(0), A_ub=np.vstack([Q, -Q]), b_ub=np.r_[np.full(k, 1 + slack), np.full(k, slack)],
                      A_eq=Q[seed:seed + 1], b_eq=[1.0], bounds=[(None, None)] * r, method="highs")
        if res.status != 0:
            continue
        g = Q @ res.x
        if np.abs(g - np.round(g)).max() > ZERO_ONE_ATOL:
            continue
        members = tuple(int(i) for i in np.flatnonzero(bound)[np.round(g) == 1])
        covered.update(np.flatnonzero(np.round(g) == 1))
        if members not in groups:
            groups.append(members)
    return groups


def _factors(claim, shapes, rng) -> dict:
    """Random factors for one claim ``(members, per)``: one factor (per layer) or one vector (per channel) shared
    by all members; per entry of dimension 0, signs included, for a tensor claimed to have no effect."""
    members, per = claim
    channels = shapes[members[0]][0] if shapes[members[0]] else 1
    if per == "layer":
        shared = float(np.exp(rng.uniform(LOG_MIN, LOG_RANGE) * rng.choice([-1, 1])))
    else:
        shared = np.exp(rng.uniform(-LOG_RANGE, LOG_RANGE, channels))
        if per == "no-effect":
            shared = shared * rng.choice([-1.0, 1.0], channels)
    return {name: shared for name in members}


def _combine(claims, shapes, rng) -> dict:
    factors: dict = {}
    for claim in claims:
        for name, f in _factors(claim, shapes, rng).items():
            factors[name] = factors[name] * f if name in factors else f
    return factors


def confirm(rescaler, claims, shapes, seed=0) -> list:
    """Which ``(members, per)`` claims leave the output unchanged under rescaling (all at once, bisected)."""
    rng = np.random.default_rng(seed)
    ok = [False] * len(claims)

    def holds(indices):
        return all(rescaler.unchanged(_combine([claims[i] for i in indices], shapes, rng)) for _ in range(DRAWS))

    def bisect(indices):
        if not indices:
            return
        if holds(indices):
            for i in indices:
                ok[i] = True
        elif len(indices) > 1:
            bisect(indices[:len(indices) // 2])
            bisect(indices[len(indices) // 2:])

    bisect(list(range(len(claims))))
    return ok


def _single_claims(sums, shapes) -> dict:
    """Proposals for single tensors from the Euler sums: no-effect, per channel, per layer (strongest first)."""
    out = {}
    biggest = max(float(v[1].sum(1).max()) for v in sums.values())
    for name, shape in shapes.items():
        zero = audit_probe.no_effect(sums, name, biggest)    # a zero gradient satisfies Euler's identity too
        options = ["no-effect"] if zero else []
        if len(shape) and shape[0] > 1 and (zero or audit_probe.first_order(sums, (name,), "channel")):
            options.append("channel")
        if zero or audit_probe.first_order(sums, (name,), "layer"):
            options.append("layer")
        if options:
            out[name] = options
    return out


def _confirm_with_fallback(rescaler, proposals, shapes, seed) -> dict:
    """``{members: per}`` for the strongest confirmed option of each proposal ``{members: [options]}``."""
    result, pending = {}, dict(proposals)
    round_ = 0
    while pending:
        claims = [(members, options[0]) for members, options in pending.items()]
        ok = confirm(rescaler, claims, shapes, seed + round_)
        round_ += 1
        nxt = {}
        for (members, per), good in zip(claims, ok):
            if good:
                result[members] = per
            elif len(pending[members]) > 1:
                nxt[members] = pending[members][1:]
        pending = nxt
    return result


def find_invariances(torch, probe, x, progress=None, seed: int = 0) -> tuple:
    """``(invariances, notes)`` for the probe (see the module docstring)."""
    names = [n for n, _ in probe.named_parameters()]
    shapes = {n: tuple(p.shape) for n, p in probe.named_parameters()}
    sums = audit_probe.euler_sums(torch, probe, x, seed)
    rescaler = audit_probe.Rescaler(torch, probe, x)
    singles = _confirm_with_fallback(
        rescaler, {(n,): opts for n, opts in _single_claims(sums, shapes).items()}, shapes, seed)
    if progress:
        progress.advance(1, "single tensors")
    notes = []
    try:
        basis, system = audit_graph.invariant_subspace(torch, probe, (x,), progress)
    except Exception as exc:   # a model the relations cannot follow: single tensors only, said so
        notes.append(f"groups across tensors not searched: the module-by-module relations failed "
                     f"({type(exc).__name__}: {exc})")
        return [Invariance(m, per) for m, per in singles.items()], notes
    free = np.array([(n,) in singles for n in names])
    proposals = {}
    owners = [n.rsplit(".", 1)[0] if "." in n else "" for n in names]
    for idx in zero_one_vectors(basis, free, owners):
        members = tuple(names[i] for i in idx)
        if len(members) == 1 and members in singles:
            continue
        options = []
        if len({shapes[m][:1] for m in members}) == 1 and shapes[members[0]][:1] not in ((), (1,)) \
                and audit_probe.first_order(sums, members, "channel"):
            options.append("channel")
        if audit_probe.first_order(sums, members, "layer"):
            options.append("layer")
        if options:
            proposals[members] = options
    groups = _confirm_with_fallback(rescaler, proposals, shapes, seed + 100)
    if progress:
        progress.advance(1, "groups confirmed")
    rejected = len(proposals) - len(groups)
    if rejected:
        notes.append(f"{rejected} candidate group(s) from the relations failed the rescaling test and are not reported")
    solver = audit_graph.DegreeSolver(torch, system, {n for (n,), per in singles.items() if per == "no-effect"})
    found = [Invariance(m, per, _removed_by(solver, system, m, per)) for m, per in singles.items()]
    return found + _fold_alternatives(solver, system, groups), notes


def _fold_alternatives(solver, system, groups) -> list:
    """Groups, smallest first; a group that overlaps a smaller one absorbed by the same modules is reported as
    an alternative of it (e.g. a residual branch scaled by its layer scale or by its last layer: either way)."""
    out = []
    for members, per in sorted(groups.items(), key=lambda kv: (len(kv[0]), kv[0])):
        removed = _removed_by(solver, system, members, per)
        for i, g in enumerate(out):
            if set(g.members) & set(members) and g.removed_by == removed:
                swap = (tuple(m for m in g.members if m not in members),
                        tuple(m for m in members if m not in g.members))
                if swap not in g.alternatives:
                    out[i] = Invariance(g.members, g.per, g.removed_by, g.alternatives + (swap,))
                break
        else:
            out.append(Invariance(members, per, removed))
    return out


def _removed_by(solver, system, members, per) -> tuple:
    if per == "no-effect":
        return ()
    degrees, residual = solver({m: 1.0 for m in members})
    if residual > 1e-8:
        return ()
    return tuple(audit_graph.removers(system, degrees))
