"""A pytest plugin for the property leg: which property tests verify which claims, and how they fared.

``python -m pytest --collect-only -q -p tests.claims_map --claims-map PATH tests/test_properties_*.py`` writes
``{claim_id: [test node ids]}`` from the tests' ``@pytest.mark.claims(...)`` markers (the committed copy is
``normlaws/property_leg.json``, which ``normlaws claims`` reads; ``tests/test_property_leg.py`` keeps the two
equal). With ``--claims-results PATH`` a run writes each claim's outcome: passed, failed and skipped tests.
"""
from __future__ import annotations

import collections
import json

import pytest

_OUTCOMES: dict[str, str] = {}


def pytest_addoption(parser):
    parser.addoption("--claims-map", default=None, help="write {claim id: [property test node ids]} here")
    parser.addoption("--claims-results", default=None, help="write each claim's property-test outcomes here")


def claims_of(item) -> list[str]:
    """The claim ids of a test's ``claims`` markers (parametrized marks included)."""
    return [cid for mark in item.iter_markers("claims") for cid in mark.args]


def _write(path: str, payload) -> None:
    with open(path, "w") as out:
        json.dump(payload, out, indent=1, sort_keys=True)
        out.write("\n")


def pytest_collection_finish(session):
    path = session.config.getoption("--claims-map")
    if path:
        mapping = collections.defaultdict(list)
        for item in session.items:
            for cid in claims_of(item):
                mapping[cid].append(item.nodeid)
        _write(path, {cid: sorted(ids) for cid, ids in mapping.items()})


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _OUTCOMES.setdefault(report.nodeid, report.outcome)
        if report.outcome != "passed":
            _OUTCOMES[report.nodeid] = report.outcome


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    path = session.config.getoption("--claims-results")
    if not path:
        return
    results = collections.defaultdict(lambda: {"passed": 0, "failed": 0, "skipped": 0, "tests": []})
    for item in session.items:
        outcome = _OUTCOMES.get(item.nodeid, "not run")
        for cid in claims_of(item):
            entry = results[cid]
            if outcome in entry:
                entry[outcome] += 1
            entry["tests"].append({"test": item.nodeid, "outcome": outcome})
    _write(path, dict(results))
