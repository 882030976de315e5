"""Synthetic traces: seeded scenarios of competing load and of budgets that change over time.

A generated trace is two independent stories laid over each other:

* **Competing load** (``kind``), per PE: ``steady`` (a constant background), ``periodic`` (on/off
  square waves), ``bursty`` (random arrivals and durations, overlapping bursts add up), ``ramp``
  (load climbing and falling in 1 s steps) and ``concurrent-dnn`` (another DNN-like app that
  wakes up once per period and occupies some cores of one CPU cluster, or a share of the GPU, for
  part of it, with idle spells in between).
* **Budget phases**, the same for every kind: ``realtime`` (a tight latency budget), ``battery-power``
  and ``battery-energy`` (a power or an energy budget, latency held to the frame period),
  ``balanced`` (latency and energy both moderate) and ``relaxed`` (the frame period only, or nothing).
  Phases last 10-23 % of the trace each and every phase type appears before any repeats.

The held-out ``novel`` split has kinds of its own (``NOVEL_KINDS``), never generated for training,
so that a learned controller is tried as on a user's own workload:

* ``heavy-tailed``: bursts with Pareto-distributed durations and sizes (shape 1.2): mostly short
  and small, now and then long and nearly the whole PE;
* ``budget-drop``: a moderate steady load; the budgets hold the frame period, then a latency-only
  budget drops mid-run to any level between the fastest configuration and the frame period (the
  train traces' latency-only budgets are either tight or the frame period itself), and later
  recovers;
* ``gpu-dnn``: a second DNN pulsing on the GPU (a share of 0.5-0.95 for each of its inferences)
  all trace long, with a light CPU background;
* ``oscillating``: every PE's load flips between a low and a high level every 2-6 frames;
* ``overload``: a long phase (30-50 % of the trace) with every CPU cluster 85-100 % busy and the
  GPU 75-95 %, nearly infeasible, between light phases.

Budgets are scaled to the platform's own table (:class:`BudgetScale`), with every core free:
a ``realtime`` latency budget lies between the fastest configuration of all and the fastest one with
all G groups, so it forces fewer groups; a ``battery-energy`` budget lies between the least energy of
any configuration and the least energy with all groups, and does the same for energy; ``relaxed`` and
``balanced`` budgets leave room for all groups. Competing load makes every configuration slower,
so a budget that fits on a free board may not fit under load: that is the controller's problem.

Everything random comes from one ``numpy.random.Generator`` seeded by (kind, seed); values are rounded
(times to 1 ms, loads to 0.01, budgets to 3 significant digits), so the same seed gives the same file
byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from traces.errors import TraceError
from traces.trace import KINDS, SPLITS, Trace, check_metadata

NOVEL_KINDS = ("heavy-tailed", "budget-drop", "gpu-dnn", "oscillating", "overload")
"""Kinds of the held-out ``novel`` split: never generated for training."""
GENERATED_KINDS = tuple(k for k in KINDS if k != "recorded" and k not in NOVEL_KINDS)
"""Kinds of the train and eval splits."""
_SEED_ORDER = (*GENERATED_KINDS, *NOVEL_KINDS)  # a kind's index seeds its generator: append only
PHASES = ("realtime", "battery-power", "battery-energy", "balanced", "relaxed")
# Frame periods a camera or a sensor pipeline would use (ms); the default is the shortest that gives
# the fastest all-groups configuration twice its latency.
_FRAME_PERIODS_MS = (10, 20, 25, 40, 50, 100, 200, 250, 500, 1000, 2000, 5000)
_PHASE_SHARE = (0.10, 0.23)  # a phase's length, as a share of the trace
_RAMP_STEP_S = 1.0


@dataclass(frozen=True)
class BudgetScale:
    """Latency, power and energy of every configuration with all cores free: the budgets' yardstick.

    Arrays are in ``platform.configs()`` order; ``all_groups`` marks the configurations with k = G.
    """

    latency_ms: np.ndarray
    power_w: np.ndarray
    energy_mj: np.ndarray
    all_groups: np.ndarray

    @classmethod
    def of(cls, platform: Any) -> BudgetScale:
        """The scale of a ``platform_models.PlatformModel``: its contention rule with no load (the
        threads the DNN would run on a free board)."""
        from platform_models import Contention

        metrics = Contention(platform).config_metrics().metrics
        full = np.array([c.groups == platform.groups for c in platform.configs()])
        return cls(metrics.latency_ms, metrics.power_w, metrics.energy_mj, full)

    def default_frame_period_ms(self) -> float:
        """The shortest usual frame period giving the fastest all-groups configuration 2x its latency."""
        target_ms = 2.0 * float(self.latency_ms[self.all_groups].min())
        return float(next((p for p in _FRAME_PERIODS_MS if p >= target_ms), math.ceil(target_ms)))

    def phase_budgets(self, name: str, period_ms: float, u: float, v: float) -> tuple[float, float, float]:
        """(latency ms, power W, energy mJ) of a phase (NaN = absent); ``u``, ``v`` uniform in [0, 1).

        Every budget leaves at least one configuration that meets all of the phase's budgets on a
        free board; ``realtime`` and ``battery-energy`` leave none with all groups.
        """
        nan = math.nan
        fits = self.latency_ms <= period_ms
        if not fits.any():  # a frame period shorter than any inference: budgets on the fastest
            fits = self.latency_ms <= self.latency_ms.min()
        if name == "realtime":  # between the fastest configuration and the fastest with all groups
            fastest_all_ms = self.latency_ms[self.all_groups].min()
            return _sig3(_between(self.latency_ms.min() * 1.15, fastest_all_ms * 0.95, u)), nan, nan
        if name == "battery-power":  # rules out the high-power PEs and frequencies
            low_w, high_w = self.power_w[fits].min(), self.power_w[fits].max()
            return period_ms, _sig3(_between(low_w * 1.05, high_w, 0.15 + 0.35 * u)), nan
        if name == "battery-energy":  # below the least energy with all groups: fewer groups
            fits_all = fits & self.all_groups
            least_all_mj = self.energy_mj[fits_all if fits_all.any() else self.all_groups].min()
            return period_ms, nan, _sig3(_between(self.energy_mj[fits].min() * 1.1, least_all_mj * 0.95, u))
        if name == "balanced":  # both moderate: all groups fit on a well chosen configuration
            latency_ms = _sig3(self.latency_ms[self.all_groups].min() * (1.2 + 0.8 * u))
            within = self.all_groups & (self.latency_ms <= latency_ms)
            return latency_ms, nan, _sig3(self.energy_mj[within].min() * (1.2 + 0.8 * v))
        return (period_ms if u < 0.6 else nan), nan, nan  # relaxed: the frame period, or no budget


def generate(
    kind: str,
    platform: Any,
    seed: int,
    duration_s: float = 60.0,
    frame_period_ms: float | None = None,
    split: str = "train",
) -> Trace:
    """A synthetic trace for ``platform``.

    Args:
        kind: competing load, one of ``GENERATED_KINDS`` or ``NOVEL_KINDS``.
        platform: a ``platform_models.PlatformModel`` (PEs give the load columns, its table the budgets).
        seed: integer >= 0; the same (kind, platform, seed, duration, frame period) gives the same trace.
        duration_s: length in s, > 0.
        frame_period_ms: time between frames in ms (default: :meth:`BudgetScale.default_frame_period_ms`).
        split: ``"train"``, ``"eval"`` or ``"novel"``.

    Raises:
        TraceError: for a bad argument.
    """
    _check_arguments(kind, seed, duration_s, frame_period_ms, split)
    scale = BudgetScale.of(platform)
    period_ms = scale.default_frame_period_ms() if frame_period_ms is None else float(frame_period_ms)
    rng = np.random.default_rng([_SEED_ORDER.index(kind), seed])
    pes = [(pe.name, pe.kind, float(pe.n_cores)) for pe in platform.pes]
    loads = _LOADS[kind](rng, pes, duration_s)
    phases = (_drop_phases if kind == "budget-drop" else _phases)(rng, scale, period_ms, duration_s)
    time_s = np.unique(np.round(np.concatenate([*(t for t, _ in loads.values()), phases[0]]), 3))
    time_s = time_s[time_s < duration_s]
    columns = {pe: _step_values(t, v, time_s) for pe, (t, v) in loads.items()}
    budgets = [_step_values(phases[0], b, time_s) for b in phases[1]]
    keep = _changes(np.column_stack([*columns.values(), *budgets]))
    names = ", ".join(phases[2])
    return Trace(
        platform=platform.name,
        kind=kind,
        split=split,
        seed=seed,
        frame_period_ms=period_ms,
        duration_s=duration_s,
        time_s=time_s[keep],
        load={pe: v[keep] for pe, v in columns.items()},
        latency_budget_ms=budgets[0][keep],
        power_budget_w=budgets[1][keep],
        energy_budget_mj=budgets[2][keep],
        description=f"synthetic {kind} competing load; budget phases: {names}",
    )


def _check_arguments(
    kind: str, seed: int, duration_s: float, frame_period_ms: float | None, split: str
) -> None:
    if kind not in _SEED_ORDER:
        raise TraceError(f"expected one of {'|'.join(_SEED_ORDER)}, got {kind!r}", field="kind")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise TraceError(f"expected an integer >= 0, got {seed!r}", field="seed")
    for field, what in check_metadata(None, None, None, frame_period_ms, float(duration_s)):
        raise TraceError(what, field=field)  # before generating: a year of frames would take long
    if split not in SPLITS:
        raise TraceError(f"expected one of {'|'.join(SPLITS)}, got {split!r}", field="split")


# --- budgets -------------------------------------------------------------------------------------

Step = tuple[np.ndarray, np.ndarray]  # (start times s, value from each start on)


def _phases(
    rng: np.random.Generator, scale: BudgetScale, period_ms: float, duration_s: float
) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """Phase starts, the three budget columns per phase (NaN = absent), and the phases' names."""
    starts, names = [], []
    t = 0.0
    while t < duration_s:
        for name in rng.permutation(PHASES):  # each phase type once before any repeats
            if t >= duration_s:
                break
            starts.append(round(t, 3))
            names.append(str(name))
            t += duration_s * rng.uniform(*_PHASE_SHARE)
    budgets = np.array(
        [scale.phase_budgets(name, period_ms, rng.uniform(), rng.uniform()) for name in names]
    ).T
    return np.array(starts), list(budgets), names


