"""The verb sweep: many trainings and evaluations as one Ray Tune experiment (docs/sweeps.md)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from dynscale._options import COUNT
from dynscale._output import add_json_flag, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add sweep."""
    p = subparsers.add_parser(
        "sweep",
        help="train and evaluate a grid or a search of settings on Ray (this machine or a cluster)",
        description="Each trial is `dynscale train` then `dynscale evaluate` on the held-out traces; "
        "DIR gets trials.csv, summary.md, PNG plots and best/PLATFORM.yml (docs/sweeps.md).",
    )
    p.add_argument("spec", type=Path, metavar="SPEC.yml", help="what to sweep (docs/sweeps.md)")
    p.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="sweep folder (shared storage on a cluster)"
    )
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: Ray embedded on this machine)",
    )
    p.add_argument(
        "--max-concurrent", type=COUNT, default=None, metavar="N", help="trials at once (default: CPUs)"
    )
    p.add_argument("--resume", action="store_true", help="finish the unfinished trials of the sweep in DIR")
    add_json_flag(p)
    p.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from controllers._sweep import run_sweep
    from controllers._sweep_report import write_sweep_report
    from controllers._sweep_spec import read_spec

    spec = read_spec(args.spec)
    try:
        outcome = run_sweep(
            spec,
            args.out,
            address=args.address,
            max_concurrent=args.max_concurrent,
            resume=args.resume,
            show_progress=not args.json and sys.stderr.isatty(),
        )
    except KeyboardInterrupt:  # the one line says how to finish; cli's own "interrupted" would be a second
        print(
            f"dynscale: sweep stopped; finish it with: dynscale sweep {args.spec} --out {args.out} --resume",
            file=sys.stderr,
        )
        return 128 + signal.SIGINT
    written = write_sweep_report(outcome)
    counts = {s: sum(t["status"] == s for t in outcome.trials) for s in ("done", "stopped early", "failed")}
    if args.json:
        print_json(
            {"out": str(outcome.out), "trials": outcome.trials, **counts, "files": [str(p) for p in written]}
        )
    else:
        print(
            f"{len(outcome.trials)} trials: {counts['done']} done, {counts['stopped early']} stopped early, "
            f"{counts['failed']} failed; {outcome.out}/summary.md, trials.csv, plots, best/"
        )
    return 0 if counts["done"] else 1
