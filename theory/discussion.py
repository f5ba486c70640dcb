"""Section 7 of van Laarhoven (2017): what L2 does to the BN parameters gamma and beta.

The paper: "with rectified linear activation functions, scaling of gamma also has no effect on the function value
in subsequent layers. So the only parameters that are actually regularized are the gamma's for the last layer."

The symbolic model: a batch of 3 inputs ``x_i`` (one feature) through two BN layers of one unit each and a final
linear output,

    z1 = BN(w1 x),  h1 = relu(gamma1 z1 + beta1),  z2 = BN(w2 h1),  h2 = relu(gamma2 z2 + beta2),  o = V h2 + b,

with ``relu(u) = (u + |u|)/2`` (exact for reals) and BN the batch standardization of ``normalization``. A parameter
group is *actually regularized* by ``lambda * ||theta||^2`` unless some function-preserving rescaling drives its
penalty to zero: if scaling the group alone by any ``c > 0`` leaves the network's output unchanged, the penalty can
be made as small as wanted without changing the function, so L2 has no regularizing effect on it (it only sets its
scale, and so its effective learning rate, as for w in Sections 2-3).

Sets of parameters are written as sums of one symbol per parameter (``gamma_last + beta_last + V + b``), so that
two sets are equal exactly when their sums are.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from . import printed
from .claim import Claim
from .derivation import Derivation, Step, reduce_to_zero
from .norm_calculus import instantiator, pull_scale
from .norm_model import PREACT, _abs
from .symbols import beta, gamma, lam

c = printed.c_gamma                                   # the (positive) rescaling factor
x1, x2, x3 = INPUTS = sp.symbols("x1:4", real=True)   # the batch's inputs (one feature)
#: the first BN layer's outputs z1 = BN(w1 x) over the batch; the rest of the network sees w1 only through them
Z1 = sp.symbols("z1:4", real=True)
w1, w2, V, b = sp.symbols("w_1 w_2 V b", real=True)
gamma1, gamma2 = sp.symbols("gamma_1 gamma_last", positive=True)
beta1, beta2 = sp.symbols("beta_1 beta_last", real=True)
#: the network's parameters, grouped as L2 sees them (gamma and beta of one layer form one group)
GROUPS = {"w_1": (w1,), "gamma_1, beta_1": (gamma1, beta1), "w_2": (w2,), "gamma_last, beta_last": (gamma2, beta2),
          "V": (V,), "b": (b,)}


def relu(u):
    """``max(u, 0) = (u + |u|)/2`` (exact for real u). The rescaling factor ``c`` is pulled out of the argument
    first, so that ``|c a| = c |a|`` (c > 0) and the sign SymPy chooses inside ``|a|`` does not depend on c.

    >>> relu(sp.Integer(-3)), relu(sp.Integer(2))
    (0, 2)
    """
    return (u + _abs(pull_scale(u, c))) / 2


def standardize(values):
    """Batch standardization ``(v_i - mean) / std`` (biased), built without expanding (the nested layers stay small;
    a common scale factor is taken out by :func:`norm_calculus.pull_scale`)."""
    mean = sp.Add(*values) / len(values)
    centred = [v - mean for v in values]
    return tuple(ci / sp.sqrt(sp.Add(*[cj**2 for cj in centred]) / len(values)) for ci in centred)


def next_layer(z, gamma_, beta_, weight=1):
    """The next BN layer's first normalized output, fed by ``relu(gamma_ z_i + beta_)`` over the batch."""
    h = tuple(relu(gamma_ * zi + beta_) for zi in z)
    return standardize(tuple(weight * hi for hi in h))[0]


def first_layer(params: dict, inputs=INPUTS):
    """The first BN layer's outputs ``BN(w1 x)`` over the batch."""
    return standardize(tuple(params.get(w1, w1) * x for x in inputs))


def network(params: dict, z1=Z1):
    """The first output ``o_1`` of the network after the first BN layer (whose outputs are ``z1``), with the given
    parameter values (symbols otherwise)."""
    p = {s: s for group in GROUPS.values() for s in group}
    p.update(params)
    h1 = tuple(relu(p[gamma1] * zi + p[beta1]) for zi in z1)
    z2 = standardize(tuple(p[w2] * hi for hi in h1))
    return p[V] * relu(p[gamma2] * z2[0] + p[beta2]) + p[b]


def scaled_group(names, factor=c) -> dict:
    """Parameter values with every parameter of the named groups multiplied by ``factor``."""
    return {s: factor * s for name in names for s in GROUPS[name]}


def group_residual(names, factor=c):
    """``o(groups scaled by factor) - o``, the scale factor pulled out of sums (for ``w_1``: the change of the first
    layer's outputs, through which alone o depends on w_1)."""
    params = scaled_group(names, factor)
    if w1 in params:
        return sum(pull_scale(a, c) - b_ for a, b_ in zip(first_layer(params), first_layer({})))
    return pull_scale(network(params), c) - network({})


