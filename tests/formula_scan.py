"""Find closed forms typed outside ``theory/`` that ``theory/`` already has (the "one home per formula" rule).

Every arithmetic expression in the numeric packages whose variables are the theory's quantities (``eta``, ``lam``,
``rho``, ``C``, ``d``, ...; read from names and attributes such as ``hyper.eta``) is translated to SymPy and
evaluated at random points, as is every sub-expression of every claim's derivation (result, steps, extras). An
expression outside ``theory/`` that takes the same values as a theory expression at every point is a re-typed
formula. Products of powers of symbols (``eta * lam``) are too common to be a formula and are not compared.
"""
from __future__ import annotations

import ast
import math
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

ROOT = Path(__file__).resolve().parents[1]
#: the folders searched for re-typed formulas (``theory/`` is the formulas' home)
SCANNED = ("simulate", "gpu", "reports", "normlaws")
#: code names -> the theory's symbol names
NAMES = {"eta": "eta", "lr": "eta", "lam": "lamda", "lam_": "lamda", "wd": "lamda", "rho": "rho", "momentum": "rho",
         "beta1": "beta1", "beta2": "beta2", "eps": "epsilon", "C": "C", "d": "d", "N": "N", "r": "r", "t": "t",
         "gamma": "gamma", "beta": "beta", "sigma_nabla": "sigma_nabla", "B": "B", "batch": "B"}
FUNCTIONS = {"sqrt": sp.sqrt, "log": sp.log, "exp": sp.exp, "atan": sp.atan, "arctan": sp.atan, "acos": sp.acos,
             "arccos": sp.acos, "asin": sp.asin, "arcsin": sp.asin, "cos": sp.cos, "sin": sp.sin, "float": lambda x: x}
POINTS = 3


@dataclass(frozen=True)
class Found:
    """One expression: where it is and what it is."""

    where: str
    text: str
    expr: sp.Basic


class _Untranslatable(Exception):
    pass


def _symbol(name: str) -> sp.Symbol:
    return sp.Symbol(NAMES[name])


def to_sympy(node: ast.AST, local: dict | None = None) -> sp.Basic:
    """The SymPy form of an arithmetic AST node over the theory's names (``_Untranslatable`` otherwise); a name
    bound earlier in the same function to a translatable expression (``local``) stands for that expression."""
    local = local or {}
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value)
    if isinstance(node, ast.Name) and node.id in local:
        return local[node.id]
    if isinstance(node, ast.Name) and node.id in NAMES:
        return _symbol(node.id)
    if isinstance(node, ast.Attribute) and node.attr in NAMES and isinstance(node.value, ast.Name):
        return _symbol(node.attr)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -to_sympy(node.operand, local)
    if isinstance(node, ast.BinOp):
        a, b = to_sympy(node.left, local), to_sympy(node.right, local)
        ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b, ast.Div: lambda: a / b,
               ast.Pow: lambda: a**b}
        if type(node.op) in ops:
            return ops[type(node.op)]()
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in FUNCTIONS:
            return FUNCTIONS[name](to_sympy(node.args[0], local))
    raise _Untranslatable


def interesting(expr: sp.Basic) -> bool:
    """At least two of the theory's quantities, in more than a plain product: a sum, a function, a root, a quotient,
    or a monomial of three or more quantities (``eta * lam`` alone is too common to be a formula)."""
    if not isinstance(expr, sp.Expr) or len(expr.free_symbols) < 2:
        return False
    _, rest = expr.as_coeff_Mul()
    factors = sp.Mul.make_args(rest)
    if not all(f.is_Symbol or (f.is_Pow and f.base.is_Symbol and f.exp.is_number) for f in factors):
        return True
    powers = [f.exp for f in factors if f.is_Pow]
    return len(expr.free_symbols) >= 3 or any(e < 0 or not e.is_integer for e in powers)


