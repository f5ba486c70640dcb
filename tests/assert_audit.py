"""A pytest plugin that finds tests that cannot fail: it counts the ``assert`` statements each test executes.

Run: ``python -m pytest -p tests.assert_audit -o enable_assertion_pass_hook=true`` (``make audit-tests``). At the
end it lists every passing test that executed no ``assert`` statement (nor ``pytest.raises`` / ``warns`` /
``numpy.testing`` / ``torch.testing`` / ``normlaws.testing`` assertions, counted by wrapping them): such a test can only fail by an
exception, and is reviewed by hand. It also writes the list to ``.assert-audit.txt``.
"""
from __future__ import annotations

import collections

import pytest

_PASSED = collections.Counter()
_CURRENT: list[str] = []
_RESULTS: dict[str, str] = {}


def _counted(function):
    def wrapper(*args, **kwargs):
        if _CURRENT:
            _PASSED[_CURRENT[-1]] += 1
        return function(*args, **kwargs)
    return wrapper


def pytest_configure(config):
    import numpy.testing as npt
    for name in ("assert_allclose", "assert_array_equal", "assert_equal", "assert_array_less"):
        setattr(npt, name, _counted(getattr(npt, name)))
    pytest.raises = _counted(pytest.raises)
    pytest.warns = _counted(pytest.warns)
    import normlaws.testing as nt
    for name in [n for n in dir(nt) if n.startswith("assert_")]:
        setattr(nt, name, _counted(getattr(nt, name)))
    try:
        import torch.testing
        torch.testing.assert_close = _counted(torch.testing.assert_close)
    except ImportError:
        pass


def pytest_assertion_pass(item, lineno, orig, expl):
    _PASSED[item.nodeid] += 1


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _CURRENT.append(item.nodeid)
    yield
    _CURRENT.pop()


def pytest_runtest_logreport(report):
    if report.when == "call":
        _RESULTS[report.nodeid] = report.outcome


def pytest_sessionfinish(session):
    silent = sorted(n for n, outcome in _RESULTS.items() if outcome == "passed" and _PASSED[n] == 0)
    with open(".assert-audit.txt", "w") as out:
        out.write("\n".join(silent) + ("\n" if silent else ""))
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line(f"assert audit: {len(silent)} passing test(s) executed no assertion (listed in .assert-audit.txt)")
