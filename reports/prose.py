"""Prose with SymPy strings in it, typeset: the formulas inside a verdict's detail or a derivation's summary.

The registry's texts name formulas the way SymPy prints them (``printed eta*(eta*gamma**2 - 4*lamda*r**4)/(2*r**4),
derived ...``). :func:`parts` finds each run of characters that reads as a SymPy expression with at least one
product, power or root in it, and returns it as LaTeX (``sympy.latex`` of the expression, parsed unevaluated, so it
shows what the text says); the words around it stay words. Only texts computed in this process from ``theory/``
go through it (claim details and summaries): nothing read from a file is ever parsed.
"""
from __future__ import annotations

import re
from functools import lru_cache
from tokenize import TokenError

import sympy as sp
from sympy.parsing.sympy_parser import convert_xor, implicit_multiplication, parse_expr, standard_transformations

from .latex import ReadablePrinter, escape_text

#: a run of expression characters (``^`` a power, as the texts write it), spaces allowed only around a binary + or -
_RUN = re.compile(r"[-\w.()*/'^]+(?:\s[-+]\s[-\w.()*/'^]+)*")
_PRIMED = re.compile(r"([A-Za-z_]\w*)'")
#: what makes a run a formula rather than a word: a product, a power, a function call of SymPy's or a symbol whose
#: prime SymPy spells out (``vprime``)
_FORMULA = re.compile(r"\*|\b(sqrt|exp|log|atan2|Abs|sin|cos|acos)\(|[a-z]prime\b")
#: a function call written with spaces inside (``sqrt(2 eta wd/(1 + rho))``): read with implicit multiplication
_CALL = re.compile(r"\b(sqrt|exp|log)\(")
_KEYWORD = re.compile(r"\blambda\b")
_LN = re.compile(r"\bln (\w+)")
#: the names a call with names side by side may hold: one letter (with digits, an index or a prime), a Greek letter,
#: or the suite's own short names; anything else (``ln n``, ``the batch size``) leaves the call as words
_JUXTAPOSED_NAME = re.compile(r"[A-Za-z](\d*|_\w+)('|__prime)?|alpha|beta|gamma|delta|epsilon|eps|zeta|eta|theta|"
                              r"kappa|lamda|lambda|lam|mu|nu|xi|rho|sigma|tau|phi|chi|psi|omega|beta1|beta2|wd|sqrt|"
                              r"exp|log|ln|pi")
#: names read as SymPy's functions and constants; every other name in a formula is a symbol (gamma, beta, N, E and
#: S are the suite's symbols there, not SymPy's functions)
_FUNCTIONS = {"sqrt": sp.sqrt, "exp": sp.exp, "log": sp.log, "atan2": sp.atan2, "Abs": sp.Abs, "sin": sp.sin,
              "cos": sp.cos, "acos": sp.acos, "oo": sp.oo, "pi": sp.pi}
_NAME = re.compile(r"([A-Za-z_]\w*)(\(?)")


def _shown(name: str) -> str:
    """The symbol's name as the suite spells it (the summaries' ``lam`` is SymPy's ``lamda`` and their ``eps`` is
    ``epsilon``; ``g__prime`` is ``g'``; ``lambda``, a Python keyword, was replaced before parsing)."""
    return {"lam": "lamda", "eps": "epsilon"}.get(name, name).replace("__prime", "'")


@lru_cache(maxsize=4096)
def _latex(candidate: str, juxtaposed: bool = False) -> str | None:
    """The LaTeX of ``candidate`` read as a SymPy expression, or None when it does not read as one; ``juxtaposed``:
    names side by side multiply (``2 eta wd``), as the summaries write them."""
    candidate = _KEYWORD.sub("lamda", _PRIMED.sub(r"\1__prime", candidate))
    if juxtaposed:
        candidate = _LN.sub(r"log(\1)", candidate)            # "ln n": the summaries' natural log
    transformations = standard_transformations + (convert_xor,) + ((implicit_multiplication,) if juxtaposed else ())
    try:
        names = {n: _FUNCTIONS.get(n) or (sp.Function(_shown(n)) if called else sp.Symbol(_shown(n)))
                 for n, called in _NAME.findall(candidate)}
        expr = parse_expr(candidate, local_dict=names, global_dict={"Integer": sp.Integer, "Float": sp.Float,
                                                                     "Rational": sp.Rational, "Symbol": sp.Symbol,
                                                                     "Add": sp.Add, "Mul": sp.Mul, "Pow": sp.Pow},
                          transformations=transformations, evaluate=not juxtaposed)
    except (SyntaxError, TypeError, ValueError, AttributeError, NameError, sp.SympifyError, TokenError):
        return None
    if not isinstance(expr, sp.Basic) or isinstance(expr, sp.Symbol):
        return None
    return ReadablePrinter().doprint(expr)


