"""``normlaws verify``: stages, records, exit codes (an erratum is a finding; a failing check is a failure).

The numeric legs are replaced by small fakes (monkeypatched ``registry.leg_checks``), and the claims by a
handful of real or fake ones, so that each exit path is exercised in seconds.
"""
import json
import sys
from argparse import Namespace

import pytest
import sympy as sp

from normlaws import registry
from normlaws.cli import main
from normlaws.commands import verify, verify_property, verify_training
from normlaws.records import append_record, read_records
from normlaws.reports.evidence import EXPONENTS, MONTECARLO, RUNS, TRAINING
from normlaws.theory.claim import Claim, Printed
from normlaws.theory.derivation import Derivation
from normlaws.theory.symbols import eta, lam
from reliability_fixtures import sweep_record

#: an exact agreement and an erratum of the paper (proof holds, printed form disagrees)
REAL = ["table1.sgd.eff_lr", "update.rmsprop.equivariance"]


def _agrees(size="quick", seed=0):
    return {"status": "agrees", "measured": 0.251, "se": 0.002, "predicted": 0.25, "tolerance": 0.008,
            "detail": f"fake check at size {size}, seed {seed}"}


def _disagrees(size="quick", seed=0):
    return {"status": "disagrees", "measured": 0.40, "se": 0.002, "predicted": 0.25, "tolerance": 0.008,
            "detail": "fake: 75 standard errors off"}


def _raises(size="quick", seed=0):
    raise RuntimeError("fake check crashed")


def _legs(montecarlo=None, training=None):
    table = {"montecarlo": montecarlo or {}, "training": training or {}}
    return lambda leg: table[leg]


def _verify(tmp_path, *extra, claims=REAL):
    return main(["verify", "--out", str(tmp_path), "--skip-training", "--skip-property", "--no-pdf", "--claims",
                 *claims, *extra])


def test_all_checks_agree_exit_0_and_records_are_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "leg_checks", _legs({c: _agrees for c in REAL}))
    assert _verify(tmp_path, "--seed", "7") == 0
    out = capsys.readouterr().out
    assert "errata found in the paper: 1" in out and "update.rmsprop.equivariance" in out
    assert "verify: OK" in out
    records = read_records(tmp_path / "results" / MONTECARLO)
    assert [r["claim"] for r in records] == REAL
    assert all(r["seed"] == 7 and r["size"] == "quick" and r["result"]["status"] == "agrees" for r in records)
    assert records[0]["provenance"]["convention"]["name"] == "paper-l2"
    run = read_records(tmp_path / "results" / RUNS)[-1]
    assert [s["name"] for s in run["stages"]] == ["symbolic", "property", "montecarlo", "training", "report"]
    assert (tmp_path / "report.tex").exists() and (tmp_path / "summary.md").exists()
    assert "| montecarlo | ok |" in (tmp_path / "summary.md").read_text()


def test_a_disagreeing_check_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "leg_checks", _legs({REAL[0]: _agrees, REAL[1]: _disagrees}))
    assert _verify(tmp_path) == 1
    out = capsys.readouterr().out
    assert "FAILED checks of the suite: 1" in out and "update.rmsprop.equivariance: disagrees" in out


def test_a_check_that_raises_exits_1_and_the_others_still_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "leg_checks", _legs({REAL[0]: _raises, REAL[1]: _agrees}))
    assert _verify(tmp_path) == 1
    records = read_records(tmp_path / "results" / MONTECARLO)
    assert [r["result"]["status"] for r in records] == ["error", "agrees"]
    assert "fake check crashed" in records[0]["result"]["detail"]


def test_a_malformed_check_result_is_a_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "leg_checks", _legs({REAL[0]: lambda size, seed: {"status": "fine"}}))
    assert _verify(tmp_path) == 1


def test_skipped_checks_are_listed_not_failed(tmp_path, monkeypatch, capsys):
    skipped = lambda size, seed: {"status": "skipped", "detail": "needs scipy >= 99"}  # noqa: E731
    monkeypatch.setattr(registry, "leg_checks", _legs({REAL[0]: skipped}))
    assert _verify(tmp_path) == 0
    out = capsys.readouterr().out
    assert "needs scipy >= 99" in out and "training: left out with --skip-training" in out


