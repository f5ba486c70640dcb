"""``normlaws verify``: run everything this machine can run, then write the report.

Stages: the symbolic proofs of every claim; the property tests (Hypothesis, in a repository checkout); the
Monte-Carlo checks (size "quick", or "full" with ``--full``); the CPU ``--quick`` training sweep and the training
checks when torch and CIFAR-10 are there; the report. The sweep and the property tests run as child processes
started first (``verify_jobs``), beside the symbolic and Monte-Carlo stages: each stage's own wall and CPU time is
in the final table, with the run's total wall time (less than their sum).

Exit 0 when every check that ran agrees with its derivation (an erratum of the paper is a finding, not a
failure), 1 when a proof failed, a check disagreed with the derivation or raised, or a stage crashed.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import time
import uuid
from pathlib import Path

from .. import derivation_cache, registry, validate
from ..errors import UsageError
from ..output import print_json
from ..records import append_record, provenance
from . import verify_jobs, verify_property, verify_training
from .verify_stages import Progress, Stage, leg_record, run_check, tally, timed
from .verify_summary import FAILED, OK, SKIPPED, print_summary, summary
from .verify_training import check_records_source, copy_records, sweep_argv
from ..reports.evidence import EXPONENTS, MONTECARLO
from ..reports.evidence import SWEEP

__all__ = ["HELP", "add_arguments", "run", "check_records_source", "copy_records", "sweep_argv"]

HELP = ("run the symbolic proofs, the property tests, the Monte-Carlo checks and (with torch and CIFAR-10) the quick "
        "training run, then write the report; exit 1 if a check of the suite fails")

DEFAULT_OUT = "out/report"
STAGES = ("symbolic", "property", "montecarlo", "training", "report")


def add_arguments(parser) -> None:
    """Options: output folder, size, device, the legs to leave out, the seed."""
    parser.add_argument("--out", type=validate.writable_dir, default=DEFAULT_OUT, metavar="DIR",
                        help=f"where the report, figures and results go (default {DEFAULT_OUT})")
    parser.add_argument("--full", action="store_true",
                        help="Monte-Carlo checks at full size; with --device cuda also the paper's training grid "
                             "instead of the --quick preset")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="device of the training leg")
    parser.add_argument("--skip-training", action="store_true", help="leave out the training leg")
    parser.add_argument("--training-records", type=validate.records_dir, default=None, metavar="DIR",
                        help="take the training leg's sweep records from DIR (e.g. the committed GPU run "
                             "reports/cifar10-h100/records) instead of training; copied into OUT/results/sweep "
                             "(DIR itself is never changed; when it is that folder, it is used as it is)")
    parser.add_argument("--skip-montecarlo", action="store_true", help="leave out the Monte-Carlo leg")
    parser.add_argument("--skip-property", action="store_true",
                        help="leave out the property leg (the Hypothesis tests of a repository checkout)")
    parser.add_argument("--no-pdf", action="store_true", help="write the .tex but do not compile it")
    parser.add_argument("--seed", type=validate.seed, default=0,
                        help="seed of the Monte-Carlo checks (default 0; recorded with each result)")
    parser.add_argument("--claims", nargs="+", metavar="CLAIM_ID", default=[], type=validate.text,
                        help="only these claims (default: all)")


# ---- the stages --------------------------------------------------------------------------------------------------

def symbolic_stage(claims, progress: Progress) -> Stage:
    """Prove every claim's derivation and compute its verdict on the paper (the derivation cache keeps them)."""
    stage = Stage("symbolic")
    with timed(stage):
        errata = []
        for claim in claims:
            try:
                failures = claim.proof_failures()
                if claim.verdict.is_erratum:
                    errata.append(claim.id)
            except Exception as exc:  # noqa: BLE001 - one broken claim must not hide the others
                failures = {"error": f"{type(exc).__name__}: {exc}"}
            if failures:
                stage.failures.append(f"{claim.id}: proof fails ({', '.join(sorted(failures))})")
            progress.advance(claim.id)
        derivation_cache.store(claims)
        proven = len(claims) - len(stage.failures)
        stage.status = FAILED if stage.failures else OK
        stage.detail = f"{len(claims)} claims: {proven} proofs hold, {len(errata)} errata in the paper"
    return stage


def _leg_checks(leg: str, claims) -> tuple[dict, str]:
    """``({claim id: check}, why none)`` for the selected claims."""
    checks = registry.leg_checks(leg)
    if not checks:
        return {}, f"{registry.LEG_MODULES[leg]} is not installed"
    wanted = {c.id for c in claims}
    chosen = {k: v for k, v in checks.items() if k in wanted}
    return chosen, "" if chosen else "no check for the selected claims"


def scaling_grids(claims) -> tuple[dict, str]:
    """``({claim id: grid function}, why none)``: the Monte-Carlo norm-scaling grids of the selected claims.

    A grid measures the norm of ``table1.<rule>.norm`` over eta/lambda at fixed eta*lambda
    (``normlaws.simulate.exponents.exponents``); it feeds the report's Monte-Carlo figure.
    """
    try:  # (the package exports a function of the same name: import the module by its full name)
        grid = importlib.import_module("normlaws.simulate.exponents")
    except ImportError:
        return {}, "normlaws.simulate.exponents is not installed"
    wanted = {c.id for c in claims}
    chosen = {f"table1.{rule}.norm": (lambda rule: lambda size, seed: grid.exponents(
        rule, size=size, seed=seed, progress=False))(rule)
        for rule in grid.EXPONENT_RULES if f"table1.{rule}.norm" in wanted}
    return chosen, "" if chosen else "no norm claim selected"


