"""The vectorised per-model update rules equal torch.optim on separate models, and the L2 mapping is pinned."""
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from normlaws.conventions import torch_weight_decay  # noqa: E402
from normlaws.simulate.predict import evaluate  # noqa: E402
from normlaws.theory.updates import decay_factor  # noqa: E402
from normlaws.gpu.config import TrainConfig  # noqa: E402
from normlaws.gpu.model import ConvNet, EnsembleConvNet  # noqa: E402
from normlaws.gpu.optim import EnsembleOptimizer, filter_norms, torch_optimizer  # noqa: E402

WIDTHS = (4, 6, 8, 10)
STEPS = 4
# Per-model (eta, lam): distinct, and lam large enough that a wrong L2 factor (lam instead of 2*lam) moves the
# weights by eta*lam*|w| ~ 1e-3 per step, far above float32 round-off (~1e-6 after a few steps).
PAIRS = {"sgd": [(0.1, 0.02), (0.05, 0.1), (0.2, 0.0)],
         "momentum": [(0.1, 0.02), (0.05, 0.1), (0.2, 0.0)],
         "nesterov": [(0.1, 0.02), (0.05, 0.1), (0.2, 0.0)],
         "rmsprop": [(0.01, 0.05), (0.003, 0.2), (0.02, 0.0)],
         "adam": [(0.01, 0.05), (0.003, 0.2), (0.02, 0.0)],
         "adamw": [(0.01, 0.5), (0.003, 2.0), (0.02, 0.0)]}
# Float32 differences of the grouped vs plain convolutions (~1e-6) are what remains; Adam/RMSProp divide by
# sqrt(v) and so pass relative gradient differences through unchanged, hence the same tolerance for all.
TOL = dict(rtol=2e-4, atol=2e-5)


def seeded(seed):
    torch.manual_seed(seed)
    return ConvNet(WIDTHS)


def batches(n=STEPS):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g)) for _ in range(n)]


def run_ensemble(rule, cfgs, nets, data, lr_factors):
    ens = EnsembleConvNet.from_models(nets)
    opt = EnsembleOptimizer.for_model(ens, cfgs[0], [c.eta for c in cfgs], [c.lam for c in cfgs])
    for (x, y), factor in zip(data, lr_factors):
        logits = ens(x)
        loss = F.cross_entropy(logits.flatten(0, 1), y.repeat(len(cfgs)), reduction="none").view(len(cfgs), -1)
        opt.zero_grad()
        loss.mean(1).sum().backward()
        opt.step(factor)
    return ens


def run_torch(cfg, net, data, lr_factors):
    opt = torch_optimizer(net, cfg)
    for (x, y), factor in zip(data, lr_factors):
        for group in opt.param_groups:
            group["lr"] = cfg.eta * factor
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    return net


def configs_for(name):
    rule = "sgd" if name == "momentum" else name
    momentum = {"sgd": 0.0, "momentum": 0.9}.get(name)
    return [TrainConfig(optimizer=rule, eta=e, lam=l, widths=WIDTHS, momentum=momentum) for e, l in PAIRS[name]]


@pytest.mark.parametrize("name", list(PAIRS))
def test_vectorised_rule_equals_torch_optim_on_separate_models(name):
    cfgs = configs_for(name)
    data = batches()
    factors = [1.0, 1.0, 0.1, 0.1]            # a learning-rate drop half way
    ens = run_ensemble(cfgs[0].optimizer, cfgs, [seeded(s) for s in range(3)], data, factors)
    for i, cfg in enumerate(cfgs):
        ref = run_torch(cfg, seeded(i), data, factors)
        got = ens.extract(i)
        for (name_, a), b in zip(got.named_parameters(), ref.parameters()):
            torch.testing.assert_close(a, b, **TOL, msg=f"{cfg.optimizer} model {i} {name_}")


def test_weights_moved_enough_for_the_comparison_to_mean_something():
    """The L2 term alone changes the weights by far more than the comparison's tolerance."""
    cfg = configs_for("nesterov")[1]
    data = batches()
    with_l2 = run_torch(cfg, seeded(0), data, [1.0] * STEPS)
    without = run_torch(replace(cfg, lam=0.0), seeded(0), data, [1.0] * STEPS)
    gap = (with_l2.convs[1].weight - without.convs[1].weight).abs().max()
    assert gap > 50 * TOL["atol"]