def _bindings(function: ast.AST) -> dict:
    """``{name: expression}`` for the names a function assigns once from a translatable expression (in order)."""
    local, seen = {}, set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in seen:
                local.pop(name, None)            # assigned twice: not a definition
                continue
            seen.add(name)
            try:
                local[name] = to_sympy(node.value, local)
            except (_Untranslatable, TypeError, ZeroDivisionError):
                pass
    return local


def code_expressions(folders=SCANNED) -> list[Found]:
    """Every translatable, interesting arithmetic expression in the scanned folders (outermost ones and their
    sub-expressions), names assigned in the enclosing function read through."""
    out = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            source = path.read_text()
            tree = ast.parse(source)
            scopes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Lambda))]
            seen = set()
            for scope in scopes:
                local = _bindings(scope) if not isinstance(scope, ast.Module) else {}
                for node in ast.walk(scope):
                    if not isinstance(node, (ast.BinOp, ast.Call)) or (id(node), bool(local)) in seen:
                        continue
                    seen.add((id(node), bool(local)))
                    try:
                        expr = to_sympy(node, local)
                    except (_Untranslatable, TypeError, ZeroDivisionError):
                        continue
                    if interesting(expr):
                        out.append(Found(f"{path.relative_to(ROOT)}:{node.lineno}",
                                         ast.get_source_segment(source, node) or "", expr))
    return out


def theory_expressions(claims) -> dict:
    """``{sub-expression: claim id}`` over every claim's derivation (result, steps, extras), interesting ones."""
    out = {}
    for claim in claims:
        dv = claim.derivation
        roots = [dv.result] + [s.expr for s in dv.steps if s.expr is not None] + list(dv.extras.values())
        for root in roots:
            if not isinstance(root, sp.Basic):
                continue
            for sub in sp.preorder_traversal(root):
                if isinstance(sub, sp.Expr) and sub not in out and interesting(sub):
                    out[sub] = claim.id
    return out


def _value(name: str, point: int) -> float:
    """A reproducible value for a symbol named ``name`` at random point ``point``: in (0, 1) for rates and decays,
    larger for counts and scales."""
    rng = random.Random(zlib.crc32(f"{name}:{point}".encode()))
    if name in ("d", "B"):
        return float(rng.randint(5, 200))
    if name == "t":
        return float(rng.randint(1, 6))
    if name in ("C", "N", "r", "gamma", "sigma_nabla", "sigma_X"):
        return rng.uniform(0.5, 5.0)
    return rng.uniform(0.05, 0.45)


def fingerprint(expr: sp.Basic):
    """The values at ``POINTS`` reproducible random points, to 9 significant digits (None when not real)."""
    if expr.has(sp.Derivative, sp.Integral, sp.Sum, sp.Product, sp.core.function.AppliedUndef):
        return None
    names = sorted(s.name for s in expr.free_symbols)
    symbols = {s.name: s for s in expr.free_symbols}
    values = []
    try:
        f = sp.lambdify([symbols[n] for n in names], expr, "math")
        for p in range(POINTS):
            v = complex(f(*[_value(n, p) for n in names]))
            if v.imag or not math.isfinite(v.real) or v.real == 0:
                return None
            values.append(float(f"{v.real:.9g}"))
    except Exception:          # not numeric at these points (undefined functions, sums, complex): no fingerprint
        return None
    return (tuple(names), tuple(values))


def retyped(claims, folders=SCANNED) -> list[tuple[Found, str, sp.Basic]]:
    """The code expressions equal to a theory expression at every random point: ``(found, claim id, theory)``."""
    known = {}
    for expr, cid in theory_expressions(claims).items():
        key = fingerprint(expr)
        if key is not None:
            known.setdefault(key, (cid, expr))
    hits = []
    for found in code_expressions(folders):
        key = fingerprint(found.expr)
        if key is not None and key in known:
            hits.append((found, *known[key]))
    return hits
