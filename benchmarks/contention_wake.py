"""How much competing load stretches one inference that follows an idle gap, on this machine.

For each competing load (busy cores, played by ``hw_agents.LoadReplayer``'s pinned burners at nice 0)
and each k, the DNN runs one torch thread on the host PE's CPUs, each inference after a ``--gap-ms``
sleep as between frames; printed: the median latency and its ratio to the same k with no load
(``stretch``), beside what the ``fair`` contention rule predicts (``platform_models.contention``:
2 / (2 - d) once no core is free). On a kernel that lets a thread that slept run ahead of the
burners for a while, a short inference stretches less than the rule says and a long one more.

    .venv/bin/python benchmarks/contention_wake.py [--loads 0 1 1.5 2] [--repeats 60] [--json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `dynscale profile` and `deploy` run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=float, nargs="+", default=[0.0, 1.0, 1.5, 2.0],
                        help="competing busy cores (default %(default)s)")
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 2, 4],
                        help="k values (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=60, help="inferences per point (default %(default)s)")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="sleep before each (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)

    import torch

    from dynscale._output import format_table, print_json
    from hw_agents import open_board
    from hw_agents.loadgen import LoadReplayer
    from hw_agents.profiler import inference_state_restored, load_dnn, pin_inference
    from platform_models import Contention, load_platform
    from traces import Trace

    board = open_board("host")
    contention = Contention(load_platform("host"))
    model, section = load_dnn(None)
    x = torch.randn(1, *section["input_shape"], generator=torch.Generator().manual_seed(0))
    median_ms: dict[tuple[float, int], float] = {}
    with inference_state_restored(), torch.inference_mode():
        for load in args.loads:
            trace = Trace(platform="host", kind="steady", split="eval", frame_period_ms=args.gap_ms,
                          duration_s=3600.0, time_s=[0.0], load={"cpu": [load]})
            with LoadReplayer(trace, board.pes, lead_in_s=0.3):
                time.sleep(0.3)  # the burners at their duty cycle
                pin_inference(board, "cpu")
                torch.set_num_threads(1)
                for k in args.groups:
                    model.set_active_groups(k)
                    for _ in range(5):
                        model(x)
                    latencies = []
                    for _ in range(args.repeats):
                        time.sleep(args.gap_ms / 1000.0)
                        start = time.perf_counter()
                        model(x)
                        latencies.append((time.perf_counter() - start) * 1000.0)
                    median_ms[(load, k)] = float(np.median(latencies))
    idle = min(args.loads)
    rows = [{
        "load_cores": load, "groups": k, "latency_ms_median": round(median_ms[(load, k)], 3),
        "stretch": round(median_ms[(load, k)] / median_ms[(idle, k)], 3),
        "fair_rule_stretch": round(float(contention.allocate(np.array([load])).stretch[0])
                                   / float(contention.allocate(np.array([idle])).stretch[0]), 3),
    } for load in args.loads for k in args.groups]
    if args.json:
        print_json({"gap_ms": args.gap_ms, "repeats": args.repeats, "rows": rows})
    else:
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
