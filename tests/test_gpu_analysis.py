"""Fits, equilibrium marks, registry checks and figures from records (no torch needed)."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from normlaws.gpu import analysis, checks
from normlaws.gpu.config import TrainConfig
from normlaws.records import append_record

ETAS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
LAMS = (1e-5, 1e-4, 1e-3, 1e-2)
EPOCHS = 10


def record(optimizer, eta, lam, final_norm, error, settled=True, status="done", angle=0.01, momentum=None):
    """A record in the sweep's schema: the norm relaxes to ``final_norm`` (or is still growing 20 %/epoch)."""
    cfg = TrainConfig(optimizer=optimizer, eta=eta, lam=lam, epochs=EPOCHS, milestones=(), momentum=momentum)
    if settled == "never moved":
        series = [final_norm] * (EPOCHS + 1)
    elif settled:
        series = [final_norm * (1 + 0.5 * math.exp(-e)) for e in range(EPOCHS + 1)]
        series[-3:] = [final_norm] * 3
    else:
        series = [final_norm * 1.2 ** (e - EPOCHS) for e in range(EPOCHS + 1)]
    errors = [error] * EPOCHS if status == "done" else ["nan"] * EPOCHS
    return {"key": cfg.key, "status": status, "config": cfg.as_dict(), "final": {},
            "epochs": {"init_filter_norm_mean": {"conv1": series[0]}, "filter_norm_mean": {"conv1": series[1:]},
                       "test_error": errors, "angle_mean": {"conv1": [angle] * EPOCHS}}}


def power_law_records(optimizer, p, q, noise=0.01, seed=0, angle=(0.5, 0.5)):
    """Settled cells whose norm is 2 eta^p lam^q and angle per step 0.1 eta^a lam^b, times log-normal noise."""
    rng = np.random.default_rng(seed)
    noisy = lambda: math.exp(noise * rng.standard_normal())  # noqa: E731
    return [record(optimizer, e, l, 2.0 * e ** p * l ** q * noisy(), 0.2, angle=0.1 * e ** angle[0] * l ** angle[1]
                   * noisy()) for e in ETAS for l in LAMS]


def write(tmp_path, records):
    for r in records:
        append_record(tmp_path / "records.jsonl", r)
    return tmp_path


def test_ols_standard_error_equals_scipy_linregress():
    from scipy import stats
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 3, 20)
    y = 0.7 * x + 0.2 + 0.1 * rng.standard_normal(20)
    fit = analysis.ols({"x": x}, y)
    ref = stats.linregress(x, y)
    assert fit.get("x")["value"] == pytest.approx(ref.slope, rel=1e-10)
    assert fit.get("x")["se"] == pytest.approx(ref.stderr, rel=1e-10)
    half = stats.t.ppf(0.975, 18) * ref.stderr
    assert fit.get("x")["ci"] == pytest.approx([ref.slope - half, ref.slope + half], rel=1e-10)


def test_norm_exponents_recovered_and_unsettled_cells_left_out():
    records = power_law_records("nesterov", 0.25, -0.25)
    # cells still growing, with norms far off the law: they must not enter the fit
    records += [record("nesterov", e, 3e-5, 50.0 * e, 0.3, settled=False) for e in ETAS]
    records += [record("nesterov", 0.01, 3e-3, 1.0, 0.9, status="diverged")]
    records += [record("nesterov", 0.003, 3e-3, 0.7, 0.2, settled="never moved")]
    assert not any(analysis.equilibrated(r) for r in records[-8:])
    fit = analysis.fit_norm_exponents(records)
    assert fit.n == len(ETAS) * len(LAMS)
    for name, true in (("exponent_eta", 0.25), ("exponent_lam", -0.25)):
        c = fit.get(name)
        assert c["ci"][0] <= true <= c["ci"][1] and c["ci"][1] - c["ci"][0] < 0.02


def test_optimal_eta_follows_the_valley_and_edges_are_not_fitted():
    slope, c = -0.5, math.log(1e-4)      # log eta* = c + slope * log lam: interior for 3 lams, edge for 1
    records = [record("adam", e, l, 1.0, 0.1 + 0.02 * (math.log(e) - c - slope * math.log(l)) ** 2)
               for e in ETAS for l in LAMS]
    points = analysis.optimal_eta(records)
    inner = [p for p in points if p["interior"]]
    for p in inner:   # an exactly quadratic valley in log eta is found exactly by the 3-point parabola
        assert math.log(p["eta_star"]) == pytest.approx(c + slope * math.log(p["lam"]), abs=1e-9)
    edge = [p for p in points if not p["interior"]]
    assert len(edge) >= 1 and all(p["eta_star"] in (min(ETAS), max(ETAS)) for p in edge)
    assert analysis.fit_optimal_eta(points).get("exponent_lam")["value"] == pytest.approx(slope, abs=1e-9)


