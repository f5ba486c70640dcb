"""Build the verification report: LaTeX (compiled to PDF when a TeX engine is present) and a Markdown summary.

Everything comes from the registry (statements, printed and derived formulas, derivation steps, verdicts) and
from the records stored under the results folder (Monte-Carlo and training checks, the run's stage times).
Templates are jinja2 with LaTeX-safe delimiters: ``\\VAR{...}`` for values, ``\\BLOCK{...}`` for control,
``\\#{...}`` for comments. Every value is escaped for LaTeX unless it is a :class:`~normlaws.reports.views.Tex`.

The output folder is data, never code: the ``.tex`` is compiled in a fresh temporary folder holding only it and
the figures just drawn, with latexmk's rc files disabled (``-norc``) and TeX's shell escape off, and only the
PDF and the log are copied back (``report.pdf``, ``build/report.log``). Every file is written whole under a
temporary name and renamed into place (figures are drawn into a temporary folder first), so a full disk leaves
the previous files, never part of a new one.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from normlaws import __version__, registry
from normlaws.records import provenance, staged, write_atomic

from . import views
from .evidence import Evidence, load_evidence
from .latex import escape_code, escape_text, pdf_string
from .prose import latex_prose, markdown_prose
from .mcfigures import montecarlo_figures
from .views import Tex

TEMPLATES = Path(__file__).parent / "templates"
TEX_NAME, PDF_NAME, SUMMARY_NAME = "report.tex", "report.pdf", "summary.md"
FIGURES, BUILD = "figures", "build"

_VERDICT_COLOUR = {"agrees exactly": "ok", "agrees to leading order": "ok", "agrees in scaling": "ok",
                   "agrees": "ok", "disagrees": "bad", "error": "bad", "proof fails": "bad",
                   "not comparable": "muted", "skipped": "muted", "not run": "muted", "no check": "muted"}
_TRAINING_CAPTIONS = {
    "fig1_norm": "Reproduction of the paper's Figure 1: the conv1 filter norm over the $(\\eta, \\lambda)$ grid, "
                 "per update rule, with the fitted exponents.",
    "fig2_test_error": "Reproduction of the paper's Figure 2: test error over the $(\\eta, \\lambda)$ grid; dashed "
                       "lines: constant effective learning rate (the derived slope).",
    "fig3_normalized": "Reproduction of the paper's Figure 3: test error of the normalized-weight update.",
    "fig4_optimal_lr": "Reproduction of the paper's Figure 4: the optimal learning rate against $\\lambda$, fitted "
                       "slope with its 95\\% interval beside the derived slope.",
    "fig5_laws": "Not in the paper: the measured conv1 norm against the derived law $\\eta^p \\lambda^q C^c$ with the "
                 "gradient scale $C$ measured per cell (filled) and held fixed (open, the paper's reading), and the "
                 "measured angle per step against the derived rotational-equilibrium angle.",
}
PAPER_FIGURES = ("fig1_norm", "fig2_test_error", "fig3_normalized", "fig4_optimal_lr")


# ---- rendering ---------------------------------------------------------------------------------------------------

def _finalize_tex(value):
    """Escape every value printed into LaTeX, except values that are already LaTeX; runs of white space (a
    blank line from a results file would end a paragraph inside a command) become one space."""
    if value is None:
        return ""
    return value if isinstance(value, Tex) else escape_text(" ".join(str(value).split()))


def _verdict_tex(kind) -> Tex:
    colour = _VERDICT_COLOUR.get(str(kind), "muted")
    return Tex(f"\\{colour}{{{escape_text(kind)}}}")


def statuses_text(status_counts: dict) -> str:
    """``{'agrees': 3, 'skipped': 1}`` as '3 agree, 1 skipped' ('not run' when empty).

    >>> statuses_text({"agrees": 3, "skipped": 1})
    '3 agree, 1 skipped'
    """
    if not status_counts:
        return "no checks"
    words = {"agrees": "agree", "disagrees": "disagree"}
    return ", ".join(f"{n} {words.get(s, s)}" for s, n in status_counts.items())


def tex_environment() -> jinja2.Environment:
    """The jinja2 environment for LaTeX templates: LaTeX-safe delimiters, escaping by default, strict."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), block_start_string=r"\BLOCK{", block_end_string="}",
        variable_start_string=r"\VAR{", variable_end_string="}", comment_start_string=r"\#{",
        comment_end_string="}", trim_blocks=True, lstrip_blocks=True, autoescape=False,
        undefined=jinja2.StrictUndefined, finalize=_finalize_tex, keep_trailing_newline=True)
    env.filters["verdict"] = _verdict_tex
    env.filters["code"] = lambda text: Tex(escape_code(text))
    env.filters["statuses"] = statuses_text
    env.filters["pdfstring"] = lambda text: Tex(pdf_string(text).replace("_", r"\_"))
    env.filters["prose"] = lambda text: Tex(latex_prose(" ".join(str(text).split())))
    return env


