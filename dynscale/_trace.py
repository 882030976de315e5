"""The verbs trace gen|record|show|validate."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dynscale._options import NONNEGATIVE, POSITIVE, check_out_file
from dynscale._output import add_json_flag, format_table, print_json

# The choices of --kind, written out so that --help imports nothing (tests check them against
# traces.GENERATED_KINDS and NOVEL_KINDS).
GEN_KINDS = (
    "steady", "periodic", "bursty", "ramp", "concurrent-dnn",
    "heavy-tailed", "budget-drop", "gpu-dnn", "oscillating", "overload",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's verbs to the command line."""
    parser = subparsers.add_parser(
        "trace",
        help="competing load and budgets over time: generate, record, show, validate",
        description="Traces: CSV files of the competing load per PE and the DNN's budgets over time "
        "(docs/formats.md).",
    )
    verbs = parser.add_subparsers(dest="trace_verb", metavar="VERB")
    verbs.required = True

    gen = verbs.add_parser("gen", help="write a seeded synthetic trace for a platform")
    gen.add_argument("--kind", required=True, choices=GEN_KINDS, help="shape of the competing load")
    gen.add_argument("--platform", required=True, help="shipped platform name or path to a descriptor .yaml")
    gen.add_argument("--seed", type=NONNEGATIVE, default=0, help="random seed (same seed, same file)")
    gen.add_argument("--duration", type=POSITIVE, default=60.0, metavar="SEC", help="length in s")
    gen.add_argument(
        "--split", choices=("train", "eval", "novel"), default="train",
        help="train, held-out eval, or held-out novel (kinds training never sees)",
    )
    gen.add_argument(
        "--frame-period-ms",
        type=POSITIVE,
        default=None,
        help="time between frames (default: the shortest usual period >= 2x the fastest all-groups latency)",
    )
    gen.add_argument("--out", required=True, type=Path, metavar="FILE", help="trace CSV to write")
    add_json_flag(gen)
    gen.set_defaults(handler=_gen)

    record = verbs.add_parser("record", help="record this machine's per-CPU busy time as a trace (host)")
    record.add_argument(
        "--duration", type=POSITIVE, required=True, metavar="SEC", help="how long to record, in s"
    )
    record.add_argument("--out", required=True, type=Path, metavar="FILE", help="trace CSV to write")
    record.add_argument("--period-s", type=POSITIVE, default=0.5, help="sample period in s (default 0.5)")
    record.add_argument(
        "--latency-budget-ms", type=POSITIVE, default=None,
        help="latency budget for the whole trace (default: none)"
    )
    record.add_argument("--power-budget-w", type=POSITIVE, default=None,
                        help="power budget for the whole trace (default: none)")
    record.add_argument(
        "--energy-budget-mj", type=POSITIVE, default=None,
        help="energy budget for the whole trace (default: none)"
    )
    record.add_argument("--split", choices=("train", "eval"), default="eval",
                        help="train or held-out eval (default eval)")
    record.add_argument("--frame-period-ms", type=POSITIVE, default=100.0,
                        help="time between frames (default 100)")
    record.add_argument("--proc-root", default="/proc", help=argparse.SUPPRESS)  # tests: a fake /proc
    add_json_flag(record)
    record.set_defaults(handler=_record)

    show = verbs.add_parser("show", help="summary of a trace: load per PE, budgets, optional PNG plot")
    show.add_argument("file", type=Path, metavar="FILE", help="a trace CSV")
    show.add_argument("--png", type=Path, default=None, metavar="FILE", help="also write a plot here")
    add_json_flag(show)
    show.set_defaults(handler=_show)

    validate = verbs.add_parser("validate", help="report every problem of trace files (exit 2 if any)")
    validate.add_argument("files", type=Path, nargs="+", metavar="FILE", help="trace CSVs")
    validate.add_argument(
        "--platform",
        default=None,
        help="also check the load columns against this platform (default: the trace's own platform, "
        "when it is a shipped one)",
    )
    add_json_flag(validate)
    validate.set_defaults(handler=_validate)


