"""The --quick preset on the real CIFAR-10 shows the norm trend (slow: about 3-4 minutes on 2 CPU cores)."""
import json
import math
from pathlib import Path

import pytest

from normlaws.cli import main

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10"


@pytest.mark.slow
@pytest.mark.timeout(1800)     # about a minute alone on 2 cores; longer when the cores are shared
@pytest.mark.skipif(not (SHARED / "train_0.npz").exists(), reason="real CIFAR-10 shards are absent")
def test_quick_sweep_on_real_cifar10_shows_the_norm_trend(tmp_path, capsys):
    """One block of the preset: torch's Nesterov on the invariant network, seed 0, three learning rates on each of
    three lines of constant derived relaxation time (constant eta*lam)."""
    pytest.importorskip("torch")
    assert main(["sweep", "--quick", "--optimizers", "nesterov_torch", "--networks", "invariant", "--seeds", "0",
                 "--device", "cpu", "--data", str(SHARED), "--out", str(tmp_path), "--no-progress", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)["records"]
    assert len(records) == 9 and all(r["status"] == "done" for r in records)
    norm = {(r["config"]["eta"], r["config"]["lam"]): r["final"]["conv1_norm_fit_epoch"] for r in records}
    for eta in {e for e, _ in norm}:     # L2 shrinks the weights: at fixed eta the norm falls as lam grows
        lams = sorted(l for e, l in norm if e == eta)
        assert len(lams) == 3 and [norm[eta, l] for l in lams] == sorted((norm[eta, l] for l in lams), reverse=True)
    lines = {}
    for e, l in norm:                      # the lines of constant eta*lam (cells rounded to 4 digits: 2 in log)
        lines.setdefault(round(math.log10(e * l), 2), []).append((e, l))
    for cells in lines.values():           # along a line, eta/lam grows with eta: so does ||w||^4 ~ eta C/lam
        cells.sort()
        assert len(cells) == 3 and [norm[c] for c in cells] == sorted(norm[c] for c in cells)
