"""The CPU tests' guarantees, again on a CUDA device (skipped where there is none; CI has none).

Differential tests: the ensemble on CUDA against separate models on CUDA and against the same ensemble on CPU,
each update rule against ``torch.optim`` on CUDA, and the precision contract of the harness (fp32 master
weights under bf16 autocast, so that a decay step of relative size 1e-6 is not rounded away).
TF32 is switched off inside these tests: with it, a float32 convolution is computed with a 10-bit mantissa
(relative error ~1e-3), which would hide a real discrepancy of that size.
"""
import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

F = torch.nn.functional

from normlaws.gpu.batches import DeviceData  # noqa: E402
from normlaws.gpu.config import TrainConfig  # noqa: E402
from normlaws.gpu.data import load_cifar10  # noqa: E402
from normlaws.gpu.model import EnsembleConvNet  # noqa: E402
from normlaws.gpu.train import EnsembleTrainer, train_ensemble  # noqa: E402
from test_gpu_model import TOL as MODEL_TOL, batch, seeded_nets  # noqa: E402
from test_gpu_optim import PAIRS, TOL as OPTIM_TOL, batches, configs_for, run_ensemble, run_torch, seeded  # noqa: E402

CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def exact_float32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def on_cuda(pairs):
    return [(x.to(CUDA), y.to(CUDA)) for x, y in pairs]


def test_ensemble_on_cuda_equals_separate_models_on_cuda():
    nets = [n.to(CUDA) for n in seeded_nets([1, 2, 3])]
    ens = EnsembleConvNet.from_models(nets)
    (x, y), = on_cuda([batch(seed=1)])
    logits = ens(x)
    F.cross_entropy(logits.flatten(0, 1), y.repeat(3), reduction="none").view(3, -1).mean(1).sum().backward()
    for i, net in enumerate(nets):
        out = net(x)
        F.cross_entropy(out, y).backward()
        torch.testing.assert_close(logits[i], out, **MODEL_TOL)
        for layer in range(4):
            torch.testing.assert_close(ens.conv_weights[layer].grad[i], net.convs[layer].weight.grad, **MODEL_TOL)
            torch.testing.assert_close(ens.running_var(layer)[i], net.bns[layer].running_var, **MODEL_TOL)


@pytest.mark.parametrize("name", list(PAIRS))
def test_vectorised_rule_on_cuda_equals_torch_optim_on_cuda(name):
    cfgs = configs_for(name)
    data, factors = on_cuda(batches()), [1.0, 1.0, 0.1, 0.1]
    ens = run_ensemble(cfgs[0].optimizer, cfgs, [seeded(s).to(CUDA) for s in range(3)], data, factors)
    for i, cfg in enumerate(cfgs):
        ref = run_torch(cfg, seeded(i).to(CUDA), data, factors)
        for (pname, a), b in zip(ens.extract(i).named_parameters(), ref.parameters()):
            torch.testing.assert_close(a, b, **OPTIM_TOL, msg=f"{cfg.optimizer} model {i} {pname}")


@pytest.mark.parametrize("name", ["nesterov", "adam"])
def test_cuda_ensemble_equals_cpu_ensemble(name):
    """The same ensemble trained on both devices: only float32 summation order differs."""
    cfgs, factors = configs_for(name), [1.0, 1.0, 0.1, 0.1]
    cpu = run_ensemble(cfgs[0].optimizer, cfgs, [seeded(s) for s in range(3)], batches(), factors)
    gpu = run_ensemble(cfgs[0].optimizer, cfgs, [seeded(s).to(CUDA) for s in range(3)], on_cuda(batches()),
                       factors)
    for a, b in zip(gpu.parameters(), cpu.parameters()):
        torch.testing.assert_close(a.cpu(), b, **OPTIM_TOL)


def test_bf16_autocast_keeps_fp32_master_weights_and_tiny_decay_steps():
    """With eta*lam = 1e-6 the decay shrinks w by 2e-6 per step: below bf16's resolution (2^-8), kept in fp32."""
    cfg = TrainConfig(optimizer="sgd", eta=1e-3, lam=1e-3, widths=(4, 6, 8, 10), batch_size=16, seed=0)
    trainer = EnsembleTrainer([cfg], CUDA, amp=True)
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    w0 = trainer.model.conv_weights[1].detach().double()
    x = torch.zeros(16, 3, 32, 32, device=CUDA)      # constant input: BN output 0, so grad L = 0 for conv2
    y = torch.zeros(16, dtype=torch.long, device=CUDA)
    trainer.step(x, y)
    w1 = trainer.model.conv_weights[1].detach().double()   # float64: the shrink is 2e-6
    shrink = 1 - (w1 * w0).sum() / (w0 * w0).sum()
    # each fp32 element of w1 is rounded to ~6e-8 relative; averaged over the 216 weights of conv2 that is ~4e-9,
    # 0.2 % of the 2e-6 shrink: rtol 1e-2 is 5x that. A bf16 master copy (resolution 2^-8) would give 0 or 4e-3.
    torch.testing.assert_close(shrink.item(), 2 * cfg.eta * cfg.lam, rtol=1e-2, atol=0.0)


def test_one_epoch_on_cuda_with_autocast_records_finite_values(synthetic_cifar):
    data = DeviceData(load_cifar10(synthetic_cifar, 64, 32, checksums={}), CUDA)
    cfgs = [TrainConfig(eta=e, lam=1e-3, epochs=2, milestones=(1,), widths=(4, 6, 8, 10), batch_size=16)
            for e in (0.01, 0.1)]
    results = train_ensemble(cfgs, data, amp=True)
    for r in results:
        assert r.status == "done"
        assert all(v == v for v in r.epochs["test_error"] + r.epochs["filter_norm_mean"]["conv1"])
