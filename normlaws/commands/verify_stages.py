"""The stages of ``normlaws verify``: a progress line per stage, and each stage's outcome, time and failures."""
from __future__ import annotations

import contextlib
import resource
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field

from .. import conventions
from ..errors import is_environment_error
from ..records import provenance
from .verify_summary import FAILED, OK


class Progress:
    """One stage's progress on stderr: a counter redrawn in place on a terminal, a line per 25 % otherwise."""

    def __init__(self, index: int, count: int, name: str, total: int):
        self.prefix, self.total, self.done = f"[{index}/{count}] {name}", max(total, 1), 0
        self.tty = sys.stderr.isatty()
        self.start = time.monotonic()
        self._quarter = 0

    def say(self, text: str) -> None:
        """A line of its own (ending any counter)."""
        print(f"{self.prefix}: {text}", file=sys.stderr, flush=True)

    def advance(self, item: str) -> None:
        """One more item done."""
        self.done += 1
        elapsed = time.monotonic() - self.start
        line = f"{self.prefix}: {self.done}/{self.total} ({elapsed:.0f} s) {item}"
        if self.tty:
            print("\r" + line[:150].ljust(150), end="" if self.done < self.total else "\n", file=sys.stderr,
                  flush=True)
        elif 4 * self.done // self.total > self._quarter or self.done == self.total:
            self._quarter = 4 * self.done // self.total
            print(line, file=sys.stderr, flush=True)


@dataclass
class Stage:
    """The outcome of one stage: ok, failed or skipped, with its time and a one-line detail."""

    name: str
    status: str = OK
    seconds: float = 0.0      # wall clock
    cpu_seconds: float = 0.0  # user + system time of this process and its children (latexmk)
    detail: str = ""
    failures: list = field(default_factory=list)   # what failed, one line each

    def as_record(self) -> dict:
        """The stage as a JSON-ready dict."""
        return asdict(self)


@contextlib.contextmanager
def timed(stage: Stage):
    """Time the block into ``stage.seconds``; an exception in it fails the stage (with its last line)."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    try:
        yield stage
    except Exception as exc:  # noqa: BLE001 - a crashed stage is reported, the next stages still run
        if is_environment_error(exc):   # bad input, a full disk: one line for the whole command
            raise
        stage.status = FAILED
        stage.detail = f"crashed: {type(exc).__name__}: {exc}"
        stage.failures.append(stage.detail)
        traceback.print_exc(file=sys.stderr)
    finally:
        stage.seconds = time.perf_counter() - start
        stage.cpu_seconds = _cpu_seconds() - cpu


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its waited-for children, in seconds."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def leg_record(leg: str, claim_id: str, result: dict, run_id: str, seed=None, **extra) -> dict:
    """The record of one check of a leg (``montecarlo.jsonl``, ``property.jsonl``, ...), with its provenance."""
    if seed is not None:
        extra["seed"] = seed
    return {"claim": claim_id, "leg": leg, "run": run_id, "result": result, **extra,
            "provenance": provenance(seed=seed, convention=conventions.CANONICAL)}


def tally(stage: Stage, results: dict) -> None:
    """Fill the stage's status and detail from ``{claim id: result}``; a check that disagrees or raised fails it."""
    counts: dict = {}
    for claim_id, result in results.items():
        counts[result["status"]] = counts.get(result["status"], 0) + 1
        if result["status"] in ("disagrees", "error"):
            stage.failures.append(f"{claim_id}: {result['status']}: {str(result.get('detail', ''))[:200]}")
    stage.status = FAILED if stage.failures else OK
    stage.detail = f"{len(results)} checks: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def run_check(check, *args, **kwargs) -> dict:
    """A check's result; a check that raises is an 'error' result (a failure of the suite), not a crash."""
    try:
        result = check(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        return {"status": "error", "detail": f"{type(exc).__name__}: {exc}"}
    if not isinstance(result, dict) or result.get("status") not in ("agrees", "disagrees", "skipped"):
        return {"status": "error", "detail": f"the check returned {result!r:.200}, not a result dict"}
    return result
