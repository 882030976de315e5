"""Is the default learned controller better than every heuristic, on traces it has never seen?

Per platform and seed: ``dynscale train --platform P --seed S`` with the default settings (no tuning
flags), timed (``train_wall_s`` of the run's config.yml; a finished run folder is reused); then
every controller over both held-out sets of shipped traces, ``eval`` (the train kinds, other seeds)
and ``novel`` (kinds no training trace has), in the simulator. Printed per
platform and set, per controller: mean reward per inference, ``gap_closed`` (0 = schedutil, 1 = the
clairvoyant oracle) with its worst seed, budget-met rate, energy per inference and its ratio to
schedutil's, each a mean over the seeds with the seeds' spread (heuristics have one value: their
episodes use the same noise seeds as the learned runs); and the training wall time per seed.

    .venv/bin/python benchmarks/controller_quality.py [--seeds 3] [--platforms P ...] [--json]
        [--out runs/controller_quality] [--ship]

``OUT/results.json`` holds the figures of every platform done so far (the JSON ``--json`` prints).
``--ship`` exports the best seed's policy (highest mean ``gap_closed`` over both sets) to
``controllers/policies/<platform>.npz`` with its provenance (seeds, traces, scores, date).
"""

from __future__ import annotations

import _entry  # first: a Ctrl-C or SIGTERM while the modules below load waits for _entry.run

import argparse
import datetime
import json
import platform as host_platform
import shutil
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

PLATFORMS = ("odroid-xu3", "jetson-nano", "host")
SPLITS = ("eval", "novel")
HEURISTICS = ("lookup-adaptive", "lookup", "reactive", "ondemand", "performance")
ALGO = "maskable-ppo"  # dynscale train's default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per platform (default 3)")
    parser.add_argument("--platforms", nargs="+", default=list(PLATFORMS), metavar="P")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "controller_quality",
                        help="folder for the run folders (default runs/controller_quality)")
    parser.add_argument("--ship", action="store_true", help="export the best seed to controllers/policies/")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds: expected an integer >= 1")
    show = (lambda text: print(text, file=sys.stderr, flush=True)) if sys.stderr.isatty() and not args.json \
        else (lambda text: None)

    results = {"machine": _machine(), "started_utc": _now(), "seeds": args.seeds, "platforms": {}}
    for name in args.platforms:
        results["platforms"][name] = _platform(name, args, show)
        # what is done so far, in case a long run is cut short
        _save(results, args.out)
    results["finished_utc"] = _now()
    _save(results, args.out)
    if args.json:
        from dynscale._output import print_json

        print_json(results)
    else:
        _print(results)
    return 0


def _save(results: dict[str, Any], out: Path) -> None:
    from platform_models.atomic import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "results.json", json.dumps(results, indent=1))


def _platform(name: str, args: argparse.Namespace, show: Any) -> dict[str, Any]:
    from controllers import evaluate
    from controllers._runs import CONFIG_NAME, read_run_config
    from controllers._train import TrainSettings, train

    runs, train_s, train_cpu_s = [], [], []
    for seed in range(args.seeds):
        out = args.out / f"{name}-s{seed}"
        if (out / CONFIG_NAME).exists() and "train_wall_s" in read_run_config(out):
            show(f"{name}: seed {seed} already trained in {out}")
        else:
            show(f"{name}: training seed {seed} -> {out}")
            shutil.rmtree(out, ignore_errors=True)  # an interrupted run: start it again
            train(TrainSettings(platform=name, algo=ALGO, out=out, seed=seed, progress_bar=False))
        train_s.append(float(read_run_config(out)["train_wall_s"]))
        train_cpu_s.append(float(read_run_config(out).get("train_cpu_s", float("nan"))))
        runs.append(str(out))
    splits = {}
    for split in SPLITS:
        show(f"{name}: evaluating every controller on the {split} traces")
        evaluation = evaluate(name, [*runs, *HEURISTICS], split=split)
        splits[split] = {"traces": evaluation.traces, "rows": _summary(evaluation.rows)}
    result = {"train_s": train_s, "train_cpu_s": train_cpu_s, "runs": runs, "splits": splits}
    if args.ship:
        result["shipped"] = str(_ship(name, runs, splits, train_s))
    return result


