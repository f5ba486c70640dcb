"""``normlaws simulate``: output, bad input (one line, exit 2), records; exponent grids and non-equilibration."""
import json

import pytest

from normlaws.cli import main
from normlaws.records import read_records
from normlaws.simulate import exponents


def test_point_json_reports_measured_predicted_and_verdict(capsys):
    assert main(["simulate", "--rule", "sgd", "--eta", "0.1", "--lam", "0.01", "--chains", "1024", "--json",
                 "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    first = out["rows"][0]
    assert first["quantity"] == "E||w||^2" and first["verdict"] == "agrees"
    assert first["se"] > 0 and first["tolerance"] > 4 * first["se"]
    assert out["spec"]["seed"] == 0 and out["spec"]["model_C"] == 64


def test_point_text_prints_the_table_and_the_convention(capsys):
    assert main(["simulate", "--rule", "sgd", "--eta", "0.2", "--lam", "0.01", "--dim", "16", "--chains", "256",
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "convention: L2 penalty lam*||w||^2" in text and "verdict" in text and "agrees" in text


def test_a_decoupled_rule_names_its_own_convention(tmp_path, capsys):
    """AdamW's lam is a decoupled decay, not the penalty: the text, the JSON and the record say so."""
    argv = ["simulate", "--rule", "adamw", "--eta", "0.01", "--lam", "0.1", "--chains", "64", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "convention: decoupled decay" in text and "penalty" not in text.split("convention:")[1].splitlines()[0]
    assert main(argv + ["--json", "--results", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["convention"].startswith("decoupled decay")
    (record,) = read_records(tmp_path / "simulate.jsonl")
    assert record["provenance"]["convention"]["penalty"] == "decoupled"


@pytest.mark.parametrize("argv", [
    ["simulate", "--rule", "sgd", "--eta", "0.1"],                              # no --lam
    ["simulate", "--rule", "sgd", "--eta", "0.1", "--lam", "0.01", "--bench"],  # two modes
    ["simulate", "--exponents", "normalized"],                                  # nothing to fit
    ["simulate", "--rule", "sgd", "--eta", "0.1", "--lam", "0.01", "--dim", "1"],
    ["simulate", "--rule", "sgd", "--eta", "nan", "--lam", "0.01"],
    ["simulate", "--checks", "--claim", "no.such.claim"],
    ["simulate", "--rule", "adam", "--eta", "0.1", "--lam", "0.01", "--beta2", "1.0"],
])
def test_bad_input_is_one_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err


def test_results_are_recorded_with_seed_and_convention(tmp_path, capsys):
    assert main(["simulate", "--rule", "sgd", "--eta", "0.1", "--lam", "0.01", "--chains", "128", "--seed", "7",
                 "--results", str(tmp_path), "--json", "--no-progress"]) == 0
    capsys.readouterr()
    (record,) = read_records(tmp_path / "simulate.jsonl")
    assert record["kind"] == "point" and record["provenance"]["seed"] == 7
    assert record["provenance"]["convention"]["penalty"] == "lambda_sq"


def test_growth_without_decay(capsys):
    assert main(["simulate", "--rule", "sgd", "--eta", "0.1", "--lam", "0", "--steps", "2000", "--chains", "2048",
                 "--json", "--no-progress"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[0]["verdict"] == "agrees" and rows[0]["measured"] >= rows[0]["predicted"] - 4 * rows[0]["se"]


def test_sgd_exponent_grid_fits_the_derived_slopes():
    out = exponents("sgd", chains=1024, progress=False)
    assert out["status"] == "agrees"
    line = out["fixed_product"]
    assert all(line["equilibrated"]) and len(line["x"]) == len(line["measured"]) == len(line["se"])
    lo, hi = line["fit"]["ci"]
    assert lo <= 0.25 <= hi and hi - lo < 0.01
    assert out["fixed_ratio"]["predicted_slope"] == 0


def test_a_grid_that_does_not_equilibrate_is_reported_not_fitted():
    out = exponents("sgd", chains=256, start=1e4, burn=0, steps=100, converse=False, progress=False)
    line = out["fixed_product"]
    assert not any(line["equilibrated"]) and line["fit"] is None
    assert line["status"] == "skipped" and "not fitted" in line["detail"] and out["status"] == "skipped"
    assert not any(line["drift_ok"])           # the drift test sees it by itself, not only the burn-in length
    assert not any(line["burn_long_enough"])


def test_relaxation_curve_from_a_given_start(capsys):
    """From a cold start at 3 N*, the mean curve follows the closure's recursion (exactly for the first step,
    within the closure's 1/(2d) bias later) and ends at equilibrium."""
    assert main(["simulate", "--rule", "sgd", "--eta", "0.1", "--lam", "0.01", "--start", "40", "--chains", "8192",
                 "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    curve = out["curve"]
    assert curve["t"][0] == 1 and abs(curve["mean"][0] - curve["closure"][0]) <= 4 * curve["se"][0]
    assert curve["mean"][0] > curve["mean"][-1] and out["rows"][0]["verdict"] == "agrees"
    last = abs(curve["mean"][-1] / curve["closure"][-1] - 1)
    assert last <= 1 / 64 + 4 * curve["se"][-1] / curve["mean"][-1]
