"""The per-step statistics of the trainer: the unit-scale gradient moment, and collapsed (dead) filters."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from normlaws.gpu.config import TrainConfig  # noqa: E402
from normlaws.gpu.model import EnsembleConvNet  # noqa: E402
from normlaws.gpu.analysis import COLLAPSED, layer_summary  # noqa: E402
from normlaws.gpu.train import EnsembleTrainer  # noqa: E402

WIDTHS = (4, 6, 8, 10)


def trainer(models=2):
    cfgs = [TrainConfig(eta=0.05 * (k + 1), lam=1e-3, widths=WIDTHS, batch_size=16) for k in range(models)]
    return EnsembleTrainer(cfgs, "cpu")


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g)


def test_grad_unit_sq_is_the_squared_gradient_at_unit_filter_norm():
    """Differential: autograd at the filters rescaled to norm 1 (BN makes the loss the same) gives the same value."""
    t = trainer()
    reference = EnsembleConvNet.from_models([t.model.extract(i) for i in range(2)])
    with torch.no_grad():                        # rescale every filter of every layer to unit norm
        for w in reference.conv_weights:
            w.div_(torch.linalg.vector_norm(w.flatten(2), dim=2)[..., None, None, None])
    x, y = batch()
    stats = t.step(x, y)
    logits = reference(x)
    F.cross_entropy(logits.flatten(0, 1), y.repeat(2), reduction="none").view(2, -1).mean(1).sum().backward()
    expected = torch.cat([torch.linalg.vector_norm(w.grad.flatten(2), dim=2) ** 2 for w in reference.conv_weights], 1)
    # BN's epsilon (1e-5 against unit-order variances) breaks scale invariance at the 1e-5 level
    torch.testing.assert_close(stats["grad_unit_sq"], expected, rtol=1e-3, atol=1e-9)


def test_a_collapsed_filter_leaves_the_layer_means_finite():
    t = trainer()
    with torch.no_grad():
        t.model.conv_weights[1][0, 2].zero_()    # model 0, conv2, filter 2: norm 0, as after L2 killed it
    assert not t.live()[1][0, 2] and t.live()[1][0].sum() == WIDTHS[1] - 1
    stats = t.step(*batch())
    assert torch.isfinite(stats["angle"]).all() and torch.isfinite(stats["ratio"]).all()
    assert stats["angle"][0, 1] > 0 and stats["ratio"][0, 1] > 0
    assert stats["grad_unit_sq"][0, WIDTHS[0] + 2] == 0      # a dead filter has no unit-scale gradient


def test_layer_summary_counts_collapsed_filters_and_averages_the_live_ones():
    norms = np.array([[1.0, 1.0, 1.0], [2.0, 0.5, 1e-3], [2.0, 0.0, 1e-3], [np.nan] * 3])
    unit_sq = np.array([[1.0, 4.0, 9.0], [1.0, 0.0, 9.0], [np.nan] * 3])
    out = layer_summary(norms, unit_sq)
    assert COLLAPSED < 1e-3                                      # 1e-3 is small, not collapsed
    assert out["collapsed_filters"] == [0, 1, 0]                 # a diverged (NaN) epoch is not "collapsed"
    np.testing.assert_allclose(out["live_filter_norm_mean"][:2], [(2.5 + 1e-3) / 3, (2.0 + 1e-3) / 2])
    np.testing.assert_allclose(out["grad_unit_sq_mean"][:2], [14 / 3, 5.0])
    np.testing.assert_allclose(out["filter_norm_mean"][1], (2.0 + 1e-3) / 3)
    assert np.isnan(out["live_filter_norm_mean"][2]) and np.isnan(out["grad_unit_sq_mean"][2])


def test_channels_last_inputs_give_the_same_step():
    """The memory format is a speed choice only (CPU here; the CUDA default is on for M >= 32)."""
    plain, last = trainer(), trainer()
    last.channels_last = True
    x, y = batch(1)
    a, b = plain.step(x, y), last.step(x, y)
    # the same float32 operations in another memory layout: sums in another order, a few ulps (~1e-7) apart
    torch.testing.assert_close(a["loss"], b["loss"], rtol=1e-5, atol=1e-6)
    for p, q in zip(plain.model.parameters(), last.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_channels_last_default_is_cuda_with_many_models():
    from normlaws.gpu.train import CHANNELS_LAST_MIN_MODELS, channels_last_for
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert channels_last_for(cuda, CHANNELS_LAST_MIN_MODELS, None) and not channels_last_for(cuda, 16, None)
    assert not channels_last_for(cpu, 64, None) and channels_last_for(cpu, 2, True)
    assert not channels_last_for(cuda, 64, False)