def _drop_phases(
    rng: np.random.Generator, scale: BudgetScale, period_ms: float, duration_s: float
) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """``budget-drop``: the frame period, a latency-only budget anywhere between the fastest
    configuration and the frame period from 30-50 % of the trace to 70-90 %, then the period again."""
    drop_s, back_s = duration_s * rng.uniform(0.3, 0.5), duration_s * rng.uniform(0.7, 0.9)
    low_ms = float(scale.latency_ms.min()) * 1.15
    dropped_ms = _sig3(_between(low_ms, max(period_ms * 0.9, low_ms), rng.uniform()))
    nan = math.nan
    starts = np.round([0.0, drop_s, back_s], 3)
    budgets = [np.array([period_ms, dropped_ms, period_ms]), np.full(3, nan), np.full(3, nan)]
    return starts, budgets, ["relaxed", f"drop to {dropped_ms:g} ms", "relaxed"]


def _between(low: float, high: float, u: float) -> float:
    """Geometric interpolation (budgets span orders of magnitude across PEs and frequencies); never
    below ``low``, which keeps the budget within reach, even where the platform leaves no room."""
    high = max(high, low)
    return low * (high / low) ** u


def _sig3(value: float) -> float:
    return float(f"{value:.3g}")


# --- competing load ------------------------------------------------------------------------------
# Each generator returns, per PE, a step function (start times, values); CPU values are busy cores in
# [0, n_cores], GPU values a busy share in [0, 1] (its n_cores is 1).

