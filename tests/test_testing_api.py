"""The public API ``normlaws.testing``: its assertions pass on correct layers and optimizers, and fail, with a
message a person can act on, on deliberately broken ones (mutation checks)."""
import doctest
import importlib
import re

import numpy as np
import pytest
from hypothesis import given, settings

import normlaws.testing as nt
from normlaws.errors import UsageError
from normlaws.testing.profiles import search_settings

torch = pytest.importorskip("torch")

GEN = np.random.default_rng(0)
X = GEN.standard_normal((16, 4))


# ---- layers: correct ones and their mutants ----------------------------------------------------------------

class LinearBN(torch.nn.Module):
    """Linear then BatchNorm, with switchable mistakes in the normalization."""

    def __init__(self, bias=False, mistake=None):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3, bias=bias)
        torch.nn.init.normal_(self.linear.weight, generator=torch.Generator().manual_seed(1))
        if bias:
            torch.nn.init.normal_(self.linear.bias, generator=torch.Generator().manual_seed(2))
        self.mistake = mistake

    def forward(self, x):
        z = self.linear(x)
        if self.mistake == "no mean subtraction":
            return z / z.std(0, unbiased=False)
        if self.mistake == "divide by variance":
            return (z - z.mean(0)) / z.var(0, unbiased=False)
        if self.mistake == "no division":
            return z - z.mean(0)
        return (z - z.mean(0)) / z.std(0, unbiased=False)


class WN(torch.nn.Module):
    """Weight normalization, ``x W^T / ||W_row||**power`` (power 1 is right; 2 is the mutant)."""

    def __init__(self, power=1):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(3, 4, generator=torch.Generator().manual_seed(3)))
        self.power = power

    def forward(self, x):
        return x @ self.weight.T / self.weight.norm(dim=1) ** self.power


def test_correct_layers_pass():
    nt.assert_scale_invariant(LinearBN(), X, 3.7, param="linear.weight")
    nt.assert_scale_invariant(LinearBN(bias=True), X, np.array([0.1, 2.0, 40.0]), param="linear.weight",
                              per="channel")
    nt.assert_scale_invariant(WN(), X, np.array([0.1, 2.0, 40.0]), per="channel")
    nt.assert_gradient_homogeneous(LinearBN(), X, 3.7, param="linear.weight")
    nt.assert_hessian_homogeneous(WN(), X[:, :4], 0.3)


def test_bn_without_mean_subtraction_is_still_invariant_without_a_bias():
    """z/std(z) is homogeneous of degree 0 too: scale invariance cannot see this mistake, and must not claim to."""
    nt.assert_scale_invariant(LinearBN(mistake="no mean subtraction"), X, 3.7, param="linear.weight")


def test_bn_without_mean_subtraction_after_a_biased_linear_is_caught():
    with pytest.raises(AssertionError) as info:
        nt.assert_scale_invariant(LinearBN(bias=True, mistake="no mean subtraction"), X, 3.7, param="linear.weight")
    message = str(info.value)
    assert "not scale-invariant" in message and "counterexample at" in message and "alpha = 3.7" in message


@pytest.mark.parametrize("layer, degree", [
    (LinearBN(mistake="divide by variance"), -1), (LinearBN(mistake="no division"), 1), (WN(power=2), -1)])
def test_mutant_layers_fail_with_the_measured_degree(layer, degree):
    param = "linear.weight" if isinstance(layer, LinearBN) else "weight"
    with pytest.raises(AssertionError) as info:
        nt.assert_scale_invariant(layer, X, 4.0, param=param)
    assert f"|alpha|^{degree:.3f}" in str(info.value), str(info.value)


def test_negative_scale_message_says_positive_only():
    with pytest.raises(AssertionError, match="flips sign under a negative scale"):
        nt.assert_scale_invariant(WN(), X, -2.0)


def test_bn_epsilon_is_named_and_rescale_eps_checks_the_identity():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    with pytest.raises(AssertionError, match=r"has eps=1e-05.*rescale_eps=\('1',\)"):
        nt.assert_scale_invariant(model, X, 0.01, param="0.weight")
    nt.assert_scale_invariant(model, X, 0.01, param="0.weight", rescale_eps=("1",))


def test_eval_mode_batchnorm_is_named():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    model(torch.as_tensor(X, dtype=torch.float32))
    model.eval()
    with pytest.raises(AssertionError, match="eval mode: its running statistics"):
        nt.assert_scale_invariant(model, X, 2.0, param="0.weight", rescale_eps=("1",))


def test_gradient_mutant_fails_with_the_measured_degree():
    """A stray unnormalized term (a leak of the raw pre-activation) breaks degree -1."""
    class Leaky(LinearBN):
        def forward(self, x):
            return super().forward(x) + 0.1 * self.linear(x)
    with pytest.raises(AssertionError, match=r"gradient not homogeneous of degree -1[\s\S]*measured degree"):
        nt.assert_gradient_homogeneous(Leaky(), X, 4.0, param="linear.weight")
    with pytest.raises(AssertionError, match=r"\|alpha\|\^-1\.000"):
        nt.assert_gradient_homogeneous(LinearBN(), X, 4.0, param="linear.weight", degree=-2)