def _md(text) -> str:
    """Text for a Markdown table cell or list item: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _md_math(tex) -> str:
    r"""A LaTeX formula as inline math that code hosts render (GitHub, GitLab: ``$`...`$``), on one line; the note
    standing for an expression too long to print, as plain text.

    >>> print(_md_math(r"\sqrt{\eta}"))
    $`\sqrt{\eta}`$
    """
    if isinstance(tex, views.ElidedTex):
        return f"*{tex.plain}*"
    return "$`" + " ".join(str(tex).split()) + "`$"


def markdown_environment() -> jinja2.Environment:
    """The jinja2 environment for the Markdown summary."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), trim_blocks=True, lstrip_blocks=True,
                             autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["md"] = _md
    env.filters["mdprose"] = lambda text: _md(markdown_prose(str(text)))     # formulas as $`...`$
    env.filters["mdmath"] = _md_math
    env.filters["statuses"] = statuses_text
    return env


def render_claim(view: dict) -> str:
    """The LaTeX fragment of one claim (what the report shows for it; snapshot-tested)."""
    return tex_environment().get_template("claim.tex.j2").render(claim=view)


# ---- figures of the training leg -----------------------------------------------------------------------------

def training_figures(results: Path, figures_dir: Path, run: dict | None) -> tuple[list, str]:
    """Figures 1-5 redrawn from the sweep records under ``results/sweep``, or a note saying why there are none."""
    sweep = results / "sweep"
    if not (sweep / "records.jsonl").exists():
        stage = next((s for s in (run or {}).get("stages", []) if s.get("name") == "training"), None)
        why = stage.get("detail") if stage else f"no training records under {sweep}"
        return [], f"The training leg was not run ({why}), so the paper's Figures 1--4 are not reproduced here."
    try:
        from normlaws.gpu.figures import make_figures
    except ImportError as exc:
        return [], f"Figures 1--4 could not be drawn: {exc}."
    drawn = make_figures(sweep, figures_dir)["figures"]
    figures = [{"path": Tex(f"{FIGURES}/{Path(p).name}"), "caption": Tex(_TRAINING_CAPTIONS.get(Path(p).stem, "")),
                "caption_plain": _plain_caption(_TRAINING_CAPTIONS.get(Path(p).stem, Path(p).stem))} for p in drawn]
    missing = [f"Figure {i}" for i, stem in enumerate(PAPER_FIGURES, 1) if stem not in {Path(p).stem for p in drawn}]
    note = (f"Not drawn: {', '.join(missing)}; the training records under {sweep} hold no runs for "
            f"{'it' if len(missing) == 1 else 'them'} (Figure 3 needs the normalized-weight update; a --quick "
            f"sweep trains Nesterov only).") if missing else ""
    return figures, note


def _plain_caption(caption: str) -> str:
    """A LaTeX caption as plain text for Markdown (math and escapes removed).

    >>> _plain_caption(r"test error over the $(\\eta, \\lambda)$ grid, 95\\% interval")
    'test error over the (eta, lambda) grid, 95% interval'
    """
    return re.sub(r"\\([A-Za-z]+)", r"\1", caption).replace("$", "").replace("\\", "")


