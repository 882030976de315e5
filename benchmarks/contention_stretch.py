"""How much competing load stretches the DNN's inference on this machine, against the contention rule.

For each competing load (busy cores, played by ``hw_agents.LoadReplayer``'s pinned burners at nice 0),
frame period and k, the live agent (``hw_agents.deploy`` with ``static:K:PE:TOP``, the platform's own
thread rule) runs ``--seconds`` of frames; printed: the median inference time over the table's
(``stretch``) beside the stretch the platform's contention rule predicts
(``platform_models.Contention``), and the same for one bare inference after a sleep of the frame
period with no agent work around it (``bare_stretch``), which shows the kernel letting a thread
that slept run ahead of the burners. With ``--by-phase`` (where the platform knows its scheduler
tick), each row also has ``infer_ms_by_tick_phase``: the median inference of the frames that arrived in
each eighth of the tick (their arrival on the monotonic clock, to which the kernel aligns its tick,
modulo the tick), which shows at which phases a held core splits a frame and by how much; a frame
period that is not a whole number of ticks (21.618 ms at a 4 ms tick) walks the frames over them.
Where the platform measured a held core's turns (``platform_models.turns``), a held row also has
``model_ms_by_tick_phase``: the same medians of what the turns give the same frames at their phases.

    .venv/bin/python benchmarks/contention_stretch.py [--loads 2] [--periods 20 37 50] [--by-phase] [--json]
"""

from __future__ import annotations

