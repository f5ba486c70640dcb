"""``normlaws report``: build the report from the registry and stored results, without rerunning any leg."""
from __future__ import annotations

from pathlib import Path

from .. import registry, validate
from ..output import print_json

HELP = "write the report (LaTeX, PDF with latexmk, Markdown summary) from the registry and stored results"

DEFAULT_OUT = "out/report"


def add_arguments(parser) -> None:
    """Options: output folder, results folder, claims, whether to compile."""
    parser.add_argument("--out", type=validate.writable_dir, default=DEFAULT_OUT, metavar="DIR",
                        help=f"where report.tex, report.pdf, summary.md and figures/ go (default {DEFAULT_OUT}); "
                             "only read as data: the report is compiled in a fresh temporary folder")
    parser.add_argument("--results", metavar="DIR", type=validate.readable_dir,
                        help="records written by 'normlaws verify' (default OUT/results; absent: symbolic leg only)")
    parser.add_argument("--no-pdf", action="store_true", help="write the .tex but do not compile it")
    parser.add_argument("--claims", nargs="+", metavar="CLAIM_ID", default=[], type=validate.text,
                        help="only these claims (default all)")


def run(args) -> int:
    """Build the report; exit 1 if latexmk failed on it."""
    from ..reports.builder import build_report
    out = Path(args.out)
    registry.select(args.claims)  # unknown ids: one line, exit 2
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(out, results=args.results, claim_ids=args.claims, pdf=not args.no_pdf)
    compiled = report.compiled
    payload = {"tex": str(report.tex), "summary": str(report.summary),
               "pdf": str(compiled.pdf) if compiled and compiled.pdf else None,
               "pages": compiled.pages if compiled else None,
               "message": compiled.message if compiled else "not compiled (--no-pdf)",
               "figures": [f["path"] for f in report.figures], "counts": report.counts, "notes": report.notes,
               "seconds": round(report.seconds, 2), "ok": report.ok}
    if args.json:
        print_json(payload)
    else:
        print(f"report: {payload['pdf'] or payload['tex']}\nsummary: {payload['summary']}")
        print(payload["message"])
        for note in report.notes:
            print(f"note: {note}")
    return 0 if report.ok else 1