def montecarlo_stage(claims, args, results_dir: Path, run_id: str, progress_for) -> Stage:
    """Run every Monte-Carlo check and scaling grid of the selected claims; append each result to the records
    (``montecarlo.jsonl``, ``exponents.jsonl``)."""
    stage = Stage("montecarlo")
    if args.skip_montecarlo:
        return Stage("montecarlo", SKIPPED, detail="left out with --skip-montecarlo")
    with timed(stage):
        checks, why = _leg_checks("montecarlo", claims)
        grids, _ = scaling_grids(claims) if checks else ({}, "")
        if not checks:
            stage.status, stage.detail = SKIPPED, why
            return stage
        size = "full" if args.full else "quick"
        progress = progress_for(len(checks) + len(grids))
        progress.say(f"{len(checks)} checks and {len(grids)} scaling grids at size {size!r}, seed {args.seed}")
        results = {}
        for jobs, path, tag in ((checks, MONTECARLO, ""), (grids, EXPONENTS, " (grid)")):
            for claim_id, check in jobs.items():
                result = run_check(check, size=size, seed=args.seed)
                results[claim_id + tag] = result
                append_record(results_dir / path, leg_record("montecarlo", claim_id, result, run_id,
                                                              seed=args.seed, size=size))
                progress.advance(f"{claim_id}{tag}: {result['status']}")
        tally(stage, results)
    return stage


def report_stage(out: Path, claims, args, run: dict):
    """Build the report from the registry and the records just written."""
    from ..reports.builder import build_report
    stage = Stage("report")
    report = None
    with timed(stage):
        report = build_report(out, results=out / "results", claim_ids=[c.id for c in claims], pdf=not args.no_pdf,
                              run=run)
        compiled = report.compiled
        if compiled is None:
            stage.detail = f"{report.tex} written (not compiled: --no-pdf)"
        elif compiled.pdf is None and compiled.ok:
            stage.detail = compiled.message
        elif not compiled.ok:
            stage.status, stage.detail = FAILED, compiled.message
            stage.failures.append(compiled.message)
        else:
            stage.detail = compiled.message
    return stage, report


# ---- the command -------------------------------------------------------------------------------------------------

def _check_device(args) -> None:
    if args.device == "cuda" and not args.skip_training and importlib.util.find_spec("torch") is not None:
        import torch
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is visible (use --device cpu)")


def run(args) -> int:
    """Run the stages, write the report, print the final table; exit 0, or 1 when a check of the suite failed."""
    start = time.monotonic()
    out = Path(args.out)
    _check_device(args)
    claims = registry.select(args.claims)
    results_dir = out / "results"
    if args.training_records:   # a bad file or folder: one line before any stage
        check_records_source(Path(args.training_records), results_dir / SWEEP)
    results_dir.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:12]
    progress = lambda name, total: Progress(STAGES.index(name) + 1, len(STAGES), name, total)  # noqa: E731
    training = prop = None
    try:
        training = verify_training.start(args, results_dir)
        prop = verify_property.start(args, claims, results_dir)
        stages = [symbolic_stage(claims, progress("symbolic", len(claims)))]
        _announce(stages[-1])
        stages.append(montecarlo_stage(claims, args, results_dir, run_id, lambda n: progress("montecarlo", n)))
        stages.insert(1, verify_property.stage(prop, claims, results_dir, run_id))
        _announce(stages[1])
        _announce(stages[-1])
        stages.append(verify_training.stage(training, claims, args, results_dir, run_id))
        _announce(stages[-1])
    finally:
        verify_jobs.stop([j for j in (training, prop) if isinstance(j, verify_jobs.Job)])
    run_record = {"run": run_id, "options": _options(args), "stages": [s.as_record() for s in stages]}
    stage, report = report_stage(out, claims, args, run_record)
    stages.append(stage)
    _announce(stage)
    run_record["stages"] = [s.as_record() for s in stages]
    run_record["wall_seconds"] = time.monotonic() - start
    append_record(results_dir / "runs.jsonl", {**run_record, "provenance": provenance(seed=args.seed)})
    if report is not None:
        from ..reports.builder import write_summary
        write_summary(report, run_record)
    code = 1 if any(s.status == FAILED for s in stages) else 0
    outcome = summary(claims, stages, report, code, run_record["wall_seconds"])
    if args.json:
        print_json(outcome)
    else:
        print_summary(outcome)
    return code


def _options(args) -> dict:
    out = {k: getattr(args, k) for k in ("full", "device", "skip_training", "skip_montecarlo", "skip_property",
                                         "no_pdf", "seed", "claims")}
    out["training_records"] = str(args.training_records) if getattr(args, "training_records", None) else None
    return out


def _announce(stage: Stage) -> None:
    print(f"[{STAGES.index(stage.name) + 1}/{len(STAGES)}] {stage.name}: {stage.status}: {stage.detail} "
          f"({stage.seconds:.1f} s)", file=sys.stderr, flush=True)
