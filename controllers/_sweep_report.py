"""What a sweep leaves in DIR: the trials table, the summary across seeds, two plots, the best settings.

* ``trials.csv``: one row per trial: its settings (platform, algo, seed, timesteps and every
  hyperparameter the SPEC varies), the held-out figures (``reward``, ``gap_closed`` where the
  evaluation computes it, ``reward_vs_oracle``, ``budget_met_rate``, ``energy_mj``),
  ``train_time_s``, ``status`` (done, stopped early by ASHA, failed) with ``error`` and ``attempts``,
  and its ``run_dir``.
* ``summary.md``: per platform, one row per setting (a trial's settings but its seed): the number of
  seeds, and the mean with its 95 % confidence interval across seeds, ``mean ± t(0.975, n-1) s / √n``
  (Student's t: 3 seeds are far from a normal sample); the best setting per platform.
* ``learning_curves.png``: the evaluation reward per inference (train traces) against timesteps,
  every finished trial, one panel per platform; ``scores.png``: the score of every setting with its
  interval.
* ``best/<platform>.yml``: the resolved hyperparameters of the best setting, as ``dynscale train
  --hyperparams-file`` reads them.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from controllers._report import _save_png
from controllers._sweep import ERRORS, RUNS, SweepOutcome
from controllers._sweep_spec import SweepSpec
from platform_models.atomic import write_text_atomic

FIGURES = ("reward", "gap_closed", "reward_vs_oracle", "budget_met_rate", "energy_mj", "train_time_s")
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)
"""Student's t 97.5 % quantile for 1..10 degrees of freedom (any statistics table); 1.96 beyond 30."""


def _t_975(dof: int) -> float:
    if dof <= len(T_975):
        return T_975[dof - 1]
    return 2.042 if dof <= 30 else 1.96  # t(0.975, 30) = 2.042


def varied(spec: SweepSpec) -> list[str]:
    """The hyperparameters whose value differs between trials (trials.csv columns)."""
    return [*spec.grid, *spec.space]


def collect_trials(spec: SweepSpec, results: Any) -> list[dict[str, Any]]:
    """One dict per trial of a Tune ``ResultGrid``, in trial order."""
    from platform_models import load_platform

    rows = []
    for result in results:
        config, metrics = result.config, dict(result.metrics or {})
        row: dict[str, Any] = {
            "trial_id": Path(result.path).name,  # _sweep.trial_dirname
            "platform": load_platform(config["platform"]).name,
            "algo": config["algo"],
            "seed": config["seed"],
            "timesteps": metrics["timesteps"] if metrics.get("final") else config["timesteps"],
        }
        row.update({name: config["hyperparams"].get(name) for name in varied(spec)})
        row.update(
            {
                name: float(metrics.get(name, math.nan)) if metrics.get("final") else math.nan
                for name in FIGURES
            }
        )
        run_dir = Path(metrics.get("run_dir") or _run_dir_of(config, row["trial_id"]))
        errors = (run_dir / ERRORS).read_text().splitlines() if (run_dir / ERRORS).is_file() else []
        if result.error is not None:
            row["status"], row["error"] = (
                "failed",
                errors[-1] if errors else str(result.error).splitlines()[0],
            )
        elif metrics.get("final"):
            row["status"], row["error"] = "done", ""
        else:
            # ASHA stopped it: its last report was an evaluation on the train traces, not the held-out ones.
            row["status"], row["error"] = "stopped early", ""
        row["attempts"] = len(errors) + (row["status"] != "failed")
        row["node_id"] = metrics.get("node_id", "")
        row["run_dir"] = str(run_dir)
        rows.append(row)
    return sorted(rows, key=lambda r: r["trial_id"])


def _run_dir_of(config: dict[str, Any], trial_id: str) -> str:
    from platform_models import load_platform

    name = load_platform(config["platform"]).name
    return str(Path(config["out"]) / RUNS / f"{name}-{config['algo']}-seed{config['seed']}-{trial_id}")


