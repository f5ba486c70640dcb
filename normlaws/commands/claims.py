"""``normlaws claims``: the table of claims, where the paper makes them, their legs and computed verdicts."""
from __future__ import annotations

from .. import registry, validate
from ..output import print_json, sympy_str, table

HELP = "list the claims of the registry with their legs and the computed verdict on the paper"


def add_arguments(parser) -> None:
    """Options: an optional filter by tag or id prefix."""
    parser.add_argument("--filter", default="", metavar="TEXT", type=validate.text,
                        help="only claims whose id starts with TEXT or that carry the tag TEXT")


def claim_summary(claim) -> dict:
    """A JSON-ready summary of one claim (the verdict is computed, not stored)."""
    verdict = claim.verdict
    return {
        "id": claim.id,
        "title": claim.title,
        "source": claim.source,
        "convention": claim.convention,
        "legs": registry.legs_of(claim.id),
        "verdict": verdict.kind,
        "detail": verdict.detail,
        "printed": sympy_str(claim.printed.expr),
        "printed_form": claim.printed.form,
        "derived": sympy_str(claim.derivation.result),
    }


def _short(text: str, width: int = 44) -> str:
    """``text`` cut to ``width`` characters for the terminal table (the JSON keeps it whole)."""
    return text if len(text) <= width else text[: width - 3] + "..."


def run(args) -> int:
    """Print the table (or JSON); exit 0."""
    chosen = [c for c in registry.claims()
              if not args.filter or c.id.startswith(args.filter) or args.filter in c.tags]
    rows = [claim_summary(c) for c in chosen]
    if args.json:
        print_json(rows)
        return 0
    print(table([[r["id"], _short(r["source"]), ",".join(r["legs"]), r["verdict"]] for r in rows],
                ["claim", "where", "legs", "verdict on the paper"]))
    errata = sum(r["verdict"] == "disagrees" for r in rows)
    print(f"\n{len(rows)} claims, {errata} where the printed paper disagrees with the derivation "
          f"(see 'normlaws derive CLAIM_ID').")
    return 0
