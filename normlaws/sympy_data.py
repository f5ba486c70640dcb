"""SymPy expressions as data: written as ``srepr``-style strings, read back without running code.

:func:`rebuild` is a restricted reader: Python's ``ast`` parses the string (nothing is evaluated) and only calls of
SymPy classes named in the string, with literal arguments (numbers, strings, booleans, lists), are built; a name
that is not a SymPy class or constant, an attribute, a subscript, an operator or a lambda is refused. Unlike
``pickle`` (which runs whatever the file says) or ``sympify``/``eval`` (which evaluate the string), a file read this
way can at worst fail to read. :func:`encode` checks that an expression rebuilds to exactly itself before it is
written. Used by ``normlaws.derivation_cache``.
"""
from __future__ import annotations

import ast
import re

import sympy as sp
from sympy.core.function import AppliedUndef, UndefinedFunction
from sympy.core.parameters import evaluate as _evaluation


class Unreadable(ValueError):
    """A cached string that the restricted reader does not accept."""


def _allowed(name: str):
    """The SymPy class or singleton called ``name``, or :class:`Unreadable` (nothing else can be reached)."""
    if name == "Function":
        return sp.Function
    value = getattr(sp, name, None)
    if isinstance(value, type) and issubclass(value, (sp.Basic, sp.MatrixBase)):
        return value
    if isinstance(value, sp.Basic):
        return value
    raise Unreadable(f"{name!r} is not a SymPy class")


