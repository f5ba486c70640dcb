"""The evidence a report is built from: the registry's symbolic leg, and the stored numeric-leg records.

``normlaws verify`` stores what the numeric legs found as JSON Lines under a results folder, so that a report
can be rebuilt without rerunning them:

- ``montecarlo.jsonl``: one record per Monte-Carlo check run (``{"claim", "leg", "size", "seed", "result",
  "provenance", "run"}``; ``result`` is what ``normlaws.simulate.checks.CHECKS[claim]`` returned);
- ``exponents.jsonl``: one record per Monte-Carlo scaling grid (``result`` from
  ``normlaws.simulate.exponents.exponents(rule)``: the norm over an eta/lambda grid, fitted slopes), keyed by
  the claim ``table1.<rule>.norm`` it measures; the report's Monte-Carlo figure is drawn from these;
- ``training.jsonl``: one record per training check (same layout; ``result`` from ``normlaws.gpu.checks``);
- ``property.jsonl``: one record per claim with property tests (``result``: its tests passed, failed and skipped,
  from the pytest plugin ``tests/claims_map.py``; status ``agrees`` when they all passed);
- ``runs.jsonl``: one record per ``verify`` run: its options, the time of each stage, the legs skipped and why;
- ``sweep/records.jsonl``: the training sweep's own records (Figures 1-5 are redrawn from them).

When a claim has several records (a rerun appends), the last one counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from normlaws.records import read_records

MONTECARLO = "montecarlo.jsonl"
EXPONENTS = "exponents.jsonl"
TRAINING = "training.jsonl"
PROPERTY = "property.jsonl"
RUNS = "runs.jsonl"
SWEEP = "sweep"

#: statuses a numeric check may return, and the one the report adds for a check that raised
AGREES, DISAGREES, SKIPPED, ERROR = "agrees", "disagrees", "skipped", "error"


@dataclass
class Evidence:
    """What the numeric legs found, by claim id, plus the record of the run that produced it."""

    montecarlo: dict = field(default_factory=dict)   # claim id -> record
    exponents: dict = field(default_factory=dict)    # claim id -> record of a scaling grid
    training: dict = field(default_factory=dict)     # claim id -> record
    property: dict = field(default_factory=dict)     # claim id -> record of its property tests
    run: dict | None = None                          # the last verify run's record
    results_dir: Path | None = None

    def status(self, leg: str, claim_id: str) -> str | None:
        """The status of ``leg`` for a claim: a check's status, or ``None`` when no record exists."""
        record = getattr(self, leg).get(claim_id)
        return None if record is None else record["result"].get("status", ERROR)


def latest_by_claim(records: list[dict]) -> dict:
    """``{claim id: last record}`` of a list of leg records."""
    return {r["claim"]: r for r in records if "claim" in r and isinstance(r.get("result"), dict)}


def load_evidence(results_dir) -> Evidence:
    """Read the stored leg records under ``results_dir`` (missing files give an empty leg)."""
    results_dir = Path(results_dir)
    runs = read_records(results_dir / RUNS)
    return Evidence(montecarlo=latest_by_claim(read_records(results_dir / MONTECARLO)),
                    exponents=latest_by_claim(read_records(results_dir / EXPONENTS)),
                    training=latest_by_claim(read_records(results_dir / TRAINING)),
                    property=latest_by_claim(read_records(results_dir / PROPERTY)),
                    run=runs[-1] if runs else None, results_dir=results_dir)