def test_full_passes_the_size_to_the_checks(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(registry, "leg_checks", _legs({REAL[0]: lambda size, seed: seen.append(size) or _agrees()}))
    assert _verify(tmp_path, "--full") == 0
    assert seen == ["full"]


def _fake_claim(claim_id, derived_proof, printed=eta / lam):
    return Claim(id=claim_id, title="fake", statement="a fake claim", source="nowhere",
                 printed=Printed(printed, "exact", "nowhere"),
                 derive=lambda: Derivation(result=eta / lam, proofs={"identity": derived_proof}))


def test_a_failing_proof_exits_1_an_erratum_does_not(tmp_path, monkeypatch, capsys):
    claims = (_fake_claim("fake.ok", sp.Integer(0)), _fake_claim("fake.erratum", sp.Integer(0), printed=2 * eta),
              _fake_claim("fake.broken", eta - lam))
    monkeypatch.setattr(registry, "claims", lambda: claims)
    monkeypatch.setattr(registry, "leg_checks", _legs())
    assert _verify(tmp_path, claims=["fake.ok", "fake.erratum"]) == 0
    assert _verify(tmp_path, claims=["fake.ok", "fake.broken"]) == 1
    out = capsys.readouterr().out
    assert "fake.broken: proof fails (identity)" in out


def test_json_output(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "leg_checks", _legs({REAL[0]: _agrees}))
    assert _verify(tmp_path, "--json") == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] and payload["exit_code"] == 0 and payload["claims"] == 2
    assert [e["id"] for e in payload["errata"]] == ["update.rmsprop.equivariance"]
    assert {s["name"]: s["status"] for s in payload["stages"]} == {
        "symbolic": "ok", "property": "skipped", "montecarlo": "ok", "training": "skipped", "report": "ok"}
    assert payload["report"]["tex"].endswith("report.tex")


def test_missing_legs_are_skipped_with_the_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "leg_checks", _legs())
    monkeypatch.setitem(sys.modules, "torch", None)   # 'import torch' now raises ImportError
    code = main(["verify", "--out", str(tmp_path), "--no-pdf", "--skip-property", "--claims", *REAL])
    assert code == 0
    out = capsys.readouterr().out
    assert "montecarlo: normlaws.simulate.checks is not installed" in out
    assert "training: torch is not installed" in out


def _fake_sweep(code=0, text="fake sweep done"):
    return lambda args, sweep_dir: [sys.executable, "-c", f"import sys; print({text!r}); sys.exit({code})"]


def test_training_stage_runs_the_sweep_then_the_checks(tmp_path, monkeypatch):
    """With torch and data present, the leg starts 'normlaws sweep --quick' as a child, then runs each check."""
    monkeypatch.setattr(verify_training, "unavailable", lambda args: "")
    monkeypatch.setattr(verify_training, "sweep_command", _fake_sweep())
    check = lambda results_dir: {"status": "skipped", "detail": f"3 cells in {results_dir.name}; need 5"}  # noqa
    monkeypatch.setattr(registry, "leg_checks", _legs(training={"lr.optimal.sgd": check}))
    args = Namespace(skip_training=False, full=False, device="cpu")
    job = verify_training.start(args, tmp_path)
    stage = verify_training.stage(job, registry.select(["lr.optimal.sgd"]), args, tmp_path, "run1")
    assert stage.status == "ok", stage.detail
    assert stage.seconds > 0 and "fake sweep done" in (tmp_path / "training.log").read_text()
    record = read_records(tmp_path / TRAINING)[0]
    assert record["claim"] == "lr.optimal.sgd" and record["result"]["status"] == "skipped"


def test_the_sweep_command_is_normlaws_sweep_quick(tmp_path):
    argv = verify_training.sweep_command(Namespace(full=False, device="cpu"), tmp_path / "sweep")
    assert argv[1:] == ["-m", "normlaws", "sweep", "--out", str(tmp_path / "sweep"), "--device", "cpu", "--quick",
                        "--no-progress"]


