"""``normlaws train``: train one configuration, or an ensemble of (eta, lam) pairs, of the Section 6 ConvNet.

Shares its options with ``normlaws sweep`` (:func:`add_training_arguments`). torch is imported only when
the command runs, so that the command line works without it.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from .. import validate
from ..errors import UsageError, require_torch  # noqa: F401 - require_torch: also for sweep and bench
from ..output import print_json, table
from ..progress import Progress

R = validate.TRAINING

HELP = "train the Section 6 BN ConvNet on CIFAR-10 for one optimizer and one or more (eta, lam) pairs"


def add_training_arguments(parser, out_default: str) -> None:
    """Options shared by ``train`` and ``sweep``: the preset, the base configuration, data, device, output."""
    from ..gpu.config import IMAGE_SIZES, NETWORKS
    parser.add_argument("--quick", action="store_true",
                        help="CPU preset (what verify trains): 3,200/1,000 images average-pooled to 16x16, widths "
                             "4,8,16,32, batch 32, 3 epochs at constant lr; sweep: every rule, cells on lines of "
                             "constant derived relaxation time (normlaws.gpu.presets)")
    parser.add_argument("--epochs", type=R["epochs"], help="epochs (default 100; --quick 3)")
    parser.add_argument("--milestones", type=R["epochs"], nargs="*", metavar="EPOCH",
                        help="epochs after which lr is divided by --lr-drop (default 50 80; --quick none); "
                             "each at most --epochs")
    parser.add_argument("--lr-drop", type=R["lr_drop"], help="factor of each lr drop, >= 1 (default 10)")
    parser.add_argument("--batch-size", type=R["batch_size"], help="images per step (default 128)")
    parser.add_argument("--widths", type=R["width"], nargs=4, metavar="C",
                        help="output channels of conv1..conv4 (default 32 64 128 256; --quick 16 16 32 32)")
    parser.add_argument("--n-train", type=R["n_train"], help="first N training images (default 50000)")
    parser.add_argument("--n-test", type=R["n_test"], help="first N test images (default 10000)")
    parser.add_argument("--seed", type=validate.seed, help="initial weights and data order (default 0)")
    parser.add_argument("--momentum", type=validate.unit_interval, help="momentum of momentum/nesterov_torch/"
                        "normalized (default 0.9; sgd with a momentum is heavy-ball momentum)")
    parser.add_argument("--image-size", type=int, choices=IMAGE_SIZES,
                        help="input pixels: 32, or CIFAR-10 average-pooled to 16 or 8 (default 32; --quick 16)")
    parser.add_argument("--translate", type=R["translate"], help="random shift in pixels, 0..16 (default 4)")
    parser.add_argument("--no-flip", action="store_true", help="no horizontal flips")
    parser.add_argument("--no-head-decay", action="store_true", help="no L2 on the linear head's weight")
    parser.add_argument("--network", choices=NETWORKS, default=None,
                        help="standard (the paper's: trained BN affine and head) or invariant (every trained weight "
                             "scale-invariant: no BN affine, frozen random head); default standard, --quick invariant")
    parser.add_argument("--data", metavar="DIR", type=validate.text,
                        help="CIFAR-10 folder (.npz shards or cifar-10-batches-py); default $NORMLAWS_DATA, "
                             "else ../shared/data/cifar10 beside the repo, else ./data")
    parser.add_argument("--download", action="store_true", help="download the official archive if absent")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the checksums (shapes still checked): for synthetic or re-encoded .npz "
                             "shards; the official pickle batches are read without unpickling either way")
    parser.add_argument("--device", default="auto", type=validate.device,
                        help="auto (cuda if visible), cpu, cuda, cuda:N")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 autocast for activations (default: on for CUDA, off on CPU)")
    parser.add_argument("--out", default=out_default, type=validate.writable_dir, metavar="DIR",
                        help=f"results folder (default {out_default})")
    parser.add_argument("--lease", type=R["lease"], default=300.0, metavar="SECONDS",
                        help="a claim on a configuration whose heartbeat is older than this is taken over, "
                             "whatever host wrote it (default 300)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def add_arguments(parser) -> None:
    """Options: the optimizer, the (eta, lam) values (their product is trained as one ensemble), the base."""
    from ..gpu.config import OPTIMIZERS, rule_name
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="nesterov_torch", type=rule_name,
                        help="update rule, named as in normlaws.rules (default nesterov_torch: torch's "
                             "SGD(nesterov=True); the older nesterov, rmsprop name torch's rules)")
    parser.add_argument("--eta", type=R["eta"], nargs="+", default=[0.01], metavar="ETA",
                        help="base learning rate(s) (default 0.01)")
    parser.add_argument("--lam", type=R["lam"], nargs="+", default=[5e-4], metavar="LAM",
                        help="the paper's lambda(s): penalty lam*||w||^2 (torch weight_decay = 2*lam)")
    add_training_arguments(parser, "results/train")


def base_config(args):
    """The base :class:`TrainConfig` from the preset and the explicit options (explicit ones win)."""
    from ..gpu.presets import PAPER_BASE, QUICK_BASE
    base = QUICK_BASE if args.quick else PAPER_BASE
    explicit = {"epochs": args.epochs, "batch_size": args.batch_size, "n_train": args.n_train,
                "n_test": args.n_test, "seed": args.seed, "translate": args.translate, "lr_drop": args.lr_drop,
                "image_size": args.image_size, "network": getattr(args, "network", None),
                "widths": tuple(args.widths) if args.widths else None,
                "milestones": tuple(args.milestones) if args.milestones is not None else None}
    base = replace(base, **{k: v for k, v in explicit.items() if v is not None})
    if args.no_flip:
        base = replace(base, flip=False)
    if args.no_head_decay:
        base = replace(base, decay_head=False)
    if base.n_train < base.batch_size:
        raise UsageError(f"--n-train {base.n_train} is smaller than one batch of {base.batch_size}")
    late = [m for m in args.milestones or () if m > base.epochs]
    if late:
        raise UsageError(f"--milestones {late[0]} is after the last epoch ({base.epochs}; --epochs)")
    return base


def with_momentum(cfg, args):
    """Apply ``--momentum`` to the rules that have one (``sgd`` with a momentum becomes ``momentum``)."""
    if args.momentum is not None and cfg.optimizer in ("sgd", "momentum", "nesterov_torch", "normalized"):
        return replace(cfg, momentum=args.momentum)
    return cfg


def data_spec(args, base):
    """Where the data is, for the workers; one line now if there is none (before anything is written)."""
    from ..gpu.data import locate
    from ..gpu.sweep import DataSpec
    locate(args.data, download=args.download)
    return DataSpec(args.data, base.n_train, base.n_test, args.download, verify=not args.no_verify)


def ensemble_bytes(models: int, widths, batch: int) -> float:
    """A rough upper estimate of the memory of training ``models`` ConvNets at once on ``batch`` 32x32 images:
    six float32 copies of the parameters (weights, gradients, optimizer state, the previous step) and four
    of every activation map (kept for the backward pass).

    >>> round(ensemble_bytes(1, (32, 64, 128, 256), 128) / 2**20)
    129
    """
    c = list(widths)
    params = 27 * c[0] + 9 * (c[0] * c[1] + c[1] * c[2] + c[2] * c[3]) + 11 * c[3] + 2 * sum(c)
    activations = c[0] * 32 * 32 + c[1] * 16 * 16 + c[2] * 8 * 8 + c[3] * 4 * 4
    return models * 4.0 * (6 * params + 4 * batch * activations)


def check_ensemble_memory(models: int, widths, batch: int, device: str) -> None:
    """One line when ``models`` ConvNets would not fit in the memory of ``device`` (see :func:`ensemble_bytes`)."""
    import torch
    dev = torch.device(device)
    total, where = None, "this machine"
    if dev.type == "cuda":
        total, where = torch.cuda.get_device_properties(dev).total_memory, torch.cuda.get_device_name(dev)
    validate.check_memory(ensemble_bytes(models, widths, batch), f"an ensemble of {models} models", total, where)


def progress_factory(args):
    """A progress-bar maker for the sweep, or None with ``--no-progress``."""
    if args.no_progress:
        return None
    return lambda total, label: Progress(total, label)


def result_rows(records) -> list:
    """Table rows: optimizer, eta, lam, status, final test error, conv1 norm at the fit epoch and at the end."""
    from ..gpu.analysis import as_float, equilibrated, family, network_of
    rows = []
    for r in sorted(records, key=lambda r: (family(r), network_of(r), r["config"]["seed"], r["config"]["eta"],
                                            r["config"]["lam"])):
        f = r["final"]
        rows.append([family(r), network_of(r), r["config"]["seed"], f"{r['config']['eta']:.4g}",
                     f"{r['config']['lam']:.4g}", r["status"],
                     f"{as_float(f.get('test_error')):.4f}", f"{as_float(f.get('conv1_norm_fit_epoch')):.4f}",
                     f"{as_float(f.get('conv1_norm_final')):.4f}", "yes" if equilibrated(r) else "no"])
    return rows


ROW_HEADER = ["optimizer", "network", "seed", "eta", "lam", "status", "test error", "conv1 norm (fit epoch)",
              "conv1 norm (end)",
              "equilibrated"]


def report(args, outcome: dict, configs: list) -> int:
    """Print the records of ``configs`` (table or JSON), those running elsewhere and those not run with why;
    exit 1 when a configuration is neither recorded nor running (a failed group, a lost claim)."""
    from ..gpu.analysis import load_records
    from ..gpu.sweep import RECORDS
    keys = {c.key for c in configs}
    records = [r for r in load_records(Path(args.out) / RECORDS) if r["key"] in keys]
    name = {c.key: f"{c.optimizer} ({c.network}, seed {c.seed}) eta={c.eta:g} lam={c.lam:g}" for c in configs}
    running, not_run = outcome.get("running", {}), outcome.get("not_run", [])
    if args.json:
        print_json({"out": str(args.out), "skipped": outcome["skipped"], "ran": len(outcome["ran"]),
                    "failed": outcome["failed"], "running": running,
                    "not_run": [{"key": k, "config": name[k], "why": why} for k, why in not_run],
                    "records": [{k: r.get(k) for k in ("key", "status", "config", "final", "diverged_at")}
                                for r in records]})
    else:
        print(table(result_rows(records), ROW_HEADER))
        print(f"\n{len(outcome['ran'])} run, {outcome['skipped']} already recorded, {len(running)} running "
              f"elsewhere, {len(not_run)} not run, {len(outcome['failed'])} group(s) failed; records in "
              f"{Path(args.out) / RECORDS}")
        for key, holder in running.items():
            print(f"running elsewhere: {name[key]} ({key}): {holder}")
        for key, why in not_run:
            print(f"NOT RUN: {name[key]} ({key}): {why}")
    return 1 if not_run else 0


def run(args) -> int:
    """Train the ensemble of (eta, lam) pairs in this process and print the results."""
    require_torch()
    from ..gpu.sweep import resolve_device, run_sweep
    base = base_config(args)
    configs = [with_momentum(replace(base, optimizer=args.optimizer, eta=e, lam=l, momentum=None), args)
               for e in args.eta for l in args.lam]
    device = resolve_device(args.device)
    check_ensemble_memory(len(configs), base.widths, base.batch_size, device)
    outcome = run_sweep(configs, data_spec(args, base), args.out, executor="inline", device=device,
                        max_models=len(configs), amp=args.amp, progress_factory=progress_factory(args),
                        lease=args.lease)
    return report(args, outcome, configs)
