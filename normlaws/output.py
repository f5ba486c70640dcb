"""Output helpers shared by the commands: JSON on stdout, plain tables, SymPy strings."""
from __future__ import annotations

import json
import sys

import sympy as sp
from normlaws.theory.compare import canonical


def sympy_str(expr) -> str | dict | None:
    """A SymPy expression as a string that ``sympy.sympify`` reads back (``None`` stays ``None``), the same under
    every ``PYTHONHASHSEED`` (signs of factors fixed by ``theory.compare.canonical``)."""
    if isinstance(expr, dict):
        return {str(k): sympy_str(v) for k, v in expr.items()}
    return None if expr is None else sp.sstr(canonical(sp.sympify(expr)))


def symbol_names(expr) -> list[str]:
    """Names of the free symbols of ``expr``: pass them to ``sympy.sympify(text, locals=...)`` to read it back.

    Some names of the theory (``gamma``, ``beta``, ``N``) are also SymPy functions, so a plain ``sympify``
    would read them as functions: ``sympify(s, locals={n: Symbol(n) for n in names})`` reads them as symbols.
    """
    return sorted(str(s) for s in getattr(expr, "free_symbols", ()))


def print_json(payload) -> None:
    """Pretty JSON on stdout."""
    json.dump(payload, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table with columns padded to their widest cell."""
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