import _entry  # first: a Ctrl-C or SIGTERM while the modules below load waits for _entry.run

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `dynscale profile` and `deploy` run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=float, nargs="+", default=[2.0],
                        help="competing busy cores (default %(default)s)")
    parser.add_argument("--periods", type=float, nargs="+", default=[20.0, 37.0, 50.0],
                        help="frame periods in ms (default %(default)s)")
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 2, 3, 4],
                        help="k values (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="live seconds per point (default %(default)s)")
    parser.add_argument("--platform", default="host", help="platform of this machine (default %(default)s)")
    parser.add_argument("--by-phase", action="store_true",
                        help="also each row's median inference per eighth of the scheduler tick the frames "
                        "arrived in (infer_ms_by_tick_phase)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)

    from controllers import make_controller
    from dynscale._output import format_table, print_json
    from hw_agents import deploy, open_board
    from hw_agents.inference import platform_dnn
    from platform_models import Contention, load_platform
    from platform_models.errors import PlatformError
    from platform_models.turns import Turns
    from traces import Trace

    platform = load_platform(args.platform)
    pe = next((p for p in platform.pes if p.kind == "cpu"), None)
    if pe is None:  # before any deploy: the stretch is a CPU scheduler's
        raise PlatformError(f"platform {platform.name} has no CPU PE: the stretch is measured on a CPU's "
                            f"held cores", path=platform.path, field="pes")
    if args.by_phase and platform.scheduler_tick_ms is None:
        raise PlatformError(f"platform {platform.name} does not know its scheduler tick, which --by-phase "
                            f"divides (`dynscale profile --calibrate` reads it from the kernel)",
                            path=platform.path, field="scheduler_tick_ms")
    top_mhz = max(pe.freqs_mhz)
    board = open_board("host")
    contention = Contention(platform)
    turns = Turns.of(platform) if args.by_phase else None
    model, _, x = platform_dnn(platform)
    rows = []
    for load in args.loads:
        busy = np.array([load if p.name == pe.name else 0.0 for p in platform.pes])
        loaded = contention.config_metrics(busy)
        for period_ms in args.periods:
            trace = Trace(platform=platform.name, kind="steady", split="eval", frame_period_ms=period_ms,
                          duration_s=args.seconds, time_s=[0.0],
                          load={p.name: [load if p.name == pe.name else 0.0] for p in platform.pes})
            for k in args.groups:
                action = platform.configs().index((k, pe.name, top_mhz))
                threads = max(int(loaded.threads[action]), 1)
                table_ms = platform.latency_ms(pe.name, top_mhz, threads, k)
                with tempfile.TemporaryDirectory() as tmp:
                    deploy(board, make_controller(f"static:{k}:{pe.name}:{top_mhz:g}", platform), trace, tmp,
                           duration_s=args.seconds, platform=platform)
                    with (Path(tmp) / "deploy-log.csv").open(newline="") as f:
                        log = list(csv.DictReader(f))
                infer_ms = float(np.median([float(r["infer_ms"]) for r in log]))
                bare_ms = _bare_inference_ms(board, model, x, trace, pe.name, k, threads,
                                             period_ms - table_ms)
                rows.append({
                    "load_cores": load, "period_ms": period_ms, "groups": k, "threads": threads,
                    "table_ms": round(table_ms, 3), "infer_ms_median": round(infer_ms, 3),
                    "stretch": round(infer_ms / table_ms, 3), "bare_stretch": round(bare_ms / table_ms, 3),
                    "rule_stretch": round(float(loaded.metrics.latency_ms[action]) / table_ms, 3),
                    **({"infer_ms_by_tick_phase": by_tick_phase(log, platform.scheduler_tick_ms)}
                       if args.by_phase else {}),
                })
                if turns is not None and loaded.outcomes.split_share[action] > 0.0:  # a held core
                    run_ms = float(loaded.outcomes.ahead.latency_ms[action])
                    # each frame's first tick comes the tick less its arrival's phase after it
                    first_ticks_ms = [-float(r["arrival_s"]) * 1000.0 % turns.tick_ms for r in log]
                    turned_ms = [run_ms + turns.wait_ms(run_ms, first_ms) for first_ms in first_ticks_ms]
                    rows[-1]["model_ms_by_tick_phase"] = by_tick_phase(log, turns.tick_ms, turned_ms)
    if args.json:
        print_json({"platform": platform.name, "seconds": args.seconds, "rows": rows})
    else:
        print(format_table(rows))
    return 0


def by_tick_phase(log: list[dict[str, str]], tick_ms: float, values_ms: list[float] | None = None,
                  bins: int = 8) -> list[float | None]:
    """The median ``infer_ms`` (or ``values_ms``, one per frame) of the live frames that arrived in
    each of ``bins`` equal parts of the scheduler tick (``arrival_s`` modulo ``tick_ms``), rounded to
    0.01 ms; None where none did."""
    phase_ms = np.array([float(r["arrival_s"]) * 1000.0 % tick_ms for r in log])
    infer_ms = np.array([float(r["infer_ms"]) for r in log] if values_ms is None else values_ms)
    part = np.minimum((phase_ms / tick_ms * bins).astype(int), bins - 1)
    return [round(float(np.median(infer_ms[part == j])), 2) if (part == j).any() else None
            for j in range(bins)]


def _bare_inference_ms(board, model, x, trace, pe: str, k: int, threads: int, sleep_ms: float,
                       n: int = 40) -> float:
    """Median of ``n`` inferences, each after a sleep of ``sleep_ms``, under ``trace``'s load: no agent."""
    import torch

    from hw_agents.affinity import inference_state_restored, pin_inference
    from hw_agents.loadgen import LoadReplayer

    model.set_active_groups(k)
    latencies = []
    with inference_state_restored(), torch.inference_mode(), LoadReplayer(trace, board.pes, lead_in_s=0.3):
        time.sleep(0.3)  # the burners at their duty cycle
        pin_inference(board, pe)
        torch.set_num_threads(threads)
        for _ in range(5):
            model(x)
        for _ in range(n):
            time.sleep(max(sleep_ms, 0.0) / 1000.0)
            start = time.perf_counter()
            model(x)
            latencies.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(latencies))


if __name__ == "__main__":
    _entry.run(main, "contention_stretch")
