"""Missing optional parts degrade to one clear line (or a skipped leg), never a traceback.

Torch is made unimportable for a subprocess by a ``torch.py`` first on its path that raises
ModuleNotFoundError, as a missing install does; the TeX engine and the data have their own tests
(tests/test_report_build.py, tests/test_gpu_data.py).
"""
import os
import subprocess
import sys

import pytest

NEEDS_TORCH = [
    ["train", "--quick", "--out", "{tmp}/t"],
    ["sweep", "--quick", "--out", "{tmp}/s"],
    ["bench", "--device", "cpu"],
    ["audit", "normlaws.gpu.model:ConvNet", "--input-shape", "2,3,32,32"],
]


@pytest.fixture
def no_torch(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "torch.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    env = {**os.environ, "PYTHONPATH": str(fake) + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def run(argv):
        argv = [a.format(tmp=tmp_path) for a in argv]
        return subprocess.run([sys.executable, "-m", "normlaws.cli", *argv], env=env, capture_output=True,
                              text=True, timeout=600)
    return run


@pytest.mark.timeout(600)
@pytest.mark.parametrize("argv", NEEDS_TORCH, ids=[a[0] for a in NEEDS_TORCH])
def test_torch_commands_say_torch_is_missing_in_one_line(no_torch, argv):
    done = no_torch(argv)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "torch" in done.stderr


@pytest.mark.timeout(600)
def test_symbolic_commands_and_verify_work_without_torch(no_torch, tmp_path):
    assert no_torch(["claims", "--filter", "table1.sgd"]).returncode == 0
    done = no_torch(["verify", "--skip-montecarlo", "--no-pdf", "--claims", "table1.sgd.norm",
                     "--out", str(tmp_path / "v"), "--json"])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "torch is not installed" in done.stdout + done.stderr
