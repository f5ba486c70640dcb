"""The C-free equilibrium checks read their derived values from the claims and compare per-run moment ratios.

Synthetic records of the invariant network (no torch): every filter's step sums over the equilibrium window are
built so that ``1 - cos theta`` and the chord ratio equal the derived ones of ``later.angle.sgd`` times a known
factor per run; the check agrees when the factors scatter around 1 and disagrees when they sit 30 % off.
"""
import numpy as np
import pytest

from normlaws.gpu import checks
from normlaws.gpu.config import TrainConfig
from normlaws.gpu.derived import derivation
from normlaws.gpu.observables import LAYERS
from normlaws.records import append_record
from normlaws.theory.symbols import eta as eta_s
from normlaws.theory.symbols import lam as lam_s

EPOCHS, FILTERS = 3, 4
CELLS = ((0.3, 0.05), (0.3, 0.025), (0.1, 0.05), (0.1, 0.1))
#: per-run factors on the derived (1 - cos theta) and chord ratio: scatter of 1 %, mean exactly 1
SCATTER = (0.99, 1.01, 1.005, 0.995)


def derived_cos(eta, lam):
    """``later.angle.sgd``'s derived cos theta* at these numbers (from the claim, not retyped)."""
    return float(derivation("later.angle.sgd").result.subs({eta_s: eta, lam_s: lam}))


def write_run(folder, cfg, arrays):
    """The run's trajectory under ``traj/`` and its record (the sweep's schema) in ``records.jsonl``."""
    (folder / "traj").mkdir(exist_ok=True)
    np.savez(folder / "traj" / f"{cfg.key}.npz", **arrays)
    record = {"key": cfg.key, "status": "done", "config": cfg.as_dict(), "final": {}, "trajectory":
              f"traj/{cfg.key}.npz", "epochs": {"init_filter_norm_mean": {layer: 0.7 for layer in LAYERS},
                                                "filter_norm_mean": {layer: [0.7] * EPOCHS for layer in LAYERS},
                                                "angle_mean": {layer: [0.01] * EPOCHS for layer in LAYERS},
                                                "test_error": [0.5] * EPOCHS}}
    append_record(folder / "records.jsonl", record)


def sgd_record(folder, eta, lam, factor, seed=0):
    cfg = TrainConfig(optimizer="sgd", eta=eta, lam=lam, epochs=EPOCHS, milestones=(), network="invariant",
                      widths=(FILTERS,) * 4, n_train=3200, batch_size=32, image_size=16, seed=seed)
    steps = cfg.steps_per_epoch
    cos = 1 - factor * (1 - derived_cos(eta, lam))
    chord = derivation("later.angle.sgd").extras["chord_ratio"]
    chord_ratio = factor * float(chord.subs({eta_s: eta, lam_s: lam}))
    arrays = {}
    for layer in LAYERS:
        norms = np.full((EPOCHS + 1, FILTERS), 0.7)
        sum_sq = np.full((EPOCHS, FILTERS), steps * 0.7**2)
        arrays.update({f"{layer}_filter_norms": norms, f"{layer}_grad_unit_sq": np.ones((EPOCHS, FILTERS)),
                       f"{layer}_sum_sq": sum_sq, f"{layer}_sum_dot": cos * sum_sq,
                       f"{layer}_sum_chord": chord_ratio * sum_sq})
    write_run(folder, cfg, arrays)


@pytest.mark.parametrize("offset, status", [(1.0, "agrees"), (1.3, "disagrees")])
def test_angle_check_compares_each_run_with_its_derived_angle(tmp_path, offset, status):
    for (eta, lam), factor in zip(CELLS, SCATTER):
        sgd_record(tmp_path, eta, lam, offset * factor)
    out = checks.CHECKS["later.angle.sgd"](tmp_path)
    assert out["status"] == status, out["detail"]
    angle, chord = out["components"]
    assert angle["measured"] == pytest.approx(offset * np.mean(SCATTER), rel=1e-9)
    assert chord["measured"] == pytest.approx(offset * np.mean(SCATTER), rel=1e-9)
    assert angle["predicted"] == 1.0 and "4 equilibrated runs" in out["detail"]


def test_too_few_equilibrated_runs_is_skipped_with_the_reason(tmp_path):
    sgd_record(tmp_path, 0.3, 0.05, 1.0)
    out = checks.CHECKS["later.angle.sgd"](tmp_path)
    assert out["status"] == "skipped" and "needs 3" in out["detail"]


