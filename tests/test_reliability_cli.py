"""Bad input to every option of every command: exit code 2, one line on stderr, no traceback, nothing written.

The parser is introspected, so every option of every registered command is covered, including options added
later (``test_every_option_of_every_command_has_bad_values`` fails when an option has no bad value here).
:data:`INVOCATIONS` is the deterministic table (each option with each bad value of its kind, the issue's
cases, and mode conflicts); ``test_fuzzed_bad_values`` draws more with Hypothesis. Each invocation runs in a
folder holding a results folder with records, which must be byte for byte the same afterwards, with no new
file or folder.
"""
import argparse
import hashlib
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from normlaws import validate
from normlaws.cli import build_parser, main
from normlaws.commands import audit as audit_command
from normlaws.records import append_record
from reliability_fixtures import grid_record, leg_record, run_record, sweep_record

TRAIN_BASE = ["--quick", "--epochs", "1", "--n-train", "64", "--n-test", "32", "--batch-size", "32", "--widths",
              "2", "3", "4", "5", "--data", "{data}", "--no-verify", "--device", "cpu", "--no-progress",
              "--out", "{new}/train"]
#: a valid invocation of each command; a bad option is appended (argparse keeps the last value)
BASE = {
    "claims": [],
    "derive": ["--timings", "table1.sgd.norm"],
    "train": TRAIN_BASE,
    "sweep": TRAIN_BASE + ["--optimizers", "nesterov", "--etas", "0.01", "--lams", "0.001"],
    "figures": ["--results", "{results}/sweep", "--out", "{new}/figures"],
    "bench": ["--device", "cpu", "--models", "1", "--steps", "1", "--widths", "2", "3", "4", "5", "--no-compare",
              "--batch-size", "8"],
    "report": ["--out", "{new}/report", "--no-pdf", "--claims", "table1.sgd.norm"],
    "verify": ["--out", "{new}/verify", "--no-pdf", "--skip-montecarlo", "--skip-training", "--claims",
               "table1.sgd.norm"],
    "audit": ["normlaws.gpu.model:ConvNet", "--input-shape", "2,3,32,32"],
    "simulate": ["--rule", "sgd", "--eta", "0.1", "--lam", "0.01", "--steps", "100", "--burn", "10",
                 "--no-progress"],
    "advise": ["--eta", "0.1", "--lam", "0.0005", "--epochs", "10"],
    "monitor": ["--bench", "--cases", "plain", "--every", "1", "--block", "2", "--pairs", "1"],
}


def _number_bad(kind: validate.Number) -> list:
    bad = ["nan", "inf", "-inf", "abc", "", "1e999"]
    if kind.kind is int:
        bad.append("1.5")
    if kind.lo is not None:
        bad.append(repr(kind.lo) if kind.lo_open else repr(kind.lo - (1 if kind.kind is int else abs(kind.lo) * 1e-6
                                                                      or 1e-300)))
    if kind.hi is not None:
        bad.append(repr(kind.hi + (1 if kind.kind is int else abs(kind.hi))))
    return bad


PATH_BAD = {
    validate.writable_dir: ["{file}", "{file}/sub", ""],
    validate.writable_file: ["{empty}", "{file}/sub.png", ""],
    validate.readable_dir: ["{missing}", "{file}"],
    validate.readable_path: ["{missing}"],
    validate.records_dir: ["{missing}", "{empty}", "{file}"],
}
TEXT_BAD = ["bad\x00value", "two\nlines", "x" * 300, "\x1b[31mred"]
OTHER_BAD = {
    validate.text: TEXT_BAD,
    validate.name: ["bad name!", "", "a;rm -rf"],
    validate.device: ["tpu", "cuda:x", "cuda:1:2", ""],
    audit_command.input_shape: ["2,x", "0", "2,-3", ",".join(["2"] * 9), "4096,4096,4096", ""],
}


def bad_values(action) -> list:
    """The bad values of an option: out of its choices, or of its type's range or kind."""
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        return ["no-such-choice", ""]
    kind = action.type
    if isinstance(kind, validate.Number):
        return _number_bad(kind)
    return PATH_BAD.get(kind) or OTHER_BAD.get(kind) or []


def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def _options():
    """(command, action) for every option and positional of every command that takes a value."""
    for command, subparser in _subparsers().items():
        for action in subparser._actions:
            if action.nargs == 0 or isinstance(action, argparse._HelpAction):
                continue
            yield command, action


