"""Child processes of ``normlaws verify``: the training sweep and the property tests run beside the symbolic and
Monte-Carlo stages, so that on a small machine the legs overlap instead of queueing.

A job's output goes to a log file under the results folder; its wall time and its CPU time (its own, from
``wait4``) are measured; a job past its time limit is killed and says so. A job still running when verify stops
(Ctrl-C, an error) is killed too.
"""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: how often a waiting verify looks at a job
POLL_S = 0.2


@dataclass
class Job:
    """A child process of verify: what it runs, where its output goes, when it started, how long it may take."""

    name: str
    argv: list
    log: Path
    proc: subprocess.Popen
    start: float
    limit_s: float | None = None


@dataclass
class Finished:
    """How a job ended: its exit code (``None`` when it was killed at its time limit), wall and CPU seconds."""

    code: int | None
    seconds: float
    cpu_seconds: float

    @property
    def timed_out(self) -> bool:
        """Whether the job was killed at its time limit."""
        return self.code is None


def start(name: str, argv: list, log: Path, cwd=None, env=None, limit_s: float | None = None) -> Job:
    """Start ``argv`` in the background, its standard output and error into ``log`` (replaced)."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(a) for a in argv], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    return Job(name, list(argv), log, proc, time.monotonic(), limit_s)


def finish(job: Job) -> Finished:
    """Wait for the job (killing it at its time limit) and reap it; its wall and CPU seconds."""
    deadline = None if job.limit_s is None else job.start + job.limit_s
    killed = False
    while True:
        pid, status, usage = os.wait4(job.proc.pid, os.WNOHANG)
        if pid:
            break
        if deadline is not None and time.monotonic() > deadline and not killed:
            job.proc.kill()
            killed = True
        time.sleep(POLL_S)
    code = os.waitstatus_to_exitcode(status)
    job.proc.returncode = code          # reaped here: Popen must not wait for it again
    return Finished(None if killed else code, time.monotonic() - job.start, usage.ru_utime + usage.ru_stime)


def stop(jobs) -> None:
    """Kill the jobs still running (verify is ending early)."""
    for job in jobs:
        if job is not None and job.proc.returncode is None and job.proc.poll() is None:
            job.proc.kill()
            job.proc.wait()


def last_line(log: Path, default: str = "no output") -> str:
    """The last non-empty line of a job's log (what it said when it stopped)."""
    try:
        lines = [line.strip() for line in Path(log).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return default
    return lines[-1][:300] if lines else default
