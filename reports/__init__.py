"""The verification report: LaTeX (PDF with latexmk) and a Markdown summary, built from the claims registry and
the stored results of the numeric legs.

- ``normlaws.reports.builder.build_report`` writes ``report.tex`` / ``report.pdf`` / ``summary.md`` / ``figures/``
  into a folder (it needs jinja2: ``pip install 'normlaws[reports]'``, so it is not imported here);
- :func:`display_latex` / :func:`display_form`: readable LaTeX of SymPy results (one root per product);
- :func:`escape_text`: LaTeX-safe text.
"""
from .latex import display_form, display_latex, equals_canonical, escape_text

__all__ = ["display_form", "display_latex", "equals_canonical", "escape_text"]