def witness_residual(params: dict):
    """``o(params) - o`` at :data:`WITNESS` (``params`` maps parameters to expressions in the parameters and c),
    to 30 significant digits. Evaluated in 60-digit floating point: a value shown as nonzero (the smallest here is
    0.138) lies some 50 orders of magnitude above the rounding error; the exact algebraic evaluation took 3.5 times
    as long, for the same 30 digits. A residual that vanishes is then proven zero symbolically (:func:`classify`)."""
    witness = {s: sp.Float(v, 60) for s, v in WITNESS.items()}
    point = {s: witness[s] for group in GROUPS.values() for s in group}
    changed = {**point, **{s: sp.sympify(v).subs(witness) for s, v in params.items()}}
    inputs = tuple(witness[x] for x in INPUTS)
    return sp.N(network(changed, first_layer(changed, inputs)) - network(point, first_layer(point, inputs)), 30)


#: a rational point of the model (inputs and parameters) used to show that a residual is not zero; chosen so that
#: ReLU is active for some samples and not others (where all are active, relu is affine and BN hides gamma alone)
WITNESS = {x1: 0, x2: 1, x3: 3, w1: 1, w2: 1, gamma1: 1, beta1: sp.Rational(1, 2), gamma2: 1, beta2: 1, V: 1, b: 1,
           c: 2, PREACT[0]: 0, PREACT[1]: 1, PREACT[2]: 3, gamma: 1, beta: sp.Rational(1, 2)}


@lru_cache(maxsize=None)
def classify():
    """For each parameter group: the residual of scaling it alone by ``c > 0`` and whether it vanishes. A nonzero
    value at :data:`WITNESS` shows that it does not; otherwise it must reduce to exactly 0."""
    out = {}
    for name in GROUPS:
        at_witness = witness_residual(scaled_group((name,)))
        if abs(at_witness) > sp.Float("1e-20"):
            out[name] = (at_witness, False)
        else:
            residual = group_residual((name,))
            out[name] = (residual, residual == 0 or reduce_to_zero(residual) == 0)
    return out


def set_symbol(names):
    """The set of parameters of the named groups, as the sum of one plain symbol per parameter (its name)."""
    return sp.Add(*[sp.Symbol(s.name) for name in names for s in GROUPS[name]])


@lru_cache(maxsize=None)
def regularized_set():
    """The parameters that L2 actually regularizes: those whose group cannot be rescaled alone at no change of
    the output (as a sum of symbols)."""
    return set_symbol([name for name, (residual, vanishes) in classify().items() if not vanishes])


def witness_batch():
    """The first BN layer's outputs at :data:`WITNESS` (a valid batch of BN outputs: mean 0, variance 1)."""
    return first_layer({w1: WITNESS[w1]}, tuple(WITNESS[x] for x in INPUTS))


def derive_gamma_scaling() -> Derivation:
    """``relu(c u) = c relu(u)`` only for ``c > 0``; the next BN layer cancels a common positive factor, so
    ``(gamma, beta) -> c (gamma, beta)`` leaves it unchanged while ``gamma -> c gamma`` alone does not."""
    u_ = sp.Symbol("u", real=True)
    c_real = sp.Symbol("c", real=True, nonzero=True)
    z = standardize(PREACT)                                 # the previous BN layer's outputs (u free)
    joint = next_layer(z, c * gamma, c * beta)
    joint = pull_scale(joint, c) - next_layer(z, gamma, beta)
    gamma_only = next_layer(z, c * gamma, beta) - next_layer(z, gamma, beta)
    relu_negative = relu(c_real * u_) - c_real * relu(u_)
    return Derivation(
        result=joint,
        steps=[Step("relu(c u) - c relu(u), c > 0", relu(c * u_) - c * relu(u_)),
               Step("the same for a real c (|c| appears)", relu_negative),
               Step("next BN layer with (gamma, beta) -> (c gamma, c beta), minus unscaled", joint),
               Step("gamma -> c gamma alone, at the witness point (z = BN(0, 1, 3), gamma = 1, beta = 1/2, c = 2)",
                    sp.N(next_layer(witness_batch(), 2, sp.Rational(1, 2)) - next_layer(witness_batch(), 1,
                                                                                      sp.Rational(1, 2)), 30)),
               Step("gamma -> c gamma alone with beta = 0", (gamma_only.subs(beta, 0)))],
        proofs={"relu(c u) = c relu(u), c > 0": relu(c * u_) - c * relu(u_),
                "(gamma, beta) -> c (gamma, beta) leaves the next BN layer unchanged": joint,
                "gamma -> c gamma alone is harmless when beta = 0": pull_scale(gamma_only.subs(beta, 0), c)},
        summary=("relu(c u) = c relu(u) holds for c > 0 only. So the next normalized layer is unchanged when "
                 "(gamma, beta) of a layer are scaled together, (gamma, beta) -> c (gamma, beta), by one c > 0 shared "
                 "by all units feeding it: each of its pre-activations then scales by c and BN cancels it. Scaling "
                 "gamma alone changes the function unless beta = 0 (relu(c gamma z + beta) != "
                 "c relu(gamma z + beta)), and unit-wise different factors change it too. The paper's sentence "
                 "holds for the pair (gamma, beta), which is also why an L2 penalty on gamma (and beta) of a hidden "
                 "layer does not regularize."),
        extras={"gamma_only_residual": gamma_only, "relu_real_c": relu_negative})