# ---- compiling -------------------------------------------------------------------------------------------------

_PROBLEMS = re.compile(r"(Undefined control sequence|LaTeX Error|^! |^\S+\.tex:\d+: |not found|Emergency stop|"
                       r"Missing .* inserted)", re.M)


def log_problems(log_text: str) -> list[str]:
    """The lines of a LaTeX log that report an error, an undefined control sequence or a missing file."""
    return [line for line in log_text.splitlines() if _PROBLEMS.search(line)]


def overfull_points(log_text: str) -> list[float]:
    r"""How far (pt) each overfull box of a LaTeX log sticks out.

    >>> overfull_points("Overfull \\hbox (12.5pt too wide) in paragraph at lines 3--4\nok")
    [12.5]
    """
    return [float(m) for m in re.findall(r"Overfull \\[hv]box \(([0-9.]+)pt too (?:wide|high)\)", log_text)]


def pdf_pages(pdf: Path) -> int | None:
    """The number of pages of a PDF (``pdfinfo`` when present, else the page objects counted)."""
    tool = shutil.which("pdfinfo")
    if tool:
        out = subprocess.run([tool, str(pdf)], capture_output=True, text=True).stdout
        match = re.search(r"^Pages:\s+(\d+)", out, re.M)
        if match:
            return int(match.group(1))
    return len(re.findall(rb"/Type\s*/Page\b", pdf.read_bytes())) or None


@dataclass
class Compiled:
    """The outcome of compiling the ``.tex``: the PDF (or ``None``), its pages, and one line saying what happened."""

    pdf: Path | None
    pages: int | None
    message: str
    ok: bool
    problems: list = field(default_factory=list)


def compile_pdf(tex: Path, timeout: float = 600, figures=(), dest: Path | None = None) -> Compiled:
    """Compile ``tex`` with latexmk in a fresh temporary folder; write the PDF and ``build/<name>.log`` to ``dest``
    (default: beside ``tex``).

    The temporary folder holds only the ``.tex`` and ``figures`` (paths relative to ``dest``), so nothing
    else in ``dest`` can reach the compilation: latexmk runs with ``-norc`` (a ``latexmkrc`` there would be
    Perl), TeX's shell escape is off. Without latexmk, nothing is compiled (``ok`` stays true: a missing TeX
    engine is not an error) and the message says how to compile.
    """
    tex = Path(tex)
    dest = Path(dest) if dest is not None else tex.parent
    latexmk = shutil.which("latexmk")
    if latexmk is None:
        return Compiled(None, None, f"no TeX engine found: compile with `latexmk -pdf {tex}`", True)
    log = dest / BUILD / (tex.stem + ".log")
    with tempfile.TemporaryDirectory(prefix="normlaws-tex-") as work:
        work = Path(work)
        shutil.copyfile(tex, work / tex.name)
        for name in figures:
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dest / name, work / name)
        cmd = [latexmk, "-norc", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
               tex.name]
        env = {**os.environ, "shell_escape": "f", "openout_any": "p"}
        try:
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout, env=env,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return Compiled(None, None, f"latexmk did not finish in {timeout:.0f} s", False)
        built_log, built = work / (tex.stem + ".log"), work / (tex.stem + ".pdf")
        log_text = built_log.read_text(errors="replace") if built_log.exists() else ""
        if log_text:
            write_atomic(log, log_text)
        problems = log_problems(log_text)
        if proc.returncode != 0 or not built.exists():
            first = problems[0] if problems else ((proc.stdout + proc.stderr).strip().splitlines() or ["no output"])[-1]
            return Compiled(None, None, f"latexmk failed (exit {proc.returncode}): {first}; log: {log}", False,
                            problems)
        pdf = dest / (tex.stem + ".pdf")
        write_atomic(pdf, built.read_bytes())
    pages = pdf_pages(pdf)
    return Compiled(pdf, pages, f"{pdf} ({pages} pages)", not problems, problems)


# ---- the report ------------------------------------------------------------------------------------------------

