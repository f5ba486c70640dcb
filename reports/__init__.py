"""The verification report: LaTeX (PDF with latexmk) and a Markdown summary, built from the claims registry and
the stored results of the numeric legs.

- :func:`build_report` writes ``report.tex`` / ``report.pdf`` / ``summary.md`` / ``figures/`` into a folder;
- :func:`display_latex` / :func:`display_form`: readable LaTeX of SymPy results (one root per product);
- :func:`escape_text`: LaTeX-safe text.
"""
from .builder import build_report, compile_pdf, render_claim
from .latex import display_form, display_latex, equals_canonical, escape_text

__all__ = ["build_report", "compile_pdf", "render_claim", "display_form", "display_latex", "equals_canonical",
           "escape_text"]
