"""The evaluation report: a Markdown and a CSV table and two kinds of PNG plots.

* ``results.md`` / ``results.csv``: one row per (controller, trace) and per controller over all
  traces, each figure with its spread across episodes (and across seeds for learned runs).
* ``timeline_<trace>.png``: per controller, latency against the latency budget over time, and the
  groups, PE and frequency it chose (first episode).
* ``accuracy_energy.png``: mean accuracy against mean energy per inference over all traces, with
  their spreads as error bars.

Every file is written to a temporary name and renamed, so a crash leaves no half-written report.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from controllers._evaluate import ALL_TRACES, FIGURES, SCORES, Evaluation
from platform_models.atomic import atomic_path, write_text_atomic

TABLE_FIGURES = (*FIGURES, *SCORES)


def _cell(row: dict[str, Any], name: str) -> str:
    value, spread = row.get(name, float("nan")), row.get(f"{name}_std", float("nan"))
    if not math.isfinite(value):
        return "-"
    text = f"{value:.3g}"
    if math.isfinite(spread):
        text += f" ±{spread:.2g}"
    if math.isfinite(row.get(f"{name}_seed_std", float("nan"))):
        text += f" (seeds ±{row[f'{name}_seed_std']:.2g})"
    return text


def display_rows(rows: Sequence[dict[str, Any]], only_all: bool = False) -> list[dict[str, str]]:
    """Rows with each figure as 'mean ±spread' text, for the console and Markdown tables.

    ``only_all``: only the rows over all traces (every row where there are none, as in a replay).
    """
    pooled = [r for r in rows if r["trace"] == ALL_TRACES]
    shown = pooled if only_all and pooled else list(rows)
    return [
        {"controller": r["controller"], "trace": r["trace"], **{f: _cell(r, f) for f in TABLE_FIGURES}}
        for r in shown
    ]


def markdown_table(rows: Sequence[dict[str, str]]) -> str:
    """A GitHub Markdown table of display rows."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_report(evaluation: Evaluation, out: Path, header: str = "") -> list[Path]:
    """Write the tables and plots into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    rows = evaluation.rows
    written = []
    summary = markdown_table(display_rows(rows, only_all=True))
    per_trace = markdown_table(display_rows([r for r in rows if r["trace"] != ALL_TRACES]))
    text = f"{header}\n## Over all traces\n\n{summary}\n## Per trace\n\n{per_trace}"
    write_text_atomic(out / "results.md", text)
    written.append(out / "results.md")
    columns = ["controller", "trace", "episodes", "n_seeds"]
    columns += [c for f in TABLE_FIGURES for c in (f, f"{f}_std", f"{f}_seed_std")]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / "results.csv", buffer.getvalue())
    written.append(out / "results.csv")
    written += plot_timelines(evaluation, out)
    written.append(plot_accuracy_energy(rows, out / "accuracy_energy.png"))
    return written


def plot_timelines(evaluation: Evaluation, out: Path) -> list[Path]:
    """One figure per trace: latency vs budget, groups, PE and frequency over time per controller."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for trace in dict.fromkeys(e.trace for e in evaluation.episodes):
        episodes = [e for e in evaluation.episodes if e.trace == trace]
        fig, axes = plt.subplots(4, 1, figsize=(10, 9), sharex=True)
        first = episodes[0].columns
        axes[0].plot(first["time_s"], first["latency_budget_ms"], "k--", lw=1.5, label="budget")
        pe_names = sorted({pe for e in episodes for pe in e.columns["pe"]})
        for e in episodes:
            c = e.columns
            axes[0].plot(c["time_s"], c["latency_ms"], lw=0.8, label=e.controller)
            axes[1].step(c["time_s"], c["groups"], where="post", lw=0.8)
            axes[2].step(c["time_s"], [pe_names.index(p) for p in c["pe"]], where="post", lw=0.8)
            axes[3].step(c["time_s"], c["freq_mhz"], where="post", lw=0.8)
        axes[0].set_ylabel("latency ms")
        axes[0].set_yscale("log")
        axes[0].legend(fontsize=7, ncol=4)
        axes[1].set_ylabel("groups k")
        axes[2].set_ylabel("PE")
        axes[2].set_yticks(range(len(pe_names)), pe_names)
        axes[3].set_ylabel("freq MHz")
        axes[3].set_xlabel("time s")
        axes[0].set_title(f"{evaluation.platform} / {trace} (simulated, first episode)")
        path = out / f"timeline_{trace}.png"
        _save_png(fig, path)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_accuracy_energy(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Mean accuracy against mean energy per inference over all traces, spreads as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    pooled = [r for r in rows if r["trace"] == ALL_TRACES] or rows
    for r in pooled:
        ax.errorbar(
            r["energy_mj"],
            r["accuracy"],
            xerr=r["energy_mj_std"],
            yerr=r["accuracy_std"],
            fmt="o",
            capsize=3,
            label=f"{r['controller']} (met {r['budget_met_rate']:.0%})",
        )
    ax.set_xlabel("energy per inference mJ")
    ax.set_ylabel("mean top-1 accuracy")
    ax.legend(fontsize=7)
    ax.set_title("accuracy vs energy, all traces (simulated)")
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)
    return path


def _save_png(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
