"""``normlaws audit``: which parameters of a torch model weight decay regularizes, and what it does to the others.

torch is imported only when the command runs. The model comes from a factory ``package.module:function``: its
module is imported and the function called with no arguments, so FACTORY is code that runs, like pytest's
``conftest.py`` (never point it at a folder you do not trust); the current directory is importable. The sample
input is standard normal of ``--input-shape``.
"""
from __future__ import annotations

import argparse
import math

from .. import validate
from ..output import print_json, table

#: elements of the sample input: the probe runs the model on float64 copies of it many times
MAX_INPUT = 2**24

HELP = ("probe each parameter of a torch model for scale invariance; say what weight decay does to it, the "
        "recommended param groups, and the predicted equilibrium norm, angle per step and relaxation time")


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
    from ..audit import OPTIMIZERS
    parser.add_argument("factory", metavar="FACTORY", type=validate.text,
                        help="package.module:function returning an nn.Module; the module is imported and the "
                             "function run (like pytest's conftest.py), with the current directory importable")
    parser.add_argument("--input-shape", type=input_shape, required=True, metavar="N,C,H,W",
                        help="shape of the sample input (standard normal, seeded), e.g. 2,3,32,32")
    parser.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="sgd", help="update rule (default sgd)")
    parser.add_argument("--eta", type=validate.learning_rate, default=0.1, help="learning rate (default 0.1)")
    parser.add_argument("--lam", type=validate.l2_strength, default=5e-4,
                        help="L2 strength, canonical: penalty lam*||w||^2 (torch weight_decay = 2*lam; AdamW: "
                             "decoupled factor 1 - eta*lam, weight_decay = lam); default 5e-4")
    parser.add_argument("--momentum", type=validate.unit_interval, default=0.9, help="momentum rho (default 0.9)")
    parser.add_argument("--beta1", type=validate.unit_interval, default=0.9, help="Adam/AdamW beta1 (default 0.9)")
    parser.add_argument("--seed", type=validate.seed, default=0, help="seed of the input and the probe")


def run(args) -> int:
    """Print the audit table, the param groups snippet and the notes (or JSON)."""
    from ..audit import _torch, audit, build_model, sample_input
    _torch().manual_seed(args.seed)             # the factory's initialisation, reproducibly
    model = build_model(args.factory)
    x = sample_input(args.input_shape, args.seed)
    report = audit(model, x, args.optimizer, args.eta, args.lam, args.momentum, args.beta1, args.seed)
    if args.json:
        print_json({"factory": args.factory, "input_shape": list(args.input_shape), **report.to_dict()})
        return 0
    print(f"normlaws audit {args.factory}, input {'x'.join(map(str, args.input_shape))}, {args.optimizer} "
          f"eta={args.eta:g} lam={args.lam:g} (torch weight_decay={report.torch_weight_decay:g})")
    print(table(report.table_rows(), ["parameter", "shape", "scale invariance", "weight decay", "norm now",
                                      "norm*", "angle*/step", "relax. steps"]))
    print("\nRecommended parameter groups:\n" + report.snippet())
    print("\nNotes:\n" + "\n".join(f"- {n}" for n in report.notes))
    return 0

