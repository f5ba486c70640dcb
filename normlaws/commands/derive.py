"""``normlaws derive``: the derivation steps, the result and the proof check of each claim."""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

from .. import derivation_cache, registry, validate
from ..errors import UsageError
from ..output import print_json, symbol_names, sympy_str, table

#: how many fresh processes ``--timings --repeat`` may run
REPEATS = validate.Number(int, 1, 100, why="cold runs, each in a fresh process")

HELP = "show the derivation of claims (all, or the ids given): steps, result, proof check, verdict"


def add_arguments(parser) -> None:
    """Positional claim ids (all claims when none); ``--timings`` for the benchmark table."""
    parser.add_argument("ids", nargs="*", metavar="CLAIM_ID", type=validate.text,
                        help="claims to derive (default: all)")
    parser.add_argument("--timings", action="store_true",
                        help="benchmark: print the time of each derivation, proof check and verdict")
    parser.add_argument("--repeat", type=REPEATS, default=1, metavar="N",
                        help="with --timings: N cold runs, each in a fresh process, and the spread of their CPU "
                             "times (min, median, max) with the load average; one run prints the per-claim table "
                             "(default 1)")


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


class ColdRunFailed(RuntimeError):
    """A child of ``--repeat`` ended with an error (the program's failure, not bad input: exit 1)."""


def repeated_cold_runs(ids: list[str], runs: int) -> list[dict]:
    """``runs`` cold runs of ``normlaws derive --timings --json`` (the ``ids``, or every claim), each in a fresh
    process: per run the derivations' CPU seconds as the child measures them, the whole process's CPU (start-up and
    imports included, from ``getrusage``) and the 1-minute load average when it started."""
    out = []
    for _ in range(runs):
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        child = subprocess.run([sys.executable, "-m", "normlaws", "derive", "--timings", "--json", *ids],
                               capture_output=True, text=True)
        if child.returncode != 0:
            last = (child.stderr.strip().splitlines() or [f"exit code {child.returncode}"])[-1]
            raise ColdRunFailed(f"a cold run failed: {last}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        process_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out.append({"cpu_s": json.loads(child.stdout)["cpu_s"], "process_cpu_s": process_cpu, "load_1min": load})
    return out


def spread(runs: list[dict]) -> dict:
    """Min, median and max of each measure of :func:`repeated_cold_runs`.

    >>> spread([{"cpu_s": 3.0, "process_cpu_s": 4.0, "load_1min": 0.5}, {"cpu_s": 1.0, "process_cpu_s": 2.0,
    ...          "load_1min": 1.5}, {"cpu_s": 2.0, "process_cpu_s": 3.0, "load_1min": 1.0}])["cpu_s"]
    {'min': 1.0, 'median': 2.0, 'max': 3.0}
    """
    return {key: {"min": min(r[key] for r in runs), "median": statistics.median(r[key] for r in runs),
                  "max": max(r[key] for r in runs)} for key in ("cpu_s", "process_cpu_s", "load_1min")}


def _print_repeats(runs: list[dict]) -> None:
    rows = [[str(i), f"{r['cpu_s']:.2f}", f"{r['process_cpu_s']:.2f}", f"{r['load_1min']:.2f}"]
            for i, r in enumerate(runs, 1)]
    s = spread(runs)
    for name in ("min", "median", "max"):
        rows.append([name] + [f"{s[k][name]:.2f}" for k in ("cpu_s", "process_cpu_s", "load_1min")])
    print(table(rows, ["run", "derivations CPU s", "process CPU s", "load (1 min)"]))
    print(f"\n{len(runs)} cold runs, each in a fresh process on {os.cpu_count()} CPUs: the derivations take "
          f"{s['cpu_s']['median']:.2f} s of CPU (median; {s['cpu_s']['min']:.2f}-{s['cpu_s']['max']:.2f}), the "
          f"whole process with start-up {s['process_cpu_s']['median']:.2f} s")


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
    if args.repeat > 1 and not args.timings:
        raise UsageError("--repeat measures cold runs: give it with --timings")
    if args.repeat > 1:
        registry.select(args.ids)          # an unknown id: one line and exit 2 here, not in every child
        try:
            runs = repeated_cold_runs(args.ids, args.repeat)
        except ColdRunFailed as failure:
            print(f"normlaws: error: {failure}", file=sys.stderr)
            return 1
        if args.json:
            print_json({"runs": runs, "spread": spread(runs), "cpus": os.cpu_count()})
        else:
            _print_repeats(runs)
        return 0
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
