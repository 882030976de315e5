"""The profiler: the dynamic DNN measured at every operating point of a board, written as a platform.

An operating point is (PE, frequency, cores, groups k). At each one the profiler follows the
measuring method of DESIGN.md:

* the PE's clock is fixed where the board lets us set it (``board.set_frequency`` inside
  ``board.session()``, which restores the governor afterwards); where it cannot (no cpufreq, no
  permission), the one frequency the board reports is recorded and the descriptor says the clock was
  not fixed;
* the inference is pinned to ``cores`` cores of the PE (``board.pin``) with as many torch threads
  (``torch.set_num_threads``): ``cores`` is the contention dimension of the table (cores left to the
  DNN);
* ``warmup`` untimed inferences, then ``repeats`` (>= 30 by default) timed one by one with
  ``time.perf_counter``: mean, std, p95 and count. Each timed inference follows an idle gap of
  ``gap_ms`` (default 20 ms), as frames of a stream do: measured here, an inference after an idle
  gap of 5-50 ms took about 1.5x as long as one run back to back (caches and branch predictors
  cooled), so a back-to-back table underestimated the live agent's latency by a third;
* power sampled by a separate thread at the sensor's update rate (``board.sensor_period_s``) over
  ``repeats`` further inferences run back to back (a sensor averages over its update period, so
  idle gaps would dilute the reading). Where the board has no readable sensor for the PE, power is
  *not measured*: the table's power column is then a labelled estimate (``cores x
  nominal_core_power_w``), and the descriptor's provenance says so in ``power``.

After the sweep, the live agent itself is timed (``agent_frames`` frames per PE,
:mod:`hw_agents.agent_timing`): the median of its own work per frame becomes the PE's
``agent_overhead_ms``, which the simulator charges before every inference; and its inference on a
core other work keeps busy, per k, which gives the ``fair`` rule's ``contention_allowance_ms`` and
``contention_stretch`` (:func:`hw_agents.agent_timing.set_held_core`; the provenance's
``contention`` says how).

Every finished point is appended (and flushed) to a journal in the output folder
(:mod:`hw_agents._journal`); a sweep that is interrupted resumes from it. The platform's two files
appear together at the end (``platform_models.save_platform`` writes atomically); the journal is
then removed.
"""

from __future__ import annotations

import datetime
import math
import os
import platform as host_platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hw_agents._journal import JOURNAL_NAME, Journal
from hw_agents.affinity import inference_state_restored, pin_inference
from hw_agents.agent_timing import AGENT_METHOD, DEFAULT_AGENT_FRAMES, set_agent_overheads, set_held_core
from hw_agents.errors import BoardError
from hw_agents.inference import DEFAULT_ARCH, DEFAULT_GAP_MS, load_dnn
from hw_agents.power import PowerSampler
from hw_agents.procstat import BusyMeter
from hw_agents.provenance import cpu_model, load_average, tool
from platform_models.progress import progress_bar

__all__ = [
    "DEFAULT_REPEATS",
    "DEFAULT_WARMUP",
    "NOMINAL_CORE_POWER_W",
    "ProfilePoint",
    "measure_point",
    "profile",
    "profile_points",
    "profiled_pes",
]

DEFAULT_REPEATS = 30
DEFAULT_WARMUP = 5
# The power estimate used only where no sensor is readable: one core of a server CPU at full load.
# Intel Xeon Gold 6130: TDP 125 W over 16 cores = 7.8 W per core (ark.intel.com, product 120492).
# A labelled order of magnitude, never a measurement of this machine.
NOMINAL_CORE_POWER_W = 7.8
# Other work on the PE's CPUs (busy cores, not counting ours) above which a point was not measured
# with its ``cores`` free: the provenance says so (and ``dynscale profile`` prints it).
BUSY_MACHINE_CORES = 0.25
# Latency std over mean above which a point is called noisy in the provenance: on the 2-vCPU VM a
# quiet sweep stays under 0.3 at every point, a sweep beside other tenants' work reached 0.8.
NOISY_CV = 0.5