def test_a_failing_sweep_fails_the_stage_with_its_last_line(tmp_path, monkeypatch):
    monkeypatch.setattr(verify_training, "unavailable", lambda args: "")
    monkeypatch.setattr(verify_training, "sweep_command", _fake_sweep(2, "normlaws: error: disk full"))
    args = Namespace(skip_training=False, full=False, device="cpu")
    stage = verify_training.stage(verify_training.start(args, tmp_path), [], args, tmp_path, "run1")
    assert stage.status == "failed" and "exited with 2: normlaws: error: disk full" in stage.detail


def test_training_runs_beside_the_other_stages(tmp_path, monkeypatch, capsys):
    """The sweep starts before the symbolic stage and is waited for after the Monte-Carlo stage."""
    order = []
    monkeypatch.setattr(verify_training, "unavailable", lambda args: "")
    monkeypatch.setattr(verify_training, "sweep_command", lambda args, sweep_dir: order.append("sweep started") or
                        [sys.executable, "-c", "pass"])
    real_symbolic = verify.symbolic_stage
    monkeypatch.setattr(verify, "symbolic_stage", lambda *a: order.append("symbolic") or real_symbolic(*a))
    monkeypatch.setattr(registry, "leg_checks", _legs({REAL[0]: lambda size, seed: order.append("mc") or _agrees()}))
    assert main(["verify", "--out", str(tmp_path), "--skip-property", "--no-pdf", "--claims", *REAL]) == 0
    assert order == ["sweep started", "symbolic", "mc"]
    assert "total:" in capsys.readouterr().out


def test_sweep_is_quick_unless_full_on_cuda(tmp_path):
    quick = verify.sweep_argv(Namespace(full=True, device="cpu"), tmp_path)
    paper = verify.sweep_argv(Namespace(full=True, device="cuda"), tmp_path)
    assert "--quick" in quick and "--quick" not in paper


