"""Readable LaTeX for SymPy results, and LaTeX-safe text.

SymPy's canonical form spreads a root over every factor: ``(eta/lambda)**(1/4)`` is stored as
``eta**(1/4)*lambda**(-1/4)`` and printed as a fraction of two fourth roots, and a steady-state norm becomes a
product of five radicals. :func:`display_form` rebuilds an expression that is *equal* to the canonical one but
groups the fractional powers of a product under a single root with the fraction inside
(``\\sqrt[4]{\\frac{\\eta}{\\lambda}}``), and orders sums with the positive terms first. It is built from
unevaluated SymPy nodes, so it stays a SymPy expression that tests compare with the canonical one.
"""
from __future__ import annotations

import re
from functools import reduce

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter

# ---- display forms -----------------------------------------------------------------------------------------


def display_form(expr):
    """An expression equal to ``expr``, shaped for reading: one root per product, positive terms first.

    >>> eta, lam = sp.symbols("eta lambda", positive=True)
    >>> sp.latex(display_form((eta / lam) ** sp.Rational(1, 4)))
    '\\\\sqrt[4]{\\\\frac{\\\\eta}{\\\\lambda}}'
    """
    if expr is None:
        return None
    if isinstance(expr, sp.MatrixBase):
        return sp.ImmutableMatrix(expr.shape[0], expr.shape[1], [display_form(e) for e in expr])
    if isinstance(expr, (tuple, list)):
        return type(expr)(display_form(e) for e in expr)
    expr = sp.sympify(expr)
    if isinstance(expr, sp.Tuple):
        return sp.Tuple(*[display_form(e) for e in expr])
    if isinstance(expr, sp.Equality):
        return sp.Eq(display_form(expr.lhs), display_form(expr.rhs), evaluate=False)
    if not isinstance(expr, sp.Expr) or expr.is_Atom:
        return expr
    if expr.is_Add:
        return _ordered_sum([display_form(a) for a in expr.args])
    if expr.is_Mul or (expr.is_Pow and expr.exp.is_Rational):
        return _grouped_product(expr)
    if isinstance(expr, sp.Derivative):
        return expr
    if expr.args and all(isinstance(a, sp.Expr) for a in expr.args):
        return expr.func(*[display_form(a) for a in expr.args], evaluate=False)
    return expr


def _ordered_sum(terms):
    """A sum in reading order: by ascending total degree, a positive term first (``1 - 8 eta lam + ...``)."""
    ordered = sorted(terms, key=_degree)
    positive = next((t for t in ordered if not t.could_extract_minus_sign()), None)
    if positive is not None and ordered[0].could_extract_minus_sign():
        ordered.remove(positive)
        ordered.insert(0, positive)
    return sp.Add(*ordered, evaluate=False)


def _degree(term) -> int:
    try:
        return int(sp.Poly(term).total_degree())
    except (sp.PolynomialError, sp.GeneratorsNeeded, ValueError, TypeError):
        return 0


def _grouped_product(expr):
    """``expr`` (a product or a power) with its fractional powers gathered under one ``q``-th root.

    Only rewrites that hold for every value of the symbols allowed by their assumptions are made (so the
    display form equals the canonical form, branch cuts included): see :func:`_combinable`.
    """
    outside, roots = [], []
    for factor in sp.Mul.make_args(expr):
        base, exp = factor.as_base_exp()
        if exp.is_Rational and not exp.is_Integer:
            roots.append((positive_sums(base), exp))
        else:
            outside.append(factor)
    if not roots:
        return _product([_plain_factor(f) for f in sp.Mul.make_args(positive_sums(expr))])
    roots, apart, q = _combinable(roots)
    coefficient = sp.Mul(*[f for f in outside if f.is_Rational])
    others = [f for f in outside if not f.is_Rational] + [_apart_power(b, e) for b, e in apart]
    symbolic_root = any(not b.is_Number for b, _ in roots)
    if symbolic_root and coefficient.is_positive and coefficient != 1 and any(b.is_Number for b, _ in roots):
        # 2**(3/4)/2 reads better as a single root of 1/2: take the positive rational coefficient inside
        roots.append((coefficient, sp.Integer(1)))
        coefficient = sp.Integer(1)
    root = _root(sp.Mul(*[base ** (exp * q) for base, exp in roots]), q) if roots else sp.Integer(1)
    factors = ([coefficient] if coefficient != 1 else []) + [_plain_factor(f) for f in others] + [root]
    return _product(factors)


def _apart_power(base, exp):
    return sp.Pow(display_form(base), exp, evaluate=False)


def _combinable(roots):
    """Split ``(base, exponent)`` pairs into those one ``q``-th root may hold, the rest, and ``q``.

    With principal branches, ``x**a * y**b == (x**(a*q) * y**(b*q))**(1/q)`` holds for positive bases; a base
    of unknown sign may join only once, and only with the exponent exactly ``1/q`` (``sqrt(x)`` is not
    ``root4(x**2)`` for negative ``x``, nor ``1/sqrt(x)`` ``sqrt(1/x)``). Other bases keep their own power.
    """
    positive = [(b, e) for b, e in roots if b.is_positive]
    q = reduce(sp.ilcm, [e.q for _, e in positive], 1)
    together, apart, joined = list(positive), [], False
    for base, exp in roots:
        if base.is_positive:
            continue
        q_try = sp.ilcm(q, exp.q)
        if not joined and exp == sp.Rational(1, q_try):
            together.append((base, exp))
            q, joined = q_try, True
        else:
            apart.append((base, exp))
    return together, apart, q


