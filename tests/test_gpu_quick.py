"""The --quick preset on the real CIFAR-10 shows the norm trend (slow: about 3-4 minutes on 2 CPU cores)."""
import json
from pathlib import Path

import pytest

from normlaws.cli import main

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10"


@pytest.mark.slow
@pytest.mark.timeout(1800)     # about 3.5 minutes alone on 2 cores; much longer when the cores are shared
@pytest.mark.skipif(not (SHARED / "train_0.npz").exists(), reason="real CIFAR-10 shards are absent")
def test_quick_sweep_on_real_cifar10_shows_the_norm_trend(tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["sweep", "--quick", "--device", "cpu", "--data", str(SHARED), "--out", str(tmp_path),
                 "--no-progress", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)["records"]
    assert len(records) == 9 and all(r["status"] == "done" for r in records)
    norm = {(r["config"]["eta"], r["config"]["lam"]): r["final"]["conv1_norm_fit_epoch"] for r in records}
    etas, lams = sorted({e for e, _ in norm}), sorted({l for _, l in norm})
    for eta in etas:      # L2 shrinks the weights: at fixed eta the norm falls as lam grows
        assert [norm[eta, lam] for lam in lams] == sorted((norm[eta, lam] for lam in lams), reverse=True)
    # the gradient noise grows them: at the smallest lam the norm rises with eta
    assert [norm[eta, lams[0]] for eta in etas] == sorted(norm[eta, lams[0]] for eta in etas)
