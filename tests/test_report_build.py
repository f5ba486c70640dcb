"""The report builder: .tex and summary from the registry and stored records, snapshots, PDF with latexmk.

Snapshots of the generated LaTeX of a few claims live in ``tests/snapshots/``. After an intended change to the
templates or to a claim, regenerate them with::

    NORMLAWS_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_report_build.py -k snapshot

and read the diff before committing it.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sympy as sp

from normlaws import registry
from normlaws.cli import main
from normlaws.records import append_record, read_records
from normlaws.reports import builder, views
from normlaws.reports.builder import build_report, compile_pdf, render_claim
from normlaws.reports.latex import escape_text
from normlaws.reports.evidence import MONTECARLO, RUNS, TRAINING, Evidence, load_evidence
from normlaws.theory.claim import Claim, Printed
from normlaws.theory.derivation import Derivation, Step

SNAPSHOTS = Path(__file__).parent / "snapshots"
#: a small run: an exact agreement, two errata (a tuple and an expression), a scaling-only verdict, a 4th root
SMALL = ["table1.sgd.eff_lr", "update.rmsprop.equivariance", "update.adam.bias_correction", "lr.optimal.sgd",
         "table1.sgd.norm"]
SNAPSHOT_CLAIMS = ["table1.sgd.eff_lr", "update.rmsprop.equivariance", "table1.sgd.norm"]


def _mc_record(claim_id, status="agrees", **result):
    base = {"status": status, "predicted": 0.25, "measured": 0.2512, "se": 0.0021, "tolerance": 0.0084,
            "detail": "slope of log ||w|| on log(eta/lambda) over 5 grid points, 64 chains each"}
    return {"claim": claim_id, "leg": "montecarlo", "run": "test", "size": "quick", "seed": 0,
            "result": {**base, **result}}


def _figure_payload():
    x = [10.0 ** k for k in range(1, 6)]
    return {"x": x, "y": [0.5 * v**0.25 for v in x], "se": [0.01] * 5}


@pytest.fixture
def no_legs(monkeypatch):
    """Registry without numeric legs: the claim fragments do not depend on which legs exist today."""
    monkeypatch.setattr(registry, "leg_checks", lambda leg: {})


# ---- snapshots -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("claim_id", SNAPSHOT_CLAIMS)
def test_claim_fragment_snapshot(claim_id, no_legs):
    evidence = Evidence(montecarlo={"table1.sgd.norm": _mc_record("table1.sgd.norm")})
    fragment = render_claim(views.claim_view(registry.get(claim_id), evidence))
    path = SNAPSHOTS / f"{claim_id}.tex"
    if os.environ.get("NORMLAWS_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(fragment)
    assert path.exists(), f"no snapshot {path}: run with NORMLAWS_UPDATE_SNAPSHOTS=1 once"
    assert fragment == path.read_text(), f"{claim_id}: the generated LaTeX changed (see the module docstring)"


def test_fragment_shows_every_part_of_a_claim(no_legs):
    claim = registry.get("table1.sgd.norm")
    fragment = render_claim(views.claim_view(claim, Evidence(montecarlo={claim.id: _mc_record(claim.id)})))
    for part in ("As printed.", "Derivation.", "Derived result:", "Proof:", "Verdict on the paper.",
                 "Monte-Carlo evidence.", r"\sqrt[4]{\frac{\eta}{\lambda}}", "standard error", "0.0021"):
        assert part in fragment
    assert claim.source.split()[0] in fragment


# ---- the .tex path (no TeX engine needed) -----------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_small_report_tex_and_summary(tmp_path):
    results = tmp_path / "results"
    append_record(results / MONTECARLO, _mc_record("table1.sgd.norm", figure=_figure_payload()))
    append_record(results / MONTECARLO, _mc_record("lr.optimal.sgd", status="skipped", detail="grid too small"))
    report = build_report(tmp_path, claim_ids=SMALL, pdf=False)
    tex = report.tex.read_text()
    assert _no_control_characters(tex)
    for claim_id in SMALL:
        assert f"\\texttt{{{escape_text(claim_id)}}}" in tex
    assert tex.count(r"\subsection{\texorpdfstring{") == len(SMALL)
    assert "Errata: where the paper is wrong" in tex
    # the Monte-Carlo figure is drawn from the stored points, with the derived slope
    assert (tmp_path / "figures" / "montecarlo_norm_scaling.png").stat().st_size > 1000
    assert r"\includegraphics" in tex and "figures/montecarlo_norm_scaling.png" in tex
    # the training leg was not run: the report says so instead of showing Figures 1-4
    assert "The training leg was not run" in tex
    summary = report.summary.read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == SMALL
    assert "## Errata" in summary and "`update.rmsprop.equivariance`" in summary.split("## Errata")[1]
    errata = summary.split("## Errata")[1].split("\n## ")[0]
    # formulas as math a code host renders, never SymPy strings in code spans; the command that derives each
    assert "Printed: $`" in errata and "Corrected (derived): $`" in errata and "**" not in re.sub(r"\*\*`[^`]*`\*\*", "", errata)
    assert "Derivation: `normlaws derive update.rmsprop.equivariance`" in errata
    assert report.counts["errata"] == sum(registry.get(c).verdict.is_erratum for c in SMALL)


def test_report_is_rebuilt_from_stored_records_only(tmp_path):
    """The latest record of a claim counts; the report needs no rerun of a leg."""
    results = tmp_path / "results"
    append_record(results / MONTECARLO, _mc_record("table1.sgd.norm", status="disagrees"))
    append_record(results / MONTECARLO, _mc_record("table1.sgd.norm", measured=0.2498))
    evidence = load_evidence(results)
    assert evidence.status("montecarlo", "table1.sgd.norm") == "agrees"
    assert evidence.montecarlo["table1.sgd.norm"]["result"]["measured"] == 0.2498


def test_hostile_text_is_escaped(tmp_path, monkeypatch):
    """Statements with _ ^ % & # $ ~ { } \\ survive into the .tex escaped (the tex test compiles them)."""
    claim = registry.get("table1.sgd.eff_lr")
    hostile = r"50% of x_i^2 & #3 costs $5 ~ {a} \b"
    monkeypatch.setattr(claim, "statement", hostile)
    fragment = render_claim(views.claim_view(claim, Evidence()))
    assert hostile not in fragment
    assert r"50\% of x\_i\textasciicircum{}\allowbreak{}2 \& \#3 costs \$5 \textasciitilde{} \{a\} \textbackslash{}b" \
        in fragment