@pytest.mark.parametrize("argv", [["--device", "tpu"], ["--seed", "-1"], ["--claims", "no.such.claim"]])
def test_bad_input_is_one_line_and_exit_2(tmp_path, argv, capsys):
    assert main(["verify", "--out", str(tmp_path), "--no-pdf", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def _grid(status="agrees"):
    x = [1.0, 3.16, 10.0, 31.6, 100.0]
    line = {"x": x, "measured": [0.3 * v**0.25 for v in x], "se": [0.002] * 5, "equilibrated": [True] * 5,
            "product": 1e-3, "status": status, "fit": {"slope": 0.251}, "detail": f"fake line: {status}"}
    return {"rule": "sgd", "status": status, "fixed_product": line}


@pytest.mark.parametrize("status, code", [("agrees", 0), ("disagrees", 1)])
def test_scaling_grids_are_recorded_and_drawn(tmp_path, monkeypatch, status, code):
    monkeypatch.setattr(registry, "leg_checks", _legs({"table1.sgd.norm": _agrees}))
    monkeypatch.setattr(verify, "scaling_grids",
                        lambda claims: ({"table1.sgd.norm": lambda size, seed: _grid(status)}, ""))
    assert _verify(tmp_path, claims=["table1.sgd.norm"]) == code
    records = read_records(tmp_path / "results" / EXPONENTS)
    assert [r["claim"] for r in records] == ["table1.sgd.norm"]
    assert (tmp_path / "figures" / "montecarlo_norm_scaling.png").exists()
    assert "Scaling grid" in (tmp_path / "report.tex").read_text()


def test_training_records_replace_the_sweep(tmp_path, monkeypatch):
    """--training-records: no training, no torch needed; the records are copied and the checks read the copy."""
    source = tmp_path / "gpu"
    (source / "traj").mkdir(parents=True)
    record = sweep_record()
    append_record(source / "records.jsonl", record)
    (source / record["trajectory"]).write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setattr(verify_training, "sweep_command", lambda *a: pytest.fail(f"trained: {a}"))
    seen = []
    check = lambda results_dir: seen.append(results_dir) or {"status": "skipped", "detail": "fake"}  # noqa: E731
    monkeypatch.setattr(registry, "leg_checks", _legs(training={"lr.optimal.sgd": check}))
    args = Namespace(skip_training=False, full=False, device="cpu", training_records=source)
    out = tmp_path / "out"
    job = verify_training.start(args, out)
    stage = verify_training.stage(job, registry.select(["lr.optimal.sgd"]), args, out, "run1")
    assert stage.status == "ok", stage.detail
    assert seen == [out / "sweep"] and (out / "sweep" / record["trajectory"]).read_bytes() == b"x"
    assert read_records(out / TRAINING)[0]["records_from"] == str(source)


def test_training_records_must_hold_records(tmp_path, capsys):
    assert main(["verify", "--out", str(tmp_path / "o"), "--training-records", str(tmp_path)]) == 2
    assert "holds no records.jsonl" in capsys.readouterr().err


# ---- the property leg ------------------------------------------------------------------------------------------

FAKE_PROPERTIES = '''
import time
import pytest

@pytest.mark.claims("table1.sgd.eff_lr")
def test_holds():
    assert True

@pytest.mark.claims("update.rmsprop.equivariance")
def test_fails():
    assert {fail} == 0

@pytest.mark.claims("update.rmsprop.equivariance")
def test_slow():
    time.sleep({sleep})
'''


def _fake_property_tests(tmp_path, monkeypatch, fail=0, sleep=0):
    tests = tmp_path / "fake_tests" / "test_fake_properties.py"
    tests.parent.mkdir()
    tests.write_text(FAKE_PROPERTIES.format(fail=fail, sleep=sleep))
    monkeypatch.setattr(registry, "property_tests", lambda: {
        "table1.sgd.eff_lr": [f"{tests}::test_holds"],
        "update.rmsprop.equivariance": [f"{tests}::test_fails", f"{tests}::test_slow"]})


@pytest.mark.parametrize("fail, code, statuses", [(0, 0, ["agrees", "agrees"]), (1, 1, ["agrees", "disagrees"])])
def test_the_property_leg_runs_the_marked_tests_and_records_each_claim(tmp_path, monkeypatch, capsys, fail, code,
                                                                       statuses):
    _fake_property_tests(tmp_path, monkeypatch, fail=fail)
    monkeypatch.setattr(registry, "leg_checks", _legs())
    assert main(["verify", "--out", str(tmp_path / "out"), "--skip-training", "--skip-montecarlo", "--no-pdf",
                 "--claims", *REAL]) == code
    records = read_records(tmp_path / "out" / "results" / "property.jsonl")
    assert [r["claim"] for r in records] == REAL and [r["result"]["status"] for r in records] == statuses
    assert records[1]["result"]["passed"] == 2 - fail and records[1]["result"]["failed"] == fail
    out = capsys.readouterr().out
    assert "property" in out and (("update.rmsprop.equivariance: disagrees: 1 of 2 property tests failed" in out)
                                  == bool(fail))


def test_the_property_leg_says_why_it_did_not_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(verify_property, "checkout_root", lambda: tmp_path)   # an installed copy: no tests/
    monkeypatch.setattr(registry, "leg_checks", _legs())
    assert main(["verify", "--out", str(tmp_path / "out"), "--skip-training", "--skip-montecarlo", "--no-pdf",
                 "--claims", *REAL]) == 0
    assert "property: the property tests are not installed: they live in tests/ of a repository checkout" \
        in capsys.readouterr().out
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "the property tests are not installed" in summary


def test_the_property_leg_stops_at_its_time_limit(tmp_path, monkeypatch):
    _fake_property_tests(tmp_path, monkeypatch, sleep=60)
    monkeypatch.setattr(verify_property, "TIME_LIMIT_S", 3)
    claims = registry.select(REAL)
    job = verify_property.start(Namespace(skip_property=False), claims, tmp_path)
    stage = verify_property.stage(job, claims, tmp_path, "run1")
    assert stage.status == "skipped" and "not run to the end: stopped at the time limit of 3 s" in stage.detail
    assert stage.seconds < 30 and not (tmp_path / "property.jsonl").exists()


def test_property_targets_are_files_for_all_claims_and_node_ids_for_some():
    every = verify_property.targets(registry.claims())
    assert every and all(t.startswith("tests/test_properties_") and "::" not in t for t in every)
    some = verify_property.targets(registry.select(["table1.sgd.eff_lr"]))
    assert some == sorted(registry.property_tests()["table1.sgd.eff_lr"])