def _gen(args: argparse.Namespace) -> int:
    from platform_models import load_platform
    from traces import save_trace
    from traces.summary import summarize
    from traces.synthetic import generate

    check_out_file(args.out)
    trace = generate(
        args.kind,
        load_platform(args.platform),
        args.seed,
        duration_s=args.duration,
        frame_period_ms=args.frame_period_ms,
        split=args.split,
    )
    path = save_trace(trace, args.out)
    summary = {**summarize(trace), "path": str(path)}
    if args.json:
        print_json(summary)
    else:
        n = summary["segments"]
        print(f"wrote {path}: {n} segments, {trace.duration_s:g} s, {trace.kind} {trace.split}")
    return 0


def _record(args: argparse.Namespace) -> int:
    from hw_agents import record_trace
    from platform_models.progress import show_progress
    from traces.summary import summarize

    check_out_file(args.out)
    trace = record_trace(
        args.out,
        args.duration,
        sample_period_s=args.period_s,
        latency_budget_ms=args.latency_budget_ms,
        power_budget_w=args.power_budget_w,
        energy_budget_mj=args.energy_budget_mj,
        proc_root=args.proc_root,
        split=args.split,
        frame_period_ms=args.frame_period_ms,
        progress=show_progress(not args.json),
    )
    summary = {**summarize(trace), "path": str(args.out)}
    if args.json:
        print_json(summary)
    else:
        mean = ", ".join(f"{pe} mean {v['mean']:.2f} max {v['max']:.2f}" for pe, v in summary["load"].items())
        print(f"wrote {args.out}: {summary['segments']} segments over {trace.duration_s:g} s; load {mean}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from traces import load_trace
    from traces.summary import plot_trace, summarize

    if args.png is not None:
        check_out_file(args.png, "--png")
    with _progress(args, "reading") as progress:
        trace = load_trace(args.file, progress=progress)
    summary = summarize(trace)
    if args.png is not None:
        summary["png"] = str(plot_trace(trace, args.png))
    if args.json:
        print_json(summary)
        return 0
    print(
        f"{args.file}: platform {trace.platform}, kind {trace.kind}, split {trace.split}, seed {trace.seed}, "
        f"{trace.duration_s:g} s, {len(trace)} segments, frame period {trace.frame_period_ms:g} ms"
    )
    if trace.description:
        print(trace.description)
    print()
    print(
        format_table(
            [{"pe": pe, "mean load": v["mean"], "max load": v["max"]} for pe, v in summary["load"].items()]
        )
    )
    print()
    rows = [
        {"budget": name, "min": v["min"], "max": v["max"], "time present %": 100.0 * v["present_share"]}
        for name, v in summary["budgets"].items()
    ]
    print(format_table(rows))
    if args.png is not None:
        print(f"\nplot: {summary['png']}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from platform_models import load_platform, shipped_platforms
    from traces import validate_trace

    def platform_of(own: str) -> Any:  # the one asked for, else the trace's own if shipped
        if args.platform is not None:
            return load_platform(args.platform)
        return load_platform(own) if own in shipped_platforms() else None

    results: dict[str, list[str]] = {}
    for path in args.files:
        with _progress(args, f"validating {path}") as progress:
            results[str(path)] = validate_trace(path, platform=platform_of, progress=progress)
    n_bad = sum(bool(problems) for problems in results.values())
    if args.json:
        print_json({"files": results, "n_invalid": n_bad})
    else:
        for path, problems in results.items():
            print("\n".join(problems) if problems else f"{path}: ok")
    if n_bad:
        print(f"dynscale: {n_bad} of {len(results)} trace file(s) invalid", file=sys.stderr)
        return 2
    return 0


@contextlib.contextmanager
def _progress(args: argparse.Namespace, what: str) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(lines_done, lines_total)`` for reading a trace: a bar on a terminal once the
    reading has taken 2 s (a 100k-row trace takes seconds), nothing under --json or off a terminal."""
    from tqdm import tqdm

    enabled = not args.json and sys.stderr.isatty()
    with tqdm(desc=what, unit=" lines", delay=2.0, disable=not enabled, leave=False) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield progress
