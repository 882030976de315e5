"""The live agent's own time per frame, stage by stage: `python benchmarks/agent_overhead.py [--json]`.

Deploys each controller on this machine's host board (no competing load replayed, a latency budget
of twice the frame period) and reads the agent's stage times from the deploy log: per stage
(``sense_ms``, ``decide_ms``, ``apply_ms``, ``record_ms``) and in all (``agent_ms``, the figure
deploy's summary reports), the median and the 99th percentile over the frames, and the ratio of the
median to the median batch-1 inference at k = 1 (timed here, in the same process, at the same frame
rate). ``wake_ms`` (arrival to the agent running again: the operating system's) is shown beside, and
``prepare_ms``, the agent's time awake before each frame rehearsing it (CPU time outside the frame).

Each controller is deployed twice, one run after the other: as ``deploy`` runs by default (each
frame rehearsed just before it arrives) and with ``--no-rehearse`` (JSON ``not_rehearsed``: the
same figures; ``rehearsal_speedup``: the ratio of the two medians). Then the same stages of the same
controller back to back, without the sleep and the inference between frames (JSON ``warm``:
``median_ms`` and per stage): what the agent's work costs with the caches warm.

Controllers: ``lookup``, ``lookup-adaptive``, ``learned`` (the host's shipped policy,
``controllers/policies/host.npz``: maskable PPO, two hidden layers of 256, normalised observations)
and ``policy``, an exported policy file (``--policy FILE``; without one, a file of the shape
``dynscale train`` exports for PPO by default, two hidden layers of 64 with tanh, holding seeded
random weights and no normalisation: its forward pass costs what a trained one's does, its choices
mean nothing). Prints figures side by side, asserts nothing.
"""

from __future__ import annotations

import _entry  # first: a Ctrl-C or SIGTERM while the modules below load waits for _entry.run

import argparse
import contextlib
import csv
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from controllers import make_controller
from controllers._policy import POLICY_FORMAT
from hw_agents import open_board
from hw_agents.agent import LOG_NAME, STAGE_COLUMNS, deploy
from hw_agents.inference import platform_dnn
from hw_agents.provenance import cpu_model
from platform_models import OBSERVATION_VERSION, ObservationSpec, load_platform
from traces import Trace

WARM_UP = 5  # untimed inferences before the k = 1 timing (deploy warms its DNN up itself)
STAGES = tuple(column.removesuffix("_ms") for column in STAGE_COLUMNS)


def seeded_policy(platform, path: Path, seed: int = 15) -> Path:
    """A policy file in the exported format with seeded random weights (see the module doc)."""
    rng = np.random.default_rng(seed)
    size = ObservationSpec(platform).size
    sizes = [size, 64, 64, len(platform.configs())]
    meta = {"format": POLICY_FORMAT, "name": "ppo:seeded-random", "algo": "ppo", "platform": platform.name,
            "observation_version": OBSERVATION_VERSION, "n_actions": sizes[-1], "obs_size": size,
            "activation": "tanh", "output": "logits", "n_layers": 3, "normalised": False}
    arrays = {"meta": np.array(json.dumps(meta)), "obs_mean": np.zeros(size), "obs_var": np.ones(size),
              "obs_clip": np.array(np.inf), "obs_eps": np.array(0.0)}
    for i in range(3):
        arrays[f"w{i}"] = rng.standard_normal((sizes[i + 1], sizes[i]))
        arrays[f"b{i}"] = rng.standard_normal(sizes[i + 1])
    np.savez(path, **arrays)
    return path


def k1_inference_ms(platform, frames: int, period_s: float) -> float:
    """Median batch-1 inference at k = 1, one per frame period (as the agent runs them)."""
    import torch

    model, _, x = platform_dnn(platform)
    model.set_active_groups(1)
    times = []
    with torch.inference_mode():
        for _ in range(WARM_UP):
            model(x)
        for _ in range(frames):
            time.sleep(period_s)
            begin = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - begin) * 1000.0)
    return float(np.median(times))


def warm_stages(platform, board, controller, trace, frames: int) -> dict:
    """The agent's four stages run back to back over ``frames`` frames, without the sleep and the
    inference between them (so with warm caches), as the deploy runs them: the medians in ms, per
    stage and of their sum. Set against the deploy's own figures, the difference is what the caches
    emptied by the sleep and the inference cost."""
    from hw_agents.affinity import inference_state_restored
    from hw_agents.agent import _LiveRun, _Ran, _Runner

    model, _, x = platform_dnn(platform)
    run = _LiveRun(board, controller, trace, platform, _Runner(model, x, platform, {}), "/proc",
                   platform.accuracy, {}, n_frames=frames)
    controller.reset()
    clock = time.perf_counter
    times = []
    with contextlib.closing(run), inference_state_restored():
        run.start_load_window()
        start = time.monotonic()
        for index in range(frames):
            t0 = clock()
            sensed = run.sense(index, time.monotonic(), time.monotonic(), 0.0, start)
            t1 = clock()
            decision = run.decide(sensed)
            t2 = clock()
            threads = run.apply(decision, sensed.load)
            t3 = clock()
            run.record(sensed, _Ran(threads, 2.0, time.monotonic(), 15.0, "model"))
            times.append((t1 - t0, t2 - t1, t3 - t2, clock() - t3))
    stage_ms = np.median(np.array(times) * 1000.0, axis=0)
    return {"median_ms": float(np.median(np.array(times).sum(axis=1) * 1000.0)),
            "stages": {stage: float(ms) for stage, ms in zip(STAGES, stage_ms, strict=True)}}