def test_norm_check_agrees_and_disagrees_with_the_derived_exponents(tmp_path, monkeypatch):
    derived = {"exponent_eta": 0.25, "exponent_lam": -0.25}
    monkeypatch.setattr(checks, "derived_exponents", lambda claim, keys=None: {k: derived[k] for k in keys or derived})
    agree_dir = write(tmp_path / "a", power_law_records("nesterov", 0.25, -0.25))
    out = checks.CHECKS["table1.nesterov.norm"](agree_dir)
    assert out["status"] == "agrees" and out["derived"] == -0.25 and out["ci"][0] <= -0.25 <= out["ci"][1]
    other_dir = write(tmp_path / "b", power_law_records("nesterov", 1 / 3, -1 / 3))
    out = checks.CHECKS["table1.nesterov.norm"](other_dir)
    assert out["status"] == "disagrees" and out["measured"] == pytest.approx(-1 / 3, abs=0.01)
    assert checks.CHECKS["table1.adam.norm"](agree_dir)["status"] == "skipped"       # no adam records
    assert checks.CHECKS["table1.momentum.norm"](agree_dir)["status"] == "skipped"   # nesterov is not heavy-ball


def test_effective_step_check_reads_the_angle_per_step(tmp_path, monkeypatch):
    monkeypatch.setattr(checks, "derived_exponents", lambda claim, keys=None: {"exponent_eta": 0.5,
                                                                              "exponent_lam": 0.5})
    folder = write(tmp_path, power_law_records("sgd", 0.25, -0.25, angle=(0.5, 0.5)))
    out = checks.CHECKS["table1.sgd.eff_lr_eq"](folder)
    assert out["status"] == "agrees" and out["components"]["exponent_eta"]["value"] == pytest.approx(0.5, abs=0.01)
    folder = write(tmp_path / "b", power_law_records("sgd", 0.25, -0.25, angle=(0.5, -0.5)))
    assert checks.CHECKS["table1.sgd.eff_lr_eq"](folder)["status"] == "disagrees"


def test_sgd_with_momentum_is_the_heavy_ball_family():
    assert analysis.family(record("sgd", 0.1, 1e-3, 1.0, 0.2, momentum=0.9)) == "momentum"
    assert analysis.family(record("sgd", 0.1, 1e-3, 1.0, 0.2)) == "sgd"


def test_checks_skip_with_a_reason_when_the_registry_has_no_derived_exponent(tmp_path, monkeypatch):
    monkeypatch.setattr(checks, "derived_exponents", lambda claim, keys=None: None)
    folder = write(tmp_path, power_law_records("nesterov", 0.25, -0.25))
    for claim, check in checks.CHECKS.items():
        out = check(folder)
        assert out["status"] == "skipped" and claim in out["detail"]


def test_every_check_names_a_registry_claim_with_derived_exponents():
    from normlaws import registry
    ids = {c.id for c in registry.claims()}
    assert set(checks.CHECKS) <= ids, sorted(set(checks.CHECKS) - ids)
    for claim in checks.CHECKS:
        keys = ("exponent_lam",) if claim.startswith("lr.optimal") else ("exponent_eta", "exponent_lam")
        assert analysis.derived_exponents(claim, keys) is not None, claim


def test_leading_exponent_of_a_result_without_extras(monkeypatch):
    from normlaws import registry
    from normlaws.theory.symbols import eta, lam

    class Normalized:
        class derivation:
            result, extras = eta / (1 - 2 * eta * lam), {"k": 0}
    original = registry.get
    monkeypatch.setattr(registry, "get", lambda cid: Normalized if cid == "n" else original(cid))
    assert analysis.derived_exponents("n") == {"exponent_eta": 1.0, "exponent_lam": 0.0}


def test_derived_exponents_come_from_the_registry(monkeypatch):
    import sympy as sp
    from normlaws import registry

    class FakeClaim:
        class derivation:
            extras = {"exponent_eta": sp.Rational(1, 3), "exponent_lam": -sp.Rational(1, 3)}
    original = registry.get
    monkeypatch.setattr(registry, "get", lambda cid: FakeClaim if cid == "x.y" else original(cid))
    assert analysis.derived_exponents("x.y") == {"exponent_eta": 1 / 3, "exponent_lam": -1 / 3}


def test_training_leg_is_registered():
    from normlaws import registry
    assert set(checks.CHECKS) <= set(registry.leg_checks("training"))
    assert "training" in registry.legs_of("table1.adam.norm")


def test_figures_are_drawn_from_records(tmp_path, monkeypatch):
    monkeypatch.setattr("normlaws.gpu.figures.derived_exponents",
                        lambda claim, keys=None: {"exponent_lam": -1.0, "exponent_eta": 0.25})
    records = power_law_records("nesterov", 0.25, -0.25)
    records += [record("normalized", e, l, 1.0, 0.1 + 0.01 * math.log(e / 0.01) ** 2) for e in ETAS for l in LAMS]
    folder = write(tmp_path / "res", records)
    from normlaws.gpu.figures import make_figures
    summary = make_figures(folder, tmp_path / "fig")
    names = sorted(p.rsplit("/", 1)[1] for p in summary["figures"])
    assert names == ["fig1_norm.png", "fig2_test_error.png", "fig3_normalized.png", "fig4_optimal_lr.png"]
    assert all((tmp_path / "fig" / n).stat().st_size > 5000 for n in names)
    assert set(summary["checks"]) == set(checks.CHECKS)
    json.dumps(summary)


def test_leg_modules_import_without_torch():
    code = ("import sys; import normlaws.gpu, normlaws.gpu.checks, normlaws.gpu.figures, normlaws.gpu.analysis, "
            "normlaws.gpu.data, normlaws.cli; normlaws.cli.build_parser(); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["normlaws.gpu", "normlaws.gpu.config", "normlaws.gpu.analysis"])
def test_doctests(name):
    import doctest
    import importlib
    assert doctest.testmod(importlib.import_module(name)).failed == 0
