"""Sweep engine cost: the same 8 short trials run serially in one process, then as a Ray Tune sweep.

A trial is what ``dynscale sweep`` runs (``controllers._sweep.trial_figures``: train then evaluate):
MaskablePPO on odroid-xu3, ``--timesteps`` timesteps (default 4096), no warm start, one held-out
trace, seeds 0..7. Serial: one process, one trial after the other, no Ray. Sweep: ``run_sweep`` with
``--max-concurrent`` trials at once (default 2) on the embedded Ray, Ray's start and stop included.
Both are wall-clock times of this process (a sweep's point is wall time), so on a shared machine
they include whatever else ran meanwhile: run it on a quiet machine, and read the two side by side.

* ``speedup`` = serial wall time / sweep wall time (target on 2 vCPU: >= 1.6);
* ``overhead_s_per_trial`` = (sweep wall time x concurrency - serial wall time) / trials: the engine's
  cost per trial beyond perfect parallelism (Ray start, actors, scheduling, reports) (target: <= 5 %
  of a 60 s trial, 3 s);
* ``trial_s``: the mean serial trial, to weigh the overhead against.

    .venv/bin/python benchmarks/sweep_bench.py [--timesteps N] [--max-concurrent N] [--json]
"""

from __future__ import annotations

import _entry  # first: a Ctrl-C or SIGTERM while the modules below load waits for _entry.run

import argparse
import os
import tempfile
import time
from pathlib import Path

N_TRIALS = 8
PLATFORM = "odroid-xu3"
EVAL_TRACE = "traces/data/odroid-xu3/bursty-eval-s103.csv"
HYPERPARAMS = {
    "n_envs": 1,
    "n_steps": 256,
    "batch_size": 64,
    "n_epochs": 4,
    "pretrain_steps": 0,
    "normalize": False,
}
TARGET_SPEEDUP = 1.6
TARGET_OVERHEAD_S = 0.05 * 60


def main(argv: list[str] | None = None) -> int:
    from dynscale._output import add_json_flag, format_table, print_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=4096, help="timesteps per trial (default 4096)")
    parser.add_argument(
        "--max-concurrent", type=int, default=2, help="trials at once in the sweep (default 2)"
    )
    add_json_flag(parser)
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as folder:
        spec_path = Path(folder) / "bench.yml"
        spec_path.write_text(
            f"platforms: [{PLATFORM}]\nseeds: {list(range(N_TRIALS))}\ntimesteps: {args.timesteps}\n"
            f"eval_traces: [{root / EVAL_TRACE}]\nhyperparams: {HYPERPARAMS}\n".replace("False", "false")
        )
        serial_s = _serial(spec_path, Path(folder) / "serial")
        sweep_s = _sweep(spec_path, Path(folder) / "sweep", args.max_concurrent)
    result = {
        "trials": N_TRIALS,
        "timesteps": args.timesteps,
        "max_concurrent": args.max_concurrent,
        "cpus": os.cpu_count(),
        "serial_s": round(serial_s, 1),
        "sweep_s": round(sweep_s, 1),
        "trial_s": round(serial_s / N_TRIALS, 2),
        "speedup": round(serial_s / sweep_s, 3),
        "overhead_s_per_trial": round((sweep_s * args.max_concurrent - serial_s) / N_TRIALS, 2),
        "target_speedup": TARGET_SPEEDUP,
        "target_overhead_s_per_trial": TARGET_OVERHEAD_S,
    }
    if args.json:
        print_json(result)
    else:
        print(
            format_table(
                [result],
                ["trials", "timesteps", "trial_s", "serial_s", "sweep_s", "speedup", "overhead_s_per_trial"],
            )
        )
        print(
            f"targets: speedup >= {TARGET_SPEEDUP} with 2 concurrent on 2 vCPU; overhead <= "
            f"{TARGET_OVERHEAD_S:.0f} s per trial (5 % of a 60 s trial); wall clock, {os.cpu_count()} CPUs"
        )
    return 0


def _serial(spec_path: Path, out: Path) -> float:
    """The sweep's trials one after the other in this process, without Ray."""
    from controllers._sweep import trial_figures
    from controllers._sweep_spec import read_spec

    spec = read_spec(spec_path)
    started = time.perf_counter()
    for seed in spec.seeds:
        config = {
            "platform": PLATFORM,
            "algo": spec.algos[0],
            "seed": seed,
            "timesteps": spec.timesteps[0],
            "hyperparams": spec.fixed,
            "traces": spec.traces,
            "eval_traces": spec.eval_traces,
        }
        trial_figures(config, out / f"seed{seed}", report=False)
    return time.perf_counter() - started


def _sweep(spec_path: Path, out: Path, max_concurrent: int) -> float:
    from controllers._sweep import run_sweep
    from controllers._sweep_spec import read_spec

    spec = read_spec(spec_path)
    started = time.perf_counter()
    outcome = run_sweep(spec, out, max_concurrent=max_concurrent)
    elapsed = time.perf_counter() - started
    failed = [t for t in outcome.trials if t["status"] != "done"]
    if failed:
        raise SystemExit(f"sweep_bench: {len(failed)} trial(s) did not finish: {failed[0]['error']}")
    return elapsed


if __name__ == "__main__":
    _entry.run(main, "sweep_bench")
