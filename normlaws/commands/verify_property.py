"""The property leg of ``normlaws verify``: the Hypothesis property tests marked ``@pytest.mark.claims(...)``.

They run as one pytest child process with the ``tests/claims_map.py`` plugin (``--claims-results``), beside the
other stages; each claim's outcome (tests passed, failed, skipped) becomes one record of ``property.jsonl``. The
tests live in a repository checkout (``tests/`` beside the package): an installed copy has none, and the leg says
so instead of running. Only the tests of the selected claims run (``--claims``); all of them take about half a
minute on one core.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from .. import registry
from ..records import append_record
from . import verify_jobs as jobs
from .verify_stages import Stage, leg_record, tally
from .verify_summary import FAILED, SKIPPED
from ..reports.evidence import PROPERTY

RESULTS_FILE, LOG_FILE = "property_results.json", "property.log"
#: a property run that takes longer than this is stopped (and the leg reported as not run)
TIME_LIMIT_S = 600
#: pytest's exit codes that mean the tests ran (0: all passed, 1: some failed)
RAN = (0, 1)


def checkout_root() -> Path:
    """The folder the package was loaded from: a repository checkout when it holds ``tests/claims_map.py``."""
    return Path(__file__).resolve().parents[2]


def unavailable(args, claims) -> str:
    """Why the property leg cannot run here ('' when it can)."""
    if getattr(args, "skip_property", False):
        return "left out with --skip-property"
    if not (checkout_root() / "tests" / "claims_map.py").is_file():
        return ("the property tests are not installed: they live in tests/ of a repository checkout "
                "(git clone, then pip install -e '.[all]')")
    missing = [m for m in ("pytest", "hypothesis") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (pip install 'normlaws[test]')"
    if not targets(claims):
        return "no property test for the selected claims"
    return ""


def targets(claims) -> list[str]:
    """The tests to run: the files of the property tests when every claim is selected, else their node ids."""
    tests = registry.property_tests()
    ids = sorted({node for c in claims for node in tests.get(c.id, [])})
    if {c.id for c in claims} >= set(tests):
        return sorted({node.split("::")[0] for node in ids})
    return ids


def start(args, claims, results_dir: Path):
    """Start the property tests in the background: the :class:`~verify_jobs.Job`, or why they cannot run."""
    why = unavailable(args, claims)
    if why:
        return why
    results = Path(results_dir) / RESULTS_FILE
    results.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "tests.claims_map", "--claims-results", results.resolve(),
            "-p", "no:cacheprovider", *targets(claims)]
    return jobs.start("property", argv, Path(results_dir) / LOG_FILE, cwd=checkout_root(), limit_s=TIME_LIMIT_S)


def outcome(counts: dict) -> dict:
    """A claim's property-leg result from the plugin's counts of its tests.

    >>> outcome({"passed": 3, "failed": 0, "skipped": 1, "tests": []})["status"]
    'agrees'
    >>> outcome({"passed": 2, "failed": 1, "skipped": 0, "tests": []})["detail"]
    '1 of 3 property tests failed'
    """
    passed, failed, skipped = (int(counts.get(k, 0)) for k in ("passed", "failed", "skipped"))
    total = passed + failed + skipped + sum(t.get("outcome") == "not run" for t in counts.get("tests", []))
    if failed:
        status, detail = "disagrees", f"{failed} of {total} property tests failed"
    elif passed:
        status, detail = "agrees", f"{passed} of {total} property tests passed" + (
            f" ({skipped} skipped)" if skipped else "")
    else:
        status, detail = "skipped", f"none of the {total} property tests ran to a verdict"
    return {"status": status, "passed": passed, "failed": failed, "skipped": skipped, "total": total,
            "detail": detail, "tests": counts.get("tests", [])}


def stage(job, claims, results_dir: Path, run_id: str) -> Stage:
    """Wait for the property tests and record each selected claim's outcome (``property.jsonl``)."""
    if isinstance(job, str):
        return Stage("property", SKIPPED, detail=job)
    done = jobs.finish(job)
    stage = Stage("property", seconds=done.seconds, cpu_seconds=done.cpu_seconds)
    results = Path(results_dir) / RESULTS_FILE
    if done.timed_out:
        stage.status, stage.detail = SKIPPED, (f"not run to the end: stopped at the time limit of {TIME_LIMIT_S} s "
                                               f"(log: {job.log})")
        return stage
    if done.code not in RAN or not results.is_file():
        stage.status, stage.detail = FAILED, f"pytest exited with {done.code}: {jobs.last_line(job.log)}"
        stage.failures.append(stage.detail)
        return stage
    try:
        counts = json.loads(results.read_text())
    except ValueError as exc:
        stage.status, stage.detail = FAILED, f"{results}: not the plugin's JSON ({exc})"
        stage.failures.append(stage.detail)
        return stage
    by_claim = {}
    for claim in claims:
        if claim.id in registry.property_tests():
            by_claim[claim.id] = outcome(counts.get(claim.id, {"tests": []}))
            append_record(Path(results_dir) / PROPERTY, leg_record("property", claim.id, by_claim[claim.id], run_id))
    tally(stage, by_claim)
    stage.detail += f" (pytest, log: {job.log})"
    return stage
