"""The verbs dnn train|bench|cost."""

from __future__ import annotations

import argparse

from dynscale._output import add_json_flag, format_table, print_json

ARCH_HELP = "architecture: alexnet-cifar (3x32x32) or alexnet-digits (1x8x8)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's verbs to the command line."""
    dnn_parser = subparsers.add_parser("dnn", help="the dynamic DNN: train, benchmark, cost per k")
    verbs = dnn_parser.add_subparsers(dest="dnn_verb", metavar="VERB")
    verbs.required = True

    cost = verbs.add_parser("cost", help="MACs, parameter and activation bytes of one inference per k")
    cost.add_argument("--arch", default="alexnet-cifar", help=ARCH_HELP + " (default: alexnet-cifar)")
    cost.add_argument("--groups", type=int, default=4, help="G, channel groups (default: 4)")
    cost.add_argument("--connectivity", default="group", help="group (default) or nested")
    cost.add_argument("--k", type=int, default=None, help="one k only (default: every k in 1..G)")
    add_json_flag(cost)
    cost.set_defaults(handler=_cost)


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
