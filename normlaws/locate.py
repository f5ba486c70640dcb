"""Where a claim lives in the source: its definition, its derivation and each leg's check (``claims --where``).

Claim ids are literal strings where claims are defined (``theory/``) and where the numeric legs register their
checks (``CHECKS`` of ``simulate/*_checks.py`` and ``gpu/checks.py``), so a grep finds them; this module finds
them for a given id and adds the derivation's and the checks' functions (``inspect``) and the property tests
(``property_leg.json``, collected from the tests' ``@pytest.mark.claims`` markers).
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path

from . import derivation_cache, registry, theory

PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Place:
    """One place in the source: what it is (``role``), the file (relative to the project) and the line."""

    role: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}  {self.role}"


def _project_root() -> Path:
    """The folder holding ``theory/`` and ``simulate/`` (the repository for an editable install)."""
    return Path(theory.__file__).resolve().parent.parent


def _relative(path: str | Path) -> str:
    path = Path(path).resolve()
    try:
        return str(path.relative_to(_project_root()))
    except ValueError:
        return str(path)


def _registration(claim_id: str, folder: str, role: str) -> list[Place]:
    """The lines of ``folder``'s modules where the id is a literal key of a ``CHECKS`` entry (``"id": check``)."""
    out = []
    for path in sorted((_project_root() / folder).rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if f'"{claim_id}":' in line:
                out.append(Place(role, _relative(path), number))
    return out


def _function(obj, role: str) -> list[Place]:
    """Where the function ``obj`` (or the function a closure wraps) is defined."""
    try:
        target = inspect.unwrap(obj.func if isinstance(obj, functools.partial) else obj)
        lines, line = inspect.getsourcelines(target)
        line += next((i for i, text in enumerate(lines) if text.lstrip().startswith(("def ", "lambda"))), 0)
        return [Place(f"{role} ({getattr(target, '__qualname__', '')})",
                      _relative(inspect.getsourcefile(target) or ""), line)]
    except (TypeError, OSError):
        return []


def _property_tests(claim_id: str) -> list[Place]:
    out, seen = [], set()
    for node in registry.property_tests().get(claim_id, []):
        file, _, name = node.partition("::")
        name = name.split("[")[0]
        if (file, name) in seen:
            continue
        seen.add((file, name))
        path = _project_root() / file
        if path.exists():
            lines = path.read_text().splitlines()
            line = next((i for i, text in enumerate(lines, 1) if text.lstrip().startswith(f"def {name}(")), 1)
            out.append(Place(f"property test {name}", file, line))
    return out


def where(claim_id: str) -> list[Place]:
    """The claim's definition and derivation, then each leg's check, in leg order (a ``UsageError`` for an unknown
    id, from the registry)."""
    claim = registry.get(claim_id)
    file, line = claim.defined_at
    places = [Place("claim defined", _relative(file), line)] + _function(derivation_cache.own_derive(claim), "derivation")
    places += _property_tests(claim_id)
    for leg, folder in (("montecarlo", "simulate"), ("training", "gpu")):
        check = registry.leg_checks(leg).get(claim_id)
        if check is not None:
            places += _registration(claim_id, folder, f"{leg} check registered") + _function(check, f"{leg} check")
    return places