def _build(node):
    """The object an ``ast`` node of an ``srepr`` string describes (literals, lists, calls of SymPy classes)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = _build(node.operand)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_build(e) for e in node.elts]
    if isinstance(node, ast.Name):
        return _allowed(node.id)
    if isinstance(node, ast.Call):
        func = _build(node.func)
        if not (isinstance(func, type) or func is sp.Function):
            raise Unreadable("a call of something that is not a SymPy class")
        if isinstance(node.func, ast.Call) and not isinstance(func, UndefinedFunction):
            raise Unreadable("only undefined functions are called twice")
        args = [_build(a) for a in node.args]
        kwargs = {k.arg: _build(k.value) for k in node.keywords if k.arg is not None}
        if len(kwargs) != len(node.keywords):
            raise Unreadable("** arguments")
        _check_strings(func, args, kwargs)
        return func(*args, **kwargs)
    raise Unreadable(f"{type(node).__name__} is not allowed")


#: classes whose first argument is a name (a string); every other string is refused, since many SymPy constructors
#: ``sympify`` a string argument, which evaluates it
_NAMED = (sp.Symbol, sp.Dummy, sp.Function, sp.Wild)
_DECIMAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?", re.I)


def _strings(values) -> list:
    out = []
    for v in values:
        out += _strings(v) if isinstance(v, list) else [v] if isinstance(v, str) else []
    return out


def _check_strings(func, args, kwargs) -> None:
    """Refuse a string anywhere but as the name of a symbol or function, or as the digits of a ``Float``."""
    strings = _strings(args) + _strings(kwargs.values())
    if not strings:
        return
    named = func in _NAMED and isinstance(args[0], str) and strings == [args[0]]
    decimal = func is sp.Float and strings == [args[0]] and _DECIMAL.fullmatch(args[0])
    if not (named or decimal):
        raise Unreadable(f"a string argument of {getattr(func, '__name__', func)}")


def rebuild(text: str, evaluate: bool = True):
    """The SymPy object an ``srepr`` string describes, built without evaluating the string as code.

    ``evaluate=False`` builds every node as written (for unevaluated expressions such as ``Eq(a, b,
    evaluate=False)``).

    >>> rebuild("Mul(Integer(2), Symbol('eta', positive=True))")
    2*eta
    >>> rebuild("__import__('os')")
    Traceback (most recent call last):
    ...
    normlaws.sympy_data.Unreadable: '__import__' is not a SymPy class
    >>> rebuild('sin("__import__(chr(111) + chr(115))")')
    Traceback (most recent call last):
    ...
    normlaws.sympy_data.Unreadable: a string argument of sin
    >>> rebuild("Symbol('x').__class__")
    Traceback (most recent call last):
    ...
    normlaws.sympy_data.Unreadable: Attribute is not allowed
    """
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise Unreadable(f"not an srepr string: {exc}") from None
    try:
        with _evaluation(evaluate):
            return _build(tree.body)
    except (TypeError, ValueError, AttributeError, RecursionError) as exc:
        if isinstance(exc, Unreadable):
            raise
        raise Unreadable(f"does not build: {type(exc).__name__}: {exc}") from None


def tree_repr(expr) -> str:
    """``srepr`` with every node's arguments in their stored order (``srepr`` sorts the terms of a sum), for
    expressions kept unevaluated: rebuilt with ``evaluate=False`` they are the same tree.

    >>> x = sp.Symbol('x')
    >>> tree_repr(sp.Mul(2, x + 1, evaluate=False))
    "Mul(Integer(2), Add(Integer(1), Symbol('x')))"
    """
    if isinstance(expr, sp.MatrixBase):
        rows = ", ".join("[" + ", ".join(tree_repr(e) for e in expr.row(i)) + "]" for i in range(expr.rows))
        return f"{type(expr).__name__}([{rows}])"
    if not isinstance(expr, sp.Basic) or expr.is_Atom or not expr.args:
        return sp.srepr(expr)
    head = sp.srepr(expr.func) if isinstance(expr, AppliedUndef) else type(expr).__name__
    return f"{head}({', '.join(tree_repr(a) for a in expr.args)})"


def _expression(expr) -> dict:
    """An expression as data: its :func:`tree_repr` (rebuilt without evaluation) or its ``srepr`` (rebuilt with),
    whichever gives exactly ``expr`` back (same type, equal, same tree: checked here); ``ValueError`` if neither
    does."""
    for shown, evaluate in ((tree_repr, False), (sp.srepr, True)):
        text = shown(expr)
        try:
            rebuilt = rebuild(text, evaluate)
        except Unreadable:
            continue
        # == on the types: the classes of undefined functions (f(x)) are rebuilt anew and compare by name
        if type(rebuilt) == type(expr) and rebuilt == expr and shown(rebuilt) == text:  # noqa: E721
            return {"srepr": text, "evaluate": evaluate}
    raise ValueError(f"an expression that does not rebuild from its srepr: {sp.srepr(expr)[:80]}")


def encode(value):
    """A value of a derivation as JSON data: SymPy objects, strings, numbers, lists, tuples and dicts of them."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    if isinstance(value, (sp.Basic, sp.MatrixBase)):
        return {"sympy": _expression(value)}
    if isinstance(value, (list, tuple)):
        return {type(value).__name__: [encode(v) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": [[k, encode(v)] for k, v in value.items()]}
    raise ValueError(f"a {type(value).__name__} in a derivation: not cached")


def decode(data):
    """The value :func:`encode` wrote (``Unreadable`` for anything else)."""
    if not isinstance(data, dict) or len(data) != 1:
        raise Unreadable("not an encoded value")
    (kind, payload), = data.items()
    if kind == "value" and (payload is None or isinstance(payload, (bool, int, float, str))):
        return payload
    if kind == "sympy" and isinstance(payload, dict) and isinstance(payload.get("srepr"), str):
        return rebuild(payload["srepr"], bool(payload.get("evaluate", True)))
    if kind in ("list", "tuple") and isinstance(payload, list):
        items = [decode(v) for v in payload]
        return items if kind == "list" else tuple(items)
    if kind == "dict" and isinstance(payload, list) and all(isinstance(p, list) and len(p) == 2 for p in payload):
        return {str(k): decode(v) for k, v in payload}
    raise Unreadable(f"an encoded value of kind {kind!r}")
