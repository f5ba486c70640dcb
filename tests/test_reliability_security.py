"""A results or report folder someone sent you is data, never code.

``report --out DIR`` compiles in a fresh temporary folder with latexmk's rc files off, so a ``latexmkrc`` (Perl)
or a ``.sty`` in DIR never runs; CIFAR batch files are never unpickled (tests/test_reliability_corrupt.py);
a record's trajectory path never leads out of its folder (same file); ``verify --training-records`` never
deletes what it reads (tests/test_reliability_dataloss.py).
"""
import shutil
import subprocess

import pytest

from normlaws.cli import main

PERL = 'system("touch {marker}"); open(my $f, ">", "{marker}"); close($f);\n'
HOSTILE_STY = "\\ProvidesPackage{{{name}}}\\AtBeginDocument{{LEAKEDFROMSTY}}\\endinput\n"


def _tex_tools():
    missing = [t for t in ("latexmk", "pdftotext") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"no {' and '.join(missing)}")


@pytest.mark.tex
@pytest.mark.timeout(600)
def test_report_never_runs_code_from_its_output_folder(tmp_path, capsys):
    _tex_tools()
    received = tmp_path / "received"
    received.mkdir()
    markers = [tmp_path / f"pwned_{i}" for i in range(3)]
    (received / "latexmkrc").write_text(PERL.format(marker=markers[0]))
    (received / ".latexmkrc").write_text(PERL.format(marker=markers[1]))
    (received / "build").mkdir()
    (received / "build" / "latexmkrc").write_text(PERL.format(marker=markers[2]))
    for package in ("inputenc", "hyperref", "geometry", "xcolor", "amsmath", "booktabs", "graphicx"):
        (received / f"{package}.sty").write_text(HOSTILE_STY.format(name=package))
    assert main(["report", "--out", str(received), "--claims", "table1.sgd.norm"]) == 0, capsys.readouterr().err
    assert not [m for m in markers if m.exists()], "latexmk ran Perl from the received folder"
    text = subprocess.run(["pdftotext", str(received / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "table1.sgd.norm" in text
    assert "LEAKEDFROMSTY" not in text, "TeX read a .sty from the received folder"
    assert (received / "build" / "report.log").exists()
    assert not list(received.glob("report.aux")) and not list(received.glob("*.fls"))  # only the PDF and log


def test_latexmk_is_run_with_norc_in_a_fresh_folder(tmp_path, monkeypatch):
    """Without a TeX engine too: the command line and the folder latexmk gets."""
    from normlaws.reports import builder
    seen = {}

    def fake_run(cmd, cwd, **kwargs):
        seen["cmd"], seen["cwd"], seen["files"] = cmd, cwd, sorted(p.name for p in cwd.iterdir())
        (cwd / "report.pdf").write_bytes(b"%PDF-1.4 /Type /Page")
        (cwd / "report.log").write_text("ok")
        return subprocess.CompletedProcess(cmd, 0, "", "")
    monkeypatch.setattr(builder.shutil, "which", lambda name: "/usr/bin/" + name if name == "latexmk" else None)
    monkeypatch.setattr(builder.subprocess, "run", fake_run)
    (tmp_path / "report.tex").write_text("x")
    (tmp_path / "latexmkrc").write_text("die;")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "f.png").write_bytes(b"png")
    compiled = builder.compile_pdf(tmp_path / "report.tex", figures=["figures/f.png"])
    assert compiled.ok and (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    assert "-norc" in seen["cmd"] and seen["cwd"] != tmp_path
    assert seen["files"] == ["figures", "report.tex"]
