"""The report's prose: every SymPy string inside a verdict's detail or a derivation's summary is typeset."""
import re

import sympy as sp

from normlaws import registry
from normlaws.reports.prose import INLINE_CHARS, latex_prose, markdown_prose, parts

#: what SymPy's printer writes and a reader should never see in the PDF: a power ``x**2`` or a product ``a*b``
RAW_SYMPY = re.compile(r"\*\*|\w\*(\\allowbreak\{\})?[\w(]")


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
    assert markdown_prose("derived a*b").endswith("$a b$")
