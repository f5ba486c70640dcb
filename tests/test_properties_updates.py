"""Whole-trajectory equivariance of each update rule under ``w -> alpha w`` (float64).

A run from ``alpha w'_0`` with hyperparameters ``h`` and state ``s = alpha**e_s s'`` must be, step for
step, ``alpha`` times the run from ``w'_0`` with ``h' = h alpha**e_h`` (the exponents and their derivation
are in ``normlaws.testing.rules``). The loss is a Batch-Normalized unit on a fresh random batch and upstream
gradient every step (the Section 4 model), in both BN backward conventions. The scale factors are powers of
two: multiplying by ``2**k`` commutes with every IEEE rounding (no over/underflow here) and the reduction
orders are fixed by the shapes, so the derived tolerance is zero and the trajectories must agree *bitwise*.
The same search must find the counterexamples when a hyperparameter is rescaled by the wrong power.
"""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import normlaws.testing as nt
from normlaws.conventions import torch_weight_decay
from normlaws.testing.layers import bn_unit_grad, bn_unit_loss
from normlaws.testing.invariance import single_thread
from normlaws.testing.rules import FIRST_STEP_ONLY, RULES, step_exponent


class BNProblem:
    """A stream of BN-unit losses ``L_t(w) = sum_i delta_ti tanh(BN(X_t w)_i)``, fixed by a seed."""

    def __init__(self, seed, d, n=6, steps=8, backward="full"):
        gen = np.random.default_rng(seed)
        self.X = gen.standard_normal((steps, n, d))
        self.up = gen.standard_normal((steps, n))
        self.backward = backward

    def grad(self, w, t):
        return bn_unit_grad(self.X[t], w, self.up[t], backward=self.backward)

    def hess(self, w, t):
        pytest.importorskip("torch")
        from normlaws.testing.layers import bn_unit_hessian
        return bn_unit_hessian(self.X[t], w, self.up[t])


HYPER = {
    "eta": st.floats(-4, -1).map(lambda e: 10.0**e),
    "lam": st.floats(-5, -2).map(lambda e: 10.0**e),
    "wd": st.floats(-5, -2).map(lambda e: 10.0**e),
    "rho": st.floats(0.0, 0.99),
    "beta1": st.floats(0.0, 0.99),
    "beta2": st.floats(0.5, 0.9999),
    "eps": nt.epsilons(1e-10, 1e-1),
}


@st.composite
def runs(draw, rules=tuple(RULES), backward=st.sampled_from(["full", "stop_gradient"])):
    """``(rule, problem, w0', hyper, alpha, steps)`` for one rule of ``rules``."""
    rule = RULES[draw(st.sampled_from(sorted(rules)))]
    d = draw(st.integers(2, 4))
    problem = BNProblem(draw(st.integers(0, 2**32 - 1)), d, backward=draw(backward))
    w0 = draw(nt.weights(d, min_norm=1e-2, max_norm=1e2))
    hyper = {h: draw(HYPER[h]) for h in rule.hyper}
    alpha = draw(nt.scale_factors(2.0**-10, 2.0**10, power_of_two=True))
    return rule, problem, w0, hyper, alpha, draw(st.integers(1, 4 if rule.name == "newton" else 8))


#: optimizer state that accumulates squared gradients and so must start nonnegative
SQUARED_STATE = {("rmsprop", "g"), ("rmsprop_torch", "g"), ("adam", "v"), ("adamw", "v")}


def initial_state(rule, w0, seed):
    """A nonzero starting state (momentum buffers, moment estimates) for the primed run."""
    gen = np.random.default_rng(seed)
    state = {name: gen.standard_normal(w0.shape) for name in rule.state}
    return {name: np.abs(v) if (rule.name, name) in SQUARED_STATE else v for name, v in state.items()}


def rescaled_run(rule, problem, w0, hyper, alpha, steps, state0=None, rescale=None):
    """Both trajectories: from ``alpha w0`` (state scaled by ``alpha**e_s``) and from ``w0`` with ``h'``."""
    rescale = rescale or rule.rescaled
    state0 = state0 or rule.init(w0)
    scaled_state = {k: v * alpha ** rule.state_scale.get(k, 0) for k, v in state0.items()}
    big = rule.run(alpha * w0, hyper, problem, steps, scaled_state)
    if rule.name in FIRST_STEP_ONLY:   # the rescaling applies to the first step; both then sit at norm 1
        first = rule.run(w0, rescale(hyper, alpha), problem, 1, state0)
        rest = rule.run(first[1], hyper, BNShifted(problem), steps - 1)
        small = np.concatenate([first, rest[1:]])
        return big, small, np.concatenate([[alpha], np.ones(steps)])[:, None]
    return big, rule.run(w0, rescale(hyper, alpha), problem, steps, state0), alpha


