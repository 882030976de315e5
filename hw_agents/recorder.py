"""Recording a trace from a live machine: the competing load it carries, read from /proc/stat.

The kernel counts, per CPU, the time spent in each state since boot (``/proc/stat``, in clock
ticks)::

    cpu0 8902 0 826 33804 121 0 19 5 0 0
         user nice system idle iowait irq softirq steal guest guest_nice

Over a sample period, the busy share of a CPU is ``(delta total - delta idle - delta iowait) /
delta total``, where total sums the first eight fields (``guest`` and ``guest_nice`` are already
counted in ``user`` and ``nice``). The load of the host's single PE ``cpu`` is the busy share summed
over every CPU the file lists: busy cores, the unit of a trace's CPU load. One segment per sample
(consecutive equal samples merged), kind ``recorded``, budgets as given.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from hw_agents.errors import BoardError
from traces import Trace, save_trace

__all__ = ["read_cpu_times", "record_trace"]

HOST_PE = "cpu"
_TOTAL_FIELDS = 8  # user nice system idle iowait irq softirq steal
_IDLE, _IOWAIT = 3, 4
_LOAD_DECIMALS = 2


def read_cpu_times(proc_root: str | Path = "/proc") -> dict[int, tuple[int, int]]:
    """CPU id -> (busy ticks, total ticks) since boot, from ``proc_root``/stat."""
    path = Path(proc_root) / "stat"
    try:
        text = path.read_text()
    except OSError as exc:
        raise BoardError(f"{path}: cannot read ({exc.strerror})") from exc
    times: dict[int, tuple[int, int]] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        try:
            ticks = [int(v) for v in rest.split()[:_TOTAL_FIELDS]]
        except ValueError as exc:
            raise BoardError(f"{path}:{line_no}: field '{name}': expected integer tick counts") from exc
        if len(ticks) < _IOWAIT + 1:
            raise BoardError(f"{path}:{line_no}: field '{name}': expected at least 5 tick counts")
        total = sum(ticks)
        times[int(name[3:])] = (total - ticks[_IDLE] - ticks[_IOWAIT], total)
    if not times:
        raise BoardError(f"{path}: field 'cpuN': no per-CPU lines")
    return times


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
) -> Trace:
    """Sample the machine's per-CPU busy time for ``duration_s`` and save it as a ``recorded``
    trace for platform ``host`` (PE ``cpu``) at ``out_path``; returns the :class:`traces.Trace`.

    Budgets (``None`` = absent) hold over the whole trace. ``split`` and ``frame_period_ms`` go into
    the trace's header. The file appears atomically once recording is done.
    """
    if not (math.isfinite(sample_period_s) and sample_period_s > 0):
        raise BoardError(f"field 'sample_period_s': expected a number > 0, got {sample_period_s!r}")
    n_samples = max(1, round(duration_s / sample_period_s))
    loads = _sample_loads(proc_root, n_samples, sample_period_s)
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


def _sample_loads(proc_root: str | Path, n_samples: int, sample_period_s: float) -> list[float]:
    """Busy cores summed over every CPU, per sample period (deadlines on a monotonic clock, so
    that a late wake-up shortens the next sleep instead of shifting the whole recording)."""
    previous = read_cpu_times(proc_root)
    start = time.monotonic()
    loads = []
    for i in range(1, n_samples + 1):
        time.sleep(max(0.0, start + i * sample_period_s - time.monotonic()))
        current = read_cpu_times(proc_root)
        busy_cores = 0.0
        for cpu, (busy, total) in current.items():
            busy_before, total_before = previous.get(cpu, (busy, total))
            if total > total_before:
                busy_cores += min(max((busy - busy_before) / (total - total_before), 0.0), 1.0)
        loads.append(round(busy_cores, _LOAD_DECIMALS))
        previous = current
    return loads
