"""The ensemble of M networks equals M separate networks: outputs, gradients, BN running statistics."""
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from normlaws.gpu import architecture_description  # noqa: E402
from normlaws.gpu.model import ConvNet, EnsembleConvNet, flops_per_image  # noqa: E402

WIDTHS = (4, 6, 8, 10)   # distinct widths, so that a mixed-up axis cannot go unnoticed
# Same operations in a different grouping: float32 sums in another order differ by a few ulps.
TOL = dict(rtol=1e-5, atol=1e-5)


def seeded_nets(seeds, widths=WIDTHS):
    nets = []
    for s in seeds:
        torch.manual_seed(s)
        net = ConvNet(widths)
        with torch.no_grad():   # non-trivial BN affine parameters, different per model
            for bn in net.bns:
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)
        nets.append(net)
    return nets


def batch(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_forward_and_running_statistics_equal_separate_models():
    nets = seeded_nets([1, 2, 3])
    ens = EnsembleConvNet.from_models(nets)
    x, _ = batch()
    logits = ens(x)
    assert logits.shape == (3, 12, 10)
    for i, net in enumerate(nets):
        torch.testing.assert_close(logits[i], net(x), **TOL)
        for layer in range(4):
            torch.testing.assert_close(ens.running_mean(layer)[i], net.bns[layer].running_mean, **TOL)
            torch.testing.assert_close(ens.running_var(layer)[i], net.bns[layer].running_var, **TOL)
    assert not torch.allclose(logits[0], logits[1])   # the models really differ


def test_gradients_equal_separate_models():
    nets = seeded_nets([4, 5, 6])
    ens = EnsembleConvNet.from_models(nets)
    x, y = batch(seed=1)
    logits = ens(x)
    F.cross_entropy(logits.flatten(0, 1), y.repeat(3), reduction="none").view(3, -1).mean(1).sum().backward()
    for i, net in enumerate(nets):
        F.cross_entropy(net(x), y).backward()
        for layer in range(4):
            torch.testing.assert_close(ens.conv_weights[layer].grad[i], net.convs[layer].weight.grad, **TOL)
            torch.testing.assert_close(ens.bn_weights[layer].grad[i], net.bns[layer].weight.grad, **TOL)
            torch.testing.assert_close(ens.bn_biases[layer].grad[i], net.bns[layer].bias.grad, **TOL)
        torch.testing.assert_close(ens.head_weight.grad[i], net.head.weight.grad, **TOL)
        torch.testing.assert_close(ens.head_bias.grad[i], net.head.bias.grad, **TOL)


def test_eval_mode_uses_each_models_running_statistics():
    nets = seeded_nets([7, 8])
    ens = EnsembleConvNet.from_models(nets)
    for seed in range(3):                      # a few train-mode passes move the running statistics
        x, _ = batch(seed=seed)
        ens(x)
        for net in nets:
            net(x)
    ens.eval()
    x, _ = batch(seed=9)
    for i, net in enumerate(nets):
        net.eval()
        torch.testing.assert_close(ens(x)[i], net(x), **TOL)


def test_extract_round_trip():
    nets = seeded_nets([10, 11])
    ens = EnsembleConvNet.from_models(nets)
    back = ens.extract(1)
    for a, b in zip(back.state_dict().values(), nets[1].state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_initialised_is_torch_default_init_of_the_seed():
    ens = EnsembleConvNet.initialised(2, WIDTHS, seed=3)
    torch.manual_seed(3)
    ref = ConvNet(WIDTHS)
    torch.testing.assert_close(ens.conv_weights[0][1], ref.convs[0].weight, rtol=0, atol=0)
    torch.testing.assert_close(ens.head_weight[0], ref.head.weight, rtol=0, atol=0)


def test_flops_count_matches_conv_shapes():
    # conv1 at 32x32, conv2 at 16x16, conv3 at 8x8, conv4 at 4x4 (pooling after blocks 1-3), head
    w = (2, 3, 5, 7)
    expected = 2 * (1024 * 3 * 9 * 2 + 256 * 2 * 9 * 3 + 64 * 3 * 9 * 5 + 16 * 5 * 9 * 7 + 7 * 10)
    assert flops_per_image(w) == expected


def test_architecture_description_names_every_layer_width():
    text = architecture_description((11, 22, 33, 44))
    for piece in ("3->11", "11->22", "22->33", "33->44", "44->10"):
        assert piece in text


def test_doctests():
    import doctest

    import normlaws.gpu.model
    assert doctest.testmod(normlaws.gpu.model).failed == 0