def test_penalty_lambda_norm_squared_is_torch_weight_decay_two_lambda():
    """One step with the penalty lam*||w||^2 added to the loss (autograd) equals our rule with lam, and
    torch.optim.SGD(weight_decay=torch_weight_decay(lam))."""
    eta, lam = 0.1, 0.05
    x, y = batches(1)[0]
    explicit = seeded(0)
    loss = F.cross_entropy(explicit(x), y) + lam * sum((c.weight ** 2).sum() for c in explicit.convs) \
        + lam * (explicit.head.weight ** 2).sum()
    loss.backward()
    with torch.no_grad():
        for p in explicit.parameters():
            p -= eta * p.grad
    cfg = TrainConfig(optimizer="sgd", eta=eta, lam=lam, widths=WIDTHS)
    ours = run_ensemble("sgd", [cfg], [seeded(0)], [(x, y)], [1.0]).extract(0)
    theirs = run_torch(cfg, seeded(0), [(x, y)], [1.0])
    for a, b, c in zip(explicit.parameters(), ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(c, a, rtol=1e-5, atol=1e-6)
    assert torch_weight_decay(lam) == 2 * lam


@pytest.mark.parametrize("rule", ["sgd", "adamw"])
def test_zero_gradient_step_shrinks_by_the_canonical_factor(rule):
    """With no loss gradient a step multiplies decayed weights by 1 - 2*eta*lam for SGD (the penalty's gradient,
    theory.updates.decay_factor, read off the rule's one-step map) and by 1 - eta*lam for AdamW (decoupled); BN
    parameters stay."""
    eta, lam = 0.1, 0.05
    ens = EnsembleConvNet.from_models([seeded(0)])
    before = {name: p.detach().clone() for name, p in ens.named_parameters()}
    opt = EnsembleOptimizer.for_model(ens, TrainConfig(optimizer=rule, widths=WIDTHS), [eta], [lam])
    for p in ens.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    factor = float(evaluate(decay_factor(rule), eta=eta, lam=lam))
    after = dict(ens.named_parameters())
    for name in ("conv_weights.0", "conv_weights.3", "head_weight"):
        torch.testing.assert_close(after[name], before[name] * factor, rtol=1e-6, atol=0)
    for name in ("bn_weights.0", "bn_biases.2", "head_bias"):
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=0)


def test_normalized_rule_is_nesterov_step_then_unit_filters():
    cfgs = [TrainConfig(optimizer="normalized", eta=e, lam=l, widths=WIDTHS) for e, l in [(0.1, 0.01), (0.3, 0.1)]]
    data = batches(2)
    nets = [seeded(0), seeded(1)]
    ens = run_ensemble("normalized", cfgs, nets, data, [1.0, 1.0])
    for w in ens.conv_weights:
        torch.testing.assert_close(filter_norms(w), torch.ones_like(filter_norms(w)), rtol=1e-6, atol=1e-6)
    # reference: Nesterov on unit-norm filters, rescaling after each step
    ref = EnsembleConvNet.from_models(nets)
    opt = EnsembleOptimizer.for_model(ref, replace(cfgs[0], optimizer="nesterov"), [0.1, 0.3], [0.01, 0.1])
    with torch.no_grad():
        for w in ref.conv_weights:
            w.div_(filter_norms(w)[..., None, None, None])
    for x, y in data:
        opt.zero_grad()
        F.cross_entropy(ref(x).flatten(0, 1), y.repeat(2), reduction="none").view(2, -1).mean(1).sum().backward()
        opt.step()
        with torch.no_grad():
            for w in ref.conv_weights:
                w.div_(filter_norms(w)[..., None, None, None])
    for a, b in zip(ens.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_inactive_models_do_not_move():
    ens = EnsembleConvNet.from_models([seeded(0), seeded(1)])
    opt = EnsembleOptimizer.for_model(ens, TrainConfig(optimizer="adam", widths=WIDTHS), [0.1, 0.1], [0.01, 0.01])
    before = [p.detach().clone() for p in ens.parameters()]
    x, y = batches(1)[0]
    F.cross_entropy(ens(x).flatten(0, 1), y.repeat(2)).backward()
    opt.step(active=torch.tensor([True, False]))
    for p, b in zip(ens.parameters(), before):
        assert torch.equal(p[1], b[1])
        assert not torch.equal(p[0], b[0])


@pytest.mark.parametrize("rule", ["momentum", "nesterov_torch", "adam", "adamw", "sgd"])
def test_the_buffer_in_the_moment_models_units(rule):
    """``model_buffer`` is the state the moment model (``theory.moments``) evolves: heavy ball moves ``w`` by ``v``;
    Nesterov's ``v`` obeys ``v' = rho v - eta G``; Adam moves ``w`` by ``-eta m``, AdamW by ``-eta m`` after its
    decoupled shrink; SGD has none."""
    from normlaws.gpu.optim import EnsembleOptimizer
    torch.manual_seed(0)
    eta, lam, rho = torch.tensor([0.1, 0.03]), torch.tensor([0.01, 0.02]), 0.9
    p = torch.nn.Parameter(torch.randn(2, 3, 4, 3, 3, dtype=torch.float64))
    opt = EnsembleOptimizer([p], rule, eta, lam, decayed=[p], momentum=rho if rule != "adam" else 0.0)
    eta_b = eta.double().view(-1, 1, 1, 1, 1)
    for step in range(4):
        before, v_before = p.detach().clone(), opt.model_buffer(p)
        p.grad = torch.randn_like(p)
        G = p.grad + 2 * lam.double().view(-1, 1, 1, 1, 1) * before        # the suite's lam: penalty lam ||w||^2
        opt.step()
        v = opt.model_buffer(p)
        if rule == "sgd":
            assert v is None
            return
        moved = p.detach() - before
        if rule == "momentum":
            assert torch.allclose(moved, v, atol=1e-12)
        elif rule == "nesterov_torch":
            previous = torch.zeros_like(p) if v_before is None else v_before
            assert torch.allclose(v, rho * previous - eta_b * G, atol=1e-12)
        elif rule == "adam":
            assert torch.allclose(moved, -eta_b * v, atol=1e-12)
        else:
            assert torch.allclose(moved + eta_b * lam.double().view(-1, 1, 1, 1, 1) * before, -eta_b * v, atol=1e-12)
