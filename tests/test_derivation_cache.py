"""The derivation cache (``normlaws.derivation_cache``): faithful, never stale, data only, off on request.

The suite runs with ``NORMLAWS_CACHE=off`` (``conftest.py``); these tests point it at their own folders.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from normlaws import derivation_cache as dc
from normlaws import registry
from normlaws.theory import catalog
from normlaws.sympy_data import Unreadable, decode, encode, rebuild, tree_repr

ROOT = Path(__file__).resolve().parent.parent
CHEAP = "table1.sgd.eff_lr"   # derived in well under a second


# ---- data, never code ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "__import__('os').system('touch PWNED')",        # a builtin
    "Symbol('x').__class__",                          # an attribute
    "sin('__import__(\"os\").system(\"touch PWNED\")')",   # a string that sin() would sympify, i.e. evaluate
    "Function('f')('__import__(\"os\")')",           # same, through an undefined function
    "Add(*[Symbol('x')])", "lambda: 1", "Symbol('x')[0]", "Integer(2) + Integer(3)",
])
def test_the_reader_refuses_anything_but_sympy_data(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Unreadable):
        rebuild(text)
    assert not (tmp_path / "PWNED").exists()


def test_expressions_round_trip_exactly_evaluated_or_not():
    x, y = sp.symbols("x y", positive=True)
    f = sp.Function("f")
    for expr in (x**2 / (1 + y), sp.Mul(sp.Rational(2, 3), x + y, evaluate=False), f(x) + sp.sqrt(y),
                 sp.Eq(f(x), 2 * x, evaluate=False), sp.Matrix([[x, 1], [y, sp.pi]]), sp.Float("0.1"),
                 sp.Sum(x**sp.Symbol("k", integer=True), (sp.Symbol("k", integer=True), 0, sp.oo))):
        back = decode(json.loads(json.dumps(encode(expr))))
        assert back == expr and tree_repr(back) == tree_repr(expr)
    assert decode(encode({"a": [1, 2.5, "s", None, (x,)]})) == {"a": [1, 2.5, "s", None, (x,)]}


def test_something_that_would_not_read_back_is_not_encoded():
    with pytest.raises(ValueError):
        encode(object())


def test_every_claim_reads_back_as_computed():
    """Entry -> JSON -> entry gives the same derivation, proof check and verdict, for every claim."""
    for claim in registry.claims():
        entry = json.loads(json.dumps(dc.entry_of(claim)))
        dv, back = claim.derivation, dc.derivation_of(entry)
        assert back.result == dv.result and back.summary == dv.summary, claim.id
        assert [(s.text, s.expr) for s in back.steps] == [(s.text, s.expr) for s in dv.steps], claim.id
        assert back.proofs == dv.proofs and back.extras == dv.extras, claim.id
        assert back.check() == claim.proof_failures(), claim.id
        assert dc.verdict_of(entry) == claim.verdict, claim.id


# ---- the key ------------------------------------------------------------------------------------------------------

def _copy_sources(to: Path) -> dict:
    roots = {}
    for name, (root, pattern) in dc.derivation_roots().items():
        shutil.copytree(root, to / name, ignore=shutil.ignore_patterns("__pycache__"))
        roots[name] = (to / name, pattern)
    return roots


def test_the_key_is_the_source_and_the_sympy_version(tmp_path, monkeypatch):
    roots = _copy_sources(tmp_path)
    assert dc.key(roots) == dc.key()                     # the bytes count, not where they are
    derivation = next(p for p in (tmp_path / "theory").glob("*.py") if "def " in p.read_text())
    derivation.write_text(derivation.read_text() + "\n# one more line\n")
    assert dc.key(roots) != dc.key()
    before = dc.key()
    monkeypatch.setattr(sp, "__version__", sp.__version__ + ".post1")
    assert dc.key() != before


# ---- the cache as a command uses it --------------------------------------------------------------------------------

def _module_of(claim_id: str) -> str:
    for module in catalog.MODULES:
        if any(c.id == claim_id for c in module.CLAIMS):
            return module.__name__.rsplit(".", 1)[1]
    raise LookupError(claim_id)


@pytest.fixture
def project(tmp_path):
    """A copy of the package (core and theory) that a test may edit, importable from ``tmp_path/pkg``."""
    pkg = tmp_path / "pkg" / "normlaws"
    # normlaws/{theory,simulate,gpu,reports} are links to the top-level folders: copy the core, then theory
    shutil.copytree(ROOT / "normlaws", pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "theory", "simulate", "gpu", "reports"))
    shutil.copytree(ROOT / "theory", pkg / "theory", ignore=shutil.ignore_patterns("__pycache__"))
    return pkg


def _derive(project: Path, cache, claim_id: str = CHEAP) -> dict:
    env = {**os.environ, "PYTHONPATH": str(project.parent), "NORMLAWS_CACHE": str(cache)}
    proc = subprocess.run([sys.executable, "-m", "normlaws", "derive", "--json", claim_id], cwd=project.parent,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {"payload": json.loads(proc.stdout)[0], "stderr": proc.stderr}


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "derivations").glob("*/*.json"))


def _poison(cache: Path) -> None:
    """Rewrite every stored verdict's detail: what a command then prints shows whether it read the cache."""
    for path in _entries(cache):
        entry = json.loads(path.read_text())
        verdict = decode(entry["verdict"])
        entry["verdict"] = encode({**verdict, "detail": "POISONED"})
        path.write_text(json.dumps(entry))


