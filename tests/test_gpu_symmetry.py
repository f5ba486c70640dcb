"""Trajectory-level symmetries of the training harness on real CIFAR-10 images, float64 on the CPU.

The invariant network (every trained tensor scale-invariant) run from ``w0`` with ``(eta, lam, eps)`` and from
``w0/alpha`` with the hyperparameters rescaled as the proven derivations say (``update.<rule>.equivariance`` and
BN's epsilon, ``theory.rescaling``) gives the same logits after 12 steps: bitwise for ``alpha = 2``, to the
rounding measured on the run itself for ``alpha = 10``. The standard network (trained BN affine and head) breaks
it by many orders of magnitude more; the measured size of the break is printed. Li & Arora's exponential
learning-rate twin of heavy ball with L2 is equal to rounding, and not equal with its buffer started at zero.
"""
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from normlaws.gpu import checks_symmetry as cs  # noqa: E402
from normlaws.gpu import symmetry as sy  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10"
pytestmark = pytest.mark.skipif(not (SHARED / "train_0.npz").exists(), reason="real CIFAR-10 shards are absent")


@pytest.fixture(scope="module")
def data():
    return sy.float64_data(cs.N_TRAIN, cs.N_TEST, cs.SIZE, SHARED)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("rule", cs.RESCALED_RULES)
def test_rescaled_trajectories_give_the_same_logits_and_the_standard_network_breaks(rule, data):
    probe = data.x_test
    cfg = cs.base_config(rule)
    scale = sy.rounding_scale(cfg, data, cs.STEPS, probe)
    assert 0 < scale["tolerance"] < 1e-9                      # float64 rounding, grown over 12 steps
    assert sy.rescaling_break(cfg, 2.0, data, cs.STEPS, probe, scale["base"]) == 0.0   # exact scalings: bitwise
    assert sy.rescaling_break(cfg, 10.0, data, cs.STEPS, probe, scale["base"]) <= scale["tolerance"]
    broken = sy.rescaling_break(cs.base_config(rule, "standard"), 2.0, data, cs.STEPS, probe)
    print(f"{rule}: standard network breaks the rescaling by {broken:.3g} (max|difference|/max|logit|), "
          f"{broken / scale['tolerance']:.2g} x the invariant network's rounding tolerance")
    assert broken > 1e6 * scale["tolerance"]


def test_a_wrong_exponent_is_caught(data):
    """Rescaling the learning rate with Adam's exponent instead of SGD's breaks the SGD trajectory."""
    probe = data.x_test
    cfg = cs.base_config("sgd")
    base = sy.run_logits(cfg, data, cs.STEPS, probe)
    right = sy.rescaled(cfg, 2.0)
    wrong = right.__class__(**{**right.as_dict(), "eta": cfg.eta / 2.0})     # eta/alpha instead of eta/alpha^2
    assert sy.relative_difference(base, sy.run_logits(right, data, cs.STEPS, probe)) == 0.0
    assert sy.relative_difference(base, sy.run_logits(wrong, data, cs.STEPS, probe)) > 1e-6


def test_li_arora_twin_equals_the_decayed_run_only_with_its_initial_buffer(data):
    probe = data.x_test
    cfg = cs.base_config("momentum")
    tol = sy.rounding_scale(cfg, data, cs.STEPS, probe)["tolerance"]
    pair = sy.li_arora_pair(cfg, data, cs.STEPS, probe)
    assert 0.99 < pair["alpha"] < 1
    assert sy.relative_difference(pair["decayed"], pair["exp_lr"]) <= tol
    bare = sy.li_arora_pair(cfg, data, cs.STEPS, probe, initial_buffer=False)
    assert sy.relative_difference(bare["decayed"], bare["exp_lr"]) > 1e6 * tol


def test_the_checks_report_agreement_with_their_numbers(data, monkeypatch):
    monkeypatch.setattr(cs, "_data", lambda: data)
    out = cs.equivariance_check("update.adamw.equivariance", "adamw")(None)
    assert out["status"] == "agrees", out["detail"]
    assert out["components"][0]["measured"] == 0.0 and out["components"][2]["must_differ"]
    li = cs.li_arora_check(None)
    assert li["status"] == "agrees", li["detail"]