PE = tuple[str, str, float]  # name, kind, n_cores


def _steady(rng: np.random.Generator, pes: Sequence[PE], duration_s: float) -> dict[str, Step]:
    return {name: (np.zeros(1), np.array([_level(rng, n, 0.0, 0.6)])) for name, _, n in pes}


def _periodic(rng: np.random.Generator, pes: Sequence[PE], duration_s: float) -> dict[str, Step]:
    out = {}
    for name, _, n in pes:
        period_s = duration_s * rng.uniform(0.07, 0.2)
        duty = rng.uniform(0.3, 0.7)
        high, low = _level(rng, n, 0.5, 1.0), _level(rng, n, 0.0, 0.1)
        first = -rng.uniform(0.0, period_s)  # a random phase
        on = np.arange(first, duration_s, period_s)
        times = np.concatenate([[0.0], on, on + duty * period_s])
        values = np.concatenate([[low], np.full(on.size, high), np.full(on.size, low)])
        out[name] = _sorted_step(times, values)
    return out


def _bursty(rng: np.random.Generator, pes: Sequence[PE], duration_s: float) -> dict[str, Step]:
    out = {}
    for name, _, n in pes:
        arrivals = _arrivals(rng, rng.uniform(0.15, 0.5), duration_s)
        ends = np.round(arrivals + np.clip(rng.exponential(1.5, size=arrivals.size), 0.2, 6.0), 3)
        amounts = np.array([_level(rng, n, 0.25, 1.0) for _ in arrivals])
        out[name] = _overlapping(arrivals, ends, amounts, n)
    return out


