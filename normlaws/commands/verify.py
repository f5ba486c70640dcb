"""``normlaws verify``: run everything this machine can run, then write the report.

Stages: the symbolic proofs of every claim; the Monte-Carlo checks (size "quick", or "full" with ``--full``);
the CPU ``--quick`` training sweep and the training checks when torch and CIFAR-10 are there; the report.
Exit 0 when every check that ran agrees with its derivation (an erratum of the paper is a finding, not a
failure), 1 when a proof failed, a numeric check disagreed with the derivation or raised, or a stage crashed.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import shutil
import sys
import tempfile
import traceback
import uuid
from pathlib import Path

from .. import conventions, registry, validate
from ..errors import UsageError
from ..output import print_json
from ..records import append_record, provenance, read_records
from .verify_stages import Progress, Stage, timed
from .verify_summary import FAILED, OK, SKIPPED, print_summary, summary

HELP = ("run the symbolic proofs, the Monte-Carlo checks and (with torch and CIFAR-10) the quick training run, "
        "then write the report; exit 1 if a check of the suite fails")

DEFAULT_OUT = "out/report"


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
    parser.add_argument("--no-pdf", action="store_true", help="write the .tex but do not compile it")
    parser.add_argument("--seed", type=validate.seed, default=0,
                        help="seed of the Monte-Carlo checks (default 0; recorded with each result)")
    parser.add_argument("--claims", nargs="+", metavar="CLAIM_ID", default=[], type=validate.text,
                        help="only these claims (default: all)")


# ---- the stages --------------------------------------------------------------------------------------------------

def symbolic_stage(claims, progress: Progress) -> Stage:
    """Prove every claim's derivation and compute its verdict on the paper."""
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


def _leg_record(leg: str, claim_id: str, result: dict, run_id: str, seed=None, **extra) -> dict:
    if seed is not None:
        extra["seed"] = seed
    return {"claim": claim_id, "leg": leg, "run": run_id, "result": result, **extra,
            "provenance": provenance(seed=seed, convention=conventions.CANONICAL)}


def _run_check(check, *args, **kwargs) -> dict:
    """A check's result; a check that raises is an 'error' result (a failure of the suite), not a crash."""
    try:
        result = check(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        return {"status": "error", "detail": f"{type(exc).__name__}: {exc}"}
    if not isinstance(result, dict) or result.get("status") not in ("agrees", "disagrees", "skipped"):
        return {"status": "error", "detail": f"the check returned {result!r:.200}, not a result dict"}
    return result


def _tally(stage: Stage, results: dict) -> None:
    """Fill the stage's status and detail from ``{claim id: result}``."""
    counts: dict = {}
    for claim_id, result in results.items():
        counts[result["status"]] = counts.get(result["status"], 0) + 1
        if result["status"] in ("disagrees", "error"):
            stage.failures.append(f"{claim_id}: {result['status']}: {str(result.get('detail', ''))[:200]}")
    stage.status = FAILED if stage.failures else OK
    stage.detail = f"{len(results)} checks: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


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
    from ..reports.evidence import EXPONENTS, MONTECARLO
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
                result = _run_check(check, size=size, seed=args.seed)
                results[claim_id + tag] = result
                append_record(results_dir / path, _leg_record("montecarlo", claim_id, result, run_id,
                                                              seed=args.seed, size=size))
                progress.advance(f"{claim_id}{tag}: {result['status']}")
        _tally(stage, results)
    return stage


def _training_unavailable(args) -> str:
    """Why the training leg cannot run here ('' when it can)."""
    if args.skip_training:
        return "left out with --skip-training"
    if getattr(args, "training_records", None):
        return ""
    try:
        import torch  # noqa: F401 - a broken or missing install must skip the leg, not crash it
    except ImportError:
        return "torch is not installed (pip install 'normlaws[torch]')"
    from ..gpu.data import BATCHES_DIR, TRAIN_SHARDS, default_data_dir
    data = default_data_dir()
    if not ((data / TRAIN_SHARDS[0]).exists() or (data / BATCHES_DIR).is_dir() or (data / "data_batch_1").exists()):
        return f"CIFAR-10 not found in {data} (set NORMLAWS_DATA, or run 'normlaws sweep --download')"
    return ""


def sweep_argv(args, sweep_dir: Path) -> list[str]:
    """The ``normlaws sweep`` command line of the training leg: --quick unless --full on CUDA."""
    argv = ["sweep", "--out", str(sweep_dir), "--device", args.device]
    return argv if (args.full and args.device == "cuda") else argv + ["--quick"]


def check_records_source(source: Path, sweep_dir: Path) -> bool:
    """Whether ``source`` must be copied to ``sweep_dir`` (False: it is that folder); one line when the two lie
    inside one another or a record of ``source`` is not valid."""
    read_records(Path(source) / "records.jsonl")
    if Path(sweep_dir).exists() and Path(source).resolve() == Path(sweep_dir).resolve():
        return False
    if validate.overlaps(source, sweep_dir):
        raise UsageError(f"--training-records {source} and {sweep_dir} lie inside one another; pass a folder "
                         "outside OUT/results/sweep, or that folder itself")
    return True


def copy_records(source: Path, sweep_dir: Path) -> None:
    """Replace the sweep folder's records and trajectories with those of ``source`` (records.jsonl, traj/).

    ``source`` is never changed: when it is ``sweep_dir`` itself nothing is copied; when one lies inside the
    other, one line (exit 2). The records are checked (schema) first, the copy is made beside ``sweep_dir`` and
    swapped in by renames, so a failure (a full disk) leaves the previous folder as it was.
    """
    source, sweep_dir = Path(source), Path(sweep_dir)
    if not check_records_source(source, sweep_dir):
        return
    sweep_dir.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=".sweep.", dir=sweep_dir.parent))
    old = fresh.with_name(fresh.name + ".old")
    try:
        shutil.copy2(source / "records.jsonl", fresh / "records.jsonl")
        if (source / "traj").is_dir():
            shutil.copytree(source / "traj", fresh / "traj", symlinks=True)
        if sweep_dir.exists():
            os.rename(sweep_dir, old)
        try:
            os.rename(fresh, sweep_dir)
        except OSError:
            if old.exists():
                os.rename(old, sweep_dir)
            raise
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def run_command(argv: list) -> int:
    """Run a ``normlaws`` command inside this one; its bad input or full disk ends verify too (exit 2, one line)."""
    from ..cli import build_parser
    args = build_parser(argv).parse_args(argv)
    return int(args._run(args) or 0)


