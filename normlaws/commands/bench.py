"""``normlaws bench``: model-images per second of the ensemble for several M, beside separate torch.optim models."""
from __future__ import annotations

import argparse

from .. import validate
from ..output import print_json, table
from .train import check_ensemble_memory, require_torch

R = validate.TRAINING

HELP = "measure training throughput (model-images/s) of the ensemble for M models vs separate torch.optim models"


def add_arguments(parser) -> None:
    """Options: the M values, steps, widths, device, and whether to time the separate models too."""
    parser.add_argument("--models", type=R["models"], nargs="+", metavar="M",
                        help="ensemble sizes (default 1 4 16 64 on CUDA, 1 4 on CPU)")
    parser.add_argument("--steps", type=validate.Number(int, 1, 100_000), help="timed steps per M (default 20 "
                        "CUDA, 3 CPU)")
    parser.add_argument("--widths", type=R["width"], nargs=4, metavar="C",
                        help="conv1..conv4 widths (default 32 64 128 256)")
    parser.add_argument("--batch-size", type=R["batch_size"], default=128, help="images per step (default 128)")
    parser.add_argument("--device", default="auto", type=validate.device, help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--no-compare", action="store_true", help="skip the separate torch.optim models")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 autocast (default on for CUDA)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                        help="channels-last inputs for the ensemble (default: on CUDA for M >= 32, where an H100 "
                             "measured it faster)")


def run(args) -> int:
    """Print the throughput table and the labelled projection for the paper's grid."""
    require_torch()
    import torch
    from ..gpu.bench import run_bench
    from ..gpu.sweep import resolve_device
    device = resolve_device(args.device)
    cuda = torch.device(device).type == "cuda"
    models = args.models or ([1, 4, 16, 64] if cuda else [1, 4])
    steps = args.steps or (20 if cuda else 3)
    from ..gpu.config import DEFAULT_WIDTHS
    check_ensemble_memory(max(models) * (1 if args.no_compare else 2), args.widths or DEFAULT_WIDTHS,
                          args.batch_size, device)
    result = run_bench(models, device, steps, tuple(args.widths) if args.widths else None,
                       compare=not args.no_compare, amp=args.amp, channels_last=args.channels_last,
                       batch_size=args.batch_size)
    if args.json:
        print_json(result)
        return 0
    rows = [[r["models"], "yes" if r["channels_last"] else "no", f"{r['ensemble']:,.0f}",
             f"{r['separate']:,.0f}" if "separate" in r else "-",
             f"{r['per_model_speedup']:.1f}x" if "per_model_speedup" in r else "-"] for r in result["rows"]]
    print(f"measured on {result['device']} ({result['threads']} threads), widths {result['widths']}, "
          f"batch {result['batch_size']}, {result['steps']} timed steps, bf16 autocast {result['amp']}")
    print(table(rows, ["M", "channels-last", "ensemble model-img/s", "separate torch.optim model-img/s",
                       "speedup per model"]))
    p = result["projection"]
    print(f"\n{p['label']}:\n  the paper's grid ({p['paper_grid_model_images']:,} model-images) would take "
          f"{p['paper_grid_hours_at_best_rate']:.1f} h at {result['best_rate']:,.0f} model-img/s (M = "
          f"{result['best_models']});\n  45 minutes needs {p['rate_needed_for_45_min']:,.0f} model-img/s, i.e. "
          f"{p['tflops_needed_for_45_min']:.1f} TFLOP/s sustained at {p['flops_per_model_image'] / 1e6:.0f} "
          f"MFLOP per model-image (forward + backward ~ 3x forward).")
    return 0
