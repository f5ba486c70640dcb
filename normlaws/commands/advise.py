"""``normlaws advise``: what a learning-rate schedule and a choice of (eta, lambda) imply for the scale-invariant
groups, before the run (:mod:`normlaws.advise`): per phase the relaxation time against the phase's length, the
equilibrium angle, norm and effective learning rate, AdamW's EMA timescale, equivalent (eta, lambda) pairs, and how
lambda must follow eta, the batch size and the dataset size. ``--plot`` draws the predicted angle and norm."""
from __future__ import annotations

import math

from .. import validate
from ..errors import UsageError
from ..output import print_json
from ..advise import RULES
from ..advise import Schedule, lam_from_torch
from ..advise_theory import rescaled_lam
from ..advise import advise
from ..advise_report import lines
from ..advise_plot import plot

HELP = ("before a run: per phase of a learning-rate schedule, will the scale-invariant groups reach equilibrium, at "
        "which angle, norm and effective learning rate; AdamW's EMA timescale; equivalent (eta, lambda); how lambda "
        "must follow eta, batch size and dataset size")
SIZE = validate.Number(int, 1, 10**10)
FACTOR = validate.Number(float, 0, 1, lo_open=True, why="the learning rate is multiplied by it at each milestone")


def add_arguments(parser) -> None:
    """The rule and its hyperparameters, the schedule, the run's length and sizes, the unit's d and C."""
    parser.add_argument("--optimizer", choices=RULES, default="sgd", help="update rule (normlaws.rules; default sgd)")
    parser.add_argument("--eta", type=validate.learning_rate, required=True, help="base learning rate")
    decay = parser.add_mutually_exclusive_group(required=True)
    decay.add_argument("--lam", type=validate.l2_strength,
                       help="lambda in the suite's convention: penalty lam*||w||^2 (AdamW, Lion: w <- (1 - eta lam) w)")
    decay.add_argument("--weight-decay", type=validate.l2_strength,
                       help="torch's weight_decay instead (= 2 lam for SGD, momentum, Adam, RMSprop; = lam for AdamW)")
    parser.add_argument("--epochs", type=validate.TRAINING["epochs"], required=True, help="epochs of the run")
    schedule = parser.add_mutually_exclusive_group()
    schedule.add_argument("--milestones", type=validate.positive_int, nargs="+", metavar="EPOCH",
                          help="epochs after which the learning rate is multiplied by --lr-factor (MultiStepLR)")
    schedule.add_argument("--cosine", action="store_true",
                          help="cosine annealing to 0 over the epochs, stepped once an epoch (CosineAnnealingLR)")
    parser.add_argument("--lr-factor", type=FACTOR, default=0.1, help="factor at each milestone (default 0.1)")
    parser.add_argument("--steps-per-epoch", type=SIZE, help="optimizer steps per epoch (default: dataset/batch)")
    parser.add_argument("--batch-size", type=SIZE, help="batch size (with --dataset-size: the steps per epoch)")
    parser.add_argument("--dataset-size", type=SIZE, help="training examples per epoch")
    parser.add_argument("--d", type=SIZE, default=1152,
                        help="entries of one invariant unit (a filter: in-channels x kernel area; default 1152)")
    parser.add_argument("--C", type=validate.positive_float, default=1.0,
                        help="E||grad L(w_hat)||^2 of a unit at unit norm (normlaws audit estimates it; default 1): "
                             "sets the norm and the effective learning rate, not the angle (but for rmsprop, adam)")
    parser.add_argument("--momentum", type=validate.unit_interval, default=0.9, help="rho (default 0.9)")
    parser.add_argument("--beta1", type=validate.unit_interval, default=0.9, help="Adam's beta1 (default 0.9)")
    parser.add_argument("--beta2", type=validate.unit_interval, default=0.999, help="Adam's beta2 (default 0.999)")
    parser.add_argument("--start-norm", type=validate.positive_float,
                        help="||w|| of a unit at the start (default: the first phase's equilibrium)")
    parser.add_argument("--new-eta", type=validate.learning_rate, help="lambda for this learning rate instead")
    parser.add_argument("--new-batch-size", type=SIZE, help="lambda for this batch size (needs --batch-size)")
    parser.add_argument("--new-dataset-size", type=SIZE, help="lambda for this dataset size (needs --dataset-size)")
    parser.add_argument("--plot", type=validate.writable_file, metavar="FILE", help="draw the predicted angle and norm (.png/.pdf)")


def _inputs(args):
    lam = args.lam if args.lam is not None else lam_from_torch(args.optimizer, args.weight_decay)
    steps = args.steps_per_epoch
    if steps is None:
        if not (args.batch_size and args.dataset_size):
            raise UsageError("advise needs --steps-per-epoch, or --batch-size and --dataset-size")
        steps = math.ceil(args.dataset_size / args.batch_size)
    for new, old, name in ((args.new_batch_size, args.batch_size, "--new-batch-size needs --batch-size"),
                           (args.new_dataset_size, args.dataset_size, "--new-dataset-size needs --dataset-size")):
        if new is not None and old is None:
            raise UsageError(name)
    kind = "cosine" if args.cosine else "milestones" if args.milestones else "constant"
    return lam, steps, Schedule(kind, args.epochs, tuple(args.milestones or ()), args.lr_factor)


def _rescaled(args, advice) -> dict | None:
    if args.new_eta is None and args.new_batch_size is None and args.new_dataset_size is None:
        return None
    factors = {"eta_factor": (args.new_eta or advice.eta) / advice.eta,
               "batch_factor": (args.new_batch_size or args.batch_size or 1) / (args.batch_size or 1),
               "dataset_factor": (args.new_dataset_size or args.dataset_size or 1) / (args.dataset_size or 1)}
    lam = rescaled_lam(advice.rule, advice.lam, **factors)
    return {**factors, "lam": lam, "eta": advice.eta * factors["eta_factor"]}


def run(args) -> int:
    """Print the advice (or JSON); write the plot if asked."""
    lam, steps, schedule = _inputs(args)
    advice = advise(args.optimizer, args.eta, lam, schedule, steps, args.d, args.C, args.momentum, args.beta1,
                    args.beta2, start_norm=args.start_norm)
    rescaled = _rescaled(args, advice)
    if args.plot:
        plot(advice, args.plot)
    if args.json:
        print_json({**advice.to_dict(), "rescaled": rescaled, "plot": str(args.plot) if args.plot else None})
        return 0
    print("\n".join(lines(advice, rescaled)))
    if args.plot:
        print(f"\nplot: {args.plot}")
    return 0


