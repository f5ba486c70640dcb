"""Readable LaTeX for SymPy results (the display forms of ``reports.display``, printed with readable symbol names),
and LaTeX-safe text.
"""
from __future__ import annotations

import re

from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter

from .display import display_form, equals_canonical, readable

__all__ = ["ReadablePrinter", "display_form", "display_latex", "equals_canonical", "escape_code", "escape_text",
           "pdf_string", "pretty_name", "readable", "readable_latex"]


# ---- the printer -------------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$")
_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
          "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega", "Gamma", "Delta",
          "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega"}
_OPERATORS = {"nabla": r"\nabla ", "nabla2": r"\nabla^2 "}
_WORDS = {"sqnorm": r"\lVert\cdot\rVert^2", "inf": r"\infty", "log": r"\ln"}
#: symbols whose default LaTeX is unreadable, by name
SYMBOL_NAMES = {"sigma_nabla": r"\sigma_{\nabla}", "sigma_X": r"\sigma_{X}", "norm_w": r"\lVert w\rVert",
                "log_n": r"\ln n", "inv_n": r"n^{-1}", "XtX": r"X^{\top}X", "Xw": r"Xw", "gamma_last": r"\gamma_{\mathrm{last}}"}


def _token(text: str) -> str:
    """One piece of a name: a Greek letter, a single letter, a number, or an upright word."""
    if text == "lamda":  # SymPy's spelling of lambda (a Python keyword)
        return r"\lambda"
    if text in _GREEK:
        return "\\" + text
    if text in _WORDS:
        return _WORDS[text]
    if len(text) == 1 or text.isdigit():
        return text
    match = re.fullmatch(r"([A-Za-z]+?)(\d+)", text)
    if match and (match.group(1) in _GREEK or len(match.group(1)) == 1):
        return f"{_token(match.group(1))}_{{{match.group(2)}}}"
    return r"\mathrm{" + text + "}"


def pretty_name(name: str) -> str:
    """LaTeX for a symbol or function name written with underscores (``nabla2_y_BN`` -> ``\\nabla^2 y_{BN}``).

    >>> pretty_name("nabla2_y_BN")
    '\\\\nabla^2 y_{\\\\mathrm{BN}}'
    """
    if name in SYMBOL_NAMES:
        return SYMBOL_NAMES[name]
    if not _IDENTIFIER.match(name):
        return r"\text{" + escape_text(name) + "}"
    tokens = name.split("_")
    if "dot" in tokens[1:]:
        i = tokens.index("dot", 1)
        return pretty_name("_".join(tokens[:i])) + r" \cdot " + pretty_name("_".join(tokens[i + 1:]))
    prefix = ""
    while len(tokens) > 1 and tokens[0] in _OPERATORS:
        prefix += _OPERATORS[tokens.pop(0)]
    match = re.fullmatch(r"([A-Za-z]+?)(\d+)", tokens[0])
    if match and len(tokens) > 1 and (match.group(1) in _GREEK or len(match.group(1)) == 1):
        # G2_t: one subscript "2,t", never G_{2}_{t} (a double subscript)
        tokens = [match.group(1), match.group(2)] + tokens[1:]
    head, subs = _token(tokens[0]), [_token(t) for t in tokens[1:]]
    return prefix + head + ("_{" + ",".join(subs) + "}" if subs else "")


class ReadablePrinter(LatexPrinter):
    """SymPy's LaTeX printer, keeping the order of display forms and naming symbols readably."""

    def __init__(self, settings=None):
        super().__init__({"order": "none", "mul_symbol": None, **(settings or {})})

    def _print_Symbol(self, expr, style="plain"):  # noqa: D401 - printer hook
        if expr.name in SYMBOL_NAMES or not _IDENTIFIER.match(expr.name) or "_" in expr.name:
            return pretty_name(expr.name)
        return super()._print_Symbol(expr, style)

    def _print_Function(self, expr, exp=None):  # noqa: D401 - printer hook
        if isinstance(expr, AppliedUndef):
            name = pretty_name(type(expr).__name__)
            args = ", ".join(self._print(a) for a in expr.args)
            head = f"{{{name}}}^{{{exp}}}" if exp else name
            return rf"{head}\left({args}\right)"
        return super()._print_Function(expr, exp)

    def _print_ImmutableDenseMatrix(self, expr):  # a tuple of hyperparameters reads as a tuple
        if 1 in expr.shape:
            return r"\left(" + ",\\ ".join(self._print(e) for e in expr) + r"\right)"
        return super()._print_MatrixBase(expr)

    _print_ImmutableMatrix = _print_ImmutableDenseMatrix
    _print_MutableDenseMatrix = _print_ImmutableDenseMatrix
    _print_Matrix = _print_ImmutableDenseMatrix


