"""Readable display forms of SymPy results, and LaTeX-safe text (normlaws.reports.latex).

The display form regroups powers so that a fourth root reads as one radical with the fraction inside; it must
stay the *same* expression as the canonical one. These tests check the readable shape on known cases, the
equality on every formula of the registry, and on random products of powers (Hypothesis).
"""
import doctest
import re

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from normlaws import registry
from normlaws.reports.latex import display_form, display_latex, equals_canonical, escape_text, pretty_name
from normlaws.theory.symbols import C, alpha, d, eps, eta, gamma, lam, rho, sigma_g

quarter = sp.Rational(1, 4)


@pytest.mark.parametrize("module", ["normlaws.reports.latex", "normlaws.reports.views", "normlaws.reports.builder",
                                    "normlaws.reports.figures", "normlaws.reports.prose"])
def test_doctests(module):
    import importlib
    failures, tried = doctest.testmod(importlib.import_module(module))
    assert tried > 0 and failures == 0


# ---- readable shapes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, expected", [
    ((eta / lam) ** quarter, r"\sqrt[4]{\frac{\eta}{\lambda}}"),
    # SymPy spreads this over five radicals and a coefficient 2**(3/4)/2
    ((C * eta / (2 * lam)) ** quarter, r"\sqrt[4]{\frac{C \eta}{2 \lambda}}"),
    ((eta**2 / lam) ** sp.Rational(1, 3), r"\sqrt[3]{\frac{\eta^{2}}{\lambda}}"),
    (1 / sp.sqrt(lam), r"\frac{1}{\sqrt{\lambda}}"),
    (eta / (1 - 2 * eta * lam), r"\frac{\eta}{1 - 2 \eta \lambda}"),
    # a negative radicand written with positive sums: -C eta/(4 lam (eta lam - 1)) = C eta/(4 lam (1 - eta lam))
    ((-C * eta / (4 * lam * (eta * lam - 1))) ** quarter, r"\sqrt[4]{\frac{C \eta}{4 \lambda \left(1 - \eta \lambda\right)}}"),
    (sp.Matrix([eta / alpha, lam, eps * alpha**2]), r"\left(\frac{\eta}{\alpha},\ \lambda,\ \alpha^{2} \epsilon\right)"),
])
def test_readable_shapes(expr, expected):
    assert display_latex(expr) == expected
    assert equals_canonical(display_form(expr), expr)


def test_canonical_printing_is_what_the_display_form_fixes():
    """The reason for display forms: SymPy's own LaTeX of the steady-state norm has several radicals."""
    norm = (eta**2 * gamma**2 * sigma_g**2 / (4 * eta * lam - 2 * eta**2 * lam**2)) ** quarter
    assert sp.latex(norm).count(r"\sqrt") >= 3
    assert display_latex(norm).count(r"\sqrt") == 1
    assert display_latex(norm).startswith(r"\sqrt[4]{\frac{")


def test_rewrites_across_a_branch_cut_are_not_made():
    """1/sqrt(x) is not sqrt(1/x) when x < 0, and sqrt(x) is not root4(x**2): unknown-sign bases stay apart."""
    x = sp.Symbol("x", real=True)
    for expr in (sp.sqrt(eta) / sp.sqrt(x), sp.sqrt(x) * eta ** quarter, sp.sqrt(x) * sp.sqrt(x - 1)):
        assert equals_canonical(display_form(expr), expr)


def test_equals_canonical_rejects_a_different_expression():
    """The check can fail: a wrong display form (a dropped factor, or a branch-cut rewrite) is caught."""
    assert not equals_canonical((eta / lam) ** quarter, (2 * eta / lam) ** quarter)
    x = sp.Symbol("x", real=True)
    assert not equals_canonical(sp.Pow(1 / x, sp.Rational(1, 2), evaluate=False), 1 / sp.sqrt(x))


# ---- every formula of the registry ---------------------------------------------------------------------------

def _formulas():
    for claim in registry.claims():
        yield claim.id, "printed", claim.printed.expr
        yield claim.id, "derived", claim.derivation.result


@pytest.mark.timeout(600)
def test_every_printed_and_derived_formula_displays_as_itself():
    wrong = [(cid, which) for cid, which, expr in _formulas()
             if expr is not None and not equals_canonical(display_form(expr), expr)]
    assert wrong == []


@pytest.mark.timeout(600)
def test_every_derivation_step_displays_as_itself():
    wrong = [(c.id, i) for c in registry.claims() for i, s in enumerate(c.derivation.steps)
             if s.expr is not None and not equals_canonical(display_form(s.expr), s.expr)]
    assert wrong == []


# ---- random products of powers (Hypothesis) -------------------------------------------------------------------

_SYMBOLS = (eta, lam, C, d, rho, sp.Integer(2), sp.Integer(3), 1 - rho, 1 - eta * lam)
_exponents = st.fractions(min_value=-2, max_value=2, max_denominator=6).map(sp.Rational)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_SYMBOLS), _exponents), min_size=1, max_size=5),
       st.fractions(min_value=-3, max_value=3, max_denominator=4).filter(lambda f: f != 0))
def test_products_of_powers_display_as_themselves(factors, coefficient):
    expr = sp.Rational(coefficient) * sp.Mul(*[b**e for b, e in factors])
    assert equals_canonical(display_form(expr), expr)
    # positive bases only: at most one radical is printed
    if all(getattr(b, "is_positive", False) for b, _ in factors):
        assert display_latex(expr).count(r"\sqrt") <= 1


# ---- names and text -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("nabla2_y_BN", r"\nabla^2 y_{\mathrm{BN}}"), ("sigma_nabla", r"\sigma_{\nabla}"),
    ("w_dot_nabla_L", r"w \cdot \nabla L"), ("L_lambda", r"L_{\lambda}"), ("alpha1", r"\alpha_{1}"),
    ("(1-eta)*w", r"\text{(1-eta)*\allowbreak{}w}"),
])
def test_pretty_names(name, expected):
    assert pretty_name(name) == expected


def test_lamda_prints_as_lambda():
    assert display_latex(lam) == r"\lambda" and "lamda" not in display_latex(eta / lam)


@pytest.mark.parametrize("raw", ["_", "^", "%", "&", "#", "$", "{", "}", "~", "\\", "<", ">", "|"])
def test_every_special_character_is_escaped(raw):
    out = escape_text(f"a{raw}b")
    left = re.sub(r"\\(text\w+|allowbreak)\{\}|\\[&%$#_{}]", "", out)  # drop the escape sequences
    assert left == "ab"


def test_unicode_and_code_spans():
    assert escape_text("η/λ → 0") == r"$\eta$/\allowbreak{}$\lambda$ $\to$ 0"
    assert escape_text("run `normlaws verify` now") == r"run \texttt{normlaws verify} now"
    assert escape_text("\u2603") == "[U+2603]"  # unknown characters never reach TeX raw


def test_printer_keeps_sympy_readable_for_undefined_functions():
    f = sp.Function("nabla_y_WN")
    assert display_latex(sp.Eq(f(alpha * sp.Symbol("w")), f(sp.Symbol("w")) / alpha)) == \
        r"\nabla y_{\mathrm{WN}}\left(\alpha w\right) = \frac{\nabla y_{\mathrm{WN}}\left(w\right)}{\alpha}"
