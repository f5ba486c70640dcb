"""``normlaws claims --where ID``: every place it prints is real (the id or the function is on that line)."""
import json
from pathlib import Path

import pytest

from normlaws import registry
from normlaws.cli import main
from normlaws.locate import where

ROOT = Path(__file__).resolve().parents[1]


def _line(place) -> str:
    return (ROOT / place.file).read_text().splitlines()[place.line - 1]


def test_every_claim_is_found_where_its_id_is_written_and_its_derivation_defined():
    for claim in registry.claims():
        places = where(claim.id)
        defined = [p for p in places if p.role == "claim defined"]
        assert len(defined) == 1 and f'"{claim.id}"' in _line(defined[0]), (claim.id, defined)
        derivations = [p for p in places if p.role.startswith("derivation")]
        assert derivations and _line(derivations[0]).lstrip().startswith("def "), (claim.id, derivations)


@pytest.mark.parametrize("leg", ["montecarlo", "training"])
def test_each_numeric_check_is_found_where_it_is_registered_and_defined(leg):
    for claim_id in registry.leg_checks(leg):
        places = where(claim_id)
        registered = [p for p in places if p.role == f"{leg} check registered"]
        assert registered and all(f'"{claim_id}":' in _line(p) for p in registered), (claim_id, places)
        checks = [p for p in places if p.role.startswith(f"{leg} check (")]
        assert checks and _line(checks[0]).lstrip().startswith("def "), (claim_id, checks)


def test_property_tests_are_found_at_their_def():
    claim_id = next(c for c in registry.property_tests() if registry.property_tests()[c])
    tests = [p for p in where(claim_id) if p.role.startswith("property test ")]
    assert tests and all(_line(p).lstrip().startswith(f"def {p.role.split()[-1]}(") for p in tests)


def test_cli_prints_the_places_and_json(capsys):
    assert main(["claims", "--where", "table1.sgd.norm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("theory/section4.py:") and lines[0].endswith("claim defined")
    assert main(["claims", "--json", "--where", "table1.sgd.norm"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"role", "file", "line"} <= set(rows[0]) and rows[0]["file"] == "theory/section4.py"


def test_cli_unknown_id_is_one_line_and_exit_2(capsys):
    assert main(["claims", "--where", "no.such.claim"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown claim id 'no.such.claim'" in err[0]