def _interval(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95 % interval) of the finite values; NaN where there are none."""
    finite = np.array([v for v in values if math.isfinite(v)])
    if finite.size == 0:
        return math.nan, math.nan
    if finite.size == 1:
        return float(finite[0]), math.nan
    return float(finite.mean()), _t_975(finite.size - 1) * float(finite.std(ddof=1)) / math.sqrt(finite.size)


def score_name(trials: list[dict[str, Any]]) -> str:
    """``gap_closed`` where the evaluation computed it, else ``reward``."""
    return "gap_closed" if any(math.isfinite(t["gap_closed"]) for t in trials) else "reward"


def settings_table(spec: SweepSpec, trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (platform, setting): the setting, its seeds, each figure's mean and interval."""
    keys = ["platform", "algo", "timesteps", *varied(spec)]
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for trial in trials:
        groups[tuple(str(trial[k]) for k in keys)].append(trial)
    table = []
    for members in groups.values():
        done = [t for t in members if t["status"] == "done"]
        row: dict[str, Any] = {k: members[0][k] for k in keys}
        row.update(seeds=len(done), failed=sum(t["status"] == "failed" for t in members))
        for name in FIGURES:
            row[name], row[f"{name}_ci95"] = _interval([t[name] for t in done])
        row["run_dirs"] = [t["run_dir"] for t in done]
        table.append(row)
    return table


def _cell(row: dict[str, Any], name: str) -> str:
    mean, half = row[name], row[f"{name}_ci95"]
    if not math.isfinite(mean):
        return "-"
    return f"{mean:.3g} ± {half:.2g}" if math.isfinite(half) else f"{mean:.3g}"


def best_settings(table: list[dict[str, Any]], score: str) -> dict[str, dict[str, Any]]:
    """Per platform, the setting with the highest mean score (settings with no finished seed skipped)."""
    best: dict[str, dict[str, Any]] = {}
    for row in table:
        if math.isfinite(row[score]) and (
            row["platform"] not in best or row[score] > best[row["platform"]][score]
        ):
            best[row["platform"]] = row
    return best


def write_sweep_report(outcome: SweepOutcome) -> list[Path]:
    """Write every file of the module doc into the sweep folder; returns them."""
    spec, out, trials = outcome.spec, outcome.out, outcome.trials
    written = [_write_trials_csv(trials, out / "trials.csv")]
    table = settings_table(spec, trials)
    score = score_name(trials)
    best = best_settings(table, score)
    write_text_atomic(out / "summary.md", _summary(spec, trials, table, best, score))
    written.append(out / "summary.md")
    written.append(plot_learning_curves(trials, out / "learning_curves.png"))
    written.append(plot_scores(spec, table, score, out / "scores.png"))
    for platform, row in best.items():
        written.append(_write_best(row, score, out / "best" / f"{platform}.yml"))
    return written


def _write_trials_csv(trials: list[dict[str, Any]], path: Path) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(trials[0]) if trials else ["trial_id"])
    writer.writeheader()
    writer.writerows(trials)
    write_text_atomic(path, buffer.getvalue())
    return path


def _summary(spec: SweepSpec, trials: list, table: list, best: dict, score: str) -> str:
    counts = {s: sum(t["status"] == s for t in trials) for s in ("done", "stopped early", "failed")}
    kind = f"TPE search of {spec.samples} samples" if spec.samples else "grid"
    lines = [
        f"# Sweep {spec.path} ({kind})",
        "",
        f"{len(trials)} trials: {counts['done']} done, {counts['stopped early']} stopped early, "
        f"{counts['failed']} failed. Figures: simulated (dynscale env) on the held-out traces, mean ± 95 % "
        f"interval across seeds (Student's t); best setting by mean `{score}`.",
    ]
    if spec.fixed:
        lines += ["", "Every trial: " + ", ".join(f"`{k}={v}`" for k, v in spec.fixed.items())]
    setting_keys = ["algo", "timesteps", *varied(spec)]
    for platform in dict.fromkeys(r["platform"] for r in table):
        rows = [r for r in table if r["platform"] == platform]
        lines += ["", f"## {platform}", ""]
        columns = [*setting_keys, "seeds", "failed", *FIGURES]
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "---|" * len(columns))
        for r in rows:
            cells = [str(r[k]) for k in setting_keys] + [str(r["seeds"]), str(r["failed"])]
            cells += [_cell(r, f) for f in FIGURES]
            lines.append("| " + " | ".join(cells) + " |")
        if platform in best:
            b = best[platform]
            where = ", ".join(f"{k}={b[k]}" for k in setting_keys)
            lines += [
                "",
                f"Best: {where}: {score} {_cell(b, score)} over {b['seeds']} seed(s) "
                f"(`best/{platform}.yml`).",
            ]
        else:
            lines += ["", "Best: none (no trial finished)."]
    return "\n".join(lines) + "\n"


