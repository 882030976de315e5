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

After the sweep, the live agent itself is timed (``agent_frames`` frames per PE, :func:`measure_agent_ms`):
the median of its own work per frame (reading the load, observation, lookup controller, applying the
choice) becomes the PE's ``agent_overhead_ms``, which the simulator charges before every inference.
Left out, the simulator under-predicts every live frame by that much (about 1 ms, 13 % of a frame,
on the host VM).

Every finished point is appended (and flushed) to a journal in the output folder; a sweep that is
interrupted resumes from it. The platform's two files appear together at the end
(``platform_models.save_platform`` writes atomically); the journal is then removed.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import json
import math
import os
import platform as host_platform
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hw_agents.errors import BoardError
from hw_agents.procstat import BusyMeter

__all__ = [
    "NOMINAL_CORE_POWER_W",
    "PowerSampler",
    "ProfilePoint",
    "inference_state_restored",
    "load_dnn",
    "measure_agent_ms",
    "pin_inference",
    "platform_dnn",
    "profile",
    "profile_points",
    "profiled_pes",
    "set_agent_overheads",
    "set_all_threads_affinity",
]

DEFAULT_ARCH = "alexnet-cifar"
DEFAULT_REPEATS = 30
DEFAULT_WARMUP = 5
DEFAULT_GAP_MS = 20.0
DEFAULT_AGENT_FRAMES = 100
# The power estimate used only where no sensor is readable: one core of a server CPU at full load.
# Intel Xeon Gold 6130: TDP 125 W over 16 cores = 7.8 W per core (ark.intel.com, product 120492).
# A labelled order of magnitude, never a measurement of this machine.
NOMINAL_CORE_POWER_W = 7.8
JOURNAL_NAME = ".profile-journal.csv"
AGENT_METHOD = ("agent_overhead_ms: median over {frames} frames of the live agent (lookup controller, no "
                "competing load) of its own time per frame before the inference, scaled to the PE's top "
                "frequency")
_JOURNAL_COLUMNS = ("pe", "freq_mhz", "cores", "groups", "latency_ms_mean", "latency_ms_std",
                    "latency_ms_p95", "latency_n", "power_w_mean", "power_w_std", "background_cores",
                    "power_measured")
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


class PowerSampler:
    """Samples ``read_w()`` every ``period_s`` in a thread between ``start()`` and ``stop()``.

    ``read_w`` returns watts or ``None`` (no reading); ``stop()`` returns (mean, std, n) of the
    readings of the window, NaN where there were none. The first reading is taken at ``start()`` so
    that a window shorter than the sensor's period still gets one.
    """

    def __init__(self, read_w: Callable[[], float | None], period_s: float) -> None:
        self._read_w = read_w
        self.period_s = max(float(period_s), 0.001)
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._samples = []
        self._stop.clear()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="power-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> tuple[float, float, int]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        if not self._samples:
            return math.nan, math.nan, 0
        values = np.asarray(self._samples)
        return float(values.mean()), float(values.std()), len(values)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()

    def _sample(self) -> None:
        value = self._read_w()
        if value is not None and math.isfinite(value):
            self._samples.append(float(value))


def load_dnn(checkpoint: str | Path | None, arch: str = DEFAULT_ARCH, accuracy_from: str | Path | None = None,
             *, groups: int = 4, connectivity: str = "group") -> tuple[Any, dict[str, Any]]:
    """The dynamic DNN (eval mode) and the descriptor's ``dnn`` section describing it.

    With a checkpoint, its trained weights and accuracy per k; without, freshly initialised weights of
    ``arch`` with ``groups`` and ``connectivity`` (latency does not depend on the weights' values) and
    the accuracy per k that platform ``accuracy_from`` (default: a shipped platform) records for the
    same architecture.
    """
    import dnn
    from dnn.checkpoint import load_checkpoint

    if checkpoint is not None:
        model, info = load_checkpoint(checkpoint)
        accuracy, source = list(info.accuracy), f"checkpoint {checkpoint} (accuracy.csv)"
        weights = f"checkpoint {checkpoint}"
    else:
        model = dnn.build_model(arch, groups=groups, connectivity=connectivity)
        accuracy, source = _platform_accuracy(arch, model.groups, accuracy_from)
        weights = "freshly initialised (latency does not depend on the weights' values)"
    model.eval()
    section = {
        "arch": model.arch,
        "groups": int(model.groups),
        "input_shape": [int(s) for s in model.input_shape],
        "connectivity": model.connectivity,
        "accuracy_top1": [round(float(a), 4) for a in accuracy],
        "accuracy_source": source,
        "weights": weights,
    }
    return model, section