def figures(log: Path) -> dict:
    """Median and p99 of ``agent_ms``, of every stage, of ``wake_ms`` and of ``prepare_ms`` over the
    frames of a log."""
    with log.open(newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for column in ("agent_ms", *STAGE_COLUMNS, "wake_ms", "prepare_ms"):
        values = np.array([float(r[column]) for r in rows])
        out[column] = {"median_ms": float(np.median(values)), "p99_ms": float(np.percentile(values, 99))}
    return {"median_ms": out["agent_ms"]["median_ms"], "p99_ms": out["agent_ms"]["p99_ms"],
            "frames": len(rows),
            "stages": {stage: out[column] for stage, column in zip(STAGES, STAGE_COLUMNS, strict=True)},
            "wake": out["wake_ms"], "prepare": out["prepare_ms"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400, help="frames per controller (default 400)")
    parser.add_argument("--period-ms", type=float, default=20.0, help="frame period (default 20 ms)")
    parser.add_argument("--policy", type=Path, help="an exported policy file for the host platform")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    show = not args.json and sys.stderr.isatty()
    platform = load_platform("host")
    if args.policy:
        make_controller(str(args.policy), platform)  # a bad policy file is refused before any deploy
    board = open_board("host")
    period_s = args.period_ms / 1000.0
    duration_s = args.frames * period_s
    trace = Trace(platform="host", kind="steady", split="eval", frame_period_ms=args.period_ms,
                  duration_s=duration_s, time_s=[0.0], load={"cpu": [0.0]},
                  latency_budget_ms=[2 * args.period_ms], description="benchmarks/agent_overhead.py")
    with tempfile.TemporaryDirectory() as tmp:
        policy = args.policy or seeded_policy(platform, Path(tmp) / "policy.npz")
        results = {}
        for name in ("lookup", "lookup-adaptive", "learned", str(policy)):
            label = "policy" if name == str(policy) else name
            if show:
                print(f"deploying {label} for {duration_s:.1f} s ...", file=sys.stderr)
            runs = {}
            for rehearse in (True, False):
                out = Path(tmp) / label / str(rehearse)
                summary = deploy(board, make_controller(name, platform), trace, out, duration_s=duration_s,
                                 platform=platform, replay_load=False, rehearse=rehearse)
                runs[rehearse] = {**figures(out / LOG_NAME), "deploy_agent_ms": summary.agent_ms}
            results[label] = {**runs[True], "not_rehearsed": runs[False],
                              "rehearsal_speedup": runs[False]["median_ms"] / runs[True]["median_ms"],
                              "warm": warm_stages(platform, board, make_controller(name, platform), trace,
                                                  args.frames)}
    if show:
        print(f"timing the k = 1 inference for {args.frames * period_s:.1f} s ...", file=sys.stderr)
    infer_ms = k1_inference_ms(platform, args.frames, period_s)
    report = {
        "command": " ".join(["python benchmarks/agent_overhead.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "machine": f"{cpu_model()}, {os.cpu_count()} CPUs",
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_average": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "policy": str(args.policy) if args.policy else "seeded random weights, 64x64 tanh (see the doc)",
        "k1_inference_ms": infer_ms,
        "controllers": {name: {**r, "ratio_to_k1_inference": r["median_ms"] / infer_ms}
                        for name, r in results.items()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['machine']}, {report['time_utc']}, load average {report['load_average']}")
    print(f"k = 1 inference: median {infer_ms:.3f} ms")
    header = f"{'controller':<16} {'agent median':>12} {'p99':>8} {'/ k=1 inf':>9}"
    stages = ("sense", "decide", "apply", "record", "wake", "prepare")
    header += "".join(f" {stage + ' med/p99':>17}" for stage in stages)
    print("each frame rehearsed before it arrives (deploy's default), ms:")
    print(header)
    for name, r in report["controllers"].items():
        cells = [*(r["stages"][s] for s in STAGES), r["wake"], r["prepare"]]
        print(f"{name:<16} {r['median_ms']:>12.4f} {r['p99_ms']:>8.4f} {r['ratio_to_k1_inference']:>9.3f}"
              + "".join(f" {c['median_ms']:>8.4f}/{c['p99_ms']:<8.4f}" for c in cells))
    print("deploy --no-rehearse, ms (speedup: its median over the rehearsed one's):")
    print(f"{'controller':<16} {'agent median':>12} {'p99':>8} {'speedup':>9}"
          + "".join(f" {stage + ' med/p99':>17}" for stage in stages[:-1]))
    for name, r in report["controllers"].items():
        n = r["not_rehearsed"]
        cells = [*(n["stages"][s] for s in STAGES), n["wake"]]
        print(f"{name:<16} {n['median_ms']:>12.4f} {n['p99_ms']:>8.4f} {r['rehearsal_speedup']:>9.2f}"
              + "".join(f" {c['median_ms']:>8.4f}/{c['p99_ms']:<8.4f}" for c in cells))
    print("the same stages back to back, no sleep or inference between frames (caches warm), median ms:")
    print(f"{'controller':<16} {'agent':>8}" + "".join(f" {stage:>8}" for stage in STAGES))
    for name, r in report["controllers"].items():
        warm = r["warm"]
        cells = "".join(f" {warm['stages'][s]:>8.4f}" for s in STAGES)
        print(f"{name:<16} {warm['median_ms']:>8.4f}{cells}")
    return 0


if __name__ == "__main__":
    _entry.run(main, "agent_overhead")
