"""Claims on pieces of work, with a heartbeat and a lease, so that sweeps on one folder never train a
configuration twice and never wait forever on a process that died.

A claim is the file ``<directory>/<key>.claim`` holding one JSON object: ``host``, ``pid``, ``heartbeat`` (Unix
time of its last refresh) and ``started``. The process that holds it refreshes the heartbeat every
``lease / 4`` seconds (:class:`Heartbeat`). Another process takes the claim over when

* its heartbeat is older than the lease (default :data:`LEASE_S`), whatever host wrote it: a process killed
  on another node, or a PID reused by an unrelated process, cannot hold work forever; or
* it names a process on this host that no longer exists (taken at once, without waiting for the lease).

Checking and taking a claim happen under one lock (``<directory>/claims.lock``). Hosts' clocks must agree to
well within the lease. A claim file that is not readable JSON (older 'host pid' text, or damage) is judged by
the file's modification time.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from .records import locked, write_atomic

#: seconds after which a claim whose heartbeat was not refreshed is taken over (a few minutes)
LEASE_S = 300.0


def _me() -> tuple:
    return socket.gethostname(), os.getpid()


def _claim_text(started: float | None = None) -> str:
    host, pid = _me()
    now = time.time()
    return json.dumps({"host": host, "pid": pid, "heartbeat": now, "started": started or now})


def read_claim(path: Path) -> dict:
    """The claim in ``path`` as ``{host, pid, heartbeat, started}`` (damaged or old claims: from the file)."""
    try:
        text = path.read_text(errors="replace")
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return {}
    try:
        claim = json.loads(text)
        if not isinstance(claim, dict):
            raise ValueError
        host, pid, beat = str(claim["host"]), int(claim["pid"]), float(claim["heartbeat"])
        return {"host": host, "pid": pid, "heartbeat": beat, "started": float(claim.get("started", beat))}
    except (ValueError, KeyError, TypeError, OverflowError):
        host, _, last = text.strip().rpartition(" ")
        return {"host": host or "?", "pid": int(last) if last.isdigit() else -1, "heartbeat": mtime,
                "started": mtime}


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def claim_state(claim: dict, lease: float = LEASE_S, now: float | None = None) -> str:
    """'mine', 'live' (another process holds it) or 'stale' (anyone may take it over)."""
    if not claim:
        return "stale"
    host, pid = _me()
    if claim["host"] == host and claim["pid"] == pid:
        return "mine"
    now = time.time() if now is None else now
    if now - claim["heartbeat"] > lease:
        return "stale"
    if claim["host"] == host and not _pid_alive(claim["pid"]):
        return "stale"
    return "live"


def describe(claim: dict, now: float | None = None) -> str:
    """'host pid 123, heartbeat 12 s ago'."""
    age = (time.time() if now is None else now) - claim.get("heartbeat", 0)
    return f"{claim.get('host', '?')} pid {claim.get('pid', '?')}, heartbeat {age:.0f} s ago"


def try_claim(directory, key: str, lease: float = LEASE_S) -> bool:
    """Claim the piece of work ``key`` for this process; False when another live process holds it."""
    directory = Path(directory)
    path = directory / f"{key}.claim"
    with locked(directory / "claims"):
        if claim_state(read_claim(path), lease) == "live":
            return False
        write_atomic(path, _claim_text())
        return True


def release_claim(directory, key: str) -> None:
    """Give up the claim on ``key`` if this process holds it."""
    path = Path(directory) / f"{key}.claim"
    with locked(Path(directory) / "claims"):
        if claim_state(read_claim(path)) == "mine":
            path.unlink()


def refresh_claims(directory, keys) -> None:
    """Renew the heartbeat of each claim on ``keys`` that this process still holds."""
    directory = Path(directory)
    with locked(directory / "claims"):
        for key in keys:
            path = directory / f"{key}.claim"
            claim = read_claim(path)
            if claim_state(claim) == "mine":
                write_atomic(path, _claim_text(claim["started"]))


def live_claims(directory, keys, lease: float = LEASE_S) -> dict:
    """``{key: claim}`` for the keys that another live process holds now."""
    directory = Path(directory)
    out = {}
    for key in keys:
        claim = read_claim(directory / f"{key}.claim")
        if claim_state(claim, lease) == "live":
            out[key] = claim
    return out


def clear_stale_claims(directory, lease: float = LEASE_S) -> int:
    """Remove the stale claims under ``directory`` (see :func:`claim_state`); return how many.

    A process killed after writing its records but before releasing its claims leaves claims on finished work,
    which no later run takes over (it skips finished work); this is where they go.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    removed = 0
    with locked(directory / "claims"):
        for path in directory.glob("*.claim"):
            if claim_state(read_claim(path), lease) == "stale":
                path.unlink()
                removed += 1
    return removed


class Heartbeat:
    """Refresh this process's claims on ``keys`` every ``lease / 4`` seconds while the ``with`` block runs."""

    def __init__(self, directory, keys, lease: float = LEASE_S):
        self.directory, self.keys, self.period = Path(directory), list(keys), max(lease / 4, 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="claim-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.period):
            try:
                refresh_claims(self.directory, self.keys)
            except OSError:  # a full disk: the claim ages; another process may take it over after the lease
                pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False