def positive_sums(expr):
    """``expr`` (a product) with each sum raised to an odd power written with a positive leading term.

    >>> eta, lam = sp.symbols("eta lambda", positive=True)
    >>> positive_sums(-eta / (eta * lam - 1))
    eta/(-eta*lambda + 1)
    """
    sign, factors = 1, []
    for factor in sp.Mul.make_args(expr):
        base, exp = factor.as_base_exp()
        if base.is_Add and exp.is_Integer and _negative_leading(base):
            factors.append((-base) ** exp)
            sign *= sp.Integer(-1) ** exp
        else:
            factors.append(factor)
    return sign * sp.Mul(*factors)


def _negative_leading(total) -> bool:
    """Whether a sum reads better negated: its constant term is negative (``rho - 1`` -> ``1 - rho``)."""
    constant, _ = total.as_coeff_Add()
    return bool(constant < 0) if constant != 0 else total.could_extract_minus_sign()


def _readable_radicand(radicand):
    """The radicand with its signs made positive, factored when that makes it shorter (same value)."""
    plain = positive_sums(radicand)
    if any(not e.is_Integer for _, e in (f.as_base_exp() for f in sp.preorder_traversal(plain) if f.is_Pow)):
        return plain
    factored = positive_sums(sp.factor(plain))
    return factored if sp.count_ops(factored) < sp.count_ops(plain) else plain


def _root(radicand, q: int):
    """The ``q``-th root of ``radicand`` as one radical; ``1/root(x)`` when the radicand is ``1/x``."""
    radicand = _readable_radicand(radicand)
    numerator, denominator = sp.fraction(radicand)
    if numerator == 1 and denominator != 1 and denominator.is_positive:
        return sp.Pow(_root(denominator, q), -1, evaluate=False)
    shown = _product([_plain_factor(f) for f in sp.Mul.make_args(radicand)])
    return sp.Pow(shown, sp.Rational(1, q), evaluate=False)


def _plain_factor(factor):
    """A factor with integer power: its base displayed, the power kept."""
    base, exp = factor.as_base_exp()
    if exp == 1:
        return display_form(base) if not base.is_Atom else base
    if base.is_Atom:
        return factor
    return sp.Pow(display_form(base), exp, evaluate=False)


def _product(factors):
    """An unevaluated product in reading order: numbers, then SymPy's usual order, radicals last."""
    factors = [f for f in factors if f != 1]
    roots = [f for f in factors if f.is_Pow and not f.exp.is_Integer]
    plain = [f for f in factors if f not in roots]
    factors = sorted(plain, key=lambda f: (not f.is_Number, sp.default_sort_key(f))) + roots
    if not factors:
        return sp.Integer(1)
    if len(factors) == 1:
        return factors[0]
    return sp.Mul(*factors, evaluate=False)


def equals_canonical(display, canonical, points: int = 6, seed: int = 1706) -> bool:
    """Whether a display form is the same mathematical object as the canonical expression.

    SymPy first (the difference cancels, or ``simplify`` proves it zero for small differences); when it cannot
    decide, the two are compared at ``points`` random points, each symbol drawn from (0.05, 3), with a random
    sign unless it is declared positive, to 30 significant digits, complex values included (so a rewrite that
    is only true on part of the domain, across a branch cut, fails).
    """
    if canonical is None or display is None:
        return canonical is None and display is None
    if isinstance(canonical, (tuple, list, sp.Tuple)):
        return len(display) == len(canonical) and all(
            equals_canonical(a, b, points, seed) for a, b in zip(display, canonical))
    if isinstance(canonical, sp.MatrixBase):
        return display.shape == canonical.shape and all(
            equals_canonical(a, b, points, seed) for a, b in zip(display, canonical))
    if isinstance(canonical, sp.Equality):
        return (equals_canonical(display.lhs, canonical.lhs, points, seed)
                and equals_canonical(display.rhs, canonical.rhs, points, seed))
    difference = sp.sympify(display).doit() - sp.sympify(canonical)
    if difference == 0 or sp.cancel(difference) == 0:
        return True
    if sp.count_ops(difference) < 40 and sp.simplify(difference) == 0:
        return True
    try:
        return _numerically_equal(sp.sympify(display).doit(), sp.sympify(canonical), points, seed)
    except TypeError:  # not a number at a point (an undefined function, say): SymPy must decide
        return sp.simplify(difference) == 0


def _numerically_equal(a, b, points: int, seed: int) -> bool:
    import random
    rng = random.Random(seed)
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    for _ in range(points):
        at = {s: sp.Rational(rng.randint(5, 300), 100) * (1 if s.is_positive or rng.random() < 0.5 else -1)
              for s in symbols}
        x, y = complex(sp.N(a.subs(at), 30)), complex(sp.N(b.subs(at), 30))
        if abs(x - y) > 1e-20 * max(1.0, abs(x), abs(y)):
            return False
    return True


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


def display_latex(expr) -> str:
    """LaTeX of the display form of ``expr`` (empty for ``None``).

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

    Line breaks are allowed after ``* / + = ^`` inside a word and after a dot before a letter, so that long
    SymPy strings, paths and dotted claim ids wrap.

    >>> escape_text("50% of x_i & #3 ~ {a}")
    '50\\% of x\\_i \\& \\#3 \\textasciitilde{} \\{a\\}'
    >>> escape_text("eta*lambda")
    'eta*\\allowbreak{}lambda'
    """
    text = str(text)
    if text.count("`") >= 2:  # `code` spans (commands, paths) print in typewriter
        parts = text.split("`")
        return "".join(escape_text(p) if i % 2 == 0 or i == len(parts) - 1 else r"\texttt{" + escape_code(p) + "}"
                       for i, p in enumerate(parts))
    out = []
    for i, ch in enumerate(text):
        after = text[i + 1:i + 2]
        if (ch in _BREAK_AFTER and after not in ("", " ", "*", ch)) or (ch == "." and after.isalpha()):
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