def test_a_change_to_a_derivation_is_never_served_stale(project, tmp_path):
    cache = tmp_path / "cache"
    cold = _derive(project, cache)["payload"]
    assert _entries(cache), "the first run writes the entry"
    _poison(cache)
    assert _derive(project, cache)["payload"]["verdict_detail"] == "POISONED"   # the second run reads it
    module = project / "theory" / f"{_module_of(CHEAP)}.py"
    module.write_text(module.read_text() + (
        "\n\nimport dataclasses as _dc\n"
        f"_claim = next(c for c in CLAIMS if c.id == {CHEAP!r})\n"
        "_derive = _claim.derive\n"
        "_claim.derive = lambda: _dc.replace(_derive(), result=3 * _derive().result)\n"))
    changed = _derive(project, cache)["payload"]
    assert changed["verdict_detail"] != "POISONED"
    assert sp.sympify(changed["result"]) == 3 * sp.sympify(cold["result"])


def test_off_reads_and_writes_nothing(project, tmp_path):
    cache = tmp_path / "cache"
    _derive(project, cache)
    _poison(cache)
    before = {p: p.read_bytes() for p in _entries(cache)}
    payload = _derive(project, "off")["payload"]
    assert payload["verdict_detail"] != "POISONED"
    assert {p: p.read_bytes() for p in _entries(cache)} == before


def test_a_corrupt_or_planted_entry_is_ignored_and_replaced(project, tmp_path):
    cache = tmp_path / "cache"
    good = _derive(project, cache)["payload"]
    (entry,) = _entries(cache)
    marker = tmp_path / "PWNED"
    planted = json.loads(entry.read_text())
    payload = "Function('f')(\"open('%s', 'w')\")" % marker     # sympify would run the string
    planted["derivation"] = {"sympy": {"srepr": payload, "evaluate": True}}
    entry.write_text(json.dumps(planted))
    again = _derive(project, cache)
    assert again["payload"] == good and not marker.exists()
    entry.write_text("{not json")
    again = _derive(project, cache)
    assert again["payload"] == good and "ignoring the unreadable derivation cache entry" in again["stderr"]
    assert json.loads(entry.read_text())["id"] == CHEAP          # rewritten whole


# ---- in process -----------------------------------------------------------------------------------------------------

def test_store_then_attach_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("NORMLAWS_CACHE", str(tmp_path))
    claim = registry.get(CHEAP)
    dc.fresh(claim)
    expected = claim.verdict, claim.derivation.result
    assert dc.store([claim]) == 1 and dc.store([claim]) == 0      # stored once
    dc.fresh(claim)
    dc.attach([claim])
    assert "verdict" in claim.__dict__ and "derivation" not in claim.__dict__   # the derivation: when asked for
    assert (claim.verdict, claim.derivation.result) == expected
    dc.fresh(claim)


def test_remembered_facts_follow_their_package_source(tmp_path, monkeypatch):
    monkeypatch.setenv("NORMLAWS_CACHE", str(tmp_path))
    calls = []
    compute = lambda: calls.append(1) or ["a", "b"]   # noqa: E731
    assert dc.remembered("facts", ("normlaws.simulate",), compute) == ["a", "b"]
    assert dc.remembered("facts", ("normlaws.simulate",), compute) == ["a", "b"] and len(calls) == 1
    assert dc.remembered("empty", (), lambda: calls.append(1) or []) == []
    assert dc.remembered("empty", (), lambda: calls.append(1) or []) == [] and len(calls) == 3   # not kept


def test_the_claims_table_legs_are_the_registrys(tmp_path, monkeypatch):
    from normlaws.commands.claims import legs_of, numeric_leg_ids
    monkeypatch.setenv("NORMLAWS_CACHE", str(tmp_path))
    for numeric in (numeric_leg_ids(), numeric_leg_ids()):      # computed, then remembered
        assert all(legs_of(c.id, numeric) == registry.legs_of(c.id) for c in registry.claims())


def test_folder_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("NORMLAWS_CACHE", "off")
    assert dc.folder() is None and dc.entry_dir() is None and dc.store(registry.claims()) == 0
    monkeypatch.delenv("NORMLAWS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert dc.folder() == tmp_path / "normlaws"


def _derive_command(*args, cache="off") -> subprocess.CompletedProcess:
    env = {**os.environ, "NORMLAWS_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "normlaws", "derive", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_timings_repeat_measures_each_cold_run_in_a_fresh_process(tmp_path):
    proc = _derive_command("--timings", "--repeat", "2", "--json", CHEAP, cache=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    runs = out["runs"]
    assert len(runs) == 2 and all(0 < r["cpu_s"] < r["process_cpu_s"] for r in runs)
    # a second run in the same process would find the theory's helpers memoized and take a few ms
    assert min(r["cpu_s"] for r in runs) > 0.2 * max(r["cpu_s"] for r in runs)
    cpu = out["spread"]["cpu_s"]
    assert cpu["min"] <= cpu["median"] <= cpu["max"] and cpu["max"] == max(r["cpu_s"] for r in runs)


def test_repeat_without_timings_is_one_line_and_exit_2():
    proc = _derive_command("--repeat", "2", CHEAP)
    assert proc.returncode == 2 and proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
    assert "--timings" in proc.stderr


def test_a_failing_cold_run_is_one_line_and_exit_1(monkeypatch, capsys):
    """A child that fails (here: as if its disk were full) is the program's failure, not bad input."""
    from normlaws.cli import main
    from normlaws.commands import derive
    failed = subprocess.CompletedProcess([], 2, stdout="", stderr="normlaws: error: out/x: No space left on device\n")
    monkeypatch.setattr(derive.subprocess, "run", lambda *args, **kwargs: failed)
    assert main(["derive", "--timings", "--repeat", "2", CHEAP]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["normlaws: error: a cold run failed: normlaws: error: out/x: No space left on device"]
