"""Every printed and stored expression is canonical: ``normlaws derive --json`` is byte-identical under several
``PYTHONHASHSEED`` values (SymPy's factorizations may choose signs by hash order; ``theory.compare.canonical``
fixes them before printing)."""
import os
import subprocess
import sys

import pytest


@pytest.mark.timeout(600)
def test_derive_json_is_the_same_under_every_hash_seed():
    outputs = []
    procs = []
    for seed in ("0", "1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "NORMLAWS_CACHE": "off"}
        procs.append(subprocess.Popen([sys.executable, "-m", "normlaws", "derive", "--json"], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for proc in procs:
        out, err = proc.communicate()
        assert proc.returncode == 0, err.decode()[-2000:]
        outputs.append(out)
    assert len(outputs[0]) > 10_000
    assert outputs[0] == outputs[1] == outputs[2]