def test_output_goes_where_the_user_says_never_into_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--no-pdf", "--claims", "table1.sgd.eff_lr"]) == 0
    assert (tmp_path / "out" / "report" / "report.tex").exists()
    package = Path(builder.__file__).parent
    assert not list(package.glob("report.*")) and not (package / "figures").exists()


def test_report_bad_input(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--claims", "no.such.claim"]) == 2
    assert main(["report", "--out", str(tmp_path), "--results", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no.such.claim" in err and "no such folder" in err and "Traceback" not in err


# ---- long formulas --------------------------------------------------------------------------------------------

_u = sp.symbols("u1:13", positive=True)
LONG_SUM = sum(k * u**2 / (1 + u) for k, u in enumerate(_u, 1))       # ~600 characters of LaTeX: broken into lines
HUGE = sp.expand(sp.Mul(*[(1 + u) for u in _u[:9]]))                  # 512 terms: beyond reading, named instead


def test_long_sums_break_into_aligned_lines_and_huge_expressions_are_named():
    lines = views.formula(LONG_SUM, "x.y")
    assert lines.startswith(r"\begin{aligned}") and lines.count(r"\\") >= 1
    assert all(len(line) < 2 * views.LINE_CHARS for line in lines.split(r"\\"))
    named = views.formula(HUGE, "x.y")
    assert "too long to print" in named and "normlaws derive x." in named and "--json" in named
    assert views.formula(sp.Symbol("eta"), "x.y") == r"\eta"
    # in the Markdown summary the note is plain text (a code host's math renderer knows no \small or \itshape)
    assert builder._md_math(named) == (f"*[a SymPy expression of {sp.count_ops(HUGE)} operations, too long to print; "
                                       "`normlaws derive x.y --json` prints it]*")
    assert builder._md_math(lines).startswith("$`\\begin{aligned}")


def _fake_long_claim():
    return Claim(id="fake.long_formulas", title="long formulas", statement="a claim whose steps are long",
                 source="nowhere", printed=Printed(None, "none", "nowhere"),
                 derive=lambda: Derivation(result=LONG_SUM, steps=[Step("a huge intermediate", HUGE)],
                                           proofs={"zero": sp.Integer(0)}))


def _no_control_characters(text: str) -> bool:
    return not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", text)


# ---- without a TeX engine ----------------------------------------------------------------------------------------

def test_no_tex_engine_writes_tex_and_says_how_to_compile(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["report", "--out", str(tmp_path), "--claims", "table1.sgd.eff_lr"]) == 0
    out = capsys.readouterr().out
    assert f"no TeX engine found: compile with `latexmk -pdf {tmp_path / 'report.tex'}`" in out
    assert (tmp_path / "report.tex").exists() and not (tmp_path / "report.pdf").exists()
    compiled = compile_pdf(tmp_path / "report.tex")
    assert compiled.ok and compiled.pdf is None
    assert "(not compiled: no TeX engine found" in (tmp_path / "summary.md").read_text()


def test_log_problems_are_found():
    log = "This is pdfTeX\n./report.tex:12: Undefined control sequence.\nLaTeX Warning: File `x.png' not found\nok\n"
    assert len(builder.log_problems(log)) == 2


# ---- the PDF (needs latexmk; CI installs it) -------------------------------------------------------------------

def _tex_tools():
    missing = [t for t in ("latexmk", "pdftotext") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"no {' and '.join(missing)}: install texlive-latex-base texlive-latex-recommended latexmk "
                    "poppler-utils")


@pytest.mark.tex
@pytest.mark.timeout(300)
def test_pdf_of_a_small_run(tmp_path, monkeypatch):
    _tex_tools()
    results = tmp_path / "results"
    append_record(results / MONTECARLO, _mc_record("table1.sgd.norm", figure=_figure_payload()))
    claim = registry.get("table1.sgd.eff_lr")
    monkeypatch.setattr(claim, "statement", r"Hostile text: 50% of x_i^2 & #3 costs $5 ~ {a} \b, η → λ.")
    fake = _fake_long_claim()
    real = registry.claims()
    monkeypatch.setattr(registry, "claims", lambda: (*real, fake))
    report = build_report(tmp_path, claim_ids=SMALL + [fake.id], pdf=True)
    assert _no_control_characters(report.tex.read_text())
    compiled = report.compiled
    assert compiled.ok and compiled.pdf is not None, compiled.message
    log = (tmp_path / "build" / "report.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log
    assert not re.search(r"File `[^']*' not found", log)
    assert "LaTeX Error" not in log
    assert max(builder.overfull_points(log), default=0.0) <= 5.0       # no line sticks out by more than 5 pt
    text = subprocess.run(["pdftotext", str(compiled.pdf), "-"], capture_output=True, text=True, check=True).stdout
    for claim_id in SMALL + [fake.id]:
        assert claim_id in text, f"{claim_id} missing from the PDF"
    assert "too long to print" in text
    # the expected number of claims: one numbered section heading per claim, no more
    layout = subprocess.run(["pdftotext", "-layout", str(compiled.pdf), "-"], capture_output=True, text=True,
                            check=True).stdout
    headings = re.findall(r"^\s*[A-Z]\.\d+\s+([A-Za-z0-9_.]+)\s*$", layout, re.M)   # appendix: A.1, B.2
    assert sorted(headings) == sorted(SMALL + [fake.id])
    assert compiled.pages >= 3
    flat = " ".join(text.split())
    assert "Hostile text: 50% of x_i" in flat and "& #3 costs $5" in flat
    # the summary links each claim to its section of the PDF, a named destination the PDF has
    dests = subprocess.run(["pdfinfo", "-dests", str(compiled.pdf)], capture_output=True, text=True).stdout
    summary = report.summary.read_text()
    for claim_id in SMALL:
        label = views.label(claim_id)
        assert f"[`{claim_id}`](report.pdf#nameddest={label})" in summary and label in dests


def test_run_record_feeds_the_stage_table(tmp_path):
    results = tmp_path / "results"
    append_record(results / RUNS, {"run": "r1", "stages": [
        {"name": "symbolic", "status": "ok", "seconds": 12.5, "detail": "x"},
        {"name": "training", "status": "skipped", "seconds": 0.0, "detail": "torch is not installed"}]})
    report = build_report(tmp_path, claim_ids=["lr.optimal.sgd"], pdf=False)
    summary = report.summary.read_text()
    assert "| symbolic | ok | 12.5 | 0.0 |" in summary
    assert "training: torch is not installed" in summary
    assert read_records(results / RUNS)[0]["run"] == "r1"
    assert not (results / TRAINING).exists()


def test_a_claim_with_named_alternates_renders_each_one():
    # sec4.sgd.fixed_point's extras hold a dict of the formula under other conventions: each entry is typeset
    view = views.claim_view(registry.get("sec4.sgd.fixed_point"), Evidence())
    names = [name for name, _ in view["extras"]]
    assert "alternates: batch-mean loss (frameworks)" in names
    assert all(math is None or isinstance(math, views.Tex) for _, math in view["extras"])


def test_the_claims_sections_are_the_appendix():
    template = (Path(builder.__file__).parent / "templates" / "report.tex.j2").read_text()
    assert "\\appendix\n\\BLOCK{for section in sections}" in template


def test_a_claim_the_paper_makes_in_words_shows_its_sentence_not_an_empty_formula(tmp_path, no_legs):
    claim = registry.get("sec6.fig1.regions")                 # an erratum whose printed form is a sentence
    assert claim.printed.expr is None and claim.printed.text and claim.verdict.is_erratum
    sentence = escape_text(claim.printed.text[:40])
    tex = build_report(tmp_path, claim_ids=[claim.id], pdf=False).tex.read_text()
    errata = tex.split("Errata: where the paper is wrong")[1].split(r"\section")[0]
    assert r"\formula{}" not in tex and sentence in errata
    fragment = render_claim(views.claim_view(claim, Evidence()))
    assert sentence in fragment and "prints no formula" not in fragment
