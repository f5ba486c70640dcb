"""``normlaws figures``: redraw Figures 1-4 of Section 6 (and Figure 5) from sweep records; run the training checks."""
from __future__ import annotations

from pathlib import Path

from .. import validate
from ..errors import UsageError
from ..output import print_json, table
from ..records import staged

HELP = ("draw Figures 1-4 (norms, test errors, normalized run, optimal lr) and 5 (laws with measured C) from "
        "records; fit and check exponents")


def add_arguments(parser) -> None:
    """Options: the results folder and where the figures go."""
    parser.add_argument("--results", default="results/sweep", metavar="DIR", type=validate.text,
                        help="folder with records.jsonl (searched recursively; default results/sweep), or the file")
    parser.add_argument("--out", metavar="DIR", type=validate.writable_dir,
                        help="where the figures go (default RESULTS/figures)")


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def run(args) -> int:
    """Draw what the records allow, print the figures and the registry checks (skipped ones say why)."""
    from ..gpu.analysis import load_records, trajectory
    from ..gpu.figures import make_figures
    results = Path(args.results)
    if not results.exists():
        raise UsageError(f"{results}: no such results folder (run 'normlaws sweep --out {results}' first)")
    records = load_records(results)   # every record and trajectory read (and checked) before anything is drawn
    if not records:
        raise UsageError(f"{results}: no records.jsonl with records found")
    for record in records:
        trajectory(record)
    out = Path(args.out) if args.out else validate.writable_dir(
        str((results if results.is_dir() else results.parent) / "figures"))
    with staged(out) as drawing:    # drawn aside, moved in whole: a full disk leaves no empty PNG
        summary = make_figures(results, drawing)
    summary["figures"] = [str(out / Path(p).relative_to(drawing)) for p in summary["figures"]]
    if args.json:
        print_json(summary)
        return 0
    print(f"{summary['records']} records; figures:")
    for path in summary["figures"]:
        print(f"  {path}")
    rows = [[claim, c["status"], _fmt(c["measured"]), _fmt(c["ci"]), _fmt(c["derived"]), c["detail"]]
            for claim, c in summary["checks"].items()]
    print()
    print(table(rows, ["claim", "training leg", "measured", "95% CI", "derived", "detail"]))
    return 0