def platform_dnn(platform: Any, checkpoint: str | Path | None = None) -> tuple[Any, dict[str, Any], Any]:
    """The DNN a platform was profiled with (its architecture, G and connectivity; a checkpoint's
    weights if given), its ``dnn`` section, and the input it is timed on (seeded).

    Raises:
        BoardError: a checkpoint of another DNN (the platform's table would not be its).
    """
    import torch

    section = platform.descriptor["dnn"]
    connectivity = section.get("connectivity", "group")
    model, loaded = load_dnn(checkpoint, section["arch"], accuracy_from=platform.path,
                             groups=int(section["groups"]), connectivity=connectivity)
    ours = [section["arch"], int(section["groups"]), list(section["input_shape"]), connectivity]
    theirs = [loaded["arch"], loaded["groups"], list(loaded["input_shape"]), loaded["connectivity"]]
    if ours != theirs:
        raise BoardError(f"checkpoint {checkpoint}: arch, G, input, connectivity {theirs}; platform "
                         f"{platform.name} was profiled with {ours}", path=checkpoint, field="checkpoint")
    x = torch.randn(1, *loaded["input_shape"], generator=torch.Generator().manual_seed(0))
    return model, loaded, x


def _platform_accuracy(arch: str, groups: int, accuracy_from: str | Path | None) -> tuple[list[float], str]:
    """Accuracy per k of platform ``accuracy_from`` (default: the first shipped platform) profiled with
    the same DNN (``arch``, G)."""
    from platform_models import PlatformError, load_platform, shipped_platforms

    for name in [accuracy_from] if accuracy_from is not None else shipped_platforms():
        try:
            section = load_platform(name).descriptor["dnn"]
        except PlatformError:
            if accuracy_from is not None:
                raise
            continue  # a shipped platform being rewritten; the next may do
        if section["arch"] == arch and int(section["groups"]) == groups:
            source = f"copied from platform {name}, whose source is: {section['accuracy_source']}"
            return list(section["accuracy_top1"]), source
    raise BoardError(f"no checkpoint given and no platform with the accuracy of {arch} G={groups} "
                     f"({accuracy_from or 'shipped'}); pass --checkpoint DIR", field="checkpoint")


def pin_inference(board: Any, pe: str, cores: int | None = None) -> set[int]:
    """Pin the inference to ``cores`` cores of ``pe`` (all when None) with one torch thread per core.

    ``board.pin`` pins the calling thread; torch's worker threads may already exist (they keep the
    affinity they were started with), so every thread of the process is pinned the same way.
    """
    import torch

    cpus = board.pin(pe, cores)
    set_all_threads_affinity(cpus)
    torch.set_num_threads(len(cpus))
    return cpus


@contextlib.contextmanager
def inference_state_restored() -> Iterator[None]:
    """Give every thread of this process back its CPU affinity, and torch its thread count."""
    import torch

    affinity, threads = os.sched_getaffinity(0), torch.get_num_threads()
    try:
        yield
    finally:
        set_all_threads_affinity(affinity)
        torch.set_num_threads(threads)


def set_all_threads_affinity(cpus: set[int]) -> None:
    """Pin every thread of this process to ``cpus``."""
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(tid), cpus)


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
    journal = _Journal(out / JOURNAL_NAME, settings)
    done = journal.read()
    todo = [p for p in points if p.key not in done]
    x = torch.randn(1, *dnn_section["input_shape"], generator=torch.Generator().manual_seed(0))
    bar = _progress_bar(len(points), len(points) - len(todo), progress)
    try:
        with inference_state_restored(), board.session():
            for point in todo:
                done[point.key] = measure_point(board, model, x, point, repeats=repeats, warmup=warmup,
                                                gap_ms=gap_ms)
                journal.append(point, done[point.key])
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
        set_agent_overheads(board, descriptor, rows, [pe.name for pe in profiled_pes(board)],
                            checkpoint=checkpoint, frames=agent_frames, gap_ms=gap_ms)
        descriptor["provenance"]["method"] += f"; {AGENT_METHOD.format(frames=agent_frames)}"
    yaml_path = out / f"{board.name}.yaml"
    save_platform(descriptor, rows, yaml_path)
    journal.remove()
    return yaml_path


def set_agent_overheads(board: Any, descriptor: dict[str, Any], rows: list[dict[str, Any]], pes: list[str], *,
                        checkpoint: str | Path | None = None, frames: int = DEFAULT_AGENT_FRAMES,
                        gap_ms: float = DEFAULT_GAP_MS) -> None:
    """Time the live agent on each of ``pes`` (:func:`measure_agent_ms`) against the platform
    ``descriptor`` + ``rows`` and write the medians into the descriptor's ``agent_overhead_ms``."""
    from platform_models import load_platform, save_platform

    # The agent needs the platform it runs against: this one, written aside first.
    with tempfile.TemporaryDirectory() as tmp:
        aside = Path(tmp) / f"{descriptor['name']}.yaml"
        save_platform({**descriptor, "table": aside.with_suffix(".csv").name}, rows, aside)
        platform = load_platform(aside)
        for pe in descriptor["pes"]:
            if pe["name"] in pes:
                agent_ms = measure_agent_ms(board, platform, pe["name"], checkpoint=checkpoint, frames=frames,
                                            gap_ms=gap_ms)
                pe["agent_overhead_ms"] = round(agent_ms, 4)


