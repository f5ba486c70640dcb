"""``normlaws sweep``: train a grid of (optimizer, eta, lam), resumable, on an executor of choice.

Configurations that already have a record in ``--out`` are skipped, so the same command resumes after a crash.
"""
from __future__ import annotations

from .. import validate
from ..errors import UsageError
from .train import add_training_arguments, base_config, check_ensemble_memory, data_spec, progress_factory, \
    report, require_torch, with_momentum

HELP = "train a grid of (optimizer, eta, lam) as ensembles; resumable; inline, local GPUs or SLURM (submitit)"


def add_arguments(parser) -> None:
    """Options: the grid, the executor and its settings, and the training options of ``train``."""
    from ..gpu.config import NETWORKS, OPTIMIZERS, PAPER_RULES, rule_name
    from ..gpu.sweep import EXECUTORS
    parser.add_argument("--optimizers", nargs="+", choices=OPTIMIZERS, metavar="RULE", type=rule_name,
                        help=f"update rules, named as in normlaws.rules (default {' '.join(PAPER_RULES)}; --quick: "
                             f"all); choose from {', '.join(OPTIMIZERS)} (older nesterov, rmsprop: torch's rules)")
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, metavar="NET",
                        help="standard and/or invariant (default standard; --quick: the preset's, both)")
    parser.add_argument("--seeds", nargs="+", type=validate.seed, metavar="SEED",
                        help="seeds of every rule (default --seed; --quick: the preset's)")
    parser.add_argument("--etas", type=validate.TRAINING["eta"], nargs="+", metavar="ETA",
                        help="learning rates for every rule (default: 7 log-spaced values per rule)")
    parser.add_argument("--lams", type=validate.TRAINING["lam"], nargs="+", metavar="LAM",
                        help="the paper's lambdas for every rule (default 1e-5 ... 1e-2, 7 values)")
    parser.add_argument("--executor", choices=EXECUTORS, default=None,
                        help="inline (this process), local-gpus (a process per GPU), local-cpus (a one-thread "
                             "process per CPU core), submitit (SLURM); default inline, --quick on the CPU local-cpus")
    parser.add_argument("--models-per-run", type=validate.TRAINING["models"], default=64, metavar="M",
                        help="configurations trained at once in one ensemble (default 64)")
    parser.add_argument("--cluster", choices=("auto", "slurm", "local", "debug"), default="auto",
                        help="submitit cluster (default auto: SLURM when available, else local)")
    parser.add_argument("--partition", type=validate.name, help="SLURM partition for submitit")
    parser.add_argument("--timeout-min", type=validate.Number(int, 1, 7 * 24 * 60, why="at most a week"),
                        default=240, help="SLURM time limit in minutes (default 240)")
    add_training_arguments(parser, "results/sweep")
    _monitor_arguments(parser)


def grid_configs(args) -> tuple:
    """``(configs, base)``: the preset's grid, restricted or replaced by the explicit options, and its base."""
    from ..gpu.presets import preset_configs
    base = base_config(args)
    configs = preset_configs(args.quick, base, args.optimizers, args.etas, args.lams,
                             args.networks or ([args.network] if args.network else None), args.seeds)
    return [with_momentum(c, args) for c in configs], base


def _monitor_arguments(parser) -> None:
    parser.add_argument("--monitor", type=validate.Number(int, 1, 10**6, why="a record every N steps"), metavar="N",
                        help="record normlaws.monitor every N steps to OUT/monitor/<key>.jsonl (its first line "
                             "names the models of the ensemble)")


def _monitor_hook(args):
    """The sweep's per-step hook for ``--monitor N`` (None without it: the monitor, which imports the audit and the
    theory's predictions, is loaded only when asked for)."""
    if not args.monitor:
        return None
    from ..monitor_harness import SweepMonitor
    return SweepMonitor(args.out, args.monitor)


def run(args) -> int:
    """Run the pending part of the grid and print every record of the grid."""
    require_torch()
    from ..gpu.sweep import resolve_device, run_sweep
    configs, base = grid_configs(args)
    if not configs:
        raise UsageError("the grid is empty")
    device = resolve_device(args.device)
    check_ensemble_memory(min(args.models_per_run, len(configs)), base.widths, base.batch_size, device)
    options = {"cluster": None if args.cluster == "auto" else args.cluster, "partition": args.partition,
               "timeout_min": args.timeout_min}
    executor = args.executor or ("local-cpus" if args.quick and device == "cpu" else "inline")
    outcome = run_sweep(configs, data_spec(args, base), args.out, executor=executor, device=args.device,
                        max_models=args.models_per_run, amp=args.amp, progress_factory=progress_factory(args),
                        submitit_options=options, lease=args.lease,
                        on_step=_monitor_hook(args))
    return report(args, outcome, configs)