@dataclass(frozen=True)
class ProfilePoint:
    """One operating point to measure."""

    pe: str
    freq_mhz: float
    cores: int
    groups: int

    @property
    def key(self) -> tuple[str, float, int, int]:
        return (self.pe, float(self.freq_mhz), int(self.cores), int(self.groups))


def profile_points(board: Any, groups: int) -> list[ProfilePoint]:
    """Every operating point of the sweep, in the order measured: PE, frequency (descending, so the
    slowest come last and the time estimate is pessimistic early), cores, k."""
    points = []
    for pe in profiled_pes(board):
        n_cores = len(pe.cpus) if pe.kind == "cpu" else 1
        for freq in sorted(_freqs(board, pe), reverse=True):
            for cores in range(n_cores, 0, -1):
                points += [ProfilePoint(pe.name, float(freq), cores, k) for k in range(1, groups + 1)]
    return points


def profile(
    board: Any,
    out_dir: str | Path,
    *,
    checkpoint: str | Path | None = None,
    arch: str = DEFAULT_ARCH,
    accuracy_from: str | Path | None = None,
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
    gap_ms: float = DEFAULT_GAP_MS,
    agent_frames: int = DEFAULT_AGENT_FRAMES,
    progress: bool = True,
) -> Path:
    """Measure the DNN at every operating point of ``board``, then the live agent's own work per
    frame on every PE (``agent_frames`` frames each; 0: not measured), and write the measured
    platform ``out_dir/<board>.yaml`` + ``.csv``; returns the descriptor's path.

    Resumes from ``out_dir``'s journal when one from the same sweep (board, DNN, repeats, warm-up)
    is there.
    """
    import torch

    from platform_models import save_platform

    if repeats < 1 or warmup < 0:
        raise BoardError(f"field 'repeats': expected repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    if not gap_ms >= 0:
        raise BoardError(f"field 'gap_ms': expected a gap >= 0 ms, got {gap_ms}")
    if agent_frames < 0:
        raise BoardError(f"field 'agent_frames': expected frames >= 0, got {agent_frames}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, dnn_section = load_dnn(checkpoint, arch, accuracy_from)
    points = profile_points(board, dnn_section["groups"])
    settings = {"board": board.name, "dnn": dnn_section, "repeats": repeats, "warmup": warmup,
                "gap_ms": gap_ms, "points": len(points)}
    journal = Journal(out / JOURNAL_NAME, settings)
    done = journal.read()
    todo = [p for p in points if p.key not in done]
    x = torch.randn(1, *dnn_section["input_shape"], generator=torch.Generator().manual_seed(0))
    bar = progress_bar("profile", len(points), "point", enabled=progress, initial=len(points) - len(todo))
    try:
        with inference_state_restored(), board.session():
            for point in todo:
                done[point.key] = measure_point(board, model, x, point, repeats=repeats, warmup=warmup,
                                                gap_ms=gap_ms)
                journal.append(point.key, done[point.key])
                bar.update(1)
            idle_power = {pe.name: _idle_power_w(board, pe) for pe in profiled_pes(board)}
    finally:
        bar.close()
    rows = [{**dict(zip(("pe", "freq_mhz", "cores", "groups"), p.key, strict=True)), **done[p.key]}
            for p in points]
    descriptor = _descriptor(board, dnn_section, rows, idle_power, repeats, warmup, gap_ms)
    for row in rows:
        row.pop("power_measured")
        row.pop("background_cores")
    if agent_frames:
        pes = [pe.name for pe in profiled_pes(board)]
        set_agent_overheads(board, descriptor, rows, pes, checkpoint=checkpoint, frames=agent_frames,
                            gap_ms=gap_ms)
        descriptor["provenance"]["method"] += f"; {AGENT_METHOD.format(frames=agent_frames)}"
        held = set_held_core(board, descriptor, rows, pes, checkpoint=checkpoint, frames=agent_frames,
                             gap_ms=gap_ms)
        if held is not None:
            descriptor["provenance"]["contention"] = held
    yaml_path = out / f"{board.name}.yaml"
    save_platform(descriptor, rows, yaml_path)
    journal.remove()
    return yaml_path


def measure_point(board: Any, model: Any, x: Any, point: ProfilePoint, *, repeats: int, warmup: int,
                  gap_ms: float = DEFAULT_GAP_MS) -> dict[str, Any]:
    """Latency and power of the DNN at one operating point (the method in the module docstring)."""
    import torch

    if board.freq_control.get(point.pe) is not None:
        board.set_frequency(point.pe, point.freq_mhz)
    pin_inference(board, point.pe, point.cores)
    model.set_active_groups(point.groups)
    sampler = PowerSampler(lambda: board.pe_power_w(point.pe), board.sensor_period_s)
    background = _BackgroundLoad(Path(board.sysfs_root) / "proc", board.pe(point.pe).cpus)
    latencies_ms = np.empty(repeats)
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        background.start()
        for i in range(repeats):
            time.sleep(gap_ms / 1000.0)
            start = time.perf_counter()
            model(x)
            latencies_ms[i] = (time.perf_counter() - start) * 1000.0
        background_cores = background.stop()
        power_mean, power_std, n_power = math.nan, math.nan, 0
        if board.pe_power_w(point.pe) is not None:
            sampler.start()
            for _ in range(repeats):
                model(x)
            power_mean, power_std, n_power = sampler.stop()
    measured = n_power > 0
    if not measured:
        power_mean, power_std = point.cores * NOMINAL_CORE_POWER_W, 0.0
    return {
        "latency_ms_mean": round(float(latencies_ms.mean()), 4),
        "latency_ms_std": round(float(latencies_ms.std(ddof=1)) if repeats > 1 else 0.0, 4),
        "latency_ms_p95": round(float(np.percentile(latencies_ms, 95)), 4),
        "latency_n": repeats,
        "power_w_mean": round(power_mean, 4),
        "power_w_std": round(power_std, 4),
        "background_cores": round(background_cores, 3),
        "power_measured": measured,
    }


# -- helpers ---------------------------------------------------------------------------------------


class _BackgroundLoad:
    """Busy cores of other work on ``cpus`` over a window, this process's CPU time left out (NaN where
    ``proc_root`` has no stat file, e.g. a fake sysfs tree)."""

    def __init__(self, proc_root: Path, cpus: tuple[int, ...]) -> None:
        self.proc_root, self.cpus = proc_root, frozenset(cpus)
        self._meter: BusyMeter | None = None

    def start(self) -> None:
        if (self.proc_root / "stat").exists():
            self._meter = BusyMeter(self.proc_root, {"pe": self.cpus})

    def stop(self) -> float:
        if self._meter is None:
            return math.nan
        with self._meter as meter:
            return meter.read(own_on=self.cpus)["pe"]


def profiled_pes(board: Any) -> list[Any]:
    """The PEs the profiler runs the DNN on: the CPU PEs. (A board's GPU needs a torch device backend
    that the boards' CPU builds of torch lack; its rows come from a derived platform.)"""
    return [pe for pe in board.pes if pe.kind == "cpu"]


def _freqs(board: Any, pe: Any) -> list[float]:
    if board.freq_control.get(pe.name) is not None:
        return list(pe.freqs_mhz)
    return [max(pe.freqs_mhz)]  # the clock is not ours to set: one column, the one the board reports


def _idle_power_w(board: Any, pe: Any) -> float | None:
    """PE power with the DNN not running, over one second (None where no sensor is readable)."""
    if board.pe_power_w(pe.name) is None:
        return None
    sampler = PowerSampler(lambda: board.pe_power_w(pe.name), board.sensor_period_s)
    sampler.start()
    time.sleep(max(1.0, 2 * sampler.period_s))
    mean, _, n = sampler.stop()
    return mean if n else None


def _descriptor(board: Any, dnn_section: dict[str, Any], rows: list[dict[str, Any]],
                idle_power: dict[str, float | None], repeats: int, warmup: int, gap_ms: float
                ) -> dict[str, Any]:
    pes, unfixed = [], []
    for pe in profiled_pes(board):
        fixed = board.freq_control.get(pe.name) is not None
        if not fixed:
            unfixed.append(pe.name)
        pes.append({
            "name": pe.name,
            "kind": pe.kind,
            "cpus": [int(c) for c in pe.cpus],
            "freqs_mhz": sorted(float(f) for f in _freqs(board, pe)),
            "idle_power_w": round(idle_power[pe.name], 4) if idle_power[pe.name] is not None else 0.0,
            "dvfs_transition_ms": 0.0,
            "migration_ms": 0.0,
        })
    unmeasured = sorted({r["pe"] for r in rows if not r["power_measured"]})
    power_note = (
        f"NOT MEASURED: no power sensor readable for {unmeasured}; power_w_mean = cores x "
        f"{NOMINAL_CORE_POWER_W} W (nominal per-core power: Intel Xeon Gold 6130 TDP 125 W / 16 cores, "
        f"ark.intel.com), power_w_std = 0, idle_power_w = 0: an estimate, not a measurement"
        if unmeasured else "measured: PE rail sampled by a thread every sensor period over the timed window"
    )
    method = (f"clocks fixed with board.set_frequency where settable (not settable: {unfixed or 'none'}; "
              f"those record the frequency the board reports); inference pinned to `cores` cores of the PE "
              f"(sched_setaffinity) with torch.set_num_threads(cores), OMP_WAIT_POLICY="
              f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}; batch 1; {warmup} warm-up inferences; "
              f"{repeats} timed inferences (time.perf_counter), each after an idle gap of {gap_ms:g} ms "
              f"as between the frames of a stream; mean, std (ddof 1), p95, n; "
              f"dvfs_transition_ms and migration_ms not measured (0)")
    return {
        "name": board.name,
        "table": f"{board.name}.csv",
        # The live agent replays competing load at the DNN's own priority, where Linux shares a busy
        # core fairly (platform_models.contention).
        "contention": "fair",
        "provenance": {
            "kind": "measured",
            "host": host_platform.node() or "unknown",
            "cpu_model": cpu_model(board.sysfs_root),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "tool": tool("dynscale profile"),
            "method": method,
            "power": power_note,
            "load_during_profile": f"load average at the end (1, 5, 15 min): {load_average()}",
            "background_load": _background_note(rows),
            "latency_spread": _spread_note(rows),
        },
        "dnn": dnn_section,
        "pes": pes,
    }


def _background_note(rows: list[dict[str, Any]]) -> str:
    values = np.array([r["background_cores"] for r in rows], dtype=float)
    if np.isnan(values).all():
        return "not measured (no /proc/stat under the board's root)"
    busy = int(np.sum(values > BUSY_MACHINE_CORES))
    return (f"other work on the PE's CPUs during the timed windows: mean {np.nanmean(values):.2f}, max "
            f"{np.nanmax(values):.2f} busy cores; {busy} of {len(values)} points above {BUSY_MACHINE_CORES} "
            f"(their `cores` were not all free: re-measure on a quiet machine)")


def _spread_note(rows: list[dict[str, Any]]) -> str:
    cv = {f"{r['pe']}/{r['freq_mhz']:g}/{r['cores']}/{r['groups']}":
          r["latency_ms_std"] / r["latency_ms_mean"] for r in rows}
    noisy = [f"{point} ({value:.2f})" for point, value in cv.items() if value > NOISY_CV]
    verdict = (f"{len(noisy)} of {len(cv)} points (pe/freq/cores/k) above {NOISY_CV}: "
               f"{', '.join(noisy)} (re-measure on a quiet machine)" if noisy
               else f"no point above {NOISY_CV}")
    values = list(cv.values())
    return f"latency std / mean: median {np.median(values):.2f}, max {max(values):.2f}; {verdict}"


