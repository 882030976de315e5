"""A table that is off: lookup against lookup-adaptive in the simulator, side by side.

The simulated board runs as its shipped table says; the controllers are given the same table with
every latency multiplied by ``--factor`` (0.5: a table that says the board is twice as fast as it
is; the agent's own work is left as measured). Each controller runs every trace (noise on, seed 0),
and once more on the right table, seeing the observation encoded for its own table, as the live
agent encodes it. Printed per trace: budget-met rate, mean accuracy, the scale ``lookup-adaptive``
ended on (the board's latency over the given table's, as it learned it) and the range it moved in
(a queue under a latency budget raises it while the queue lasts).

    .venv/bin/python benchmarks/stale_table.py [--platform odroid-xu3] [--factor 0.5 ...]
        [--trace T ...] [--json]
"""

from __future__ import annotations

import _entry  # first: a Ctrl-C or SIGTERM while the modules below load waits for _entry.run

import argparse
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", default="odroid-xu3", help="the simulated board (default %(default)s)")
    parser.add_argument("--factor", type=float, nargs="+", default=[0.5, 0.33], metavar="F",
                        help="latency of the controllers' table over the board's (default 0.5 0.33)")
    parser.add_argument("--trace", nargs="+", metavar="T",
                        help="traces (default: the platform's shipped eval traces)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)

    import gymnasium

    import envs  # noqa: F401  (registers the env id)
    from controllers import make_controller
    from controllers._evaluate import run_episode
    from dynscale._output import format_table, print_json
    from platform_models import load_platform, save_platform
    from platform_models.table import scaled_rows
    from traces import load_trace

    board = load_platform(args.platform)
    paths = args.trace or sorted(str(p) for p in (REPO / "traces" / "data" / board.name).glob("*-eval*.csv"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tables = {"right": board}
        for factor in args.factor:
            path = Path(tmp) / f"x{factor:g}" / f"{board.name}.yaml"
            save_platform({**board.descriptor, "table": f"{board.name}.csv"},
                          scaled_rows(board.rows, lambda row, f=factor: f), path)
            tables[f"x{factor:g}"] = load_platform(path)
        for path in paths:
            env = gymnasium.make("dynscale/DynamicDNN-v0", platform=board, trace=load_trace(path, board))
            for label, table in tables.items():
                for spec in ("lookup", "lookup-adaptive"):
                    recorder = _ScaleRecorder(make_controller(spec, table))
                    columns = run_episode(env, recorder, spec, Path(path).stem, seed=0).columns
                    scales = np.array(recorder.scales)
                    rows.append({"trace": Path(path).stem, "table": label, "controller": spec,
                                 "budget_met_rate": float(np.mean(columns["budget_met"])),
                                 "accuracy": float(np.mean(columns["accuracy"])),
                                 # the scale at the end, and the range it moved in over the episode
                                 "scale": None if np.isnan(scales).all() else float(scales[-1]),
                                 "scale_range": None if np.isnan(scales).all()
                                 else f"{scales.min():.2f}-{scales.max():.2f}"})
            env.close()
    if args.json:
        print_json({"platform": board.name, "runs": rows})
    else:
        print(format_table(rows))
    return 0


class _ScaleRecorder:
    """A controller as it is, plus the scale ``lookup-adaptive`` held at every frame."""

    def __init__(self, controller) -> None:
        self.controller, self.platform, self.spec = controller, controller.platform, controller.spec
        self.scales: list[float] = []

    def reset(self) -> None:
        self.controller.reset()

    def act(self, obs, info=None) -> int:
        action = self.controller.act(obs, info)
        self.scales.append(getattr(self.controller, "scale", float("nan")))
        return action


if __name__ == "__main__":
    _entry.run(main, "stale_table")