class BNShifted:
    """The same loss stream, one step later (for the continuation of a run)."""

    def __init__(self, problem):
        self.problem = problem

    def grad(self, w, t):
        return self.problem.grad(w, t + 1)

    def hess(self, w, t):
        return self.problem.hess(w, t + 1)


def check_equivariant(case, rescale=None, with_state=False):
    rule, problem, w0, hyper, alpha, steps = case
    state0 = initial_state(rule, w0, 0) if with_state else None
    big, small, factor = rescaled_run(rule, problem, w0, hyper, alpha, steps, state0, rescale)
    assume(np.all(np.isfinite(big)) and np.all(np.isfinite(small)))
    if not np.array_equal(big, factor * small):
        with np.errstate(divide="ignore", invalid="ignore"):   # entries where both are 0 read as nan
            deviation = np.nanmax(np.abs(big - factor * small) / np.abs(big))
        raise AssertionError(f"{rule.name}: max relative deviation {deviation:.3g}")


#: the claims the trajectory-level equivariance properties verify (normlaws.testing's rules: heavy_ball = momentum)
EQUIVARIANCE = tuple(f"update.{name}.equivariance" for name in
                     ("sgd", "momentum", "nesterov", "rmsprop", "rmsprop_torch", "adam", "adamw"))


@pytest.mark.claims(*EQUIVARIANCE)
@given(runs(rules=[r for r in RULES if r != "newton"]))
def test_first_order_rules_are_equivariant_over_whole_trajectories(case):
    check_equivariant(case)


@pytest.mark.claims(*EQUIVARIANCE)
@given(runs(rules=[r for r in RULES if RULES[r].state]))
def test_equivariance_carries_the_optimizer_state(case):
    check_equivariant(case, with_state=True)


@pytest.mark.claims("update.newton.equivariance", "table1.newton.eff_lr")
@given(runs(rules=["newton"]))
def test_newton_is_equivariant_with_eta_unchanged(case):
    pytest.importorskip("torch")
    check_equivariant(case)


# ---- teeth: the wrong rescaling is found ------------------------------------------------------------------

def wrong(rule_name, **exponents):
    """A rescaling of ``rule_name`` with some exponents replaced."""
    rule = RULES[rule_name]
    table = {**rule.rescale, **exponents}
    return lambda hyper, alpha: {k: v * alpha ** table.get(k, 0) for k, v in hyper.items()}


@pytest.mark.parametrize("rule_name, exponents", [
    ("sgd", {"eta": -1}),                 # RMSProp's learning-rate law applied to SGD
    ("momentum", {"lam": 0}),           # forgetting that lambda rescales
    ("rmsprop", {"eps": 1}),              # PyTorch's eps law for the paper's eps-inside-the-root form
    ("rmsprop_torch", {"eps": 2}),        # and the other way round
    ("adam", {"eps": 0}),                 # eps left alone
    ("adamw", {"wd": 2}),                 # decoupled decay rescaled like lambda
    ("normalized", {"eta": 0, "lam": 0}),  # "the initial scale does not matter": false on step 1
])
@pytest.mark.claims(*EQUIVARIANCE)
def test_search_finds_the_wrong_rescaling(rule_name, exponents):
    found = nt.find_counterexample(lambda case: check_equivariant(case, rescale=wrong(rule_name, **exponents)),
                                   runs(rules=[rule_name]), floor=100)
    assert found is not None, f"{rule_name} with {exponents} should break equivariance"


@pytest.mark.claims("table1.normalized.eff_lr")
def test_normalized_sgd_forgets_the_initial_scale_after_one_step():
    """Runs from w0 and 8 w0 (same eta, lam) differ at step 1, but both sit at norm 1 from then on."""
    rule, problem = RULES["normalized"], BNProblem(0, 3)
    w0 = np.array([0.3, -0.5, 0.8])
    a, b = (rule.run(s * w0, {"eta": 0.05, "lam": 1e-3}, problem, 5) for s in (1.0, 8.0))
    assert not np.array_equal(a[1], b[1])
    assert np.allclose(np.linalg.norm(a[1:], axis=1), 1, rtol=0, atol=4 * np.finfo(float).eps)
    assert np.allclose(np.linalg.norm(b[1:], axis=1), 1, rtol=0, atol=4 * np.finfo(float).eps)


