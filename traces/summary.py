"""What a trace holds at a glance: duration, segments, load per PE and budgets, as figures or a plot.

Means are weighted by time (a 10 s segment counts ten times a 1 s one). ``present_share`` is the share
of the trace's time during which a budget is in force. The plot (matplotlib, imported only here, with
the Agg backend so that it runs without a display) stacks the load of every PE over the three budgets.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from platform_models.atomic import atomic_path
from traces.trace import Trace


def summarize(trace: Trace) -> dict[str, Any]:
    """Duration, segments, per-PE mean/max load and per-budget range and time share of ``trace``."""
    weights = trace.segment_durations_s() / trace.duration_s
    load = {
        pe: {"mean": float(values @ weights), "max": float(values.max())} for pe, values in trace.load.items()
    }
    budgets = {}
    for name, values in trace.budget_arrays().items():
        present = ~np.isnan(values)
        budgets[name] = {
            "min": float(values[present].min()) if present.any() else math.nan,
            "max": float(values[present].max()) if present.any() else math.nan,
            "present_share": float(weights[present].sum()),
        }
    return {
        "path": None if trace.path is None else str(trace.path),
        "platform": trace.platform,
        "kind": trace.kind,
        "split": trace.split,
        "seed": trace.seed,
        "frame_period_ms": trace.frame_period_ms,
        "duration_s": trace.duration_s,
        "segments": len(trace),
        "description": trace.description,
        "load": load,
        "budgets": budgets,
    }


def plot_trace(trace: Trace, png_path: str | Path) -> Path:
    """Write a PNG of the load of every PE and the budgets over time (atomically); returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png_path = Path(png_path)
    edges = np.append(trace.time_s, trace.duration_s)
    fig, axes = plt.subplots(4, 1, figsize=(9, 8), sharex=True, constrained_layout=True)
    for pe, values in trace.load.items():
        axes[0].stairs(values, edges, baseline=None, label=pe, linewidth=1.5)
    axes[0].set_ylabel("competing load\n(busy cores / GPU share)")
    axes[0].set_ylim(bottom=0)
    axes[0].legend(loc="upper right", fontsize="small")
    labels = ("latency budget (ms)", "power budget (W)", "energy budget (mJ)")
    for ax, values, label in zip(axes[1:], trace.budget_arrays().values(), labels, strict=True):
        ax.stairs(values, edges, baseline=None, color="tab:red", linewidth=1.5)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        if np.isnan(values).all():
            ax.text(0.5, 0.5, "absent throughout", transform=ax.transAxes, ha="center", va="center")
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, trace.duration_s)
    name = trace.path.name if trace.path is not None else f"{trace.kind} seed {trace.seed}"
    fig.suptitle(
        f"{name}: {trace.platform}, {trace.kind}, {trace.split}, frame period {trace.frame_period_ms:g} ms"
    )
    try:
        with atomic_path(png_path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return png_path
