"""Training leg of Defazio's ratio and of the audit's angle per step: a small BN network trained with torch.

A BN MLP on a synthetic 10-class Gaussian mixture, float64, torch.optim.SGD with ``weight_decay = 2*lam``
(canonical ``lam``). Every row of a layer followed by BatchNorm is a scale-invariant unit, so (full BN
backward) ``<w_j, grad_j L> = 0`` exactly and one SGD step gives, pathwise,
``N_j' = a^2 N_j + eta^2 ||grad_j L||^2`` with ``a = 1 - 2 eta lam``. Summed over a window of steps and rows:

    sum ||grad L||^2 / sum N = (1 - a^2)/eta^2 + (N_end - N_start)/(eta^2 sum N)

-- Defazio's equilibrium ratio plus a boundary term that vanishes at equilibrium. The test checks this identity
to rounding on real gradients (signal and noise alike), that the norm is stationary in the window (no drift
beyond 4 standard errors of block means), and that it fails for the head (not scale-invariant).
"""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from normlaws.audit import predict_unit  # noqa: E402
from normlaws.simulate import later_checks as lc  # noqa: E402
from normlaws.theory import later  # noqa: E402

ETA, LAM = 0.2, 5e-3            # eta*lam = 1e-3: relaxation time 1/(8 eta lam) = 125 steps
BURN, WINDOW, BATCH = 1500, 2500, 64


def _data(seed=0, n=2048, d=32, classes=10):
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, d, generator=gen, dtype=torch.float64) * 1.5
    y = torch.randint(0, classes, (n,), generator=gen)
    return means[y] + torch.randn(n, d, generator=gen, dtype=torch.float64), y


#: BatchNorm's eps makes a layer invariant only up to eps/Var (BN_eps(a w) = BN_(eps/a^2)(w)): with torch's
#: default 1e-5 the identity below is off by ~1e-4 relative (measured). The smallest float64 is absorbed by any
#: variance above ~2e-292 (var + eps == var), so the layers are exactly invariant and torch still trains.
BN_EPS = float(np.finfo(np.float64).tiny)


def _model(seed=0, eps=BN_EPS):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(32, 64, bias=False), nn.BatchNorm1d(64, eps=eps), nn.ReLU(),
                         nn.Linear(64, 64, bias=False), nn.BatchNorm1d(64, eps=eps), nn.ReLU(),
                         nn.Linear(64, 10)).double()


def train(eta=ETA, lam=LAM, momentum=0.0, seed=0):
    """Per step and tracked layer: (sum_j N_j, sum_j ||grad_j L||^2, sum_j ||w_j' - w_j||^2)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, y = _data(seed)
        model = _model(seed)
        layers = {"fc1": model[0].weight, "fc2": model[3].weight, "head": model[6].weight}
        opt = torch.optim.SGD(model.parameters(), lr=eta, momentum=momentum, weight_decay=2 * lam)
        gen = torch.Generator().manual_seed(seed + 1)
        log = {k: [] for k in layers}
        for _ in range(BURN + WINDOW):
            idx = torch.randint(0, len(x), (BATCH,), generator=gen)
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            before = {k: w.detach().clone() for k, w in layers.items()}
            grads = {k: float(w.grad.pow(2).sum()) for k, w in layers.items()}
            opt.step()
            for k, w in layers.items():
                log[k].append((float(before[k].pow(2).sum()), grads[k], float((w.detach() - before[k]).pow(2).sum()),
                               float(w.detach().pow(2).sum()), float((before[k] * layers[k].grad).sum())))
        return {k: np.array(v[BURN:]) for k, v in log.items()}
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sgd_run():
    return train()


def _defazio_identity(rows, eta, lam):
    N, G, N_next = rows[:, 0], rows[:, 1], rows[:, 3]
    measured = G.sum() / N.sum()
    predicted = lc.value(later.defazio_derivation("sgd").result, eta, lam)
    boundary = (N_next[-1] - N[0]) / (eta**2 * N.sum())
    return measured, predicted, boundary


@pytest.mark.timeout(120)
@pytest.mark.parametrize("layer", ["fc1", "fc2"])
def test_defazio_ratio_on_training(sgd_run, layer):
    rows = sgd_run[layer]
    measured, predicted, boundary = _defazio_identity(rows, ETA, LAM)
    # rounding (Higham, worst case, x 8): the window sums of T = WINDOW positive terms (relative T u), and each
    # step's identity, off by ~3 n u N for n = 2048 weights, telescoped: 3 n u sum N, i.e. 3 n u/eta^2 in the ratio
    u = np.finfo(float).eps / 2
    rounding = 8 * u * (rows.shape[0] * (measured + abs(boundary)) + 3 * 2048 / ETA**2)
    assert abs(measured - (predicted + boundary)) <= rounding
    # equilibrium: second-half minus first-half mean of N within 4 SE of 10 block means per half
    halves = np.split(rows[:, 0], 2)
    blocks = [h.reshape(10, -1).mean(1) for h in halves]
    drift = blocks[1].mean() - blocks[0].mean()
    se = math.sqrt(blocks[0].var(ddof=1) / 10 + blocks[1].var(ddof=1) / 10)
    assert abs(drift) <= 4 * se, f"{layer} not stationary: drift {drift:.3g}, SE {se:.3g}"
    assert abs(boundary) < 0.05 * predicted          # and so the ratio is Defazio's to within 5 %


def test_the_audit_angle_is_the_trained_chord(sgd_run):
    rows = sgd_run["fc1"]
    N, _G, chord, N_next = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    theta = predict_unit("sgd", ETA, LAM, 32, 1.0)["angle"]          # C-free for SGD
    # pathwise chord = (2 eta lam)^2 N + eta^2 ||grad||^2, so sum chord / sum N = 2 (1 - cos theta*) + eta^2 boundary
    boundary = (N_next[-1] - N[0]) / N.sum()
    assert chord.sum() / N.sum() == pytest.approx(2 * (1 - math.cos(theta)) + boundary, rel=1e-9)


def test_the_identity_fails_for_the_head(sgd_run):
    rows = sgd_run["head"]
    measured, predicted, boundary = _defazio_identity(rows, ETA, LAM)
    cross = 2 * ETA * (1 - 2 * ETA * LAM) * rows[:, 4].sum() / (ETA**2 * rows[:, 0].sum())
    assert abs(measured - (predicted + boundary)) > 1e6 * np.finfo(float).eps * measured
    assert measured - (predicted + boundary) == pytest.approx(cross, rel=1e-6)   # the missing w . grad L term


@pytest.mark.timeout(120)
def test_momentum_training_follows_the_momentum_law_not_the_sgd_form():
    rho, eta = 0.9, ETA * (1 - 0.9)          # the same eta/(1 - rho) as the SGD run
    rows = train(eta=eta, momentum=rho)["fc1"]
    measured = rows[:, 1].sum() / rows[:, 0].sum()
    momentum_law = lc.value(later.defazio_derivation("momentum").result, eta, LAM, rho=rho)
    sgd_form = lc.value(later.defazio_derivation("sgd").result, eta, LAM)
    # the two predictions differ by (1 - rho) ~ a factor 10; the trained ratio must sit by the momentum law
    assert abs(math.log(measured / momentum_law)) < abs(math.log(measured / sgd_form)) / 5
