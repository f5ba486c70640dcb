"""Result records: append-only JSON Lines written atomically, atomic files, and provenance.

A record is one JSON object on one line. Appends take an exclusive ``flock`` on the file and write the whole
line in a single ``write`` followed by ``fsync``, so two processes never interleave and a crash leaves at most
one torn last line; :func:`read_records` drops such a line with a warning instead of parsing it as data.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import platform
import socket
import sys
import tempfile
import warnings
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from . import __version__


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


def append_record(path, record: dict) -> None:
    """Append ``record`` as one line to the JSON Lines file ``path``, atomically and durably."""
    path = Path(path)
    line = (dumps(record) + "\n").encode()
    with locked(path):
        _drop_torn_tail(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


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


def read_records(path) -> list[dict]:
    """All complete records of a JSON Lines file; a torn or corrupt line is dropped with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        torn = number == len(lines)  # the last piece had no newline after it
        try:
            if torn:
                raise ValueError("no newline at the end")
            out.append(json.loads(line))
        except ValueError as exc:
            warnings.warn(f"{path}:{number}: dropped an unreadable record ({exc})")
    return out


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``: all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _owner() -> str:
    return f"{socket.gethostname()} {os.getpid()}"


def _owner_alive(owner: str) -> bool:
    """Whether the process named by a claim ('host pid') still runs; claims from other hosts count as alive."""
    host, _, pid = owner.strip().rpartition(" ")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def try_claim(directory, key: str) -> bool:
    """Claim the piece of work ``key`` for this process; False when a live process holds it already.

    The claim is the file ``directory/key.claim`` holding 'host pid'. Checking and taking it happen under one
    lock, so two processes never both get it; a claim left by a process that died (SIGKILL) is taken over.
    """
    directory = Path(directory)
    path = directory / f"{key}.claim"
    with locked(directory / "claims"):
        if path.exists():
            owner = path.read_text()
            if owner != _owner() and _owner_alive(owner):
                return False
        write_atomic(path, _owner())
        return True


def release_claim(directory, key: str) -> None:
    """Give up the claim on ``key`` if this process holds it."""
    path = Path(directory) / f"{key}.claim"
    with locked(Path(directory) / "claims"):
        if path.exists() and path.read_text() == _owner():
            path.unlink()


def clear_stale_claims(directory) -> int:
    """Remove the claims under ``directory`` whose holder died; return how many.

    A process killed after writing its records but before releasing its claims leaves claims on finished work,
    which no later run takes over (it skips finished work); this is where they go.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    removed = 0
    with locked(directory / "claims"):
        for path in directory.glob("*.claim"):
            if not _owner_alive(path.read_text()):
                path.unlink()
                removed += 1
    return removed


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


def provenance(seed=None, convention=None, device: str = "cpu") -> dict:
    """What a record needs to be traced to how it was made: seed, versions, convention, device, host."""
    return {
        "normlaws": __version__,
        "seed": seed,
        "convention": convention.as_dict() if hasattr(convention, "as_dict") else convention,
        "device": device,
        "libraries": library_versions(),
        "platform": platform.platform(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