def _write_best(row: dict[str, Any], score: str, path: Path) -> Path:
    """The resolved hyperparameters of the best setting's first run, ``n_timesteps`` as trained."""
    config = yaml.safe_load((Path(row["run_dirs"][0]) / "config.yml").read_text())
    params = {**config["hyperparams"], "n_timesteps": int(row["timesteps"])}
    header = (
        f"# Best {row['algo']} setting for {row['platform']} in this sweep: mean {score} {_cell(row, score)} "
        f"over {row['seeds']} seed(s).\n"
        f"# dynscale train --platform {row['platform']} --algo {row['algo']} "
        f"--hyperparams-file {path.name} --out RUN\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, header + yaml.safe_dump(params, sort_keys=False))
    return path


def _setting_label(row: dict[str, Any], spec: SweepSpec) -> str:
    parts = [row["algo"]] if len(spec.algos) > 1 else []
    parts += [f"{row['timesteps']} steps"] if len(spec.timesteps) > 1 else []
    parts += [f"{k}={row[k]:.3g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in varied(spec)]
    return ", ".join(parts) or row["algo"]


def plot_learning_curves(trials: list[dict[str, Any]], path: Path) -> Path:
    """Evaluation reward per inference against timesteps, from each run's ``evaluations.npz``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    platforms = list(dict.fromkeys(t["platform"] for t in trials)) or ["(none)"]
    fig, axes = plt.subplots(1, len(platforms), figsize=(5 * len(platforms), 4), squeeze=False)
    for ax, platform in zip(axes[0], platforms, strict=True):
        for trial in trials:
            log = Path(trial["run_dir"]) / "evaluations.npz"
            if trial["platform"] != platform or not log.is_file():
                continue
            data = np.load(log)
            per_inference = data["results"].mean(axis=1) / np.maximum(data["ep_lengths"].mean(axis=1), 1)
            ax.plot(
                data["timesteps"],
                per_inference,
                lw=1,
                marker=".",
                label=f"seed {trial['seed']} {trial['trial_id'][-5:]}",
            )
        ax.set_title(f"{platform}: evaluation on the train traces")
        ax.set_xlabel("timesteps")
        ax.set_ylabel("reward per inference")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)
    return path


def plot_scores(spec: SweepSpec, table: list[dict[str, Any]], score: str, path: Path) -> Path:
    """The mean score of every setting with its 95 % interval, one panel per platform."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    platforms = list(dict.fromkeys(r["platform"] for r in table)) or ["(none)"]
    fig, axes = plt.subplots(1, len(platforms), figsize=(5 * len(platforms), 4.5), squeeze=False)
    for ax, platform in zip(axes[0], platforms, strict=True):
        rows = [r for r in table if r["platform"] == platform]
        means = [r[score] for r in rows]
        halves = [r[f"{score}_ci95"] if math.isfinite(r[f"{score}_ci95"]) else 0.0 for r in rows]
        ax.errorbar(range(len(rows)), means, yerr=halves, fmt="o", capsize=4)
        ax.set_xticks(
            range(len(rows)), [_setting_label(r, spec) for r in rows], rotation=30, ha="right", fontsize=7
        )
        ax.set_ylabel(f"{score} (held-out, mean ± 95 % interval)")
        ax.set_title(platform)
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)
    return path
