"""When Adam and RMSProp with L2 are in equilibrium (``gpu.settling``): the moment model's relaxation time at the
measured gradient scale, the approach of their decay from a far start (against torch's optimizers), the CPU
preset's cells on their lines of constant relaxation time."""
import math

import pytest

from normlaws.gpu import analysis, presets, settling
from normlaws.gpu.config import TrainConfig
from normlaws.simulate.predict import coupled_c, evaluate
from normlaws.theory import moments

EPOCHS, PER = 3, 100


def adam_record(eta, lam, C, init_norm, norms, optimizer="adam"):
    """A CPU-preset-shaped record of ``optimizer``: conv1's mean filter norm per epoch and its gradient scale C."""
    cfg = TrainConfig(optimizer=optimizer, eta=eta, lam=lam, epochs=EPOCHS, milestones=(), n_train=PER * 32,
                      batch_size=32, beta2=0.99, widths=(4, 8, 16, 32))
    epochs = {"init_filter_norm_mean": {"conv1": init_norm}, "filter_norm_mean": {"conv1": list(norms)},
              "live_filter_norm_mean": {"conv1": list(norms)}, "grad_unit_sq_mean": {"conv1": [C] * EPOCHS},
              "collapsed_filters": {"conv1": [0] * EPOCHS}, "test_error": [0.5] * EPOCHS}
    return {"key": cfg.key, "status": "done", "config": cfg.as_dict(), "final": {}, "epochs": epochs}


@pytest.mark.parametrize("rule, model", [("adam", "adam"), ("rmsprop_torch", "rmsprop")])
def test_the_relaxation_time_is_the_moment_models_at_the_measured_gradient_scale(rule, model):
    eta, lam, C, d = 0.01, 0.37, 0.3, 27                     # conv1: 3 channels x 3 x 3
    rec = adam_record(eta, lam, C, 0.6, [0.2] * EPOCHS, optimizer=rule)
    c = coupled_c(model, eta, lam, d, C)
    # c solves the closure c = 2 lam sqrt(d N(c)/C) (checked here, not by the root finder that found it)
    N = float(evaluate(moments.stationary_N(model), eta=eta, lam=lam, C=C, d=d, beta1=0.9, c=c))
    assert c == pytest.approx(2 * lam * math.sqrt(d * N / C), rel=1e-10)
    assert analysis.relaxation_steps(rec) == pytest.approx(1 / (3 * c * eta), rel=1e-12)
    # twice the gradient scale: a smaller c, a longer time
    assert analysis.relaxation_steps(adam_record(eta, lam, 2 * C, 0.6, [0.2] * EPOCHS, rule)) > 1 / (3 * c * eta)


def test_without_a_measured_gradient_scale_there_is_no_derived_time():
    rec = adam_record(0.01, 0.37, float("nan"), 0.6, [0.2] * EPOCHS)
    assert analysis.relaxation_steps(rec) is None and analysis.settle_steps(rec) is None


def torch_steps_to(optimizer_name, eta, lam, w0, w_end, **kw):
    """Steps ``torch.optim`` needs, with a zero loss gradient and ``weight_decay = 2 lam`` (the suite's lam),
    to bring one weight from ``w0`` to ``|w| <= w_end`` (float64)."""
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.tensor([w0], dtype=torch.float64))
    opt = getattr(torch.optim, optimizer_name)([w], lr=eta, weight_decay=2 * lam, **kw)
    for t in range(1, 100_000):
        w.grad = torch.zeros_like(w)
        opt.step()
        if abs(w.item()) <= w_end:
            return t
    return math.inf


@pytest.mark.parametrize("eta, lam, w0, w_end", [(1e-3, 30.0, 0.114, 0.005), (3e-3, 1.3, 0.114, 0.02),
                                                 (1e-2, 0.1, 0.5, 0.05)])
def test_the_decay_only_approach_is_torchs_own_adam_and_rmsprop(eta, lam, w0, w_end):
    """A differential test against the trusted implementations: the same count, step for step."""
    cfg = {"eta": eta, "lam": lam, "beta1": 0.9, "beta2": 0.99, "rho": 0.9, "eps": 1e-8}
    assert settling.approach_steps(cfg, "adam", w0, w_end) == torch_steps_to(
        "Adam", eta, lam, w0, w_end, betas=(0.9, 0.99), eps=1e-8)
    assert settling.approach_steps(cfg, "rmsprop_torch", w0, w_end) == torch_steps_to(
        "RMSprop", eta, lam, w0, w_end, alpha=0.9, eps=1e-8)


def test_a_far_start_delays_the_equilibrium_window_beyond_three_relaxation_times():
    """eta = 9.5e-4, lam = 87 (the old preset's slowest cells): 3 tau is ~40 steps at this C, but the decay needs
    ~195 steps from conv1's initial RMS to the fit epoch's: no epoch of a 3-epoch run is in equilibrium (seen in
    an 8-epoch pilot: the norm fell by a factor 4 in the third epoch)."""
    d = math.sqrt(27)
    far = adam_record(9.487e-4, 87.25, 0.45, 0.5925, [0.25, 0.079, 0.0189])
    tau = analysis.relaxation_steps(far)
    assert 3 * tau < PER
    approach = settling.approach_steps(far["config"], "adam", 0.5925 / d, 0.0189 / d)
    assert approach > 4 * (3 * tau)
    assert analysis.settle_steps(far) == pytest.approx(3 * tau + approach)
    assert analysis.settle_steps(far) > (EPOCHS - 1) * PER
    assert analysis.equilibrium_epochs(far) == [] and not analysis.equilibrated(far)
    near = adam_record(1e-2, 0.37, 0.3, 0.5925, [0.2, 0.21, 0.2])      # a start the decay leaves within ~10 steps
    assert analysis.equilibrium_epochs(near) == [k for k in range(EPOCHS) if k * PER >= analysis.settle_steps(near)]
    assert analysis.equilibrium_epochs(near) and analysis.equilibrated(near)


@pytest.mark.parametrize("rule", presets.QUICK_LR_RULES + ("lion",))
def test_the_cpu_presets_cells_lie_on_their_lines_of_constant_relaxation_time(rule):
    """Each line of three cells has the relaxation time it is laid out for (the coupled rules' at conv1's fan-in
    and the pilot's C), and three of them fit before the run's last epoch."""
    cells = presets.quick_cells(rule)
    for i, (eta, lam) in enumerate(cells):
        tau = presets.QUICK_TAUS[i // 3]
        if rule in settling.COUPLED_RULES:
            got = settling.coupled_relaxation(rule, eta, lam, presets.COUPLED_D, presets.QUICK_C)
        else:
            cfg = TrainConfig(optimizer=rule, eta=eta, lam=lam).as_dict()         # the rule's default momentum
            got = analysis.relaxation_steps({"config": cfg})
        assert got == pytest.approx(tau, rel=2e-3)           # lam is rounded to 4 digits
        assert 3 * tau <= (presets.QUICK_EPOCHS - 1) * presets.QUICK_STEPS_PER_EPOCH