def test_hessian_mutant_fails():
    with pytest.raises(AssertionError, match="Hessian not homogeneous of degree -2"):
        nt.assert_hessian_homogeneous(WN(power=2), X, 3.0)


def test_measured_degrees_of_a_correct_and_a_broken_layer():
    assert abs(nt.homogeneity_degree(LinearBN(), X, param="linear.weight", of="gradient") + 1) < 1e-9
    assert abs(nt.homogeneity_degree(WN(power=2), X, of="output") + 1) < 1e-9


def test_hypothesis_shows_the_counterexample_for_a_broken_layer():
    """The user's pattern: a @given test over scale factors; on a broken layer Hypothesis reports the alpha."""
    @settings(search_settings(50), max_examples=50)
    @given(alpha=nt.scale_factors())
    def property_of_broken_layer(alpha):
        nt.assert_scale_invariant(LinearBN(bias=True, mistake="no mean subtraction"), X, alpha, param="linear.weight")

    with pytest.raises(AssertionError) as info:
        property_of_broken_layer()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert ("Falsifying example" in notes or "Failing test case" in notes) and "alpha=" in notes, notes
    assert "not scale-invariant" in str(info.value)


def test_assertions_reject_bad_input_with_one_clear_line():
    with pytest.raises(UsageError, match="no parameter 'nope'"):
        nt.assert_scale_invariant(WN(), X, 2.0, param="nope")
    with pytest.raises(UsageError, match="one scale factor per slice"):
        nt.assert_scale_invariant(WN(), X, 2.0, per="channel")
    with pytest.raises(UsageError, match="rescale_eps needs one scale factor"):
        nt.assert_scale_invariant(WN(), X, np.ones(3), per="channel", rescale_eps=("x",))
    with pytest.raises(UsageError, match="torch.nn.Module"):
        nt.assert_scale_invariant(lambda x: x, X, 2.0)


def test_the_callers_model_is_left_untouched():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    nt.assert_scale_invariant(model, X, 0.5, param="0.weight", rescale_eps=("1",))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and next(model.parameters()).dtype == torch.float32


# ---- optimizers: correct ones and their mutants ---------------------------------------------------------

class NormalizedSGD(torch.optim.Optimizer):
    """Sec. 5.5: ``w <- (w - lr (grad + weight_decay w)) / ||.||``; ``normalize=False`` is the mutant."""

    def __init__(self, params, lr, weight_decay=0.0, normalize=True):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))
        self.normalize = normalize

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure() if closure else None
        for group in self.param_groups:
            for p in group["params"]:
                p.sub_(group["lr"] * (p.grad + group["weight_decay"] * p))
                if self.normalize:
                    p.div_(p.norm())
        return loss


class Newton(torch.optim.Optimizer):
    """``w <- w - lr (H + wd I)^-1 (grad + wd w)`` for one parameter, the Hessian of ``loss`` by autograd."""

    def __init__(self, params, lr, loss, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))
        self.loss = loss

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            closure()
        (p,) = self.param_groups[0]["params"]
        lr, wd = self.param_groups[0]["lr"], self.param_groups[0]["weight_decay"]
        H = torch.autograd.functional.hessian(self.loss, p.detach()) + wd * torch.eye(p.numel(), dtype=p.dtype)
        p.sub_(lr * torch.linalg.solve(H, p.grad + wd * p))


class AdamNoSqrt(torch.optim.Adam):
    """The mutant: divides by the second moment itself instead of its square root."""

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            closure()
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.setdefault(p, {"m": torch.zeros_like(p), "v": torch.zeros_like(p), "t": 0})
                st["t"] += 1
                b1, b2 = group["betas"]
                st["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                st["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                m_hat, v_hat = st["m"] / (1 - b1 ** st["t"]), st["v"] / (1 - b2 ** st["t"])
                p.sub_(group["lr"] * m_hat / (v_hat + group["eps"]))


WD = 2 * 5e-4   # torch weight_decay = 2 lambda (normlaws.conventions.torch_weight_decay)


@pytest.mark.parametrize("row, factory", [
    ("SGD", lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=WD)),
    ("Momentum", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=WD)),
    ("RMSProp", lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, weight_decay=WD)),
    ("ADAM", lambda ps: torch.optim.Adam(ps, lr=1e-3, weight_decay=WD)),
    ("ADAM", lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=1e-2)),
    ("Normalized SGD", lambda ps: NormalizedSGD(ps, lr=0.05, weight_decay=WD)),
])
def test_torch_optimizers_fall_in_their_table1_row(row, factory):
    s = nt.assert_table1_row(factory, row)
    assert s.k_stderr < 0.05, s.table()