def derive_regularized_parameters() -> Derivation:
    """Which parameter groups L2 actually regularizes in the two-BN-layer network (see the module docstring)."""
    table = classify()
    orbit = pull_scale(network({gamma2: c * gamma2, beta2: c * beta2, V: V / c}), c) - network({})
    lam_ = lam
    norm2, vv = sp.Symbol("N_last", positive=True), sp.Symbol("V2", positive=True)   # gamma2^2+beta2^2, V^2
    orbit_penalty = lam_ * (c**2 * norm2 + vv / c**2)
    # the roots of the stationarity condition, kept where c > 0 (what solve's own check would keep, without its
    # slow re-substitution of each root)
    c_star = [x for x in sp.solve(sp.diff(orbit_penalty, c), c, check=False) if x.is_positive]
    minimum = sp.simplify(orbit_penalty.subs(c, c_star[0]))
    proofs = {f"scaling {name} alone leaves the output unchanged": residual
              for name, (residual, vanishes) in table.items() if vanishes}
    proofs["(gamma_last, beta_last, V) -> (c gamma_last, c beta_last, V/c) leaves the output unchanged"] = orbit
    proofs["minimum of the penalty over that orbit"] = minimum - 2 * lam_ * sp.sqrt(norm2 * vv)
    witnesses = {name: residual for name, (residual, vanishes) in table.items() if not vanishes}
    gamma_alone = witness_residual({gamma1: c * gamma1})
    return Derivation(
        result=orbit,
        steps=[Step(f"scaling {name} alone: output change at the witness point", value)
               for name, value in witnesses.items()]
        + [Step("scaling gamma_1 alone (beta_1 = 1/2): output change at the witness point", gamma_alone),
           Step("penalty along the orbit (c gamma_last, c beta_last, V/c), minimised over c > 0", minimum)],
        proofs=proofs,
        summary=("The output is unchanged when w_1, w_2 (each followed by BN) or the pair (gamma_1, beta_1) of a "
                 "hidden BN layer is scaled by any c > 0, so L2 on them only sets their scale: no regularizing effect "
                 "(the pair must be scaled together: gamma_1 alone changes the output when beta_1 != 0). The last BN "
                 "layer's gamma AND beta, and everything after the last normalization (the final weights V and bias "
                 "b) change the output when scaled; gamma_last, beta_last and V can only trade scale jointly, "
                 "(c gamma, c beta, V/c), along which lambda (c^2 ||(gamma, beta)||^2 + V^2/c^2) has the positive "
                 "minimum 2 lambda ||(gamma_last, beta_last)|| |V|: they are actually regularized (as a product), and "
                 "b too. So the regularized parameters are gamma_last, beta_last, V and b, not only the gamma's of "
                 "the last layer."),
        extras={"regularized": regularized_set(), "witness_changes": sp.Tuple(*witnesses.values()),
                "orbit_penalty_minimum": minimum})


def instantiate_at_witness(statement):
    """The printed ``y_next(c gamma, beta) = y_next(gamma, beta)`` as a residual at :data:`WITNESS` (a valid BN batch,
    gamma = 1, beta = 1/2, c = 2), exactly.

    The paper states it for every c > 0, gamma, beta and batch, so one point where it fails refutes it. (With
    symbols, the ReLUs' absolute values make SymPy's simplification in the verdict run for minutes; the residual
    with symbols is ``derivation.extras['gamma_only_residual']``, and the corrected statement is proven with symbols.)
    """
    return instantiator({"y_next": lambda g_, b_: next_layer(witness_batch(), g_, b_)})(statement.subs(WITNESS))


CLAIMS = [
    Claim(id="discussion.gamma_scaling", title="Scaling gamma does not change later layers (ReLU)",
          statement="with ReLU, scaling gamma has no effect on the function value in subsequent (normalized) layers",
          source="Sec. 7", printed=printed.GAMMA_SCALING, derive=derive_gamma_scaling,
          condition=("beta is scaled with gamma, (gamma, beta) -> c (gamma, beta), by one c > 0 for every unit feeding "
                     "the normalized layer (or beta = 0)"),
          instantiate=instantiate_at_witness,
          tags=("discussion", "relu")),
    Claim(id="discussion.regularized_parameters", title="Which parameters L2 actually regularizes",
          statement="the only parameters actually regularized are the gamma's of the last layer",
          source="Sec. 7", printed=printed.REGULARIZED, derive=derive_regularized_parameters,
          condition=("the last normalized layer's beta is counted too, among the BN parameters (gamma, beta) the sentence "
                     "is about; the weights after the last normalization (V, b) are regularized as well, which the "
                     "sentence does not address"),
          instantiate=lambda statement: (statement.lhs - statement.rhs).subs(
              sp.Symbol("R"), regularized_set() - set_symbol(["V", "b"])),
          tags=("discussion", "l2")),
]