def training_stage(claims, args, results_dir: Path, run_id: str, progress_for) -> Stage:
    """Run the training sweep (resumable: finished configurations are kept), then the training checks."""
    from ..reports.evidence import SWEEP, TRAINING
    why = _training_unavailable(args)
    if why:
        return Stage("training", SKIPPED, detail=why)
    stage = Stage("training")
    with timed(stage):
        sweep_dir = results_dir / SWEEP
        progress = progress_for(1)
        source = getattr(args, "training_records", None)
        if source:
            progress.say(f"records of {source} (no training)")
            copy_records(Path(source), sweep_dir)
        else:
            argv = sweep_argv(args, sweep_dir)
            progress.say("normlaws " + " ".join(argv))
            with contextlib.redirect_stdout(sys.stderr):  # the sweep's table is progress here; stdout stays ours
                code = run_command(argv)
            if code != 0:
                stage.status, stage.detail = FAILED, f"'normlaws {' '.join(argv)}' exited with {code}"
                stage.failures.append(stage.detail)
                return stage
        checks, why = _leg_checks("training", claims)
        results = {}
        for claim_id, check in checks.items():
            results[claim_id] = _run_check(check, sweep_dir)
            append_record(results_dir / TRAINING, _leg_record("training", claim_id, results[claim_id], run_id,
                                                              results_dir=str(sweep_dir), device=args.device,
                                                              records_from=str(source) if source else None))
        progress.advance("sweep and checks done")
        _tally(stage, results)
        if not checks:
            stage.detail = f"sweep done; {why}"
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
    out = Path(args.out)
    _check_device(args)
    claims = registry.select(args.claims)
    results_dir = out / "results"
    if args.training_records:   # a bad file or folder: one line before any stage
        from ..reports.evidence import SWEEP
        check_records_source(Path(args.training_records), results_dir / SWEEP)
    results_dir.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:12]
    names = ("symbolic", "montecarlo", "training", "report")
    progress = lambda i, total: Progress(i, len(names), names[i - 1], total)  # noqa: E731
    stages = [symbolic_stage(claims, progress(1, len(claims)))]
    _announce(stages[-1], 1, len(names))
    stages.append(montecarlo_stage(claims, args, results_dir, run_id, lambda n: progress(2, n)))
    _announce(stages[-1], 2, len(names))
    stages.append(training_stage(claims, args, results_dir, run_id, lambda n: progress(3, n)))
    _announce(stages[-1], 3, len(names))
    run_record = {"run": run_id, "options": _options(args), "stages": [s.as_record() for s in stages]}
    stage, report = report_stage(out, claims, args, run_record)
    stages.append(stage)
    _announce(stage, 4, len(names))
    run_record["stages"] = [s.as_record() for s in stages]
    append_record(results_dir / "runs.jsonl", {**run_record, "provenance": provenance(seed=args.seed)})
    if report is not None:
        from ..reports.builder import write_summary
        write_summary(report, run_record)
    code = 1 if any(s.status == FAILED for s in stages) else 0
    outcome = summary(claims, stages, report, code)
    if args.json:
        print_json(outcome)
    else:
        print_summary(outcome)
    return code


def _options(args) -> dict:
    out = {k: getattr(args, k) for k in ("full", "device", "skip_training", "skip_montecarlo", "no_pdf", "seed",
                                         "claims")}
    out["training_records"] = str(args.training_records) if getattr(args, "training_records", None) else None
    return out


def _announce(stage: Stage, index: int, count: int) -> None:
    print(f"[{index}/{count}] {stage.name}: {stage.status}: {stage.detail} ({stage.seconds:.1f} s)",
          file=sys.stderr, flush=True)
