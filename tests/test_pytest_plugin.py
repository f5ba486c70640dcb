"""normlaws's pytest plugin (``normlaws.testing.plugin``, entry point ``pytest11``): the profiles without a
conftest, the relaxed deadline for Hypothesis tests that use ``normlaws.testing``, the fixtures; and the README's
example test file in a fresh project (slow)."""
import os
import re
import site
import subprocess
import sys
import venv
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_pytest(folder, *args, python=sys.executable, timeout=600, env=None):
    """pytest in ``folder`` (no conftest there), in a fresh process; returns (exit code, output)."""
    proc = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=folder,
                          capture_output=True, text=True, timeout=timeout, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_plugin_is_an_installed_entry_point():
    assert [e.value for e in entry_points(group="pytest11") if e.name == "normlaws"] == ["normlaws.testing.plugin"]


PROFILE_TEST = '''
from hypothesis import settings

def test_profile():
    assert settings.get_current_profile_name() == "thorough"
    assert settings.default.max_examples >= 2000 and settings.default.deadline is None
'''


@pytest.mark.parametrize("option", ["--hypothesis-profile=thorough", "--normlaws-profile=thorough"])
def test_thorough_profile_without_a_conftest(tmp_path, option):
    (tmp_path / "test_profile.py").write_text(PROFILE_TEST)
    code, out = run_pytest(tmp_path, option)
    assert code == 0, out


DEADLINE_TESTS = '''
from hypothesis import given, settings, strategies as st
{import_line}

@given(st.integers())
def test_drawn(x):
    pass

@settings(deadline=123)
@given(st.integers())
def test_with_its_own_settings(x):
    pass

def test_deadlines():
    assert test_drawn._hypothesis_internal_use_settings.deadline {expected}
    assert settings.default.deadline is not None     # the run is outside CI: Hypothesis's default has a deadline
    assert test_with_its_own_settings._hypothesis_internal_use_settings.deadline.total_seconds() == 0.123
'''


@pytest.mark.parametrize("import_line, expected", [
    ("import normlaws.testing as nt", "is None"),             # uses normlaws.testing: no deadline
    ("import math", "== settings.default.deadline"),         # does not: Hypothesis's default left alone
])
def test_default_profile_deadline_is_lifted_only_for_tests_that_use_normlaws(tmp_path, import_line, expected):
    (tmp_path / "test_deadline.py").write_text(DEADLINE_TESTS.format(import_line=import_line, expected=expected))
    code, out = run_pytest(tmp_path, env=environment_outside_ci())
    assert code == 0, out


def environment_outside_ci():
    """This process's environment without the variables by which Hypothesis detects CI (its CI profile has no
    deadline, which would make the deadline tests above unable to fail)."""
    import hypothesis._settings as hypothesis_settings
    ci_variables = getattr(hypothesis_settings, "_CI_VARS", {"CI": None, "GITHUB_ACTIONS": "true"})
    return {k: v for k, v in os.environ.items() if k not in ci_variables}


FIXTURE_TESTS = '''
import torch


def test_invariant(normlaws_invariant):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    normlaws_invariant(model, torch.randn(5, 4), param=("0.weight", "0.bias"), rescale_eps=("1",))


def test_step(normlaws_step):
    normlaws_step(lambda ps: torch.optim.Adam(ps, lr=1e-3), row="ADAM")
    normlaws_step(lambda ps: torch.optim.SGD(ps, lr=0.1), k=2)


def test_audit(normlaws_audit):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    report = normlaws_audit(model, torch.randn(2, 3, 6, 6))
    assert {p.name: p.invariance for p in report.parameters}["0.weight"] == "per-channel"
'''


def test_fixtures(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "test_fixtures.py").write_text(FIXTURE_TESTS)
    code, out = run_pytest(tmp_path)
    assert code == 0, out


def readme_test_file() -> str:
    """The README's example test file (the code block that starts with its path)."""
    text = (ROOT / "README.md").read_text()
    return re.search(r"```python\n(# tests/test_my_layers.py in your project\n.*?)```", text, re.S).group(1)


def fresh_venv(path) -> Path:
    """A venv whose own site-packages come first and which also sees this environment's (torch, Hypothesis, pytest:
    a path in a .pth file, so this environment's editable normlaws finder is not installed there). Its pip and
    setuptools are this environment's too (ensurepip's setuptools is too old for this pyproject.toml)."""
    venv.create(path, with_pip=False)
    python = path / "bin" / "python"
    own = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True,
                         text=True, check=True).stdout.strip()
    Path(own, "_parent_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


@pytest.mark.slow
@pytest.mark.timeout(3600)            # 2,000 examples for each of three properties: minutes on a loaded machine
def test_readme_example_in_a_fresh_project_with_the_thorough_profile(tmp_path):
    """normlaws installed from the source tree (not editable) into a fresh venv; the README's file copied alone
    into a project without a conftest; ``pytest --hypothesis-profile=thorough``."""
    pytest.importorskip("torch")
    python = fresh_venv(tmp_path / "venv")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(ROOT)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    project = tmp_path / "project" / "tests"
    project.mkdir(parents=True)
    (project / "test_my_layers.py").write_text(readme_test_file())
    where = subprocess.run([python, "-c", "import normlaws; print(normlaws.__file__)"], capture_output=True,
                           text=True, check=True, cwd=tmp_path).stdout
    assert str(tmp_path / "venv") in where, where          # the installed copy, not this checkout
    code, out = run_pytest(project.parent, "--hypothesis-profile=thorough", python=python, timeout=3600)
    assert code == 0, out
