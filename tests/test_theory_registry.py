"""Proof checks over the whole registry: every derivation's residuals reduce to exactly zero.

Parametrized over the registry, so a new claim is checked the moment it is registered.
"""
import json

import pytest
import sympy as sp

from normlaws import registry
from normlaws.cli import main
from normlaws.theory.compare import VERDICT_KINDS

CLAIMS = registry.claims()
IDS = [c.id for c in CLAIMS]


def test_registry_has_at_least_30_claims_with_unique_ids():
    assert len(IDS) >= 30
    assert len(set(IDS)) == len(IDS)


def test_every_table1_cell_is_a_claim():
    """Six rows x three columns; Newton's weight-scale cell ('-> 0') is update.newton.shrinks."""
    rows = ("sgd", "momentum", "rmsprop", "adam", "normalized", "newton")
    for row in rows:
        assert f"table1.{row}.eff_lr" in IDS
        assert f"table1.{row}.eff_lr_eq" in IDS
        assert (f"table1.{row}.norm" if row != "newton" else "update.newton.shrinks") in IDS


@pytest.mark.timeout(60)
@pytest.mark.parametrize("claim_id", IDS)
def test_proof_residuals_reduce_to_zero(claim_id):
    claim = registry.get(claim_id)
    assert claim.proof_failures() == {}, f"{claim_id}: residuals that do not vanish"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("claim_id", IDS)
def test_verdict_is_computed_and_known(claim_id):
    verdict = registry.get(claim_id).verdict
    assert verdict.kind in VERDICT_KINDS
    assert verdict.detail


@pytest.mark.timeout(300)
def test_derive_json_results_read_back_with_sympify(capsys):
    """Every result of ``derive --json`` reads back with sympify (its symbol names passed as locals) and equals
    the canonical expression (compared at a random point, since sympify's symbols carry no assumptions)."""
    assert main(["derive", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [p["id"] for p in payload] == IDS
    for item in payload:
        local = {name: sp.Symbol(name) for name in item["symbols"]}
        expr = sp.sympify(item["result"], locals=local)
        canonical = registry.get(item["id"]).derivation.result
        plain = sp.sympify(sp.sstr(canonical), locals=local)
        diff = sp.Matrix(expr) - sp.Matrix(plain) if isinstance(canonical, sp.MatrixBase) else expr - plain
        point = {s: sp.Rational(3, 7) for s in diff.free_symbols}
        value = sp.N(diff.subs(point)) if not isinstance(diff, sp.MatrixBase) else sp.N(diff.subs(point)).norm()
        assert abs(complex(value)) < 1e-12, item["id"]


def test_claims_command_lists_every_claim(capsys):
    assert main(["claims", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == IDS
    assert all(r["verdict"] in VERDICT_KINDS for r in rows)


def test_unknown_claim_id_is_one_line_and_exit_2(capsys):
    assert main(["derive", "no.such.claim"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown claim id" in err
