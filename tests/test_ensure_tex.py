"""``scripts/ensure-tex`` (run by ``make verify``): a TeX engine is installed when missing and the machine allows
it, and otherwise one line says what to install; it never fails the main job."""
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ensure-tex"
BASH = "/bin/bash"


def _run(path_dir: Path):
    return subprocess.run([BASH, str(SCRIPT)], env={"PATH": str(path_dir)}, capture_output=True, text=True,
                          timeout=60)


def _tool(folder: Path, name: str, body: str) -> None:
    tool = folder / name
    tool.write_text(f"#!{BASH}\n{body}\n")
    tool.chmod(0o755)


def test_without_tex_and_without_apt_one_line_says_what_to_install(tmp_path):
    proc = _run(tmp_path)
    assert proc.returncode == 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "texlive-latex-base texlive-latex-recommended latexmk" in lines[0]


def test_as_root_with_apt_it_installs_the_three_packages(tmp_path):
    log = tmp_path / "apt.log"
    _tool(tmp_path, "id", "echo 0")
    _tool(tmp_path, "apt-get", f'echo "$@" >> {log}')
    proc = _run(tmp_path)
    assert proc.returncode == 0
    calls = log.read_text().splitlines()
    assert calls[0].startswith("update") and "install" in calls[1]
    assert {"texlive-latex-base", "texlive-latex-recommended", "latexmk"} <= set(calls[1].split())


def test_with_tex_present_it_does_nothing(tmp_path):
    log = tmp_path / "apt.log"
    for name in ("latexmk", "pdflatex"):
        _tool(tmp_path, name, "true")
    _tool(tmp_path, "apt-get", f'echo "$@" >> {log}')
    proc = _run(tmp_path)
    assert proc.returncode == 0 and proc.stderr == "" and not log.exists()
    assert os.access(SCRIPT, os.X_OK)
