"""Busy cores from /proc/stat: the one place they are computed (the trace recorder, the live agent's
load reading, the profiler's check for background work).

The kernel counts, per CPU, the time spent in each state since boot (``/proc/stat``, in clock
ticks)::

    cpu0 8902 0 826 33804 121 0 19 5 0 0
         user nice system idle iowait irq softirq steal guest guest_nice

Over a window, the busy share of a CPU is ``(delta total - delta idle - delta iowait) / delta
total``, where total sums the first eight fields (``guest`` and ``guest_nice`` are already counted in
``user`` and ``nice``), held within [0, 1] (iowait may run backwards on some kernels). Busy cores of
a set of CPUs: the sum of their shares. Less this process's own CPU time where the caller's work
must not count as competing load, and never more than the set's cores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping, Set
from pathlib import Path

from hw_agents.errors import BoardError

__all__ = ["BusyMeter", "CpuTimes", "busy_cores", "read_cpu_times"]

CpuTimes = dict[int, tuple[int, int]]
"""CPU id -> (busy ticks, total ticks) since boot."""

_TOTAL_FIELDS = 8  # user nice system idle iowait irq softirq steal
_IDLE, _IOWAIT = 3, 4
# /proc/stat of a 256-CPU machine is ~30 kB; one read takes it whole.
_READ_BYTES = 1 << 17


def _parse(path: Path, data: bytes, last_cpu: int | None = None) -> CpuTimes:
    """The per-CPU lines of ``data``; with ``last_cpu``, only the lines up to that CPU's are split off
    (the rest of the file, interrupt counters, is long)."""
    times: CpuTimes = {}
    lines = data.split(b"\n") if last_cpu is None else data.split(b"\n", last_cpu + 2)
    for line_no, line in enumerate(lines, start=1):
        name, _, rest = line.partition(b" ")
        if not (name.startswith(b"cpu") and name[3:].isdigit()):
            if times:  # the per-CPU lines are contiguous: the rest of the file is other counters
                break
            continue
        try:
            ticks = [int(v) for v in rest.split()[:_TOTAL_FIELDS]]
        except ValueError as exc:
            raise BoardError(f"{path}:{line_no}: field '{name.decode()}': expected integer tick counts"
                             ) from exc
        if len(ticks) < _IOWAIT + 1:
            raise BoardError(f"{path}:{line_no}: field '{name.decode()}': expected at least 5 tick counts")
        total = sum(ticks)
        times[int(name[3:])] = (total - ticks[_IDLE] - ticks[_IOWAIT], total)
    if not times:
        raise BoardError(f"{path}: field 'cpuN': no per-CPU lines")
    return times


def read_cpu_times(proc_root: str | Path = "/proc") -> CpuTimes:
    """Per-CPU busy and total ticks since boot, from ``proc_root``/stat."""
    path = Path(proc_root) / "stat"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BoardError(f"{path}: cannot read ({exc.strerror})") from exc
    return _parse(path, data)


def busy_cores(before: CpuTimes, after: CpuTimes, cpus: Collection[int] | None = None) -> float:
    """Busy cores of ``cpus`` (None: every CPU of ``after``) between two readings: each CPU's busy
    share over the window, within [0, 1], summed. A CPU absent from either reading, or whose
    counters did not move, adds nothing."""
    busy = 0.0
    for cpu in after if cpus is None else cpus:
        now, then = after.get(cpu), before.get(cpu)
        if now is not None and then is not None and now[1] > then[1]:
            busy += min(max((now[0] - then[0]) / (now[1] - then[1]), 0.0), 1.0)
    return busy


class BusyMeter:
    """Busy cores of other work on named CPU sets, each window from the last reading to this one.

    Keeps ``proc_root``/stat open and re-reads it from offset 0 (a third of the cost of opening it
    each time: the live agent reads it every frame).
    """

    def __init__(self, proc_root: str | Path, cpu_sets: Mapping[str, Collection[int]]) -> None:
        self.path = Path(proc_root) / "stat"
        self.cpu_sets = {name: tuple(cpus) for name, cpus in cpu_sets.items()}
        self._last_cpu = max((cpu for cpus in self.cpu_sets.values() for cpu in cpus), default=0)
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise BoardError(f"{self.path}: cannot read ({exc.strerror})") from exc
        self.start()

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> BusyMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the window from now."""
        self._times, self._own_s, self._wall_s = self._read(), time.process_time(), time.monotonic()

    def read(self, own_on: Set[int] = frozenset()) -> dict[str, float]:
        """Busy cores per set since the last reading (or :meth:`start`), less this process's CPU time
        on the sets holding any of ``own_on`` (the CPUs its work is pinned to), within [0, cores]."""
        times, own_s, wall_s = self._read(), time.process_time(), time.monotonic()
        own_cores = (own_s - self._own_s) / max(wall_s - self._wall_s, 1e-6)
        load = {}
        for name, cpus in self.cpu_sets.items():
            busy = busy_cores(self._times, times, cpus)
            if not own_on.isdisjoint(cpus):
                busy -= own_cores
            load[name] = min(max(busy, 0.0), float(len(cpus)))
        self._times, self._own_s, self._wall_s = times, own_s, wall_s
        return load

    def _read(self) -> CpuTimes:
        try:
            data = os.pread(self._fd, _READ_BYTES, 0)
        except OSError as exc:
            raise BoardError(f"{self.path}: cannot read ({exc.strerror})") from exc
        return _parse(self.path, data, self._last_cpu)