def _arrivals(rng: np.random.Generator, rate_per_s: float, duration_s: float) -> np.ndarray:
    """Poisson arrival times within the trace, rounded to 1 ms."""
    arrivals = np.cumsum(rng.exponential(1.0 / rate_per_s, size=int(3 * rate_per_s * duration_s) + 5))
    return np.round(arrivals[arrivals < duration_s], 3)


def _overlapping(arrivals: np.ndarray, ends: np.ndarray, amounts: np.ndarray, n_cores: float) -> Step:
    """The load of bursts ``[arrival, end)`` of ``amounts``: overlapping bursts add up, to the PE's size."""
    times = np.unique(np.concatenate([[0.0], arrivals, ends]))
    active = (arrivals[None, :] <= times[:, None]) & (times[:, None] < ends[None, :])
    return times, np.round(np.minimum(active @ amounts, n_cores), 2)


def _ramp(rng: np.random.Generator, pes: Sequence[PE], duration_s: float) -> dict[str, Step]:
    out = {}
    times = np.arange(0.0, duration_s, _RAMP_STEP_S)
    x = times / duration_s
    for name, _, n in pes:
        low, high = _level(rng, n, 0.0, 0.2), _level(rng, n, 0.6, 1.0)
        peak = rng.uniform(0.4, 1.0)  # up to the peak, then down (a peak at 1.0 is a plain ramp)
        shape = np.where(x <= peak, x / peak, (1.0 - x) / max(1.0 - peak, 1e-9))
        out[name] = (times, np.round(low + (high - low) * shape, 2))
    return out


def _concurrent_dnn(rng: np.random.Generator, pes: Sequence[PE], duration_s: float) -> dict[str, Step]:
    """Another app runs a DNN once per period on one CPU cluster or the GPU, with idle spells."""
    capacity = {name: n for name, _, n in pes}
    background = {name: _level(rng, n, 0.0, 0.15) for name, _, n in pes}
    cpus = [name for name, kind, _ in pes if kind == "cpu"]
    cluster = cpus[int(rng.integers(len(cpus)))]
    gpu = next((name for name, kind, _ in pes if kind == "gpu"), None)
    period_s = rng.uniform(0.5, 1.5)
    busy_s = period_s * rng.uniform(0.3, 0.6)
    use = {cluster: float(rng.integers(1, int(capacity[cluster]) + 1)), gpu: round(rng.uniform(0.5, 0.9), 2)}
    pulses: dict[str, list[float]] = {name: [] for name, _, _ in pes}  # start times of the app's inferences
    t = 0.0
    while t < duration_s:
        active_s, idle_s = duration_s * rng.uniform(0.15, 0.35), duration_s * rng.uniform(0.05, 0.15)
        target = gpu if gpu is not None and rng.uniform() < 0.4 else cluster
        starts = np.arange(t, min(t + active_s, duration_s), period_s)
        pulses[target] += starts.tolist()
        t = max(t + active_s, float(starts[-1]) + busy_s) + idle_s
    out = {}
    for name, starts in pulses.items():
        on = np.round(np.array(starts), 3)
        busy = round(min(background[name] + use.get(name, 0.0), capacity[name]), 2)
        times = np.concatenate([[0.0], np.column_stack([on, np.round(on + busy_s, 3)]).ravel()])
        values = np.concatenate([[background[name]], np.tile([busy, background[name]], on.size)])
        out[name] = (times, values)
    return out


def _heavy_tailed(rng: np.random.Generator, pes: Sequence[PE], duration_s: float) -> dict[str, Step]:
    """Bursts of Pareto durations and sizes: mostly small, sometimes nearly the whole PE for long."""
    out = {}
    for name, _, n in pes:
        arrivals = _arrivals(rng, rng.uniform(0.3, 0.8), duration_s)
        ends = np.round(arrivals + np.minimum(0.1 * (1.0 + rng.pareto(1.2, arrivals.size)), duration_s), 3)
        amounts = np.minimum(0.1 * n * (1.0 + rng.pareto(1.2, arrivals.size)), n)
        out[name] = _overlapping(arrivals, ends, amounts, n)
    return out