def _summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per controller over all traces: the figures, their seed spread and worst seed, energy vs schedutil."""
    pooled = [r for r in rows if r["trace"] == "all"]
    floor = next(r for r in pooled if r["controller"] == "schedutil")
    summary = []
    for r in pooled:
        gap_seeds = r.get("gap_closed_seeds", [r["gap_closed"]])
        summary.append({
            "controller": r["controller"],
            "n_seeds": r["n_seeds"],
            "reward": r["reward"],
            "reward_seed_std": r.get("reward_seed_std", 0.0),
            "gap_closed": r["gap_closed"],
            "gap_closed_worst_seed": min(gap_seeds),
            "gap_closed_seeds": gap_seeds,
            "budget_met_rate": r["budget_met_rate"],
            "budget_met_rate_seed_std": r.get("budget_met_rate_seed_std", 0.0),
            "energy_mj": r["energy_mj"],
            "energy_mj_seed_std": r.get("energy_mj_seed_std", 0.0),
            "energy_vs_schedutil": r["energy_mj"] / floor["energy_mj"],
        })
    return summary


def _ship(name: str, runs: list[str], splits: dict[str, Any], train_s: list[float]) -> Path:
    """Export the seed with the best mean gap_closed over both sets, with its provenance."""
    from controllers._export import export_policy
    from controllers._policy import POLICIES_DIR
    from controllers._runs import read_run_config

    learned = {split: next(r for r in s["rows"] if r["controller"] == ALGO) for split, s in splits.items()}
    per_seed = [sum(learned[split]["gap_closed_seeds"][i] for split in SPLITS) / len(SPLITS)
                for i in range(len(runs))]
    best = max(range(len(runs)), key=per_seed.__getitem__)
    config = read_run_config(runs[best])
    provenance = {
        "command": f"dynscale train --platform {name} --seed {config['seed']}",
        "seed": config["seed"],
        "seeds_tried": len(runs),
        "train_traces": [Path(p).name for p in config["traces"]],
        "generated_traces": config["hyperparams"].get("pretrain_traces", 0),
        "train_s": train_s[best],
        "gap_closed": {split: learned[split]["gap_closed_seeds"][best] for split in SPLITS},
        "held_out_traces": {split: splits[split]["traces"] for split in SPLITS},
        "date_utc": _now(),
        "machine": _machine(),
        "by": "benchmarks/controller_quality.py --ship",
    }
    return export_policy(runs[best], POLICIES_DIR / f"{name}.npz", provenance=provenance)


def _print(results: dict[str, Any]) -> None:
    from dynscale._output import format_table

    print(f"{results['machine']}, {results['started_utc']} - {results['finished_utc']} UTC, "
          f"{results['seeds']} seed(s); simulated boards")
    for name, result in results["platforms"].items():
        times = result["train_s"]
        cpu = result["train_cpu_s"]
        print(f"\n{name}: training {min(times):.0f}-{max(times):.0f} s wall, {min(cpu):.0f}-{max(cpu):.0f} s "
              f"CPU per seed ({ALGO}, default settings)")
        for split, data in result["splits"].items():
            print(f"\n  {split} ({len(data['traces'])} traces: {', '.join(data['traces'])})")
            table = [{
                "controller": r["controller"],
                "reward": _spread(r["reward"], r["reward_seed_std"], r["n_seeds"]),
                "gap_closed": f"{r['gap_closed']:.3f}" + (
                    f" (worst seed {r['gap_closed_worst_seed']:.3f})" if r["n_seeds"] > 1 else ""),
                "budget_met": _spread(r["budget_met_rate"], r["budget_met_rate_seed_std"], r["n_seeds"]),
                "energy_mj": _spread(r["energy_mj"], r["energy_mj_seed_std"], r["n_seeds"]),
                "energy/schedutil": f"{r['energy_vs_schedutil']:.2f}",
            } for r in data["rows"]]
            print(format_table(table))


def _spread(value: float, seed_std: float, n_seeds: int) -> str:
    return f"{value:.3f}" + (f" ±{seed_std:.3f}" if n_seeds > 1 else "")


def _machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), host_platform.machine())
    import os

    return f"{model}, {os.cpu_count()} vCPU"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")


if __name__ == "__main__":
    _entry.run(main, "controller_quality")