def _split(run: str) -> tuple[str, str, str]:
    """``run`` as (leading text, formula, trailing text): unbalanced parentheses and a trailing dot stay text."""
    lead, core, trail = "", run, ""
    while core and (core.count("(") != core.count(")") or core[-1] in ".,"):
        if core.endswith((")", ".", ",")) and core.count(")") > core.count("(") or core[-1] in ".,":
            core, trail = core[:-1], core[-1] + trail
        elif core.startswith("(") and core.count("(") > core.count(")"):
            core, lead = core[1:], lead + "("
        elif core.count(")") > core.count("("):          # a closing text parenthesis, then a power: "...))^2"
            cut = core.rindex(")")
            core, trail = core[:cut], core[cut:] + trail
        else:
            break
    return lead, core, trail


def parts(text: str) -> list[tuple[str, str]]:
    """``[("text", words) | ("math", latex), ...]`` for ``text``: each formula-like run typeset, the rest kept.

    >>> parts("derived eta**2*lamda, as printed")
    [('text', 'derived '), ('math', '\\\\lambda \\\\eta^{2}'), ('text', ', as printed')]
    """
    out, last = [], 0
    for start, core, math in sorted(_formulas(text), key=lambda f: (f[0], -len(f[1]))):
        if start < last or "^" in (text[start - 1:start], text[start + len(core):start + len(core) + 1]):
            continue            # next to a written power (x^2/..., (...)^2): typeset alone it would change meaning
        out.append(("text", text[last:start]))
        out.append(("math", math))
        last = start + len(core)
    out.append(("text", text[last:]))
    return [(kind, s) for kind, s in out if s]


def _formulas(text: str):
    """``(start, source, latex)`` of each formula in ``text``: runs without spaces (SymPy's own strings), and calls
    such as ``sqrt(2 eta wd/(1 + rho))`` with names side by side (the summaries' notation) that read as one."""
    for match in _RUN.finditer(text):
        lead, core, trail = _split(match.group(0))
        math = _latex(core) if core and _FORMULA.search(core) else None
        if math is not None:
            yield match.start() + len(lead), core, math
    for match in _CALL.finditer(text):
        call = _balanced_call(text, match.start())
        readable = call and " " in call and all(_JUXTAPOSED_NAME.fullmatch(n) for n, _ in _NAME.findall(call))
        math = _latex(call, juxtaposed=True) if readable else None
        if math is not None:
            yield match.start(), call, math


def _balanced_call(text: str, start: int) -> str | None:
    """The function call that starts at ``text[start]`` up to its matching parenthesis (None if it never closes)."""
    depth = 0
    for i in range(text.index("(", start), len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i + 1]
    return None


#: a formula whose LaTeX is longer than this is set on its own line (the report's ``\formula``, scaled to the line
#: width when wider), since an inline fraction cannot be broken
INLINE_CHARS = 110


def latex_prose(text: str) -> str:
    """``text`` as LaTeX: words escaped, short formulas in ``$...$``, long ones as the report's ``\\formula``."""
    return "".join(escape_text(s) if kind == "text" else f"${s}$" if len(s) <= INLINE_CHARS
                   else f"\\formula{{{s}}}\\noindent " for kind, s in parts(str(text)))


def markdown_prose(text: str) -> str:
    """``text`` for Markdown on a code host: formulas in ``$`...`$`` (GitHub and GitLab render them, and no
    Markdown emphasis or escape reaches inside)."""
    return "".join(s if kind == "text" else f"$`{s}`$" for kind, s in parts(str(text)))
