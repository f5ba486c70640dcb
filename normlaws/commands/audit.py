"""``normlaws audit``: which parameters of a torch model weight decay regularizes, and what it does to the others.

torch is imported only when the command runs. The model comes from a factory ``package.module:function``: its
module is imported and the function called with no arguments, so FACTORY is code that runs, like pytest's
``conftest.py`` (never point it at a folder you do not trust); the current directory is importable. The sample
input is standard normal of ``--input-shape``. ``--bench`` audits the six code-built architectures of
:mod:`normlaws.archs` instead and prints the time, the peak memory and the cost in forward+backward passes of each
(:mod:`normlaws.audit_bench`).
"""
from __future__ import annotations

import argparse
import math

from .. import validate
from ..audit import OPTIMIZERS, _torch, audit, build_model, sample_input
from ..audit_bench import DEFAULT_SHAPE, run_bench
from ..audit_report import GROUP_HEADER, PARAM_HEADER
from ..errors import UsageError
from ..output import print_json, table

#: elements of the sample input: the probe runs the model on float64 copies of it many times
MAX_INPUT = 2**24
THREADS = validate.Number(int, 1, 256, why="torch threads")

HELP = ("find the scale-invariant parameters and groups of parameters of a torch model; say what weight decay does "
        "to each, the recommended param groups, and the predicted equilibrium norm, angle per step and relaxation time")


def input_shape(text: str) -> tuple:
    """``'2,3,32,32'`` -> ``(2, 3, 32, 32)``: positive whole numbers separated by commas."""
    parts = text.split(",")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if not dims or any(n < 1 for n in dims):
        raise argparse.ArgumentTypeError(f"{text!r}: every dimension must be >= 1")
    if len(dims) > 8 or math.prod(dims) > MAX_INPUT:
        raise argparse.ArgumentTypeError(f"{text!r}: at most 8 dimensions and {MAX_INPUT:,} elements")
    return dims


def add_arguments(parser) -> None:
    """The factory, the input shape, the optimizer and its hyperparameters (lam canonical)."""
    parser.add_argument("factory", metavar="FACTORY", type=validate.text, nargs="?", default=None,
                        help="package.module:function returning an nn.Module; the module is imported and the "
                             "function run (like pytest's conftest.py), with the current directory importable "
                             "(none with --bench)")
    parser.add_argument("--input-shape", type=input_shape, metavar="N,C,H,W",
                        help="shape of the sample input (standard normal, seeded), e.g. 2,3,32,32; required with "
                             "FACTORY (with --bench: default 2,3,64,64)")
    parser.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="sgd", help="update rule (default sgd)")
    parser.add_argument("--eta", type=validate.learning_rate, default=0.1, help="learning rate (default 0.1)")
    parser.add_argument("--lam", type=validate.l2_strength, default=5e-4,
                        help="L2 strength, canonical: penalty lam*||w||^2 (torch weight_decay = 2*lam; AdamW: "
                             "decoupled factor 1 - eta*lam, weight_decay = lam); default 5e-4")
    parser.add_argument("--momentum", type=validate.unit_interval, default=0.9, help="momentum rho (default 0.9)")
    parser.add_argument("--beta1", type=validate.unit_interval, default=0.9, help="Adam/AdamW beta1 (default 0.9)")
    parser.add_argument("--seed", type=validate.seed, default=0, help="seed of the input and the probe")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    parser.add_argument("--bench", nargs="*", metavar="ARCH", default=None, type=validate.text,
                        help="instead of FACTORY: audit code-built architectures at their real widths (default all: "
                             "resnet18 convnext_atto vit_tiny nf_resnet26 mobilenetv3_small regnetx_002), each in a "
                             "fresh process, and print time, peak memory and cost in forward+backward passes")
    parser.add_argument("--threads", type=THREADS, default=1,
                        help="torch threads during the audit (default 1: it is many small evaluations, one module at "
                             "a time; on a 2-core machine shared with other jobs two threads measured up to 30 times "
                             "slower); with --bench, also for the forward+backward baseline")


def run(args) -> int:
    """Print the audit table, the groups, the param groups snippet and the notes (or JSON); or the benchmark."""
    if args.bench is not None:
        return _bench(args)
    if not args.factory or not args.input_shape:
        raise UsageError("audit needs FACTORY and --input-shape (or --bench)")
    _torch().manual_seed(args.seed)             # the factory's initialisation, reproducibly
    model = build_model(args.factory)
    x = sample_input(args.input_shape, args.seed)
    report = audit(model, x, args.optimizer, args.eta, args.lam, args.momentum, args.beta1, args.seed,
                   progress=not args.no_progress and not args.json, threads=args.threads)
    if args.json:
        print_json({"factory": args.factory, "input_shape": list(args.input_shape), **report.to_dict()})
        return 0
    print(f"normlaws audit {args.factory}, input {'x'.join(map(str, args.input_shape))}, {args.optimizer} "
          f"eta={args.eta:g} lam={args.lam:g} (torch weight_decay={report.torch_weight_decay:g})")
    print(table(report.table_rows(), PARAM_HEADER))
    if report.invariant_groups:
        print("\nJointly scale-invariant groups (decay all members alike, or none of them):")
        print(table(report.group_rows(), GROUP_HEADER))
    print("\nRecommended parameter groups:\n" + report.snippet())
    print("\nNotes:\n" + "\n".join(f"- {n}" for n in report.notes))
    return 0


def _bench(args) -> int:
    """Audit each architecture in a fresh process; print time, peak memory and the cost ratio."""
    import os

    from ..archs import REAL
    _torch()
    names = args.bench or list(REAL)
    unknown = [n for n in names if n not in REAL]
    if unknown:
        raise UsageError(f"unknown architecture {unknown[0]!r}; choose from {', '.join(REAL)}")
    threads = args.threads
    shape = args.input_shape or DEFAULT_SHAPE
    rows = run_bench(names, threads, shape, args.seed)
    load = os.getloadavg()
    if args.json:
        print_json({"rows": rows, "load_average": list(load), "cpus": os.cpu_count()})
        return 0
    print(f"normlaws audit --bench: input {'x'.join(map(str, shape))}, {threads} torch thread(s), {os.cpu_count()} "
          f"CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; time after start-up; cost in float64 "
          "forward+backward passes of the same model")
    print(table([[r["model"], f"{r['parameters'] / 1e6:.1f}M", r["tensors"], f"{r['startup_s']:.1f}",
                  f"{r['forward_backward_s'] * 1e3:.0f}", f"{r['audit_s']:.1f}", f"{r['ratio']:.0f}",
                  f"{r['peak_rss_mb']:.0f}", f"{r['peak_rss_mb'] - r['rss_before_audit_mb']:.0f}",
                  r["invariant_tensors"], r["groups"], r["largest_group"]] for r in rows],
                ["model", "params", "tensors", "start-up s", "fwd+bwd ms", "audit s", "cost (fwd+bwd)",
                 "peak RSS MB", "of it audit MB", "invariant tensors", "groups", "largest group"]))
    return 0
