"""Derivations computed once and kept on disk, so that ``normlaws claims`` answers at once after the first run.

What is kept, per claim: its derivation (result, steps, proofs, summary, extras), the proof residuals that did not
reduce to zero (``Derivation.check()``) and the verdict on the paper. Nothing else: statements, printed formulas and
legs come from the source as always.

**Never stale.** Entries live in a folder named by a key: the SHA-256 of every ``.py`` file of the theory package
and of the core package (``normlaws/*.py``, all that ``theory`` may import), with the versions of SymPy, mpmath and
Python and this format's number. A change to any byte of a derivation's source gives another key, so an entry
computed from other source is never even looked at (no timestamps involved). ``normlaws derive --timings``
always derives afresh.

**Where.** ``$NORMLAWS_CACHE`` when it names a folder; ``NORMLAWS_CACHE=off`` turns the cache off; otherwise
``$XDG_CACHE_HOME/normlaws`` or ``~/.cache/normlaws``. Folders are created private (0700); only this module
writes them, each file whole (temporary name, then rename). The four newest key folders are kept.

**Data, never code.** An entry is JSON; a SymPy expression in it is its ``sympy.srepr`` string, rebuilt by
:func:`rebuild`, a restricted reader: Python's ``ast`` parses the string (nothing is evaluated) and only calls of
SymPy classes, with literal arguments, are built. No pickle (unpickling runs whatever the file says), no ``eval``,
no ``sympify`` (it evaluates strings). Every expression is checked to rebuild to exactly itself (equal ``srepr``)
before it is written, so what is read back is what was computed; a file that does not read (corrupt, edited, from
another tool) is ignored and the claim derived afresh.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import weakref
from pathlib import Path

import mpmath
import sympy as sp

from .sympy_data import Unreadable, decode, encode

FORMAT = 1
ENV = "NORMLAWS_CACHE"
KEEP = 4
#: what a claim's entry holds, in order
FIELDS = ("derivation", "failures", "verdict")

_ORIGINAL = weakref.WeakKeyDictionary()   # claim -> its own derive function, while a cached one stands in
_FROM_CACHE = weakref.WeakSet()           # claims whose results were read from the cache (not to be rewritten)
_warned = []


# ---- where, and under which key --------------------------------------------------------------------------------

def folder() -> Path | None:
    """The cache folder (``None`` when ``NORMLAWS_CACHE=off``)."""
    setting = os.environ.get(ENV, "").strip()
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "normlaws"


def derivation_roots() -> dict:
    """``{name: (folder, glob pattern)}`` of the source the derivations come from: the theory package and the
    core modules."""
    theory = Path(importlib.import_module("normlaws.theory").__file__).parent
    return {"theory": (theory, "**/*.py"), "normlaws": (Path(__file__).parent, "*.py")}


def source_files(roots=None) -> list[tuple[str, Path]]:
    """``(name, path)`` of every source file under ``roots`` (default :func:`derivation_roots`), sorted."""
    roots = derivation_roots() if roots is None else roots
    files = []
    for name, (root, pattern) in sorted(roots.items()):
        files += [(f"{name}/{p.relative_to(root).as_posix()}", p) for p in Path(root).glob(pattern)
                  if "__pycache__" not in p.parts]
    return sorted(files)


def key(roots=None) -> str:
    """The key of the present source: SHA-256 of the source files' names and bytes and of the library versions."""
    digest = hashlib.sha256()
    versions = f"format {FORMAT}; sympy {sp.__version__}; mpmath {mpmath.__version__}; python {sys.version_info[:2]}"
    digest.update(versions.encode())
    for name, path in source_files(roots):
        digest.update(b"\0" + name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def entry_dir(root: Path | None = None, source_key: str | None = None) -> Path | None:
    """The folder holding the entries of the present source (``None`` when the cache is off)."""
    root = folder() if root is None else root
    return None if root is None else root / "derivations" / (source_key or key())[:32]


# ---- a claim's entry -------------------------------------------------------------------------------------------

def _theory(name: str):
    return importlib.import_module(f"normlaws.theory.{name}")


def entry_of(claim) -> dict:
    """The entry of a claim whose derivation and verdict are computed (the proof check is run here if needed)."""
    dv, verdict = claim.derivation, claim.verdict
    return {"format": FORMAT, "id": claim.id,
            "derivation": encode({"result": dv.result, "steps": [(s.text, s.expr) for s in dv.steps],
                                  "proofs": dv.proofs, "summary": dv.summary, "extras": dv.extras}),
            "failures": encode(claim.proof_failures()),
            "verdict": encode({"kind": verdict.kind, "detail": verdict.detail, "holds": verdict.holds,
                               "printed_exponents": verdict.printed_exponents,
                               "derived_exponents": verdict.derived_exponents})}


def derivation_of(entry: dict):
    """The :class:`Derivation` of an entry, whose ``check()`` answers with the stored proof residuals."""
    data, failures = decode(entry["derivation"]), decode(entry["failures"])
    steps = [_theory("derivation").Step(text, expr) for text, expr in data["steps"]]
    dv = _theory("derivation").Derivation(result=data["result"], steps=steps, proofs=data["proofs"],
                                          summary=data["summary"], extras=data["extras"])
    dv.check = lambda: dict(failures)   # the stored outcome of Derivation.check
    return dv


def verdict_of(entry: dict):
    """The :class:`Verdict` of an entry."""
    return _theory("compare").Verdict(**decode(entry["verdict"]))


def _read(path: Path, claim_id: str) -> dict | None:
    try:
        entry = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        _warn(f"ignoring the unreadable derivation cache entry {path} ({exc}); deriving afresh")
        return None
    if not (isinstance(entry, dict) and entry.get("format") == FORMAT and entry.get("id") == claim_id
            and all(f in entry for f in FIELDS)):
        _warn(f"ignoring the derivation cache entry {path}: not an entry of this claim and format")
        return None
    return entry


def _file(where: Path, claim_id: str) -> Path:
    return where / (hashlib.sha256(claim_id.encode()).hexdigest()[:24] + ".json")


# ---- the hooks: attach (registry) and store (commands) ----------------------------------------------------------

def attach(claims):
    """Let each claim with an entry for the present source answer from it: the verdict at once, the derivation
    when first asked for. Returns ``claims`` (the registry's hook). Does nothing when the cache is off."""
    try:
        where = entry_dir()
    except OSError as exc:
        _warn(f"derivation cache off: {exc}")
        return claims
    if where is None or not where.is_dir():
        return claims
    for claim in claims:
        entry = _read(_file(where, claim.id), claim.id)
        if entry is None:
            continue
        try:
            verdict, failures = verdict_of(entry), decode(entry["failures"])
        except (Unreadable, TypeError, KeyError) as exc:
            _warn(f"ignoring the derivation cache entry of {claim.id} ({exc}); deriving afresh")
            continue
        _use(claim, entry, verdict, failures)
    return claims


def _use(claim, entry: dict, verdict, failures: dict) -> None:
    """Stand the entry in for the claim's own derivation: its ``derive`` (built when first asked for), its verdict
    and its proof check (``Claim.proof_failures``, the stored residuals)."""
    original = _ORIGINAL.get(claim, claim.derive)

    def cached_derive():
        try:
            return derivation_of(entry)
        except (Unreadable, TypeError, KeyError) as exc:   # a damaged entry: derive it here and now instead
            _warn(f"ignoring the derivation cache entry of {claim.id} ({exc}); deriving afresh")
            fresh(claim)
            return original()

    _ORIGINAL[claim] = original
    claim.derive = cached_derive
    claim.__dict__["verdict"] = verdict
    claim.proof_failures = lambda: dict(failures)
    _FROM_CACHE.add(claim)


def own_derive(claim):
    """The claim's own derive function from the source (not the cache's stand-in)."""
    return _ORIGINAL.get(claim, claim.derive)


def fresh(claim) -> None:
    """Make a claim derive from its source again, now (drops what the cache or an earlier call gave it)."""
    if claim in _ORIGINAL:
        claim.derive = _ORIGINAL.pop(claim)
    _FROM_CACHE.discard(claim)
    for name in ("derivation", "verdict", "proof_failures"):
        claim.__dict__.pop(name, None)


def store(claims) -> int:
    """Write the entries of the claims derived in this process (not read from the cache); return how many.

    A claim whose derivation holds something the cache cannot represent exactly is left out (it is derived
    each time). A disk that refuses the write costs one warning on stderr, never the command.
    """
    try:
        where = entry_dir()
    except OSError:
        return 0
    if where is None:
        return 0
    written = 0
    for claim in claims:
        if claim in _FROM_CACHE or "derivation" not in claim.__dict__ or "verdict" not in claim.__dict__:
            continue
        try:
            data = json.dumps(entry_of(claim), separators=(",", ":"))
        except ValueError:
            continue
        try:
            _make_private(where)
            _write(_file(where, claim.id), data)
        except OSError as exc:
            _warn(f"derivation cache not written ({where}: {exc.strerror or exc})")
            return written
        _FROM_CACHE.add(claim)
        written += 1
    if written:
        prune(where.parent)
    return written


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole (a private temporary file, then a rename): a reader sees the old file or the
    new one. Not fsynced: an entry lost in a crash is derived again."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")   # mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _make_private(where: Path) -> None:
    for path in (where.parent.parent, where.parent, where):
        if not path.is_dir():
            path.mkdir(mode=0o700, parents=True, exist_ok=True)