def _argv(command, action, value) -> list:
    if not action.option_strings:          # a positional: replace the base's
        base = [a for a in BASE[command] if a not in ("table1.sgd.norm", "normlaws.gpu.model:ConvNet")]
        if command == "derive":
            return [command, *base, value]
        return [command, value, *base]
    values = [value] if action.nargs != 4 else ["2", "3", "4", value]
    return [command, *BASE[command], action.option_strings[-1], *values]


ISSUE_CASES = [
    ["simulate", "--rule", "sgd", "--eta", "1e308", "--lam", "1e308", "--no-progress"],
    ["simulate", "--rule", "sgd", "--eta", "10", "--lam", "0.5", "--no-progress"],
    ["simulate", "--rule", "nesterov", "--eta", "10", "--lam", "0.5", "--no-progress"],
    ["simulate", "--rule", "sgd", "--eta", "0.1", "--lam", "0.01", "--C", "1e-300", "--no-progress"],
    ["simulate", "--rule", "sgd", "--eta", "0.1", "--lam", "0.01", "--chains", "100000000000"],
    ["simulate", "--rule", "sgd", "--eta", "0.1", "--lam", "0.01", "--chains", "1e11"],
    ["simulate", "--rule", "momentum", "--eta", "0.1", "--lam", "0.01", "--dim", "1000000000"],
    ["simulate", "--rule", "momentum", "--eta", "0.1", "--lam", "0.01", "--chains", "60000000"],
    ["simulate", "--rule", "sgd", "--eta", "1e-8", "--lam", "1e-8", "--no-progress"],
    ["simulate", "--rule", "rmsprop", "--eta", "2", "--lam", "0.3", "--no-progress"],
    ["bench", "--models", "1000000", "--device", "cpu"],
    ["bench", "--models", "4096", "--device", "cpu", "--no-compare"],
    ["train", *TRAIN_BASE, "--translate", "1000"],
    ["train", *TRAIN_BASE, "--milestones", "5"],
    ["train", *TRAIN_BASE, "--n-train", "16"],
    ["train", *TRAIN_BASE, "--widths", "4096", "4096", "4096", "4096", "--batch-size", "50000", "--n-train",
     "50000"],
    ["sweep", *TRAIN_BASE, "--models-per-run", "4096", "--widths", "4096", "4096", "4096", "4096"],
    ["train", *TRAIN_BASE, "--out", "{file}"],
    ["train", *TRAIN_BASE, "--out", "{file}/under"],
    ["sweep", *TRAIN_BASE, "--out", "{file}"],
    ["train", *TRAIN_BASE, "--data", "{missing}"],
    ["train", *TRAIN_BASE, "--data", "{file}"],
    ["figures", "--results", "{missing}"],
    ["figures", "--results", "{results}/sweep", "--out", "{file}"],
    ["figures", "--results", "{empty}"],
    ["report", "--out", "{file}", "--no-pdf"],
    ["report", "--results", "{file}", "--out", "{new}/r", "--no-pdf"],
    ["report", "--out", "{new}/r", "--no-pdf", "--claims", "no.such.claim"],
    ["verify", "--out", "{new}/v", "--training-records", "{empty}"],
    ["verify", "--out", "{results}/..", "--training-records", "{results}", "--skip-montecarlo", "--no-pdf"],
    ["verify", "--out", "{new}/v", "--device", "tpu"],
    ["audit", "sys:exit", "--input-shape", "2,3"],
    ["audit", "os:getcwd", "--input-shape", "2,3"],
    ["audit", "no_colon", "--input-shape", "2,3"],
    ["audit", "a:b:c", "--input-shape", "2,3"],
    ["audit", "no_such_module_xyz:f", "--input-shape", "2,3"],
    ["derive", "no.such.claim"],
    ["claims", "--nope"],
    ["no-such-command"],
    ["simulate"],
    ["simulate", "--rule", "sgd", "--bench"],
    ["simulate", "--rule", "sgd"],
    ["simulate", "--checks", "--claim", "no.such.claim", "--no-progress"],
    ["sweep", *TRAIN_BASE, "--etas"],
    ["train", *TRAIN_BASE, "--widths", "1", "2"],
]


def _table() -> list:
    rows = [_argv(c, a, v) for c, a in _options() for v in bad_values(a)]
    return rows + ISSUE_CASES


INVOCATIONS = _table()


def test_at_least_150_bad_invocations():
    assert len(INVOCATIONS) >= 150, len(INVOCATIONS)


def test_every_option_of_every_command_has_bad_values():
    uncovered = [f"{c} {a.option_strings or a.dest}" for c, a in _options() if not bad_values(a)]
    assert not uncovered, f"options without bad values in this test: {uncovered}"