@dataclass
class Report:
    """What :func:`build_report` wrote."""

    tex: Path
    summary: Path
    compiled: Compiled | None
    figures: list
    counts: dict
    seconds: float
    notes: list = field(default_factory=list)
    context: dict = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """Whether the report was written (and compiled, when compiling was asked for and possible)."""
        return self.compiled is None or self.compiled.ok


def _info(results: Path, document: str) -> dict:
    prov = provenance()
    libs = ", ".join(f"{k} {v}" for k, v in prov["libraries"].items())
    return {"version": __version__, "created": prov["created"], "results": str(results), "document": document,
            "provenance": [("normlaws", prov["normlaws"]), ("libraries", libs), ("platform", prov["platform"]),
                           ("created", prov["created"]), ("results", str(results))]}


def _stages(run: dict | None, report_stage: bool = True) -> list[dict]:
    """The run's stages as table rows (the report stage left out of the report itself: it is still running)."""
    return [{"name": s["name"], "status": s.get("status", ""), "seconds": f"{s.get('seconds', 0):.1f}",
             "cpu": f"{s.get('cpu_seconds', 0):.1f}"} for s in (run or {}).get("stages", [])
            if report_stage or s["name"] != "report"]


def build_report(out, *, results=None, claim_ids=(), pdf: bool = True, evidence: Evidence | None = None,
                 run: dict | None = None) -> Report:
    """Write ``report.tex`` (and ``report.pdf`` when ``pdf`` and latexmk is present), ``summary.md`` and the
    figures into ``out``, from the registry and the records under ``results`` (default ``out/results``).

    ``run`` (the verify run's record: stage times, skipped legs) defaults to the last one stored.
    """
    start = time.perf_counter()
    out = Path(out)
    results = Path(results) if results is not None else out / "results"
    claims = registry.select(list(claim_ids))
    evidence = evidence if evidence is not None else load_evidence(results)
    run = run if run is not None else evidence.run
    claim_views = [views.claim_view(c, evidence) for c in claims]
    with staged(out / FIGURES) as figures_dir:   # drawn aside, moved in whole
        mc_figures, mc_note = montecarlo_figures(evidence, claims, figures_dir)
        tr_figures, tr_note = training_figures(results, figures_dir, run)
    context = {
        "info": {**_info(results, f"`{PDF_NAME}` (LaTeX source `{TEX_NAME}`)"), "pdf": None},
        "counts": views.counts(claim_views), "conventions": views.conventions_used(claims),
        "sections": views.sections(claim_views, claims),
        "errata": [v for v in claim_views if v["erratum"]],
        "skipped": views.skipped_legs(claim_views, run), "stages": _stages(run, report_stage=False),
        "mc_figures": mc_figures, "mc_figures_note": mc_note,
        "training_figures": tr_figures, "training_figures_note": tr_note,
        "figures": mc_figures + tr_figures, "claim_views": claim_views,
    }
    tex = out / TEX_NAME
    write_atomic(tex, tex_environment().get_template("report.tex.j2").render(**context))
    compiled = compile_pdf(tex, figures=[str(f["path"]) for f in mc_figures + tr_figures]) if pdf else None
    if compiled is None or compiled.pdf is None:
        context["info"]["document"] = (f"`{TEX_NAME}` (not compiled: "
                                       + (compiled.message if compiled else "--no-pdf") + ")")
    else:
        context["info"]["pdf"] = PDF_NAME          # the claims link to their sections in it
    summary = out / SUMMARY_NAME
    write_atomic(summary, markdown_environment().get_template("summary.md.j2").render(**context))
    notes = [n for n in (mc_note, tr_note) if n]
    return Report(tex, summary, compiled, mc_figures + tr_figures, context["counts"],
                  time.perf_counter() - start, notes, context)


def write_summary(report: Report, run: dict) -> Path:
    """Rewrite ``summary.md`` with the final run record (the report stage's own time included)."""
    context = {**report.context, "stages": _stages(run),
               "skipped": views.skipped_legs(report.context["claim_views"], run)}
    write_atomic(report.summary, markdown_environment().get_template("summary.md.j2").render(**context))
    return report.summary
