"""``normlaws monitor --bench``: the cost of :class:`normlaws.monitor.Monitor` per training step, on a plain torch
loop and on the training harness (:mod:`normlaws.monitor_bench`). The monitor itself is a Python object you attach to
your own model and optimizer (``from normlaws.monitor import Monitor``; README)."""
from __future__ import annotations

from .. import validate
from ..monitor_bench import run_bench
from ..errors import UsageError
from ..output import print_json, table

HELP = ("benchmark the training monitor (normlaws.monitor.Monitor, attached to your own model and optimizer): the "
        "overhead per step on a plain torch loop and on the CIFAR harness")
CASES = ("plain", "harness", "ensemble")


def add_arguments(parser) -> None:
    """``--bench`` and its sizes."""
    parser.add_argument("--bench", action="store_true", required=True,
                        help="time training steps with and without the monitor (the only mode of this command)")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES),
                        help="plain (MLP + BatchNorm, AdamW), harness (gpu ConvNet + torch.optim), ensemble (gpu "
                             "EnsembleTrainer); default all")
    parser.add_argument("--device", type=validate.device, default="cpu", help="torch device (default cpu)")
    parser.add_argument("--every", type=validate.Number(int, 1, 10**6), default=10,
                        help="record every N steps (default 10)")
    parser.add_argument("--block", type=validate.Number(int, 1, 10**5), default=10,
                        help="steps per timed block (default 10: one record per block at --every 10)")
    parser.add_argument("--pairs", type=validate.Number(int, 1, 1000), default=3,
                        help="pairs of blocks with and without the monitor (default 3)")
    parser.add_argument("--models", type=validate.TRAINING["models"], default=2,
                        help="models of the ensemble case (default 2)")
    parser.add_argument("--threads", type=validate.Number(int, 1, 256), help="torch threads (default torch's)")


def run(args) -> int:
    """Print the table (or JSON)."""
    try:
        import torch
    except ModuleNotFoundError:
        raise UsageError("normlaws monitor needs torch: pip install 'normlaws[torch]'") from None
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device.replace("auto", "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device here")
    out = run_bench(args.cases, device, args.every, args.block, args.pairs, args.models, args.threads)
    if args.json:
        print_json(out)
        return 0
    load = out["load_average"]
    print(f"normlaws monitor --bench: device {out['device']}, every {out['every']} steps, {out['pairs']} pairs of "
          f"{out['block']}-step blocks, {out['threads']} torch thread(s), {out['cpus']} CPUs, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, torch {out['torch']}")
    print(table([[r["case"], r["what"], r["watches"], r["units"], f"{r['cpu_step_ms']:.1f}",
                  f"{r['record_ms']:.1f}", f"{100 * r['overhead']:.2f}", f"{100 * r['cpu_overhead']:+.1f}",
                  f"{r['step_ms']:.1f}", f"{100 * r['wall_overhead']:+.1f}"] for r in out["rows"]],
                ["case", "loop", "watches", "units", "step CPU ms", "monitor CPU ms/record", "overhead %",
                 "paired CPU %", "step wall ms", "paired wall %"]))
    print(f"overhead: CPU time inside the monitor per step over a step's CPU time without it (records every "
          f"{out['every']} steps); paired: median ratio of blocks with and without it, minus 1")
    return 0