@pytest.fixture(scope="module")
def place(tmp_path_factory, synthetic_cifar):
    """A working folder: a results folder with a record of every kind, a file, an empty folder."""
    root = tmp_path_factory.mktemp("place")
    results = root / "results"
    record = sweep_record()
    append_record(results / "sweep" / "records.jsonl", record)
    for name, rec in (("montecarlo.jsonl", leg_record()), ("exponents.jsonl", grid_record()),
                      ("runs.jsonl", run_record())):
        append_record(results / name, rec)
    (root / "file").write_text("not a folder")
    (root / "empty").mkdir()
    return {"root": root, "results": results, "file": root / "file", "empty": root / "empty",
            "missing": root / "missing", "new": root / "new", "data": synthetic_cifar}


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def _fill(arg: str, place: dict) -> str:
    """``{results}``-style placeholders replaced by the folders of ``place`` (other braces kept as typed)."""
    for name, path in place.items():
        arg = arg.replace("{" + name + "}", str(path))
    return arg


def check_bad(argv, place, capsys, monkeypatch) -> str:
    """Run ``argv`` in ``place``: exit 2, one line on stderr, no traceback, the folder unchanged."""
    monkeypatch.chdir(place["root"])
    argv = [_fill(a, place) for a in argv]
    before = _snapshot(place["root"])
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, f"{argv} exited {code}: {captured.err[-300:]}"
    assert "Traceback" not in err, err
    assert err and "\n" not in err, f"{argv}: not one line: {err!r}"
    assert _snapshot(place["root"]) == before, f"{argv} changed the folder"
    return err


@pytest.mark.timeout(900)
@pytest.mark.parametrize("argv", INVOCATIONS, ids=[" ".join(a)[:90] for a in INVOCATIONS])
def test_bad_invocation(argv, place, capsys, monkeypatch):
    check_bad(argv, place, capsys, monkeypatch)


def _outside(kind: validate.Number):
    """Numbers outside ``kind``'s range, and text that is no number."""
    below = [] if kind.lo is None else [st.floats(max_value=kind.lo, exclude_max=not kind.lo_open, allow_nan=False)]
    above = [] if kind.hi is None else [st.floats(min_value=kind.hi, exclude_min=True, allow_nan=False)]
    as_text = lambda v: repr(int(v)) if kind.kind is int and math.isfinite(v) and abs(v) < 1e18 else repr(v)  # noqa
    junk = st.text(alphabet=st.characters(blacklist_categories=("Nd",)), min_size=1, max_size=8)
    return st.one_of(*[s.map(as_text) for s in below + above], junk).filter(lambda v: not _accepted(kind, v))


#: text with a control character somewhere: refused by every free-text option
CONTROL = st.tuples(st.text(max_size=5), st.sampled_from(["\x00", "\n", "\x1b", "\x7f", "\r"]),
                    st.text(max_size=5)).map("".join)


def _bad_strategy(pair):
    command, action = pair
    if isinstance(action.type, validate.Number):
        values = _outside(action.type)
    elif action.type in (validate.text, validate.name):
        values = st.one_of(st.sampled_from(bad_values(action)), CONTROL)
    else:
        values = st.sampled_from(bad_values(action))
    return values.map(lambda v: _argv(command, action, v))


def _accepted(kind, text) -> bool:
    try:
        kind(text)
    except argparse.ArgumentTypeError:
        return False
    return True


def _with_examples(test):
    """The issue's cases as Hypothesis examples (they are also rows of INVOCATIONS)."""
    for argv in ISSUE_CASES:
        test = example(argv=argv)(test)
    return test


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.filter_too_much])
@given(argv=st.sampled_from(list(_options())).flatmap(_bad_strategy))
@_with_examples
def test_fuzzed_bad_values(argv, place, capsys, monkeypatch):
    """Hypothesis over every option of every command: a random bad value of the option's kind."""
    check_bad(argv, place, capsys, monkeypatch)


def test_unwritable_output_directory_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(argparse.ArgumentTypeError, match="cannot create directory"):
        validate.writable_dir(str(blocker / "sub"))
    assert not (tmp_path / "file" / "sub").exists()


def test_validators_create_nothing(tmp_path):
    validate.writable_dir(str(tmp_path / "a" / "b"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permissions (the read-only mount case is in "
                    "test_reliability_disk.py)")
def test_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    with pytest.raises(argparse.ArgumentTypeError, match="not writable"):
        validate.writable_dir(str(ro / "out"))