def measure_agent_ms(board: Any, platform: Any, pe: str, *, checkpoint: str | Path | None = None,
                     frames: int = DEFAULT_AGENT_FRAMES, gap_ms: float = DEFAULT_GAP_MS) -> float:
    """The live agent's own work per frame on ``pe`` at its top frequency, in ms: the median
    ``wake_ms + agent_ms`` of ``frames`` frames deployed on ``pe`` alone with the lookup controller, no
    competing load and no budgets, at a frame period leaving ``gap_ms`` idle after the slowest
    inference. A frame decided at a lower frequency (the lookup may lower the clock) is divided by
    ``PE.agent_slowdown`` there."""
    from controllers import make_controller
    from hw_agents.agent import LOG_NAME, deploy
    from traces import Trace

    top_mhz = max(platform.pe(pe).freqs_mhz)
    slowest_ms = max(r.latency_ms_mean for r in platform.rows if r.pe == pe and r.freq_mhz == top_mhz)
    period_ms = gap_ms + slowest_ms
    trace = Trace(platform=platform.name, kind="steady", split="eval", frame_period_ms=period_ms,
                  duration_s=frames * period_ms / 1000.0, time_s=[0.0],
                  load={p.name: [0.0] for p in platform.pes},
                  description=f"the profiler's timing of the live agent on {pe}")
    proc = Path(board.sysfs_root) / "proc"
    with tempfile.TemporaryDirectory() as tmp:
        deploy(board, make_controller("lookup", platform), trace, tmp, duration_s=trace.duration_s,
               platform=platform, checkpoint=checkpoint, replay_load=False, pes=[pe],
               proc_root=proc if (proc / "stat").exists() else "/proc")
        with (Path(tmp) / LOG_NAME).open(newline="") as f:
            rows = list(csv.DictReader(f))
    freq_in_force = [top_mhz, *(float(r["freq_mhz"]) for r in rows[:-1])]  # the decision precedes the apply
    slowdown = platform.pe(pe).agent_slowdown
    # Before a frame's inference: the wake-up for it and the agent's stages (the record stage of the
    # frame before stands for this frame's, which comes after its inference).
    return float(np.median([(float(r["wake_ms"]) + float(r["agent_ms"])) / slowdown(f)
                            for r, f in zip(rows, freq_in_force, strict=True)]))


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
    from dynscale import __version__

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
            "cpu_model": _cpu_model(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "tool": f"dynscale {__version__} (dynscale profile)",
            "method": method,
            "power": power_note,
            "load_during_profile": _loadavg(),
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


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return host_platform.processor() or "unknown"


def _loadavg() -> str:
    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        return f"load average at the end (1, 5, 15 min): {load}"
    return "unknown"


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    from tqdm import tqdm

    # tqdm's rate and remaining-time estimate are the "time left" the user sees.
    return tqdm(total=total, initial=initial, desc="profile", unit="point", disable=not enabled,
                dynamic_ncols=True)


class _Journal:
    """Finished points of one sweep, one CSV row each, flushed as they finish.

    The first line records the sweep's settings; a journal from another sweep is set aside
    (renamed ``*.stale``) rather than mixed in.
    """

    def __init__(self, path: Path, settings: dict[str, Any]) -> None:
        self.path = path
        self.settings_line = "# " + json.dumps(settings, sort_keys=True)

    def read(self) -> dict[tuple[str, float, int, int], dict[str, Any]]:
        if not self.path.exists():
            return {}
        lines = self.path.read_text().splitlines()
        if not lines or lines[0] != self.settings_line:
            os.replace(self.path, self.path.with_suffix(".stale"))
            return {}
        done = {}
        for row in csv.DictReader([lines[1], *_complete_lines(lines[2:])]):
            key = (row["pe"], float(row["freq_mhz"]), int(row["cores"]), int(row["groups"]))
            done[key] = {
                **{c: float(row[c]) for c in _JOURNAL_COLUMNS[4:11]},
                "latency_n": int(row["latency_n"]),
                "power_measured": row["power_measured"] == "True",
            }
        return done

    def append(self, point: ProfilePoint, result: dict[str, Any]) -> None:
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            if new:
                f.write(self.settings_line + "\n" + ",".join(_JOURNAL_COLUMNS) + "\n")
            values = [*point.key, *(result[c] for c in _JOURNAL_COLUMNS[4:])]
            f.write(",".join(str(v) for v in values) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _complete_lines(lines: list[str]) -> Iterator[str]:
    """The journal's lines without a last one cut short by a kill mid-write."""
    n_fields = len(_JOURNAL_COLUMNS)
    for line in lines:
        if line.count(",") == n_fields - 1 and line.rsplit(",", 1)[-1] in ("True", "False"):
            yield line
