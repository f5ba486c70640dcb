"""``normlaws claims``: the table of claims, where the paper makes them, their four legs and computed verdicts.

Derivations and verdicts come from the derivation cache after the first run (``normlaws.derivation_cache``), and so
does the list of the claims each numeric leg checks (importing those legs takes seconds): the table answers at once.
"""
from __future__ import annotations

from .. import derivation_cache, locate, registry, validate
from ..output import print_json, sympy_str, table

HELP = "list the claims of the registry with their four legs and the computed verdict on the paper"


def add_arguments(parser) -> None:
    """Options: an optional filter by tag or id prefix."""
    parser.add_argument("--filter", default="", metavar="TEXT", type=validate.text,
                        help="only claims whose id starts with TEXT or that carry the tag TEXT")
    parser.add_argument("--where", default=None, metavar="ID", type=validate.text,
                        help="print file:line of the claim's definition, its derivation, its property tests and "
                             "each numeric leg's check")


def numeric_leg_ids() -> dict[str, frozenset]:
    """``{leg: claim ids it checks}`` for the Monte-Carlo and training legs (``registry.leg_checks``), remembered on
    disk under the source of the leg's package."""
    return {leg: frozenset(derivation_cache.remembered(
        f"legs-{leg}", (module.rpartition(".")[0],), lambda leg=leg: sorted(registry.leg_checks(leg))))
        for leg, module in registry.LEG_MODULES.items()}


def legs_of(claim_id: str, numeric: dict) -> list[str]:
    """``registry.legs_of`` answered from :func:`numeric_leg_ids` (same legs, same order)."""
    return (["symbolic"] + (["property"] if claim_id in registry.property_tests() else [])
            + [leg for leg in registry.LEG_MODULES if claim_id in numeric[leg]])


def claim_summary(claim, numeric: dict | None = None) -> dict:
    """A JSON-ready summary of one claim (the verdict is computed, not stored)."""
    verdict = claim.verdict
    numeric = numeric_leg_ids() if numeric is None else numeric
    return {
        "id": claim.id,
        "title": claim.title,
        "source": claim.source,
        "convention": claim.convention,
        "legs": legs_of(claim.id, numeric),
        "property_tests": len(registry.property_tests().get(claim.id, [])),
        "proof": "holds" if not claim.proof_failures() else "fails",
        "verdict": verdict.kind,
        "label": verdict.label,
        "detail": verdict.detail,
        "printed": sympy_str(claim.printed.expr),
        "printed_form": claim.printed.form,
        "derived": sympy_str(claim.derivation.result),
    }


def _short(text: str, width: int = 34) -> str:
    """``text`` cut to ``width`` characters for the terminal table (the JSON keeps it whole)."""
    return text if len(text) <= width else text[: width - 3] + "..."


def _row(claim, numeric: dict) -> list[str]:
    legs = legs_of(claim.id, numeric)
    tests = len(registry.property_tests().get(claim.id, []))
    return [claim.id, _short(claim.source), "proof holds" if not claim.proof_failures() else "PROOF FAILS",
            f"{tests} test{'s' * (tests != 1)}" if "property" in legs else "-",
            "check" if "montecarlo" in legs else "-", "check" if "training" in legs else "-", claim.verdict.label]


def run(args) -> int:
    """Print the table (or JSON), or with ``--where`` the places of one claim; exit 0."""
    if args.where is not None:
        places = locate.where(args.where)
        if args.json:
            print_json([{"role": p.role, "file": p.file, "line": p.line} for p in places])
        else:
            print("\n".join(str(p) for p in places))
        return 0
    chosen = [c for c in registry.claims()
              if not args.filter or c.id.startswith(args.filter) or args.filter in c.tags]
    numeric = numeric_leg_ids()
    if args.json:
        print_json([claim_summary(c, numeric) for c in chosen])
    else:
        print(table([_row(c, numeric) for c in chosen],
                    ["claim", "where", "symbolic", "property", "Monte-Carlo", "training", "verdict on the paper"]))
        errata = sum(c.verdict.is_erratum for c in chosen)
        print(f"\n{len(chosen)} claims, {errata} where the printed paper disagrees with the derivation "
              f"(see 'normlaws derive CLAIM_ID'); legs: symbolic (SymPy proof), property (Hypothesis tests in "
              f"tests/), Monte-Carlo and training checks ('normlaws verify' runs them).")
    derivation_cache.store(chosen)
    return 0