def no_decay_record(folder, eta, factor, seed=0):
    """SGD without decay whose every filter's ||w||^2 grows by ``factor`` times its summed increments
    ``eta^2 ||g_t||^2`` (the identity ``later.growth.sgd`` states for a scale-invariant unit: factor 1)."""
    cfg = TrainConfig(optimizer="sgd", eta=eta, lam=0.0, epochs=EPOCHS, milestones=(), network="invariant",
                      widths=(FILTERS,) * 4, n_train=3200, batch_size=32, image_size=16, seed=seed)
    steps, increment = cfg.steps_per_epoch, 0.1           # per-epoch sum of eta^2 ||g_t||^2 per filter
    arrays = {}
    for layer in LAYERS:
        n_sq = 0.49 + factor * increment * np.arange(EPOCHS + 1)
        arrays.update({f"{layer}_filter_norms": np.repeat(np.sqrt(n_sq)[:, None], FILTERS, 1),
                       f"{layer}_grad_unit_sq": np.ones((EPOCHS, FILTERS)),
                       f"{layer}_sum_sq": np.full((EPOCHS, FILTERS), steps * 0.5),
                       f"{layer}_sum_growth": np.full((EPOCHS, FILTERS), increment),
                       f"{layer}_sum_euler": np.zeros((EPOCHS, FILTERS))})
    write_run(folder, cfg, arrays)


@pytest.mark.parametrize("factor, status", [(1.0, "agrees"), (1.01, "disagrees")])
def test_growth_check_holds_the_identity_to_rounding(tmp_path, factor, status):
    no_decay_record(tmp_path, 0.3, factor)
    no_decay_record(tmp_path, 0.1, factor)
    out = checks.CHECKS["later.growth.sgd"](tmp_path)
    assert out["status"] == status, out["detail"]
    assert out["components"][0]["measured"] == pytest.approx(factor, rel=1e-9)
    assert out["components"][0]["tolerance"] < 1e-3       # float32 rounding of the updates, not a loose bound


def _window(optimizer, eta, lam, n_start, n_end, steps=200, momentum=None):
    """One layer's window of 4 filters whose summed squared norm is ``steps`` times 1 per filter."""
    from normlaws.gpu.observables import Window
    cfg = TrainConfig(optimizer=optimizer, eta=eta, lam=lam, epochs=EPOCHS, milestones=(), network="invariant",
                      widths=(FILTERS,) * 4, momentum=momentum)
    record = {"config": cfg.as_dict()}
    return record, Window(record, "conv2", [1, 2], steps, {"sum_sq": np.full(FILTERS, float(steps))},
                          np.full(FILTERS, n_start), np.full(FILTERS, n_end), np.ones(FILTERS, bool))


def test_sgds_boundary_bias_is_the_norms_drift_over_its_stationarity_identity():
    """SGD: ``sum ||g||^2/sum N`` moves by ``Delta N/((1 - a^2) sum N)``, the chord by ``Delta N/(4 eta lam sum N)``
    (both pathwise identities of ``w' = a w - eta g`` with ``g`` orthogonal to ``w``)."""
    from normlaws.gpu.checks_equilibrium import boundary_bias
    eta, lam = 0.3, 0.05
    rec, w = _window("sgd", eta, lam, 1.0, 1.2)
    delta = 4 * 0.2 / (4 * 200.0)
    assert boundary_bias("grad_ratio", rec, w) == pytest.approx(delta / (1 - (1 - 2 * eta * lam) ** 2), rel=1e-9)
    assert boundary_bias("chord", rec, w) == pytest.approx(delta / (4 * eta * lam), rel=1e-9)


def test_heavy_balls_boundary_bias_is_not_sgds():
    """With momentum the norm's boundary term is (1 - rho)^2 times the SGD-form bound Delta N/(Q/N) at heavy ball's
    own Q/N (the old check's bias, 100 times too large at rho = 0.9); the buffer's unmeasured ends add their
    stationary size."""
    from normlaws.gpu.checks_equilibrium import boundary_bias
    eta, lam, rho = 0.03, 0.0125, 0.9
    rec, drifting = _window("momentum", eta, lam, 1.0, 1.2, momentum=rho)
    _, still = _window("momentum", eta, lam, 1.1, 1.1, momentum=rho)
    norm_part = boundary_bias("grad_ratio", rec, drifting) - boundary_bias("grad_ratio", rec, still)
    sgd_form = (4 * 0.2 / (4 * 200.0)) / (4 * eta * lam * (1 - rho) * (1 + rho - eta * lam) / (1 + rho))
    assert norm_part == pytest.approx(sgd_form * (1 - rho) ** 2, rel=0.1)
    assert boundary_bias("grad_ratio", rec, still) > 0               # the velocity's ends, bounded, not zero


def test_recorded_buffer_ends_replace_the_bound():
    """With the buffer's ends recorded, its boundary terms are the measured ones: a window whose buffer did not
    change has the norm's term alone."""
    from normlaws.gpu.checks_equilibrium import boundary_bias
    eta, lam, rho = 0.03, 0.0125, 0.9
    rec, w = _window("momentum", eta, lam, 1.0, 1.2, momentum=rho)
    bounded = boundary_bias("grad_ratio", rec, w)
    same = (np.full(FILTERS, -0.001), np.full(FILTERS, 1e-4))
    w.buffer_start, w.buffer_end = same, same
    measured = boundary_bias("grad_ratio", rec, w)
    _, still = _window("momentum", eta, lam, 1.1, 1.1, momentum=rho)
    assert measured == pytest.approx(bounded - boundary_bias("grad_ratio", rec, still), rel=1e-9)
    w.buffer_end = (np.full(FILTERS, -0.002), np.full(FILTERS, 1e-4))
    assert boundary_bias("grad_ratio", rec, w) > measured