@pytest.mark.claims("table1.sgd.eff_lr", "table1.momentum.eff_lr", "table1.rmsprop.eff_lr", "table1.adam.eff_lr")
def test_step_exponents_follow_from_the_rescalings():
    assert {r: step_exponent(RULES[r]) for r in RULES} == {
        "sgd": 2, "momentum": 2, "nesterov": 2, "rmsprop": 1, "rmsprop_torch": 1, "adam": 1, "adamw": 1,
        "newton": 0, "normalized": 0}


# ---- the real torch optimizers ---------------------------------------------------------------------------

TORCH_OPTIMIZERS = {
    # name: (rule whose exponents apply, factory(params, hyper), hyperparameter names)
    "SGD-momentum": ("momentum", lambda torch, p, h: torch.optim.SGD(
        p, lr=h["eta"], momentum=h["rho"], weight_decay=torch_weight_decay(h["lam"]))),
    "SGD-nesterov": ("nesterov", lambda torch, p, h: torch.optim.SGD(
        p, lr=h["eta"], momentum=h["rho"], nesterov=True, weight_decay=torch_weight_decay(h["lam"]))),
    "RMSprop": ("rmsprop_torch", lambda torch, p, h: torch.optim.RMSprop(
        p, lr=h["eta"], alpha=h["rho"], eps=h["eps"], weight_decay=torch_weight_decay(h["lam"]))),
    "Adam": ("adam", lambda torch, p, h: torch.optim.Adam(
        p, lr=h["eta"], betas=(h["beta1"], h["beta2"]), eps=h["eps"], weight_decay=torch_weight_decay(h["lam"]))),
    "AdamW": ("adamw", lambda torch, p, h: torch.optim.AdamW(
        p, lr=h["eta"], betas=(h["beta1"], h["beta2"]), eps=h["eps"], weight_decay=h["wd"])),
}


def torch_run(torch, name, problem, w0, hyper, steps):
    rule_name, factory = TORCH_OPTIMIZERS[name]
    w = torch.nn.Parameter(torch.as_tensor(w0, dtype=torch.float64).clone())
    opt = factory(torch, [w], hyper)
    out = [w.detach().numpy().copy()]
    for t in range(steps):
        w.grad = torch.as_tensor(problem.grad(w.detach().numpy(), t))
        opt.step()
        out.append(w.detach().numpy().copy())
    return np.array(out)


@pytest.mark.claims("update.momentum.equivariance",
                    "update.nesterov_torch.equivariance",
                    "update.rmsprop_torch.equivariance",
                    "update.adam.equivariance",
                    "update.adamw.equivariance")
@given(st.sampled_from(sorted(TORCH_OPTIMIZERS)), st.data())
def test_torch_optimizers_are_equivariant_over_whole_trajectories(name, data):
    """torch.optim with weight_decay = 2 lambda (the canonical penalty): lr, weight_decay and eps rescale by
    the same powers as the matching rule (PyTorch's eps sits outside the root)."""
    torch = pytest.importorskip("torch")
    rule = RULES[TORCH_OPTIMIZERS[name][0]]
    _, problem, w0, hyper, alpha, steps = data.draw(runs(rules=[rule.name]))
    assume(name != "SGD-nesterov" or hyper["rho"] > 0)   # torch refuses Nesterov without momentum
    with single_thread():
        big = torch_run(torch, name, problem, alpha * w0, hyper, steps)
        small = torch_run(torch, name, problem, w0, rule.rescaled(hyper, alpha), steps)
    assert np.array_equal(big, alpha * small), f"max |deviation| {np.max(np.abs(big - alpha * small)):.3g}"


@pytest.mark.claims("l2.rescaling")
def test_regularized_bn_loss_is_what_the_problem_differentiates():
    """The problem's gradient is the gradient of its loss (central differences, h = 1e-6: truncation
    O(h^2 L''') ~ 1e-12 and rounding O(u L / h) ~ 1e-10 for these O(1) losses)."""
    problem, w = BNProblem(3, 4), np.array([0.4, -1.0, 0.2, 0.7])
    h, e = 1e-6, np.eye(4)
    numeric = [(bn_unit_loss(problem.X[0], w + h * e[j], problem.up[0])
                - bn_unit_loss(problem.X[0], w - h * e[j], problem.up[0])) / (2 * h) for j in range(4)]
    assert np.allclose(problem.grad(w, 0), numeric, rtol=0, atol=1e-8)