def prune(derivations: Path, keep: int = KEEP) -> None:
    """Remove all but the ``keep`` most recently written key folders (other source versions)."""
    try:
        folders = sorted((p for p in derivations.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    except OSError:
        return
    for old in folders[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _warn(message: str) -> None:
    if message not in _warned:
        _warned.append(message)
        print(f"normlaws: {message}", file=sys.stderr)


# ---- small facts of other packages, remembered the same way -----------------------------------------------------

def remembered(name: str, packages, compute):
    """``compute()`` (a JSON value), remembered on disk under the present key extended by the source of
    ``packages`` (names such as ``normlaws.simulate``; a package that is not installed is left out). An empty
    result is not remembered (it may mean that an optional dependency was missing)."""
    roots = derivation_roots()
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            roots[package] = (Path(list(spec.submodule_search_locations)[0]), "**/*.py")
    try:
        where = entry_dir()
    except OSError:
        where = None
    if where is None:
        return compute()
    path = where / f"{name}-{key(roots)[:24]}.json"
    try:
        return json.loads(path.read_text())["value"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    value = compute()
    if value:
        try:
            _make_private(where)
            _write(path, json.dumps({"value": value}))
        except OSError as exc:
            _warn(f"derivation cache not written ({where}: {exc.strerror or exc})")
    return value
