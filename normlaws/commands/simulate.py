"""``normlaws simulate``: Monte-Carlo of the Section 4 model or a real BN unit, measured against the theory.

Modes: one (eta, lam) point (``--rule --eta --lam``), the exponent grid (``--exponents RULE``), the registry's
Monte-Carlo checks (``--checks``) and the benchmark (``--bench``).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import validate
from ..conventions import CANONICAL, PAPER_STOP_GRADIENT, bn_unit_convention, rule_decay, run_convention
from ..errors import UsageError
from ..output import print_json, table
from ..records import append_record, provenance
from normlaws.simulate import predict
from normlaws.simulate.engine import default_lengths
from normlaws.simulate.engine import Spec
from normlaws.simulate.params import Hyper
from normlaws.simulate.summary import simulate
from normlaws.simulate.exponents import exponents
from normlaws.simulate.checks import run_all
from normlaws.simulate.bench import bench, format_table

HELP = ("simulate the Section 4 model or a BN unit and compare every observable (norm, angle per step, chord, "
        "gradient-to-weight ratio, the unit's C) with the theory's prediction")
#: the simulated update rules (``nesterov``: the paper's variable w; ``nesterov_torch``: torch's iterate)
RULES = ("sgd", "momentum", "nesterov", "nesterov_torch", "rmsprop", "adam", "adamw", "normalized", "lion")

#: ranges of the numeric options (the stationary norm, run length, float range and memory are checked per run)
RANGES = {
    "dim": validate.Number(int, 2, 2**24, why="a direction needs 2 coordinates or more; 2**24 at most"),
    "batch": validate.Number(int, 2, 2**16, why="a batch norm needs 2 samples or more; 2**16 at most"),
    "chains": validate.Number(int, 1, 2**26),
    "steps": validate.Number(int, 1, 10**9),
    "burn": validate.Number(int, 0, 10**9),
    "C": validate.Number(float, 1e-30, 1e30, why="E||g||^2; float32 holds 1e-38 ... 3e38"),
    "eps": validate.Number(float, 0, 1),
    "start": validate.Number(float, 1e-30, 1e30, why="||w_0||^2"),
    "gamma": validate.Number(float, 1e-6, 1e6, why="the BN gain (> 0: the sign is absorbed by beta's)"),
    "beta": validate.Number(float, -1e6, 1e6),
    "sigma_nabla": validate.Number(float, 1e-10, 1e10),
}
MAX_STEPS = 10**9    # burn-in + measurement of one run (about an hour per million chain-steps/s)


def add_arguments(parser) -> None:
    """Options of the four modes (see HELP)."""
    mode = parser.add_argument_group("mode (one of)")
    mode.add_argument("--rule", choices=RULES, help="simulate one (eta, lam) point with this update rule")
    mode.add_argument("--exponents", choices=tuple(r for r in RULES if r not in ("normalized", "lion")), metavar="RULE",
                      help="fit the norm's exponents on grids that respect equilibration")
    mode.add_argument("--checks", action="store_true", help="run the registry's Monte-Carlo checks")
    mode.add_argument("--bench", action="store_true", help="benchmark: chain-steps per second")
    p = parser.add_argument_group("run")
    p.add_argument("--eta", type=validate.learning_rate, help="learning rate")
    p.add_argument("--lam", type=validate.l2_strength,
                   help="L2 strength lambda of the penalty lambda*||w||^2 (0: growth without decay)")
    p.add_argument("--dim", type=RANGES["dim"], default=64, help="weight dimension d (default 64)")
    p.add_argument("--batch", type=RANGES["batch"], default=64, help="BN unit batch size (default 64)")
    p.add_argument("--chains", type=RANGES["chains"], help="independent chains (default 4096 scalar, 256 vector)")
    p.add_argument("--steps", type=RANGES["steps"], help="measurement steps (default 20 relaxation times)")
    p.add_argument("--burn", type=RANGES["burn"], help="burn-in steps (default 5 relaxation times)")
    p.add_argument("--seed", type=validate.seed, default=0, help="random seed (default 0)")
    p.add_argument("--model", choices=("section4", "bn-unit"), default="section4", help="gradient model")
    p.add_argument("--variant", choices=("isotropic", "orthogonal"), default="isotropic",
                   help="Section 4 noise: isotropic (stop-gradient-like) or orthogonal to w (full backward)")
    p.add_argument("--backward", choices=("stop_gradient", "full"), default="stop_gradient",
                   help="BN unit backward pass: stop_gradient (the paper's Sec. 3) or full (frameworks)")
    p.add_argument("--loss", choices=("mean", "sum"), default="mean",
                   help="BN unit loss over the batch: mean (frameworks, default) or sum (the paper's Sec. 2)")
    p.add_argument("--gamma", type=RANGES["gamma"], default=1.0, help="BN unit gain gamma (default 1)")
    p.add_argument("--beta", type=RANGES["beta"], default=0.0, help="BN unit shift beta (default 0)")
    p.add_argument("--sigma-nabla", type=RANGES["sigma_nabla"], default=2**0.5, dest="sigma_nabla",
                   help="BN unit upstream-gradient std sigma_nabla (default sqrt(2): unit variance per coordinate)")
    p.add_argument("--C", type=RANGES["C"], dest="C", help="Section 4 constant E||g||^2 (default d)")
    p.add_argument("--rho", type=validate.unit_interval, default=0.9, help="momentum / RMSProp decay (0.9)")
    p.add_argument("--beta1", type=validate.unit_interval, default=0.9, help="Adam/Lion beta1 (0.9)")
    p.add_argument("--beta2", type=validate.unit_interval, default=0.999, help="Adam/Lion beta2 (0.999)")
    p.add_argument("--eps", type=RANGES["eps"], default=0.0, help="RMSProp/Adam epsilon (0)")
    p.add_argument("--start", type=RANGES["start"],
                   help="start from ||w_0||^2 = START with a cold optimizer state (default: the closure's N*)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--size", choices=("quick", "full"), default="quick", help="size of --checks / --exponents")
    p.add_argument("--claim", action="append", default=[], metavar="ID", type=validate.text,
                   help="with --checks: only this claim")
    p.add_argument("--results", type=validate.writable_dir, metavar="DIR",
                   help="append the result as a JSON record to DIR/simulate.jsonl")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")


def _mode(args) -> str:
    chosen = [m for m in ("rule", "exponents", "checks", "bench") if getattr(args, m)]
    if len(chosen) != 1:
        raise UsageError("give exactly one of --rule, --exponents, --checks, --bench")
    if chosen == ["rule"] and (args.eta is None or args.lam is None):
        raise UsageError("--rule needs --eta and --lam")
    return chosen[0]


def _save(args, kind: str, payload: dict) -> None:
    if not args.results:
        return
    backward = args.backward if args.model == "bn-unit" else "full"
    convention = run_convention(args.rule or args.exponents or "sgd", backward)
    append_record(args.results / "simulate.jsonl",
                  {"kind": kind, "result": payload, "provenance": provenance(args.seed, convention)})


def _fmt(value, se=None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.6g}" + (f" ± {se:.2g}" if se else "")


def _convention_line(args) -> str:
    """The decay convention of the rule, and the BN unit's (or the Section 4 noise's) conventions."""
    rule = args.rule or args.exponents
    lines = [rule_decay(rule) if rule else (PAPER_STOP_GRADIENT if args.backward == "stop_gradient"
                                            else CANONICAL).describe()]
    if args.model == "bn-unit":
        lines.append(bn_unit_convention(args.loss, args.backward))
    elif rule:
        lines.append(f"Section 4 model, {args.variant} noise")
    return "; ".join(lines)


def _refuse(args, why: str) -> UsageError:
    return UsageError(f"simulate --rule {args.rule} --eta {args.eta:g} --lam {args.lam:g}: {why}")


def check_point(args, spec) -> None:
    """One line, before running, when the point means nothing: no stationary norm in the theory (lam > 0), no
    finite relaxation time or a run of more than :data:`MAX_STEPS` steps, values outside the float range of
    ``--dtype``, or more memory than the machine has."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        N = 1.0 if args.lam == 0 else _closure(predict, spec)
        if not (math.isfinite(N) and N > 0):
            raise _refuse(args, f"the theory has no stationary norm there (eta*lam = {args.eta * args.lam:.3g}); "
                                "choose a smaller eta or lam")
        try:
            burn, steps = (spec.burn or 0, spec.steps or 10_000) if args.lam == 0 else default_lengths(spec)
        except (ValueError, OverflowError, ArithmeticError):
            raise _refuse(args, "no finite relaxation time there; choose other eta and lam") from None
    if burn + steps > MAX_STEPS:
        raise _refuse(args, f"equilibrating takes {burn + steps:.3g} steps (at most {MAX_STEPS:.0e}); give --steps "
                            "and --burn, or a larger eta*lam")
    info = np.finfo(spec.dtype)
    for name, value in (("C", spec.model_C), ("||w||^2", N), ("eta^2 C/||w||^2", args.eta**2 * spec.model_C / N)):
        if not info.tiny * 1e3 < value < info.max / 1e3:
            raise _refuse(args, f"{name} = {value:.3g} is outside what {spec.dtype} holds; use --dtype float64 "
                                "or other values")
    validate.check_memory(_bytes(spec, burn + steps, info.bits // 8), f"{spec.chains} chains of dimension {spec.d}")


def _bytes(spec, length: int, itemsize: int) -> float:
    """An upper estimate of a run's memory: 16 state arrays of one chunk (about 2**16 numbers, at least one
    chain), float64 block sums of 6 observables x 20 blocks per chain (twice, while they are gathered), and with
    a relaxation curve 48 bytes per step per chunk."""
    per_chain = 1 if spec.scalar else spec.d * (spec.batch if spec.model == "bn-unit" else 1)
    chunk = max(per_chain, min(spec.chains * per_chain, 2**16))
    chunks = -(-spec.chains * per_chain // chunk)
    return 16 * chunk * itemsize + spec.chains * 20 * 6 * 16 + (chunks * 48 * length if spec.curve else 0)


def _closure(predict, spec) -> float:
    try:
        return float(np.ravel(predict.closure_N(spec.rule, spec.hyper, spec.d, spec.model_C))[0])
    except (ValueError, ArithmeticError):
        return math.nan


def check_finite(args, result: dict) -> None:
    """One line when the chains themselves blew up (a non-finite measured value): eta*lam is outside the rule's
    stable range, and the table would compare NaN with the theory."""
    if any(isinstance(r.get("measured"), float) and not math.isfinite(r["measured"]) for r in result["rows"]):
        raise _refuse(args, "the chains diverged (a measured value is not finite): eta*lam is outside the "
                            "stable range of this rule; choose a smaller eta or lam")


def run_point(args) -> int:
    """One (eta, lam) point: measured against predicted, with standard errors and the verdict."""
    hyper = Hyper(eta=args.eta, lam=args.lam, rho=args.rho, beta1=args.beta1, beta2=args.beta2, eps=args.eps)
    scalar = args.rule == "sgd" and args.model == "section4"
    spec = Spec(args.rule, hyper, d=args.dim, chains=args.chains or (4096 if scalar else 256), steps=args.steps,
                burn=args.burn, model=args.model, variant=args.variant, backward=args.backward, batch=args.batch,
                loss=args.loss, gamma=args.gamma, beta=args.beta, sigma_nabla=args.sigma_nabla, C=args.C,
                seed=args.seed, start="closure" if args.start is None else args.start,
                warm=args.start is None, dtype=args.dtype, progress=not args.no_progress,
                curve=args.start is not None)
    check_point(args, spec)
    with np.errstate(all="ignore"):  # chains that blow up give NaN; check_finite says so in one line
        result = simulate(spec)
    check_finite(args, result)
    result["convention"] = _convention_line(args)
    _save(args, "point", result)
    if args.json:
        print_json(result)
        return 0
    print(f"{args.rule} on the {args.model} model, eta = {args.eta:g}, lam = {args.lam:g}, d = {args.dim}"
          + (f", B = {args.batch}, {args.backward}, {args.loss} loss, gamma = {args.gamma:g}, beta = {args.beta:g}, "
             f"sigma_nabla = {args.sigma_nabla:g}" if args.model == "bn-unit" else f", {args.variant} noise")
          + f"; {spec.chains} chains, burn-in {result['burn']}, {result['steps']} measured steps, seed {args.seed}"
          + f" ({result['seconds']:.1f} s, {result['chain_steps_per_second'] / 1e6:.2f} M chain-steps/s)")
    print(f"convention: {_convention_line(args)}")
    rows = [[r["quantity"], _fmt(r["measured"], r["se"]), _fmt(r["predicted"]),
             "-" if r["relative_error"] is None else f"{r['relative_error']:+.4f}", _fmt(r["tolerance"]),
             r["verdict"] or ""] for r in result["rows"]]
    print(table(rows, ["quantity", "measured ± SE", "predicted", "rel. error", "tolerance", "verdict"]))
    for r in result["rows"]:
        if r["note"]:
            print(f"  {r['quantity']}: {r['note']}")
    curve = result.get("curve")
    if curve:
        print(f"\nrelaxation from ||w_0||^2 = {curve['N0']:g} (mean over chains; --json gives ~200 points):")
        picks = sorted({int(i) for i in [0, *[len(curve["t"]) * k // 6 for k in range(1, 6)], len(curve["t"]) - 1]})
        rows = [[curve["t"][i], _fmt(curve["mean"][i], curve["se"][i]),
                 _fmt(curve["closure"][i]) if "closure" in curve else "-"] for i in picks]
        print(table(rows, ["step", "E||w_t||^2 ± SE", "closure's recursion"]))
    return 0


def run_exponents(args) -> int:
    """The exponent grids and fits."""
    validate.check_memory((args.chains or 4096) * 20 * 6 * 16 * 8, f"{args.chains} chains per grid point")
    result = exponents(args.exponents, d=args.dim, chains=args.chains, steps=args.steps, burn=args.burn,
                       seed=args.seed, size=args.size, model=args.model, variant=args.variant,
                       start="closure" if args.start is None else args.start, rho=args.rho, beta1=args.beta1,
                       beta2=args.beta2, progress=not args.no_progress)
    result["convention"] = _convention_line(args)
    _save(args, "exponents", result)
    if args.json:
        print_json(result)
        return 0
    p, q = result["derived_exponents"]
    print(f"{args.exponents}: derived ||w|| ~ eta^{p:.4g} lam^{q:.4g} (table1.{args.exponents}.norm)"
          + (f"; printed eta^{result['printed_exponents'][0]:.4g} lam^{result['printed_exponents'][1]:.4g}"
             if result["printed_exponents"] else "") + f"; convention: {_convention_line(args)}")
    for key, axis in (("fixed_product", "eta/lam"), ("fixed_ratio", "eta*lam")):
        line = result.get(key)
        if not line:
            continue
        held = f"eta*lam = {line['product']:g}" if key == "fixed_product" else f"eta/lam = {line['ratio']:.4g}"
        print(f"\n{held}, {line['chains']} chains, burn-in {line['burn']}, {line['steps']} steps:")
        rows = [[f"{x:.4g}", f"{e:.4g}", f"{l:.4g}", _fmt(m, s), f"{c:.5g}", "yes" if ok else "NO"]
                for x, e, l, m, s, c, ok in zip(line["x"], line["eta"], line["lam"], line["measured"], line["se"],
                                                line["closure"], line["equilibrated"])]
        print(table(rows, [axis, "eta", "lam", "E||w|| ± SE", "closure", "equilibrated"]))
        print(f"  {line['status']}: {line['detail']}")
    print(f"\nverdict: {result['status']}")
    return 0


def run_checks(args) -> int:
    """The registry's Monte-Carlo checks, as a table."""
    results = run_all(args.size, args.seed, args.claim, progress=not args.no_progress)
    _save(args, "checks", results)
    if args.json:
        print_json(results)
        return 0
    rows = [[cid, _fmt(r["predicted"]), _fmt(r["measured"], r["se"]),
             "-" if r["relative_error"] is None else f"{r['relative_error']:+.4f}", _fmt(r["tolerance"]), r["status"]]
            for cid, r in results.items()]
    print(table(rows, ["claim", "predicted", "measured ± SE", "rel. error", "tolerance", "verdict"]))
    for cid, r in results.items():
        print(f"\n{cid} [{r['status']}]: {r['detail']}")
    return 0


def run_bench(args) -> int:
    """Chain-steps per second (a benchmark: prints figures, asserts nothing)."""
    result = bench()
    if args.json:
        print_json(result)
    else:
        print(format_table(result))
    return 0


def run(args) -> int:
    """Dispatch to the chosen mode."""
    return {"rule": run_point, "exponents": run_exponents, "checks": run_checks, "bench": run_bench}[_mode(args)](args)
