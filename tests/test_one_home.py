"""One home per formula: no closed form the theory has is typed again in the numeric packages.

``tests/formula_scan.py`` translates every arithmetic expression over the theory's quantities in ``simulate/``,
``gpu/``, ``reports/`` and ``normlaws/`` to SymPy and compares its values at random points with every
sub-expression of every claim's derivation. The only expressions allowed to coincide are the update rules' own
one-step maps, which the simulators and the testing API implement independently of the theory on purpose (they
are the references the theory is tested against, micrograd-style).
"""
import pytest
import sympy as sp

import formula_scan as fs
from normlaws import registry

#: the optimizers implemented on their own, as differential references for the theory's maps (a decay factor in
#: one of these is the rule itself, not a formula derived from it)
RULE_IMPLEMENTATIONS = ("simulate/rules.py", "simulate/scalar.py", "normlaws/testing/rules.py", "gpu/optim.py")


@pytest.fixture(scope="module")
def hits():
    return fs.retyped(registry.claims())


def test_no_formula_of_the_theory_is_typed_outside_it(hits):
    retyped = [f"{found.where}: {found.text}  (= {expr}, from {cid})" for found, cid, expr in hits
               if not found.where.startswith(RULE_IMPLEMENTATIONS)]
    assert not retyped, "formulas typed again outside theory/ (evaluate the theory's expression instead):\n" + \
        "\n".join(retyped)


def test_the_scan_finds_a_retyped_formula(tmp_path, monkeypatch):
    # the detector itself: SGD's stationary norm typed by hand in a module must be found, under local names
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "m.py").write_text(
        "import math\n"
        "def norm(eta, lam, C):\n"
        "    a = 1 - 2 * eta * lam\n"
        "    return math.sqrt(eta**2 * C / (1 - a**2))\n")
    monkeypatch.setattr(fs, "ROOT", tmp_path)
    claim = registry.get("table1.sgd.norm")
    found = fs.retyped([claim], folders=("fake",))
    assert any("fake/m.py:4" in f.where for f, _, _ in found)


def test_the_scan_ignores_monomials_and_reads_attributes():
    import ast
    assert not fs.interesting(fs.to_sympy(ast.parse("eta * lam", mode="eval").body))
    expr = fs.to_sympy(ast.parse("hyper.eta / (1 - hyper.rho)", mode="eval").body)
    assert fs.interesting(expr) and expr == sp.Symbol("eta") / (1 - sp.Symbol("rho"))
