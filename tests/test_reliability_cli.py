"""Bad input to every command: one clear line on stderr, exit code 2, no traceback (fuzzed with Hypothesis).

The parser is introspected, so every validated option of every registered command is covered, including
commands added later.
"""
import argparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normlaws import validate
from normlaws.cli import build_parser, main

BAD = {
    validate.positive_float: st.one_of(st.sampled_from(["0", "-1", "-1e-3", "nan", "inf", "abc", "", "1e400"]),
                                       st.floats(max_value=0, allow_nan=False).map(repr)),
    validate.nonnegative_float: st.one_of(st.sampled_from(["-1", "-1e-9", "nan", "-inf", "x"]),
                                          st.floats(max_value=-1e-300, allow_nan=False).map(repr)),
    validate.positive_int: st.one_of(st.sampled_from(["0", "-3", "1.5", "ten", ""]),
                                     st.integers(max_value=0).map(str)),
    validate.nonnegative_int: st.one_of(st.sampled_from(["-1", "2.5", "seed"]), st.integers(max_value=-1).map(str)),
    validate.unit_interval: st.sampled_from(["1", "1.5", "-0.1", "nan", "rho"]),
}


def _validated_options():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, subparser in sub.choices.items():
        for action in subparser._actions:
            if action.option_strings and action.type in BAD:
                yield name, action.option_strings[-1], action.type


OPTIONS = list(_validated_options())


def _assert_one_line_exit_2(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"{argv} exited {code}"
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0 and err.strip(), f"{argv}: {err!r}"
    return err


def test_there_are_validated_options():
    assert OPTIONS, "no command exposes validated numeric options"


@pytest.mark.parametrize("command,option,kind", OPTIONS, ids=[f"{c}{o}" for c, o, _ in OPTIONS])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bad_numeric_values_are_refused(command, option, kind, data, capsys):
    bad = data.draw(BAD[kind])
    err = _assert_one_line_exit_2([command, f"{option}={bad}"], capsys)
    assert option in err


@pytest.mark.parametrize("argv", [["no-such-command"], ["derive", "no.such.claim"], ["claims", "--nope"]])
def test_unknown_things_are_refused(argv, capsys):
    _assert_one_line_exit_2(argv, capsys)


def test_unwritable_output_directory_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(argparse.ArgumentTypeError, match="cannot create directory"):
        validate.writable_dir(str(blocker / "sub"))
