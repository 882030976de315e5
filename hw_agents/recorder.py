"""Recording a trace from a live machine: the competing load it carries, read from /proc/stat.

The load of the host's single PE ``cpu`` is the busy cores over every CPU the file lists
(:func:`hw_agents.procstat.busy_cores`), the unit of a trace's CPU load. One segment per sample
(consecutive equal samples merged), kind ``recorded``, budgets as given.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from hw_agents.errors import BoardError
from hw_agents.procstat import busy_cores, read_cpu_times
from platform_models.progress import progress_bar
from traces import Trace, save_trace

__all__ = ["record_trace"]

HOST_PE = "cpu"
_LOAD_DECIMALS = 2


def record_trace(
    out_path: str | Path,
    duration_s: float,
    *,
    sample_period_s: float = 0.5,
    latency_budget_ms: float | None = None,
    power_budget_w: float | None = None,
    energy_budget_mj: float | None = None,
    proc_root: str | Path = "/proc",
    split: str = "eval",
    frame_period_ms: float = 100.0,
    description: str = "",
    progress: bool = False,
) -> Trace:
    """Sample the machine's per-CPU busy time for ``duration_s`` and save it as a ``recorded``
    trace for platform ``host`` (PE ``cpu``) at ``out_path``; returns the :class:`traces.Trace`.

    Budgets (``None`` = absent) hold over the whole trace. ``split`` and ``frame_period_ms`` go into
    the trace's header. The file appears atomically once recording is done. ``progress``: a bar over
    the samples on a terminal's stderr.
    """
    if not (math.isfinite(sample_period_s) and sample_period_s > 0):
        raise BoardError(f"field 'sample_period_s': expected a number > 0, got {sample_period_s!r}")
    n_samples = max(1, round(duration_s / sample_period_s))
    with progress_bar("record", n_samples, "sample", enabled=progress) as bar:
        loads = _sample_loads(proc_root, n_samples, sample_period_s, bar)
    starts, merged = [], []
    for i, load in enumerate(loads):
        if not merged or load != merged[-1]:
            starts.append(round(i * sample_period_s, 6))
            merged.append(load)
    n = len(starts)

    def constant(value: float | None) -> list[float] | None:
        return None if value is None else [float(value)] * n

    cpus = sorted(read_cpu_times(proc_root))
    trace = Trace(
        platform="host",
        kind="recorded",
        split=split,
        frame_period_ms=frame_period_ms,
        duration_s=n_samples * sample_period_s,
        time_s=starts,
        load={HOST_PE: merged},
        latency_budget_ms=constant(latency_budget_ms),
        power_budget_w=constant(power_budget_w),
        energy_budget_mj=constant(energy_budget_mj),
        description=description or (f"recorded from {Path(proc_root) / 'stat'} on cpus {cpus[0]}-{cpus[-1]}, "
                                     f"one sample per {sample_period_s:g} s"),
    )
    save_trace(trace, out_path)
    return trace


def _sample_loads(proc_root: str | Path, n_samples: int, sample_period_s: float, bar: Any) -> list[float]:
    """Busy cores summed over every CPU, per sample period (deadlines on a monotonic clock, so
    that a late wake-up shortens the next sleep instead of shifting the whole recording)."""
    previous = read_cpu_times(proc_root)
    start = time.monotonic()
    loads = []
    for i in range(1, n_samples + 1):
        time.sleep(max(0.0, start + i * sample_period_s - time.monotonic()))
        current = read_cpu_times(proc_root)
        busy = busy_cores(previous, current)
        loads.append(round(busy, _LOAD_DECIMALS))
        previous = current
        bar.update()
    return loads