def readable_latex(expr) -> str:
    r"""LaTeX of the readable form of ``expr`` (:func:`reports.display.readable`; empty for ``None``): what the
    report prints.

    >>> import sympy as sp
    >>> eta, lam, C = sp.symbols("eta lambda C", positive=True)
    >>> readable_latex(2 * sp.sqrt(eta * lam) / sp.sqrt(C / (1 - eta * lam)))
    '2 \\sqrt{\\frac{\\eta \\lambda \\left(1 - \\eta \\lambda\\right)}{C}}'
    """
    if expr is None:
        return ""
    return ReadablePrinter().doprint(readable(expr))


def display_latex(expr) -> str:
    """LaTeX of the display form of ``expr`` (empty for ``None``).

    >>> import sympy as sp
    >>> eta, lam, C = sp.symbols("eta lambda C", positive=True)
    >>> display_latex(sp.sqrt(C * eta / (2 * lam)))
    '\\\\sqrt{\\\\frac{C \\\\eta}{2 \\\\lambda}}'
    """
    if expr is None:
        return ""
    return ReadablePrinter().doprint(display_form(expr))


# ---- text ----------------------------------------------------------------------------------------------------

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
            ">": r"\textgreater{}", "|": r"\textbar{}"}
#: characters after which a line may break: long SymPy strings and paths in the text must not overrun the margin
_BREAK_AFTER = set("*/+=^")
#: a word at least this long may also break after an underscore (file names such as hoffer2018_norm_matters.md)
_LONG_WORD = 24
_UNICODE = {"α": r"$\alpha$", "β": r"$\beta$", "γ": r"$\gamma$", "δ": r"$\delta$", "ε": r"$\varepsilon$",
            "η": r"$\eta$", "θ": r"$\theta$", "λ": r"$\lambda$", "μ": r"$\mu$", "ρ": r"$\rho$", "σ": r"$\sigma$",
            "τ": r"$\tau$", "φ": r"$\phi$", "ω": r"$\omega$", "Δ": r"$\Delta$", "Σ": r"$\Sigma$", "∇": r"$\nabla$",
            "→": r"$\to$", "←": r"$\leftarrow$", "↦": r"$\mapsto$", "≤": r"$\le$", "≥": r"$\ge$", "≈": r"$\approx$",
            "≠": r"$\ne$", "±": r"$\pm$", "×": r"$\times$", "·": r"$\cdot$", "∞": r"$\infty$", "√": r"$\surd$",
            "∝": r"$\propto$", "∈": r"$\in$", "‖": r"$\Vert$", "²": r"\textsuperscript{2}",
            "³": r"\textsuperscript{3}", "⁴": r"\textsuperscript{4}", "−": "-", "–": "--", "—": "---",
            "’": "'", "‘": "`", "“": "``", "”": "''", "…": r"\ldots{}", "é": r"\'e", "ü": r"\"u", "ö": r"\"o",
            "\u00a0": "~"}


def escape_text(text) -> str:
    r"""``text`` with every LaTeX special character escaped, so that it prints as written.

    Line breaks are allowed after ``* / + = ^`` inside a word, after a dot before a letter and after an underscore
    in a word of :data:`_LONG_WORD` characters or more, so that long SymPy strings, paths and dotted claim ids wrap.

    >>> escape_text("50% of x_i & #3 ~ {a}")
    '50\\% of x\\_i \\& \\#3 \\textasciitilde{} \\{a\\}'
    >>> escape_text("eta*lambda")
    'eta*\\allowbreak{}lambda'
    >>> escape_text("papers/hoffer2018_norm_matters.md").count("allowbreak")
    4
    """
    text = str(text)
    if text.count("`") >= 2:  # `code` spans (commands, paths) print in typewriter
        parts = text.split("`")
        return "".join(escape_text(p) if i % 2 == 0 or i == len(parts) - 1 else r"\texttt{" + escape_code(p) + "}"
                       for i, p in enumerate(parts))
    out = []
    long_words = {m.start() + k for m in re.finditer(r"\S{%d,}" % _LONG_WORD, text) for k in range(len(m.group()))}
    for i, ch in enumerate(text):
        after = text[i + 1:i + 2]
        breaks = ch in _BREAK_AFTER or (ch == "_" and i in long_words)
        if (breaks and after not in ("", " ", "*", ch)) or (ch == "." and after.isalpha()):
            out.append(_SPECIAL.get(ch, ch) + r"\allowbreak{}")
        elif ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch in _UNICODE:
            out.append(_UNICODE[ch])
        elif ord(ch) > 127:
            out.append(f"[U+{ord(ch):04X}]")
        else:
            out.append(ch)
    return "".join(out)


def pdf_string(text) -> str:
    """Text for a PDF bookmark: letters, digits, spaces and plain punctuation only.

    >>> pdf_string("Update rules: w -> alpha*w")
    'Update rules: w - alpha w'
    """
    return re.sub(r"[^A-Za-z0-9_ .,:;()'-]+", " ", str(text)).replace("  ", " ").strip()


def escape_code(text) -> str:
    """``text`` for ``\\texttt``: escaped, and breakable after every dot so that long claim ids wrap."""
    return re.sub(r"\.(?!\\allowbreak)", r".\\allowbreak{}", escape_text(text))
