"""Result records: append-only JSON Lines written atomically and durably, atomic files, and provenance.

A record is one JSON object on one line. Appends take an exclusive ``flock`` on ``<file>.lock`` and write the
whole line, checking that every byte went out, then ``fsync``; a write that fails (a full disk) cuts the file
back to its length before, so a crash or a full disk leaves at most one torn last line, never a torn record in
the middle. :func:`read_records` drops a torn last line with a warning and checks every other line against the
file's schema (:mod:`normlaws.schema`): anything else is one :class:`~normlaws.errors.UsageError` line naming
the file, the line and the field. Whole files (trajectories, reports) are written to a temporary name and
renamed into place, so a reader sees the old file or the new one, never part of one.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import warnings
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from . import __version__, schema
from .errors import UsageError


def _jsonable(value):
    """Replace non-finite floats by strings so that the JSON stays standard ('nan', 'inf', '-inf')."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy / torch scalars
        return _jsonable(value.item())
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    return value


def dumps(record: dict) -> str:
    """One record as one line of standard JSON (keys sorted, non-finite floats as strings)."""
    return json.dumps(_jsonable(record), sort_keys=True, allow_nan=False)


@contextmanager
def locked(path: Path):
    """Hold an exclusive advisory lock on ``path`` + '.lock' for the duration of the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte of ``data`` is written (a short write is retried; no progress is ENOSPC)."""
    view, done = memoryview(data), 0
    while done < len(data):
        written = os.write(fd, view[done:])
        if written <= 0:
            raise OSError(28, os.strerror(28))
        done += written


def append_record(path, record: dict, unique_key: bool = False) -> bool:
    """Append ``record`` as one line to the JSON Lines file ``path``, atomically and durably; return True.

    All or nothing: when the write or the ``fsync`` fails, the file is cut back to its length before (and
    removed when this append created it), and the ``OSError`` goes on to the caller. With ``unique_key``,
    nothing is written (and False returned) when the file already holds a record with the same ``key``.
    """
    path = Path(path)
    line = (dumps(record) + "\n").encode()
    with locked(path):
        _drop_torn_tail(path)
        existed = path.exists()
        if unique_key and existed and _holds_key(path, record["key"]):
            return False
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                write_all(fd, line)
                os.fsync(fd)
            except OSError as exc:
                os.ftruncate(fd, size)
                if not existed:
                    path.unlink(missing_ok=True)
                if exc.filename is None:
                    exc.filename = str(path)
                raise
        finally:
            os.close(fd)
    return True


def _holds_key(path: Path, key: str) -> bool:
    """Whether a line of ``path`` has the top-level field ``"key": key`` (as :func:`dumps` writes it)."""
    return f'"key": {json.dumps(key)}'.encode() in path.read_bytes()


def _drop_torn_tail(path: Path) -> None:
    """Cut a torn last line (no newline at the end) left by a crash, so the next append starts clean."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        data = handle.read()
        keep = data.rfind(b"\n") + 1
        warnings.warn(f"{path}: dropped a torn last line of {len(data) - keep} bytes left by a crash")
        handle.truncate(keep)


def _no_constants(name: str):
    raise ValueError(f"{name} is not standard JSON")


def read_records(path, kind: str | None = None) -> list[dict]:
    """All records of a JSON Lines file, each checked against its schema (``kind``, default: by file name).

    A torn last line (no newline: a crash during an append) is dropped with a warning; any other line that is
    not a valid record is a :class:`UsageError` naming the file, the line and the field. A missing file has no
    records.
    """
    path = Path(path)
    if not path.exists():
        return []
    kind = kind or schema.kind_of(path)
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if number == len(lines):  # the last piece had no newline after it
            warnings.warn(f"{path}:{number}: dropped a torn last line (no newline at its end; a crash?)")
            continue
        try:
            value = json.loads(line, parse_constant=_no_constants)
        except (ValueError, RecursionError) as exc:
            reason = getattr(exc, "msg", None) or type(exc).__name__
            raise UsageError(f"{path}:{number}: not a JSON record ({reason})") from None
        out.append(schema.check(kind, value, path, number))
    return out


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``: all or nothing, fsynced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)
        raise


@contextmanager
def staged(target):
    """A temporary folder beside the folder ``target`` to write files into; when the block succeeds each file
    is moved into ``target`` by a rename (whole or not at all), when it fails nothing in ``target`` changes.
    The temporary folder is removed either way. For writers that cannot write atomically (matplotlib)."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        try:
            yield temporary
        except OSError as exc:   # writers that do not say which file (PIL): name the folder
            if exc.filename is None:
                exc.filename = str(target)
            raise
        for path in sorted(temporary.rglob("*")):
            if path.is_file():
                dest = target / path.relative_to(temporary)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, dest)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def library_versions() -> dict:
    """Versions of the libraries a result may depend on (only those already imported or importable cheaply)."""
    versions = {"python": platform.python_version()}
    for name in ("numpy", "scipy", "sympy", "torch"):
        module = sys.modules.get(name)
        if module is None and name != "torch":
            try:
                module = __import__(name)
            except ImportError:
                module = None
        if module is not None:
            versions[name] = getattr(module, "__version__", "unknown")
    return versions


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def thread_counts() -> dict:
    """The threads a result was computed with: torch's intra-op count (when torch is loaded), the usual thread
    variables and the CPU count. Reductions split across threads round differently (results move at ~1e-7)."""
    out: dict[str, int | str | None] = {"cpus": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):
        out["torch"] = torch.get_num_threads()
    out.update({name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ})
    return out


def provenance(seed=None, convention=None, device: str = "cpu") -> dict:
    """What a record needs to be traced to how it was made: seed, versions, convention, device, threads, host."""
    return {
        "normlaws": __version__,
        "seed": seed,
        "convention": convention.as_dict() if hasattr(convention, "as_dict") else convention,
        "device": device,
        "threads": thread_counts(),
        "libraries": library_versions(),
        "platform": platform.platform(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