def test_newton_turns_only_through_l2():
    """Newton on a scale-invariant loss: radial without L2 (no angle to measure), k = -2 with a small L2."""
    loss = nt.bn_unit_loss()
    with pytest.raises(UsageError, match="too few points|need 3"):
        nt.step_scaling(lambda ps: Newton(ps, lr=0.5, loss=loss), loss)
    s = nt.assert_table1_row(lambda ps: Newton(ps, lr=0.5, loss=loss, weight_decay=2e-3), "Newton", loss,
                             alphas=2.0 ** np.arange(-10, 1))
    assert abs(s.k + 2) < 0.1, s.table()


@pytest.mark.parametrize("row, factory, measured", [
    ("ADAM", lambda ps: AdamNoSqrt(ps, lr=1e-3), 0),          # m/v ~ alpha: the step grows with the norm
    ("Normalized SGD", lambda ps: NormalizedSGD(ps, lr=0.05, normalize=False), 2),   # plain SGD
    ("SGD", lambda ps: torch.optim.Adam(ps, lr=1e-3), 1),
])
def test_mutant_optimizers_are_caught_with_the_measured_exponent(row, factory, measured):
    with pytest.raises(AssertionError) as info:
        nt.assert_table1_row(factory, row)
    message = str(info.value)
    k = float(re.search(r"with k = (-?[0-9.]+)", message).group(1))
    assert f"expected Table 1 row {row!r}" in message and abs(k - measured) < 0.1 and "alpha" in message, message


def test_step_exponent_assertion_and_bad_input():
    nt.assert_step_exponent(lambda ps: torch.optim.SGD(ps, lr=0.1), 2)
    with pytest.raises(AssertionError, match="expected angular step"):
        nt.assert_step_exponent(lambda ps: torch.optim.SGD(ps, lr=0.1), 1)
    with pytest.raises(UsageError, match="unknown Table 1 row"):
        nt.assert_table1_row(lambda ps: torch.optim.SGD(ps, lr=0.1), "Adagrad")
    with pytest.raises(UsageError, match="small-angle regime|need 3"):
        nt.step_scaling(lambda ps: torch.optim.SGD(ps, lr=1e6))


# ---- strategies, searches, profiles, doctests ----------------------------------------------------------------

@given(nt.scale_factors(sign="any", power_of_two=True, shape=3), nt.weights((2, 3), min_norm=1e-4, max_norm=1e2))
def test_strategies_draw_what_they_say(alpha, w):
    assert alpha.shape == (3,) and np.all(np.abs(np.log2(np.abs(alpha))) % 1 == 0)
    assert w.shape == (2, 3) and 1e-4 * (1 - 1e-12) <= np.linalg.norm(w) <= 1e2 * (1 + 1e-12)


def test_find_counterexample_returns_none_when_the_property_holds():
    assert nt.find_counterexample(lambda a: None, nt.scale_factors(), floor=20) is None
    found = nt.find_counterexample(lambda a: _assert(a > 0), nt.scale_factors(sign="any"), floor=20)
    assert found is not None and found[0] < 0


def _assert(condition):
    assert condition


def test_profiles_are_registered_as_documented():
    nt.register_profiles()
    ci, thorough = settings.get_profile(nt.CI), settings.get_profile(nt.THOROUGH)
    assert ci.derandomize and ci.database is None and ci.max_examples <= 50
    assert thorough.max_examples >= 2000 and not thorough.derandomize


@pytest.mark.parametrize("module", ["profiles", "layers", "rules", "optimizers", "strategies", "invariance", "regimes", "plugin"])
def test_doctests(module):
    failures, _ = doctest.testmod(importlib.import_module(f"normlaws.testing.{module}"))
    assert failures == 0


# ---- failure hints: the companion parameter, the eps only when it is the cause ------------------------------------

def test_failure_hint_names_the_bias_to_scale_with_the_weight():
    """Linear with a bias into LayerNorm (eps 1e-5): the weight alone is not invariant (the bias is not scaled
    with it), the pair is (exactly with eps at 1e-30); the message says so and gives the param to pass. The eps
    is not blamed: with every eps at 1e-30 the weight alone still fails."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3, eps=1e-5))
    torch.nn.init.normal_(model[0].bias, generator=torch.Generator().manual_seed(5))
    with pytest.raises(AssertionError) as info:
        nt.assert_scale_invariant(model, X, 2.0, param="0.weight")
    message = str(info.value)
    assert "scaled together with '0.bias' the output is unchanged (with every eps at 1e-30)" in message, message
    assert "param=('0.weight', '0.bias')" in message and "eps=1e-05" not in message, message
    nt.assert_scale_invariant(model, X, 2.0, param=("0.weight", "0.bias"), rescale_eps=("1",))


def test_homogeneity_degree_with_rescaled_eps():
    """BatchNorm with a large eps: ||f(alpha w)|| changes with alpha (the eps is not negligible at small scales);
    with eps scaled by alpha**2 along, BN_(alpha^2 eps)(alpha w) = BN_eps(w) exactly: degree 0."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3, eps=0.5))
    alphas = 2.0 ** np.arange(-4, 1)
    assert abs(nt.homogeneity_degree(model, X, param="0.weight", alphas=alphas)) > 0.05
    assert abs(nt.homogeneity_degree(model, X, param="0.weight", alphas=alphas, rescale_eps=("1",))) < 1e-9
