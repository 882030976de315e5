"""The verbs dnn train|bench|cost."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dynscale._options import COUNT, NONNEGATIVE, POSITIVE, check_out_dir, removed_on_error
from dynscale._output import add_json_flag, format_table, print_json

ARCH_HELP = "architecture: alexnet-cifar (3x32x32) or alexnet-digits (1x8x8)"
# Measured on the 2-core development machine under load: a digits training step took 17 ms on one
# thread and 262 ms on two (OpenMP threads spin-waiting for a busy core); tiny convolutions gain
# nothing from threads. CIFAR-10's larger maps do.
DEFAULT_TRAIN_THREADS = {"digits": 1, "cifar10": min(4, os.cpu_count() or 1)}
TARGETS = "targets: latency ratio <= 1.15 for every k, switch <= 50 us, footprint ratio >= 2.4"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's verbs to the command line."""
    dnn_parser = subparsers.add_parser("dnn", help="the dynamic DNN: train, benchmark, cost per k")
    verbs = dnn_parser.add_subparsers(dest="dnn_verb", metavar="VERB")
    verbs.required = True
    _register_train(verbs)
    _register_bench(verbs)
    _register_cost(verbs)


def _add_model_flags(
    parser: argparse.ArgumentParser, arch_default: str | None, arch_shown: str, groups_default: int | None = 4
) -> None:
    parser.add_argument("--arch", default=arch_default, help=f"{ARCH_HELP} (default: {arch_shown})")
    parser.add_argument("--groups", type=COUNT, default=groups_default, help="G, channel groups (default: 4)")
    parser.add_argument(
        "--connectivity",
        default="group",
        help="group: group g reads group g (default, the paper's); nested: group g reads groups 1..g",
    )


def _register_train(verbs: argparse._SubParsersAction) -> None:
    train = verbs.add_parser(
        "train", help="train a dynamic DNN incrementally, group by group; write a checkpoint folder"
    )
    train.add_argument(
        "--dataset", default="digits", help="digits (default, bundled) or cifar10 (needs --data-dir)"
    )
    train.add_argument("--data-dir", help="folder with the CIFAR-10 python batches (never downloaded)")
    _add_model_flags(train, None, "by dataset")
    train.add_argument("--epochs", type=COUNT, default=None, help="epochs per stage (default: 8)")
    train.add_argument("--batch-size", type=COUNT, default=None, help="images per batch (default: 64)")
    train.add_argument("--lr", type=POSITIVE, default=None, help="Adam learning rate (default: 3e-3)")
    train.add_argument("--seed", type=NONNEGATIVE, default=0, help="seeds weights, split, batch order")
    train.add_argument(
        "--threads", type=COUNT, default=None, help="torch threads (default: 1 digits, <= 4 cifar10)"
    )
    train.add_argument(
        "--out", required=True, help="checkpoint folder to write: model.pt, meta.json, accuracy.csv"
    )
    add_json_flag(train)
    train.set_defaults(handler=_train)


def _register_bench(verbs: argparse._SubParsersAction) -> None:
    bench = verbs.add_parser(
        "bench", help="batch-1 latency per k against static networks, switch time, memory footprint"
    )
    # No defaults: with --checkpoint, a given --arch or --groups is what the checkpoint must be.
    _add_model_flags(bench, None, "alexnet-cifar, or the checkpoint's", groups_default=None)
    bench.add_argument("--checkpoint", help="a checkpoint folder (default: a fresh model of --arch)")
    bench.add_argument("--runs", type=COUNT, default=200, help="timed runs per network and k (default: 200)")
    bench.add_argument("--threads", type=COUNT, default=1, help="torch threads (default: 1)")
    add_json_flag(bench)
    bench.set_defaults(handler=_bench)


def _register_cost(verbs: argparse._SubParsersAction) -> None:
    cost = verbs.add_parser("cost", help="MACs, parameter and activation bytes of one inference per k")
    _add_model_flags(cost, "alexnet-cifar", "alexnet-cifar")
    cost.add_argument("--k", type=COUNT, default=None, help="one k only (default: every k in 1..G)")
    add_json_flag(cost)
    cost.set_defaults(handler=_cost)


def _set_threads(threads: int) -> None:
    import torch

    from dnn import DNNError

    if threads < 1:
        raise DNNError(f"--threads {threads} must be >= 1")
    torch.set_num_threads(threads)


def _train(args: argparse.Namespace) -> int:
    import dataclasses

    from dnn.train import TrainConfig, train_checkpoint
    from platform_models.progress import show_progress

    check_out_dir(Path(args.out))
    _set_threads(args.threads or DEFAULT_TRAIN_THREADS.get(args.dataset, 1))
    settings = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr}
    config = TrainConfig(seed=args.seed, **{k: v for k, v in settings.items() if v is not None})
    with removed_on_error(Path(args.out)):
        rows = train_checkpoint(args.out, args.dataset, args.data_dir, args.arch, args.groups,
                                args.connectivity, config, progress=show_progress(not args.json))
    table = [dataclasses.asdict(row) for row in rows]
    if args.json:
        print_json({"out": args.out, "dataset": args.dataset, "rows": table})
    else:
        print(f"held-out accuracy per k ({args.dataset}); checkpoint written to {args.out}")
        print(format_table(table))
    return 0


def _bench(args: argparse.Namespace) -> int:

    from dnn import build_model
    from dnn.bench import bench
    from dnn.checkpoint import load_checkpoint
    from platform_models.progress import show_progress

    _set_threads(args.threads)
    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint, arch=args.arch, groups=args.groups)
    else:
        model = build_model(args.arch or "alexnet-cifar", args.groups or 4, args.connectivity)
    result = bench(model, n_runs=args.runs, progress=show_progress(not args.json))
    if args.json:
        print_json(result)
        return 0
    threads = result["threads"]
    print(
        f"{result['arch']}, G={result['G']}, {result['connectivity']}; batch 1, {threads} thread(s), "
        f"median of {result['n_runs']} interleaved runs each"
    )
    print(format_table(result["rows"]))
    print(f"switch: {result['switch_us']:.3f} us per set_active_groups")
    print(
        f"footprint: dynamic {result['dynamic_param_bytes']} B, {result['G']} static models "
        f"{result['static_param_bytes']} B, ratio {result['footprint_ratio']:.3f}"
    )
    print(TARGETS, file=sys.stderr)
    return 0


def _cost(args: argparse.Namespace) -> int:
    from dnn import count_cost
    from dnn.arch import check_active

    ks = range(1, args.groups + 1) if args.k is None else [check_active(args.k, args.groups)]
    rows = []
    for k in ks:
        cost = count_cost(args.arch, args.groups, args.connectivity, k)
        rows.append(
            {
                "groups": k,
                "macs": cost.macs,
                "param_bytes": cost.param_bytes,
                "activation_bytes": cost.activation_bytes,
            }
        )
    if args.json:
        print_json({"arch": args.arch, "G": args.groups, "connectivity": args.connectivity, "rows": rows})
    else:
        print(f"{args.arch}, G={args.groups}, {args.connectivity} connectivity; one image, float32")
        print(format_table(rows))
    return 0