def _gpu_dnn(rng: np.random.Generator, pes: Sequence[PE], duration_s: float) -> dict[str, Step]:
    """A second DNN pulsing on the GPU all trace long (CPU-only platforms: on the biggest cluster)."""
    gpu = next((name for name, kind, _ in pes if kind == "gpu"), None)
    target = gpu or max(pes, key=lambda pe: pe[2])[0]
    out = {name: (np.zeros(1), np.array([_level(rng, n, 0.0, 0.15)])) for name, _, n in pes if name != target}
    capacity = next(n for name, _, n in pes if name == target)
    period_s = rng.uniform(0.05, 0.4)
    on = np.arange(rng.uniform(0.0, period_s), duration_s, period_s)
    busy = np.round(capacity * rng.uniform(0.5, 0.95, on.size), 2)
    ends = on + period_s * rng.uniform(0.3, 0.8)
    times = np.concatenate([[0.0], np.column_stack([on, ends]).ravel()])
    values = np.concatenate([[0.0], np.column_stack([busy, np.zeros(on.size)]).ravel()])
    out[target] = _sorted_step(times, values)
    return out


def _oscillating(rng: np.random.Generator, pes: Sequence[PE], duration_s: float) -> dict[str, Step]:
    """Every PE flips between a low and a high load every few frames (a frame is 10-100 ms here)."""
    out = {}
    half_s = rng.uniform(0.04, 0.3)  # 2-6 frames of the usual periods
    times = np.arange(0.0, duration_s, half_s)
    for name, _, n in pes:
        low, high = _level(rng, n, 0.0, 0.2), _level(rng, n, 0.6, 1.0)
        out[name] = (np.round(times, 3), np.where(np.arange(times.size) % 2 == 0, low, high))
    return out


def _overload(rng: np.random.Generator, pes: Sequence[PE], duration_s: float) -> dict[str, Step]:
    """Light load, then a long nearly infeasible phase on every PE at once, then light again."""
    start_s = duration_s * rng.uniform(0.15, 0.35)
    end_s = start_s + duration_s * rng.uniform(0.3, 0.5)
    times = np.round([0.0, start_s, end_s], 3)
    out = {}
    for name, kind, n in pes:
        light = _level(rng, n, 0.0, 0.2)
        heavy = _level(rng, n, 0.75, 0.95) if kind == "gpu" else _level(rng, n, 0.85, 1.0)
        out[name] = (times, np.array([light, heavy, light]))
    return out


_LOADS: dict[str, Callable[[np.random.Generator, Sequence[PE], float], dict[str, Step]]] = {
    "steady": _steady,
    "periodic": _periodic,
    "bursty": _bursty,
    "ramp": _ramp,
    "concurrent-dnn": _concurrent_dnn,
    "heavy-tailed": _heavy_tailed,
    "budget-drop": _steady,
    "gpu-dnn": _gpu_dnn,
    "oscillating": _oscillating,
    "overload": _overload,
}


def _level(rng: np.random.Generator, n_cores: float, low: float, high: float) -> float:
    """A load between ``low`` and ``high`` of the PE's capacity, rounded to 0.01."""
    return round(n_cores * rng.uniform(low, high), 2)


def _sorted_step(times: np.ndarray, values: np.ndarray) -> Step:
    times = np.round(np.clip(times, 0.0, None), 3)
    order = np.argsort(times, kind="stable")
    return times[order], values[order]


def _step_values(times: np.ndarray, values: np.ndarray, at_s: np.ndarray) -> np.ndarray:
    """The step function's value at each of ``at_s`` (the last start <= t wins)."""
    index = np.searchsorted(times, at_s, side="right") - 1
    return np.asarray(values, dtype=np.float64)[np.maximum(index, 0)]


def _changes(table: np.ndarray) -> np.ndarray:
    """Rows that differ from the previous one (NaN equal to NaN); the first always stays."""
    same = np.all((table[1:] == table[:-1]) | (np.isnan(table[1:]) & np.isnan(table[:-1])), axis=1)
    return np.concatenate([[True], ~same])
