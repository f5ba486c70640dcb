"""The report's prose: every SymPy string inside a verdict's detail or a derivation's summary is typeset."""
import re

import pytest
import sympy as sp

from normlaws import registry
from normlaws.reports.prose import INLINE_CHARS, latex_prose, markdown_prose, parts

#: what SymPy's printer writes and a reader should never see in the PDF: a power ``x**2``, a product ``a*b``, a
#: function call ``sqrt(...)``, a matrix, a symbol's spelled-out prime (``vprime``)
RAW_SYMPY = re.compile(r"\*\*|\w\*(\\allowbreak\{\})?[\w(]|\b(sqrt|exp|log|Abs)\(|Matrix\(|[a-z]prime\b")


def test_no_claim_text_keeps_a_raw_sympy_string():
    raw = []
    for claim in registry.claims():
        for text in (claim.verdict.detail, claim.derivation.summary or ""):
            if RAW_SYMPY.search(latex_prose(text)):
                raw.append((claim.id, text[:120]))
    assert not raw, raw


def test_a_typeset_formula_is_the_expression_the_text_names():
    text = "leading terms differ: printed eta*(eta*gamma**2 - 4*lamda*r**4)/(2*r**4), derived -eta*(4*lamda)."
    kinds = [kind for kind, _ in parts(text)]
    assert kinds == ["text", "math", "text", "math", "text"]
    eta, gamma, lamda, r = sp.symbols("eta gamma lamda r")
    assert parts(text)[1][1] == sp.latex(eta * (eta * gamma**2 - 4 * lamda * r**4) / (2 * r**4))
    assert parts(text)[-1] == ("text", ".")


def test_words_stay_words_and_long_formulas_get_their_own_line():
    assert parts("the decayed run's norm, eta/alpha and w_(t+1)") == [
        ("text", "the decayed run's norm, eta/alpha and w_(t+1)")]
    long = " + ".join(f"x{i}**2*y{i}" for i in range(12))
    assert len(sp.latex(sp.sympify(long))) > INLINE_CHARS
    assert latex_prose(f"derived {long}").startswith("derived \\formula{")
    assert markdown_prose("derived a*b").endswith("$`a b`$")


def test_a_formula_naming_lambda_is_typeset():
    """``lambda`` is a Python keyword: the text's ``sqrt(eta/lambda)`` must still read as the suite's lamda."""
    eta, lamda = sp.symbols("eta lamda")
    kinds = parts("the printed sqrt(eta/lambda), which falls")
    assert kinds[1] == ("math", sp.latex(sp.sqrt(eta / lamda)))


def test_primed_symbols_and_tuples_are_typeset():
    vprime, alphaprime = sp.symbols("vprime alphaprime")
    text = "entries that differ: vprime/alphaprime (derived vprime/alpha)"
    assert [k for k, _ in parts(text)] == ["text", "math", "text", "math", "text"]
    assert not RAW_SYMPY.search(latex_prose(text))


def test_a_call_written_with_names_side_by_side_is_typeset_as_written():
    """The summaries write ``sqrt(4 eta lam/(1 + rho))``: typeset unevaluated (no factor 2 pulled out), lam as lambda."""
    kinds = parts("theta* ~ sqrt(4 eta lam/(1 + rho)) = x")
    assert [k for k, _ in kinds] == ["text", "math", "text"]
    assert kinds[1][1] == "\\sqrt{\\frac{4 \\eta \\lambda}{1 + \\rho}}"
    assert parts("sqrt(d N*/C) stays words") == [("text", "sqrt(d N*/C) stays words")]   # does not read: words


@pytest.mark.parametrize("text, kept", [
    ("so (1 - sqrt(rho))^2 falls", r"\left(1 - \sqrt{\rho}\right)^{2}"),          # the power stays with its base
    ("w_j^2/(sqrt(v_j) + eps) here", r"\frac{w_{j}^{2}}{\epsilon + \sqrt{v_{j}}}"),  # not an exponent of w_j
    ("C(n) ~ 1/sqrt(2 ln n) as n grows", r"\sqrt{2 \log{\left(n \right)}}"),       # ln is a function, not l*n
])
def test_a_formula_next_to_a_written_power_keeps_its_meaning(text, kept):
    assert ("math", kept) in parts(text)


@pytest.mark.parametrize("text", ["grows like log(the batch size)", "exp(a few steps) later", "sqrt(d N*/C) here"])
def test_words_inside_a_call_stay_words(text):
    assert parts(text) == [("text", text)]
