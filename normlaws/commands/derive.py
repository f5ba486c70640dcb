"""``normlaws derive``: the derivation steps, the result and the proof check of each claim."""
from __future__ import annotations

import time

from .. import derivation_cache, registry, validate
from ..output import print_json, symbol_names, sympy_str, table

HELP = "show the derivation of claims (all, or the ids given): steps, result, proof check, verdict"


def add_arguments(parser) -> None:
    """Positional claim ids (all claims when none); ``--timings`` for the benchmark table."""
    parser.add_argument("ids", nargs="*", metavar="CLAIM_ID", type=validate.text,
                        help="claims to derive (default: all)")
    parser.add_argument("--timings", action="store_true",
                        help="benchmark: print the time of each derivation, proof check and verdict")


def timings(claims) -> list[dict]:
    """Wall time (s) of the derivation, the proof check and the verdict of each claim, computed afresh (never read
    from the derivation cache; helpers the theory modules memoize within a process are shared, as in a cold run)."""
    rows = []
    for claim in claims:
        derivation_cache.fresh(claim)
        t0 = time.perf_counter()
        claim.derivation
        t1 = time.perf_counter()
        claim.proof_failures()
        t2 = time.perf_counter()
        claim.verdict
        t3 = time.perf_counter()
        rows.append({"id": claim.id, "derive_s": t1 - t0, "proof_s": t2 - t1, "verdict_s": t3 - t2,
                     "total_s": t3 - t0})
    return rows


def timed_run(claims) -> tuple[list[dict], float]:
    """:func:`timings`, and the CPU seconds (user + system) of the whole cold run."""
    start = time.process_time()
    rows = timings(claims)
    return rows, time.process_time() - start


def derivation_payload(claim) -> dict:
    """The derivation of one claim as JSON: every expression as a string ``sympy.sympify`` reads back."""
    dv = claim.derivation
    failures = claim.proof_failures()
    return {
        "id": claim.id,
        "statement": claim.statement,
        "source": claim.source,
        "convention": claim.convention,
        "printed": sympy_str(claim.printed.expr),
        "printed_where": claim.printed.where,
        "result": sympy_str(dv.result),
        "symbols": symbol_names(dv.result),
        "summary": dv.summary,
        "steps": [{"text": s.text, "expr": sympy_str(s.expr)} for s in dv.steps],
        "extras": {k: sympy_str(v) for k, v in dv.extras.items()},
        "proof": "holds" if not failures else {k: sympy_str(v) for k, v in failures.items()},
        "verdict": claim.verdict.kind,
        "label": claim.verdict.label,
        "verdict_detail": claim.verdict.detail,
    }


def run(args) -> int:
    """Print each derivation; exit 1 if any proof residual fails to reduce to zero."""
    if args.timings:
        claims = registry.select(args.ids)
        rows, cpu = timed_run(claims)
        derivation_cache.store(claims)
        if args.json:
            print_json({"claims": rows, "cpu_s": cpu, "wall_s": sum(r["total_s"] for r in rows)})
        else:
            print(table([[r["id"], f"{r['derive_s']:.3f}", f"{r['proof_s']:.3f}", f"{r['verdict_s']:.3f}",
                          f"{r['total_s']:.3f}"] for r in rows], ["claim", "derive s", "proof s", "verdict s", "total s"]))
            print(f"\n{len(rows)} claims derived afresh: {sum(r['total_s'] for r in rows):.2f} s wall, {cpu:.2f} s "
                  f"CPU in all (slowest {max(rows, key=lambda r: r['total_s'])['id']}); the derivation cache is "
                  "not read, and is written")
        return 0
    claims = registry.select(args.ids)
    payloads = [derivation_payload(c) for c in claims]
    derivation_cache.store(claims)
    if args.json:
        print_json(payloads)
    else:
        for p in payloads:
            print(f"== {p['id']}  ({p['source']})\n   {p['statement']}")
            for i, step in enumerate(p["steps"], 1):
                print(f"   {i}. {step['text']}" + (f":  {step['expr']}" if step["expr"] else ""))
            print(f"   result: {p['result']}")
            if p["summary"]:
                print(f"   in words: {p['summary']}")
            print(f"   paper ({p['printed_where']}): {p['printed']}")
            print(f"   proof: {p['proof'] if p['proof'] == 'holds' else 'FAILED ' + str(p['proof'])}")
            print(f"   verdict: {p['label']}: {p['verdict_detail']}\n")
    return 0 if all(p["proof"] == "holds" for p in payloads) else 1
