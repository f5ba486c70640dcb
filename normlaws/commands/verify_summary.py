"""What ``normlaws verify`` prints at the end: the outcome of each stage, the errata, skipped legs, failures."""
from __future__ import annotations

from ..output import table
from ..reports.views import skipped_legs

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


def summary(claims, stages, report, code: int, wall_seconds: float | None = None) -> dict:
    """The machine-readable outcome of the run (``wall_seconds``: the whole run, its stages overlapping)."""
    errata = [{"id": c.id, "where": c.printed.where, "detail": c.verdict.detail} for c in claims
              if not c.proof_failures() and c.verdict.is_erratum]
    skipped = [{"what": s.name, "why": s.detail} for s in stages if s.status == SKIPPED]
    if report is not None:
        skipped = skipped_legs(report.context["claim_views"], {"stages": [s.as_record() for s in stages]})
    compiled = report.compiled if report else None
    return {
        "ok": code == 0, "exit_code": code,
        "claims": len(claims), "proven": len(claims) - sum(1 for c in claims if c.proof_failures()),
        "errata": errata, "skipped": skipped,
        "failures": [f for s in stages for f in s.failures],
        "stages": [s.as_record() for s in stages],
        "wall_seconds": wall_seconds if wall_seconds is not None else sum(s.seconds for s in stages),
        "report": None if report is None else {
            "tex": str(report.tex), "summary": str(report.summary),
            "pdf": str(compiled.pdf) if compiled and compiled.pdf else None,
            "pages": compiled.pages if compiled else None,
            "message": compiled.message if compiled else "not compiled (--no-pdf)"},
    }


def print_summary(summary: dict) -> None:
    print(table([[s["name"], s["status"], f"{s['seconds']:.1f}", f"{s['cpu_seconds']:.1f}", s["detail"]]
                 for s in summary["stages"]], ["stage", "outcome", "wall s", "cpu s", "detail"]))
    print(f"total: {summary['wall_seconds']:.1f} s wall (the property and training stages run beside the others), "
          f"{sum(s['cpu_seconds'] for s in summary['stages']):.1f} s cpu")
    print(f"\nclaims verified: {summary['proven']} of {summary['claims']} symbolic proofs hold")
    print(f"errata found in the paper: {len(summary['errata'])} (findings, not failures)")
    for e in summary["errata"]:
        print(f"  {e['id']}  ({e['where']})")
    if summary["skipped"]:
        print(f"legs skipped: {len(summary['skipped'])}")
        for s in summary["skipped"]:
            print(f"  {s['what']}: {s['why']}")
    if summary["failures"]:
        print(f"FAILED checks of the suite: {len(summary['failures'])}")
        for f in summary["failures"]:
            print(f"  {f}")
    rep = summary["report"]
    if rep:
        print(f"\nreport: {rep['pdf'] or rep['tex']}" + ("" if rep["pdf"] else f"  ({rep['message']})")
              + (f", {rep['pages']} pages" if rep["pages"] else "") + f"\nsummary: {rep['summary']}")
    print("\nverify: " + ("OK: every check that ran agrees with its derivation" if summary["ok"]
                          else "FAILED: see the failed checks above"))
