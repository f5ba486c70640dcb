"""``step_scaling`` on optimizers whose answer is derived here: layer-wise trust ratios on matrices (LARS, LAMB,
built in code), Adadelta's accumulator meeting its epsilon, RAdam's two phases, MADGRAD's cube root (built in
code). Each derivation is in the test's docstring; the loss is scale-invariant (``bn_unit_loss``), so
``||grad L(w)|| = G/||w||`` with ``G`` the gradient norm at the unit-norm starting point."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import normlaws.testing as nt  # noqa: E402
from normlaws.testing.optimizers import K_TOLERANCE, start_direction  # noqa: E402


class PerParameter(torch.optim.Optimizer):
    """An optimizer built in code: ``step`` evaluates the closure, then ``update(p, group, state)`` per parameter."""

    def __init__(self, params, **defaults):
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            closure()
        for group in self.param_groups:
            for p in group["params"]:
                self.update(p, group, self.state[p])


class LARS(PerParameter):
    """You et al. (2017): a parameter with ``ndim > 1`` steps by ``lr * local * (g + wd w)``, ``local = trust *
    ||w|| / (||g|| + wd ||w||)``, clipped at ``clip`` when given (LARC's clipping); vectors by plain SGD."""

    def __init__(self, params, lr, trust=1e-3, weight_decay=0.0, clip=None):
        super().__init__(params, lr=lr, trust=trust, weight_decay=weight_decay, clip=clip)

    def update(self, p, group, state):
        g = p.grad + group["weight_decay"] * p
        if p.ndim > 1:
            local = group["trust"] * p.norm() / (p.grad.norm() + group["weight_decay"] * p.norm())
            g = g * (local if group["clip"] is None else torch.clamp(local, max=group["clip"]))
        p.sub_(group["lr"] * g)


class LAMB(PerParameter):
    """You et al. (2019): Adam's direction ``r = m_hat/(sqrt(v_hat) + eps)``, rescaled for ``ndim > 1`` by the
    trust ratio ``||w||/||r||``; vectors step like Adam."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-6):
        super().__init__(params, lr=lr, betas=betas, eps=eps)

    def update(self, p, group, st):
        b1, b2 = group["betas"]
        if not st:
            st.update(m=torch.zeros_like(p), v=torch.zeros_like(p), t=0)
        st["t"] += 1
        st["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
        st["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
        r = (st["m"] / (1 - b1 ** st["t"])) / ((st["v"] / (1 - b2 ** st["t"])).sqrt() + group["eps"])
        trust = p.norm() / r.norm() if p.ndim > 1 else 1.0
        p.sub_(group["lr"] * trust * r)


class MADGRAD(PerParameter):
    """Defazio & Jelassi (2021): dual averaging with a cube-root denominator and momentum ``c = 1 - momentum``:
    ``lam_k = lr sqrt(k+1)``, ``s += lam_k g``, ``nu += lam_k g^2``, ``z = x_0 - s/(nu^(1/3) + eps)``,
    ``x <- (1 - c) x + c z``."""

    def __init__(self, params, lr, momentum=0.9, eps=1e-6):
        super().__init__(params, lr=lr, momentum=momentum, eps=eps)

    def update(self, p, group, st):
        if not st:
            st.update(k=0, x0=p.clone(), s=torch.zeros_like(p), nu=torch.zeros_like(p))
        c = 1 - group["momentum"]
        lam = group["lr"] * math.sqrt(st["k"] + 1)
        st["s"].add_(p.grad, alpha=lam)
        st["nu"].addcmul_(p.grad, p.grad, value=lam)
        z = st["x0"] - st["s"] / (st["nu"].pow(1 / 3) + group["eps"])
        p.mul_(1 - c).add_(z, alpha=c)
        st["k"] += 1


MATRIX = nt.bn_unit_loss(d=6, rows=4)


def gradient_at_start(loss):
    """``G = ||grad L(w_hat)||`` at the measurement's unit-norm starting point."""
    w = start_direction(loss.shape).clone().requires_grad_(True)
    loss(w).backward()
    return float(w.grad.norm())


def test_lars_on_a_matrix_is_norm_free_and_on_a_vector_plain_sgd():
    """LARS's step on a matrix is ``lr trust ||w|| g/||g||``: its angle ``lr trust`` does not depend on ``||w||``
    (k = 0, and nothing pins the norm). A vector gets plain SGD: k = 2."""
    s = nt.assert_step_exponent(lambda ps: LARS(ps, lr=1.0), 0, MATRIX)
    assert len(s.regimes) == 1 and s.regimes[0].points == len(s.alphas)
    nt.assert_table1_row(lambda ps: LARS(ps, lr=1.0), "SGD")


def test_lars_clamped_trust_ratio_has_two_regimes_with_the_derived_break():
    """With the local rate clipped at ``c``: ``local = trust ||w||^2/G`` (as ``||g|| = G/||w||``) reaches ``c`` at
    ``alpha* = sqrt(c G/trust)``; below it k = 0 as above, beyond it the step is ``lr c g`` and the angle
    ``lr c G/||w||^2``: k = 2. ``c`` puts alpha* between two grid points, at 2**4.5."""
    G, trust = gradient_at_start(MATRIX), 1e-3
    alpha_star = 2 ** 4.5
    clip = trust * alpha_star**2 / G
    s = nt.step_scaling(lambda ps: LARS(ps, lr=1.0, trust=trust, clip=clip), MATRIX)
    assert math.isnan(s.k) and len(s.regimes) == 2, s
    low, high = s.regimes
    assert abs(low.k) <= K_TOLERANCE and abs(high.k - 2) <= K_TOLERANCE, s
    assert low.hi < alpha_star < high.lo, s
    with pytest.raises(AssertionError, match="no single k"):
        nt.assert_step_exponent(lambda ps: LARS(ps, lr=1.0, trust=trust, clip=clip), 0, MATRIX)
    nt.assert_step_exponent(lambda ps: LARS(ps, lr=1.0, trust=trust, clip=clip), 2, MATRIX,
                            alphas=2.0 ** np.arange(6, 11))


def test_lamb_trust_ratio_removes_the_norm_even_where_epsilon_dominates():
    """LAMB's matrix step is ``lr ||w|| r/||r||``. For eps << |g| Adam's ``r`` depends on the gradient's direction
    only, so the run from ``alpha w`` is alpha times the run from ``w``: k = 0. Where eps >> |g| (large norms),
    ``r ~ g/eps``: a different direction, but the trust ratio still removes its size: k = 0 again (the two
    regimes differ only in their prefactor). A vector skips the trust ratio: Adam, k = 1."""
    s = nt.assert_step_exponent(lambda ps: LAMB(ps, lr=1e-3, eps=1e-4), 0, MATRIX)
    assert s.row.startswith("unclassified: k = 0 without a fixed norm")
    nt.assert_table1_row(lambda ps: LAMB(ps, lr=1e-3, eps=1e-30), "ADAM")


def test_adadelta_accumulator_meeting_its_epsilon():
    """Adadelta: ``v = rho v + (1-rho) g^2``, ``delta = sqrt(u + eps)/sqrt(v + eps) g``, ``u = rho u + (1-rho)
    delta^2``. Where ``(1-rho) g_i^2 >> eps`` (small norms) ``|delta_i|`` is of order sqrt(eps), whatever ``g``:
    the step's size is fixed and its angle ~ 1/||w|| (k = 1). Where ``g_i^2 << eps`` (large norms) ``delta ~ g``:
    SGD, k = 2. Entry i crosses over at ``alpha_i = |G_i| sqrt((1-rho)/eps)`` (``G_i`` its gradient at unit norm):
    the k = 1 regime holds below every crossover, the k = 2 regime above them all. lr and eps place both regimes
    inside the measurable angles (1e-8 to 0.1) of a grid from 2**-7 to 2**11."""
    rho, eps = 0.9, 1e-5
    loss = nt.bn_unit_loss()
    w = start_direction(loss.shape).clone().requires_grad_(True)
    loss(w).backward()
    crossover = w.grad.abs().numpy() * math.sqrt((1 - rho) / eps)
    s = nt.step_scaling(lambda ps: torch.optim.Adadelta(ps, lr=0.05, rho=rho, eps=eps), loss,
                        alphas=2.0 ** np.arange(-7, 12))
    assert math.isnan(s.k) and len(s.regimes) == 2, s
    low, high = s.regimes
    assert abs(low.k - 1) <= K_TOLERANCE and abs(high.k - 2) <= K_TOLERANCE, s
    assert low.hi < crossover.min() and high.lo > crossover.max(), (s, crossover)
    with pytest.raises(AssertionError, match="no single k"):
        nt.assert_step_exponent(lambda ps: torch.optim.Adadelta(ps, lr=0.05, rho=rho, eps=eps), 1, loss,
                                alphas=2.0 ** np.arange(-7, 12))


def radam_rho(t, beta2):
    """RAdam's length of the approximated SMA, ``rho_t = rho_inf - 2 t beta2^t/(1 - beta2^t)``, ``rho_inf = 2/(1 -
    beta2) - 1``; the adaptive (rectified) step is taken when ``rho_t > 5`` (torch's test)."""
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * t * beta2**t / (1 - beta2**t)


def test_radam_two_phases():
    """While ``rho_t <= 5`` RAdam steps by ``lr m_hat`` (momentum SGD: the step ~ g ~ 1/||w||, the angle ~
    1/||w||^2, k = 2); from the first ``t`` with ``rho_t > 5`` on, by ``lr r_t m_hat/(sqrt(v_hat) + eps)``
    (Adam's ratio: k = 1)."""
    beta2 = 0.999
    switch = next(t for t in range(1, 100) if radam_rho(t, beta2) > 5)
    factory = lambda ps: torch.optim.RAdam(ps, lr=1e-3, betas=(0.9, beta2), eps=1e-12)  # noqa: E731
    nt.assert_table1_row(factory, "SGD", warmup=switch - 2)          # the last step of the first phase
    nt.assert_table1_row(factory, "ADAM", warmup=switch - 1)         # the first step of the second


def test_madgrad_cube_root_gives_four_thirds():
    """MADGRAD from ``alpha w``: ``s ~ 1/alpha`` and ``nu ~ 1/alpha^2``, so (eps << nu^(1/3)) the displacement
    ``s/nu^(1/3) ~ alpha^(-1/3)`` and the angle ``~ alpha^(-1/3)/alpha``: k = 4/3, no Table 1 row."""
    s = nt.assert_step_exponent(lambda ps: MADGRAD(ps, lr=1e-2), 4 / 3)
    assert s.row.startswith("unclassified"), s
    assert abs(s.k - 4 / 3) < 0.02, s
