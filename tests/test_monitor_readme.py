"""The README's monitor example runs as written and logs to TensorBoard and JSON Lines."""
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorboard")

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text()
    section = text[text.index("## During training: `normlaws.monitor.Monitor`"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_monitor_example_runs_and_logs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_example(), "README.md (monitor example)", "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    assert "0.weight" in printed and "at equilibrium" in printed
    records = [json.loads(line) for line in (tmp_path / "runs" / "monitor.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(0, 400, 10))
    assert list((tmp_path / "runs" / "monitor").glob("events.out.tfevents.*"))
    after_drop = records[-1]["groups"]["0.weight"]
    assert after_drop["eta"] == pytest.approx(0.01) and 0 < after_drop["elapsed"] < 3
