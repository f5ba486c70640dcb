"""Fits, equilibrium marks, registry checks and figures from records (no torch needed)."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from normlaws.gpu import analysis, checks, checks_laws, fits
from normlaws.gpu.config import TrainConfig
from normlaws.records import append_record

ETAS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
LAMS = (1e-5, 1e-4, 1e-3, 1e-2)
EPOCHS = 11      # the last epoch is the equilibrium window's: 10 epochs of 390 steps before it


def record(optimizer, eta, lam, final_norm, error, settled=True, status="done", angle=0.01, momentum=None, C=None):
    """A record in the sweep's schema: the norm relaxes to ``final_norm`` (or is still growing 20 %/epoch).

    With ``C``, the record carries the per-filter statistics of this version (live-filter norms, the gradient
    scale ``grad_unit_sq``, no collapsed filter); without, it is a record of an older version.
    """
    cfg = TrainConfig(optimizer=optimizer, eta=eta, lam=lam, epochs=EPOCHS, milestones=(), momentum=momentum)
    if settled == "never moved":
        series = [final_norm] * (EPOCHS + 1)
    elif settled:
        series = [final_norm * (1 + 0.5 * math.exp(-e)) for e in range(EPOCHS + 1)]
        series[-3:] = [final_norm] * 3
    else:
        series = [final_norm * 1.2 ** (e - EPOCHS) for e in range(EPOCHS + 1)]
    errors = [error] * EPOCHS if status == "done" else ["nan"] * EPOCHS
    epochs = {"init_filter_norm_mean": {"conv1": series[0]}, "filter_norm_mean": {"conv1": series[1:]},
              "test_error": errors, "angle_mean": {"conv1": [angle] * EPOCHS}}
    if C is not None:
        epochs.update({"live_filter_norm_mean": {"conv1": series[1:]}, "grad_unit_sq_mean": {"conv1": [C] * EPOCHS},
                       "collapsed_filters": {"conv1": [0] * EPOCHS}})
    return {"key": cfg.key, "status": status, "config": cfg.as_dict(), "final": {}, "epochs": epochs}


def power_law_records(optimizer, p, q, noise=0.01, seed=0, angle=(0.5, 0.5), c=0.0, drift=(0.0, 0.0),
                      with_C=True):
    """Settled cells whose norm is ``2 eta^p lam^q C^c`` and angle per step ``0.1 eta^a lam^b``, times log-normal
    noise, where the gradient scale ``C = eta^drift[0] lam^drift[1]`` (also noisy) moves with the cell (records of
    an older version, without ``C``, if not ``with_C``)."""
    rng = np.random.default_rng(seed)
    noisy = lambda: math.exp(noise * rng.standard_normal())  # noqa: E731
    out = []
    for e in ETAS:
        for l in LAMS:
            C = e ** drift[0] * l ** drift[1] * math.exp(0.3 * rng.standard_normal())
            out.append(record(optimizer, e, l, 2.0 * e ** p * l ** q * C ** c * noisy(), 0.2,
                              angle=0.1 * e ** angle[0] * l ** angle[1] * noisy(), C=C if with_C else None))
    return out


def fake_derived(values):
    """A stand-in for ``derived_exponents`` that answers ``values`` (exponent_C 0 unless given) for any claim."""
    values = {"exponent_C": 0.0, **values}
    return lambda claim, keys=None, expression=None: {k: values[k] for k in keys or values}


def write(tmp_path, records):
    for r in records:
        append_record(tmp_path / "records.jsonl", r)
    return tmp_path


def test_ols_standard_error_equals_scipy_linregress():
    from scipy import stats
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 3, 20)
    y = 0.7 * x + 0.2 + 0.1 * rng.standard_normal(20)
    fit = fits.ols({"x": x}, y)
    ref = stats.linregress(x, y)
    assert fit.get("x")["value"] == pytest.approx(ref.slope, rel=1e-10)
    assert fit.get("x")["se"] == pytest.approx(ref.stderr, rel=1e-10)
    half = stats.t.ppf(0.975, 18) * ref.stderr
    assert fit.get("x")["ci"] == pytest.approx([ref.slope - half, ref.slope + half], rel=1e-10)


def test_norm_exponents_recovered_and_unsettled_cells_left_out():
    # adam without the gradient scale C (older records): no derived relaxation time, the drift test
    records = power_law_records("adam", 1 / 3, -1 / 3, with_C=False)
    # cells still growing, with norms far off the law: they must not enter the fit
    records += [record("adam", e, 3e-5, 50.0 * e, 0.3, settled=False) for e in ETAS]
    records += [record("adam", 0.01, 3e-3, 1.0, 0.9, status="diverged")]
    records += [record("adam", 0.003, 3e-3, 0.7, 0.2, settled="never moved")]
    assert not any(analysis.equilibrated(r) for r in records[-8:])
    fit = fits.fit_norm_exponents(records)
    assert fit.n == len(ETAS) * len(LAMS)
    for name, true in (("exponent_eta", 1 / 3), ("exponent_lam", -1 / 3)):
        c = fit.get(name)
        assert c["ci"][0] <= true <= c["ci"][1] and c["ci"][1] - c["ci"][0] < 0.02


def test_sgd_family_cells_are_settled_after_three_derived_relaxation_times():
    """Nesterov, rho = 0.9: tau = (1 - rho)/(8 eta lam) steps (later.angle.nesterov); 11 epochs of 390 steps."""
    steps = EPOCHS * (50_000 // 128)
    for eta, lam in ((0.1, 1e-4), (0.01, 1e-4), (0.3, 1e-3), (1e-3, 1e-5)):
        tau = 0.1 / (8 * eta * lam)
        # still drifting 20 % per epoch: a drift test would reject it, the derived time decides
        rec = record("nesterov", eta, lam, 1.0, 0.2, settled=False)
        assert analysis.relaxation_steps(rec) == pytest.approx(tau)
        # the norm read at the end of the phase is an equilibrium one when its whole last epoch was
        assert analysis.equilibrated(rec) == (steps - steps // EPOCHS >= analysis.RELAXATION_MULTIPLE * tau)
    assert analysis.relaxation_steps(record("sgd", 0.1, 1e-3, 1.0, 0.2)) == pytest.approx(1 / (8 * 0.1 * 1e-3))
    assert analysis.relaxation_steps(record("adam", 0.1, 1e-3, 1.0, 0.2)) is None     # no C recorded


def test_the_gradient_scale_is_read_never_estimated():
    new = record("nesterov", 0.1, 1e-3, 2.0, 0.2, C=0.7)
    assert analysis.gradient_scale_at_fit(new) == 0.7 and analysis.collapsed_at_fit(new) == 0
    old = record("nesterov", 0.1, 1e-3, 2.0, 0.2)
    assert analysis.collapsed_at_fit(old) is None
    old["epochs"]["grad_ratio_mean"] = {"conv1": [0.05] * EPOCHS}   # an older record: no estimate from this
    assert math.isnan(analysis.gradient_scale_at_fit(old))


def test_cluster_robust_intervals_cover_the_truth_when_points_share_their_cluster_error():
    """Monte-Carlo coverage, seed 0, 400 data sets of 20 clusters x 10 points whose errors are mostly shared per
    cluster: the cluster-robust 95 % interval covers the true slope in ~95 % of them (binomial s.e. 1.1 %, so
    0.90 is 4.5 s.e. below), the naive one, which counts 200 independent points, far less often."""
    rng = np.random.default_rng(0)
    covered = {"naive": 0, "cluster": 0}
    for _ in range(400):
        cluster_x = rng.normal(size=20)
        x = np.repeat(cluster_x, 10) + 0.1 * rng.normal(size=200)
        y = 0.5 * x + np.repeat(rng.normal(size=20), 10) + 0.1 * rng.normal(size=200)
        labels = np.repeat(np.arange(20), 10)
        for name, fit in (("naive", fits.ols({"x": x}, y)), ("cluster", fits.ols({"x": x}, y, clusters=labels))):
            lo, hi = fit.get("x")["ci"]
            covered[name] += lo <= 0.5 <= hi
    assert 0.90 * 400 <= covered["cluster"] <= 0.99 * 400, covered
    assert covered["naive"] < 0.75 * 400, covered


def filter_records(tmp_path, seed=0, filters=16, optimizer="nesterov"):
    """Settled Nesterov cells with per-filter trajectories in which every filter obeys ||w_j||^4 = eta C_j/lam
    (times 2 % noise) and C_j scatters by a factor ~10 around a cell level that falls as 1/(eta lam)."""
    rng = np.random.default_rng(seed)
    (tmp_path / "traj").mkdir(parents=True, exist_ok=True)
    out = []
    for e in (0.03, 0.1, 0.3, 1.0):
        for l in (1e-4, 1e-3, 1e-2):
            rec = record(optimizer, e, l, 1.0, 0.2, C=1.0)
            c = 1e-4 / (e * l) * np.exp(rng.normal(0, 1.2, filters))
            w = (e * c / l) ** 0.25 * np.exp(0.02 * rng.normal(size=filters))
            norms = np.vstack([np.full(filters, 0.6)] + [w] * EPOCHS)
            np.savez(tmp_path / "traj" / f"{rec['key']}.npz", conv1_filter_norms=norms,
                     conv1_grad_unit_sq=np.vstack([c] * EPOCHS))
            rec["trajectory"] = f"traj/{rec['key']}.npz"
            del rec["epochs"]["live_filter_norm_mean"], rec["epochs"]["grad_unit_sq_mean"]
            del rec["epochs"]["collapsed_filters"]
            out.append(rec)
    return write(tmp_path, out)


def test_the_per_filter_law_is_recovered_where_a_per_cell_fit_is_not(tmp_path):
    records = analysis.load_records(filter_records(tmp_path))
    fit = fits.fit_filter_law(records, power=-1)
    assert fit.extra == {"cells": 11, "filters": 176, "of": 12, "layer": "conv1"}   # (0.03, 1e-4): 1 tau only
    for name, true in (("exponent_eta", 0.25), ("exponent_lam", -0.25), ("exponent_C", 0.25)):
        c = fit.get(name)
        assert c["ci"][0] <= true <= c["ci"][1] and c["ci"][1] - c["ci"][0] < 0.05, (name, c)
    # the cell means (live-filter norms read back from the trajectories) carry the C drift: eta^0, lam^-1/2
    plain = fits.fit_norm_exponents(records)
    assert abs(plain.get("exponent_eta")["value"]) < 0.1 and plain.get("exponent_lam")["value"] < -0.4
    eff = fits.fit_filter_law(records, power=2)             # eta/||w||^2 = eta^(1/2) lam^(1/2) C^(-1/2)
    assert eff.get("exponent_C")["value"] == pytest.approx(-0.5, abs=0.02)


def test_norm_check_uses_the_per_filter_fit_when_the_records_allow(tmp_path, monkeypatch):
    monkeypatch.setattr(checks_laws, "derived_exponents",
                        fake_derived({"exponent_eta": 0.25, "exponent_lam": -0.25, "exponent_C": 0.25}))
    out = checks.CHECKS["table1.momentum.norm"](filter_records(tmp_path, optimizer="momentum"))
    assert out["status"] == "agrees" and "per filter (176 live filters of 11" in out["detail"]
    assert out["without_C"]["exponent_lam"]["value"] < -0.4


def test_optimal_eta_follows_the_valley_and_edges_are_not_fitted():
    slope, c = -0.5, math.log(1e-4)      # log eta* = c + slope * log lam: interior for 3 lams, edge for 1
    records = [record("adam", e, l, 1.0, 0.1 + 0.02 * (math.log(e) - c - slope * math.log(l)) ** 2)
               for e in ETAS for l in LAMS]
    points = fits.optimal_eta(records)
    inner = [p for p in points if p["interior"]]
    for p in inner:   # an exactly quadratic valley in log eta is found exactly by the 3-point parabola
        assert math.log(p["eta_star"]) == pytest.approx(c + slope * math.log(p["lam"]), abs=1e-9)
    edge = [p for p in points if not p["interior"]]
    assert len(edge) >= 1 and all(p["eta_star"] in (min(ETAS), max(ETAS)) for p in edge)
    assert fits.fit_optimal_eta(points).get("exponent_lam")["value"] == pytest.approx(slope, abs=1e-9)


def test_an_optimum_in_a_cell_that_had_not_equilibrated_is_not_fitted():
    slope, c = -0.5, math.log(1e-4)
    valley = lambda e, l: 0.1 + 0.02 * (math.log(e) - c - slope * math.log(l)) ** 2  # noqa: E731
    records = [record("adam", e, l, 1.0, valley(e, l)) for e in ETAS for l in LAMS[:3]]
    # lam = 1e-2: the best cell is off the valley and its norm never moved: not an equilibrium optimum
    records += [record("adam", e, 1e-2, 1.0, 0.05 if e == 0.01 else 0.3, settled="never moved" if e == 0.01 else True)
                for e in ETAS]
    points = {p["lam"]: p for p in fits.optimal_eta(records)}
    assert points[1e-2]["interior"] and not points[1e-2]["settled"]
    fit = fits.fit_optimal_eta(list(points.values()))
    assert fit.extra == {"points": 3, "of": 4}
    assert fit.get("exponent_lam")["value"] == pytest.approx(slope, abs=1e-9)   # the off-valley point left out


def test_norm_check_agrees_and_disagrees_with_the_derived_exponents(tmp_path, monkeypatch):
    monkeypatch.setattr(checks_laws, "derived_exponents", fake_derived({"exponent_eta": 1 / 3, "exponent_lam": -1 / 3}))
    agree_dir = write(tmp_path / "a", power_law_records("adam", 1 / 3, -1 / 3))
    out = checks.CHECKS["table1.adam.norm"](agree_dir)
    assert out["status"] == "agrees" and out["derived"] == -1 / 3 and out["ci"][0] <= -1 / 3 <= out["ci"][1]
    # C not in the law: not fitted
    assert "exponent_C" not in [c["quantity"] for c in out["components"]] and "without_C" not in out
    other_dir = write(tmp_path / "b", power_law_records("adam", 0.25, -0.25))
    out = checks.CHECKS["table1.adam.norm"](other_dir)
    assert out["status"] == "disagrees" and out["measured"] == pytest.approx(-0.25, abs=0.01)
    assert checks.CHECKS["table1.sgd.norm"](agree_dir)["status"] == "skipped"   # no sgd records
    assert checks.CHECKS["table1.momentum.norm"](agree_dir)["status"] == "skipped"


def test_without_per_filter_C_a_law_in_C_is_fitted_in_eta_and_lam_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(checks_laws, "derived_exponents",
                        fake_derived({"exponent_eta": 0.25, "exponent_lam": -0.25, "exponent_C": 0.25}))
    folder = write(tmp_path, power_law_records("momentum", 0.25, -0.25))
    out = checks.CHECKS["table1.momentum.norm"](folder)
    assert out["status"] == "agrees" and out["cells"] == 12      # the 12 cells with 3 tau in 10 epochs
    assert "no per-filter C" in out["detail"] and "exponent_C" not in [c["quantity"] for c in out["components"]]


def test_effective_learning_rate_check_reads_eta_over_the_norm_squared(tmp_path, monkeypatch):
    monkeypatch.setattr(checks_laws, "derived_exponents", fake_derived({"exponent_eta": 0.5, "exponent_lam": 0.5}))
    folder = write(tmp_path, power_law_records("sgd", 0.25, -0.25))
    out = checks.CHECKS["table1.sgd.eff_lr_eq"](folder)            # eta/n^2 = eta^(1/2) lam^(1/2) / 4
    eta_exponent = next(c for c in out["components"] if c["quantity"] == "exponent_eta")
    assert out["status"] == "agrees" and eta_exponent["measured"] == pytest.approx(0.5, abs=0.02)


def test_sgd_with_momentum_is_the_heavy_ball_family():
    assert analysis.family(record("sgd", 0.1, 1e-3, 1.0, 0.2, momentum=0.9)) == "momentum"
    assert analysis.family(record("sgd", 0.1, 1e-3, 1.0, 0.2)) == "sgd"


def test_checks_skip_with_a_reason_when_the_registry_has_no_derived_exponent(tmp_path, monkeypatch):
    monkeypatch.setattr(checks_laws, "derived_exponents", lambda *args, **kwargs: None)
    folder = write(tmp_path, power_law_records("momentum", 0.25, -0.25))
    for claim, check in checks.CHECKS.items():
        if not claim.startswith("table1."):
            continue                      # the other checks compare derived values, not fitted exponents
        out = check(folder)
        assert out["status"] == "skipped" and claim in out["detail"]


def test_every_check_names_a_registry_claim_with_derived_exponents():
    from normlaws import registry
    ids = {c.id for c in registry.claims()}
    assert set(checks.CHECKS) <= ids, sorted(set(checks.CHECKS) - ids)
    for claim in checks.CHECKS:
        if claim.startswith("lr.optimal"):
            assert fits.derived_exponents(claim, ("exponent_lam",)) is not None, claim
        elif claim.startswith("table1."):
            assert fits.derived_exponents(claim, checks_laws.KEYS) is not None, claim


def test_leading_exponent_of_a_result_without_extras(monkeypatch):
    from normlaws.theory import catalog
    from normlaws.theory.symbols import eta, lam

    class Normalized:
        class derivation:
            result, extras = eta / (1 - 2 * eta * lam), {"k": 0}
    original = catalog.get
    monkeypatch.setattr(catalog, "get", lambda cid: Normalized if cid == "n" else original(cid))
    assert fits.derived_exponents("n") == {"exponent_eta": 1.0, "exponent_lam": 0.0}


def test_derived_exponents_come_from_the_registry(monkeypatch):
    import sympy as sp
    from normlaws.theory import catalog

    class FakeClaim:
        class derivation:
            extras = {"exponent_eta": sp.Rational(1, 3), "exponent_lam": -sp.Rational(1, 3)}
    original = catalog.get
    monkeypatch.setattr(catalog, "get", lambda cid: FakeClaim if cid == "x.y" else original(cid))
    assert fits.derived_exponents("x.y") == {"exponent_eta": 1 / 3, "exponent_lam": -1 / 3}


def test_training_leg_is_registered():
    from normlaws import registry
    assert set(checks.CHECKS) <= set(registry.leg_checks("training"))
    assert "training" in registry.legs_of("table1.adam.norm")


def test_figures_are_drawn_from_records(tmp_path, monkeypatch):
    monkeypatch.setattr("normlaws.gpu.figures.derived_exponents",
                        fake_derived({"exponent_lam": -1.0, "exponent_eta": 0.25}))
    records = power_law_records("nesterov", 0.25, -0.25)
    records += [record("normalized", e, l, 1.0, 0.1 + 0.01 * math.log(e / 0.01) ** 2) for e in ETAS for l in LAMS]
    folder = write(tmp_path / "res", records)
    from normlaws.gpu.figures import make_figures
    summary = make_figures(folder, tmp_path / "fig")
    names = sorted(p.rsplit("/", 1)[1] for p in summary["figures"])
    assert names == ["fig1_norm.png", "fig2_test_error.png", "fig3_normalized.png", "fig4_optimal_lr.png",
                     "fig5_laws.png"]
    assert all((tmp_path / "fig" / n).stat().st_size > 5000 for n in names)
    assert set(summary["checks"]) == set(checks.CHECKS)
    json.dumps(summary)


def test_figures_leave_out_runs_without_decay(tmp_path, monkeypatch):
    # the CPU preset trains no-decay runs (lam = 0) beside the grid: a log-lam heatmap has no cell for them
    monkeypatch.setattr("normlaws.gpu.figures.derived_exponents",
                        fake_derived({"exponent_lam": -1.0, "exponent_eta": 0.25}))
    records = power_law_records("nesterov", 0.25, -0.25) + [record("nesterov", 0.01, 0.0, 2.0, 0.5)]
    from normlaws.gpu.figures import make_figures
    summary = make_figures(write(tmp_path / "res", records), tmp_path / "fig")
    assert any(p.endswith("fig1_norm.png") for p in summary["figures"])


def test_leg_modules_import_without_torch():
    code = ("import sys; import normlaws.gpu, normlaws.gpu.checks, normlaws.gpu.figures, normlaws.gpu.analysis, "
            "normlaws.gpu.data, normlaws.cli; normlaws.cli.build_parser(); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["normlaws.gpu", "normlaws.gpu.config", "normlaws.gpu.analysis", "normlaws.gpu.settling",
                                  "normlaws.gpu.observables", "normlaws.gpu.presets"])
def test_doctests(name):
    import doctest
    import importlib
    assert doctest.testmod(importlib.import_module(name)).failed == 0
