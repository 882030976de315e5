"""Contention: how much of a processing element the DNN gets while other work runs on it.

The platform table says how fast the DNN runs with ``cores`` cores of a PE to itself. Under a
competing load of ``L`` busy cores (GPU: busy share ``b``) the simulator, the model-based
controllers and the live agent must all turn that load into the same two numbers per PE: the
``cores`` row to read from the table, and the ``stretch`` its latency is multiplied by. This module is
the one place that rule lives. A platform's descriptor picks the rule with ``contention``:

``priority`` (the default; the competing work keeps the cores it uses)
    The DNN gets what is left: ``n - L`` cores, fractional cores interpolated by the table (below one
    core, a time share of one core), stretch 1. GPU: the share ``1 - b``, stretch ``1 / (1 - b)``.
    This is the model of the issue and of the derived boards: competing apps at a higher priority,
    or a scheduler that keeps them on their cores.

``fair`` (Linux CFS with the competing work at the DNN's own priority)
    The DNN may run up to ``t`` threads, one per core the load leaves wholly free (at least one; a
    thread on a shared core would hold the others up at every synchronisation). Of 1..``t`` it runs
    the thread count whose table row is fastest for the configuration
    (:meth:`Contention.config_metrics`), which is what the live agent does: more threads are not
    always faster (on the 2-vCPU VM, k = 1 took 3.1 ms on one thread and 7.3 ms on two, the idle
    second thread being woken every frame). A core busy less than ``FREE_CORE_BUSY`` of the time
    counts as free. Only when no core is wholly free does a thread share one, the least busy: busy a
    fraction ``d = L - (n - 1)`` of the time with other work. On a core that is always busy the
    latency stretches by ``S``, the platform's ``contention_stretch``; on one busy ``d`` of the time the
    thread runs at ``s = 1 / (1 - d (1 - 1 / S))`` of full speed's time. A thread that wakes for each
    frame after sleeping between frames is not split at once: the kernel lets it run ahead of the
    other work for a while. So on a CPU PE the first ``A`` ms of an inference (the platform's
    ``contention_allowance_ms``) run at full speed and only the rest is stretched: an inference of
    ``t`` ms alone takes ``min(t, A) + s max(t - A, 0)``. ``S`` defaults to 2 and ``A`` to 0 (two
    runnable threads at one priority split a core evenly from the first instant: ``2 / (2 - d)``);
    calibration measures both on the board as it runs (``hw_agents.calibrate``: the live agent's mean
    inference per k on a held core, fitted by :func:`fit_held_core`). The run ahead is not every
    frame's: a share of the frames waits for the other work from the start and takes ``s t`` (the
    kernel's fairness owes the other work a turn; on the EPYC VM a k = 1 frame took either ~1.8 or
    ~4.3 ms, never between). Which one follows the phase of the frame's wake-up within the kernel's
    scheduler tick (4 ms there): frames every 22 ms (5.5 ticks) alternated, split and ahead; every
    21 ms (5.25 ticks) about one in four split, run after run; every 20 ms (whole ticks) all of a run's
    frames split or none did, by the phase the run happened to start at. The platform's
    ``contention_split_share`` gives the share over the tick's phases, per frame period, measured by
    calibration at periods that spread the frames over the phases (the split frames give ``S`` too,
    their inference over the table's, and ``A`` is fitted to it), and a frame on a core held ``d`` of
    the time is split with that share times ``d``. The simulator, which knows its trace's period,
    draws each frame's outcome (``LoadedMetrics.outcomes``), independently: its expectation over
    runs, not one run's phase, is what it reproduces, and :meth:`Contention.config_metrics` reports
    it there. The controllers do not know the period and price every frame ahead. Where calibration
    also found where in the tick the split frames arrive (``contention_split_window_end_ms``; the
    kernel aligns its tick to the monotonic clock, so a live log's ``arrival_s`` gives each frame's
    phase), the share is each configuration's own, at any period, and the controllers price its
    expectation too: a frame is split where a tick falls after its first ``grace`` ms (the tick less
    the window's end; about 0.6 ms on the EPYC VM, where the agent woke 0.7 ms before the arrival)
    and before it is done, so on a held core ``(t - grace) / tick`` of the phases split it
    (:func:`split_share_of`): k = 1 (1.8 ms) 0.3 of them, k = 4 (4.2 ms) 0.9, live 0.95-1.00. A
    simulated episode may then replay a live run's phase. A GPU with busy
    share ``b`` is time-sliced the same way, with ``d = b`` and no allowance. Measured: on the 2-vCPU
    development VM (Intel), the DNN's one thread with both cores held by burners at nice 0 took 1.98x its idle
    one-core time for every k (``priority`` predicts the 5 % floor, 20x; an even split of two cores
    among three threads, 1.5x): ``A = 0, S = 2``. On a 2-vCPU AMD EPYC VM (Linux 6.18) k = 1 and 2
    (2-3 ms) ran about as fast as alone and k = 4 (4-5 ms) 1.5-2x slower: fitted ``A`` 2.8-4.1 ms,
    ``S`` 3.2-3.4 (docs/sim-to-real.md).

    Where calibration measured the window, it also fits a held core's turns
    (``platform_models.turns``): a split frame does not run ``S`` times slower throughout, it waits
    for the other work as long as it ran ahead of it (and a little more), once per tick that takes the
    core, so how long depends on where its phase puts the ticks. With them, a CPU configuration's
    ``ahead`` outcome is the held core's own speed (its run ratio: a busy virtual CPU ran the DNN
    0.8x its table time on the EPYC VM) and ``split`` that plus the mean wait of the phases that make
    it wait; the simulator draws each frame's own wait by its phase.

Either way a share never falls below ``SHARE_FLOOR`` of one core (or of the GPU): a runnable thread
is never starved completely, and every inference finishes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from platform_models.descriptor import FULL_CORE_STRETCH, NO_WAKE_ALLOWANCE_MS
from platform_models.memo import Memo
from platform_models.model import ConfigMetrics
from platform_models.turns import Turns

SHARE_FLOOR = 0.05
"""The least share of one core (or of the GPU) the DNN gets, however busy the PE."""
FREE_CORE_BUSY = 0.1
"""A core busy less than this share of the time counts as wholly free: a thread there is seldom held
up, and /proc/stat counts whole 10 ms ticks, so over one frame an idle core can read up to ~0.1 busy.
(Without it the live agent, reading 0.06 busy cores, ran two threads where the simulator, told 0.04
by the trace, ran one.)"""



class Allocation(NamedTuple):
    """Per PE (arrays of the load's shape): what the DNN gets under a competing load."""

    cores: np.ndarray
    """The table's ``cores`` to read (1 for a GPU); fractional under ``priority``."""
    stretch: np.ndarray
    """Factor on the table's latency (>= 1): the time the DNN waits for its share."""
    share: np.ndarray
    """Cores (GPU: fraction of the GPU) the DNN effectively runs on: ``cores / stretch``."""


class Outcomes(NamedTuple):
    """Every configuration under one load, two ways (``Contention._outcomes``)."""

    ahead: ConfigMetrics
    """The inference ahead of the other work for the allowance, stretched past it."""
    split: ConfigMetrics
    """The inference split with the other work from the start."""
    split_share: np.ndarray
    """The share of frames split, per configuration (0 where the PE is free)."""


class LoadedMetrics(NamedTuple):
    """Every configuration (arrays aligned with ``platform.configs()``) under one competing load."""

    metrics: ConfigMetrics
    """Latency (mean and std stretched by the load), power and energy."""
    threads: np.ndarray
    """The table's ``cores`` row read, per configuration: the DNN's threads (fractional under
    ``priority``, 1 on a GPU)."""
    allocation: Allocation
    """Per PE, as :meth:`Contention.allocate` gives it."""
    outcomes: Outcomes
    """The two outcomes on a held core whose expectation ``metrics`` is (the simulator draws one per
    frame)."""


class _Fastest(NamedTuple):
    """What the table gives every configuration at one ``cores`` per PE (see ``Contention._fastest``)."""

    threads: np.ndarray
    metrics: ConfigMetrics
    """Unstretched."""
    rows: tuple[list[float], list[float]]
    """``threads`` and the power, as lists (:meth:`Contention.rows_read`)."""
    turns: tuple[np.ndarray, np.ndarray] | None
    """Where the platform measured its turns (``platform_models.turns``): per configuration, the
    share of the tick's phases at which a held core makes the frame wait, and the mean wait there."""


def _threads(n_cores: float, busy_cores: float) -> float:
    return float(min(max(math.floor(n_cores - busy_cores + FREE_CORE_BUSY), 1), n_cores))


def dnn_threads(n_cores: int, busy_cores: float) -> int:
    """Threads the DNN runs on a CPU PE: one per core ``busy_cores`` leaves wholly free (busy less
    than ``FREE_CORE_BUSY``), at least one."""
    return int(_threads(float(n_cores), float(busy_cores)))


MAX_FITTED_STRETCH = 10.0
"""The largest stretch :func:`fit_held_core` reports: past it a fit rests on noise, not on sharing."""


def fit_held_core(alone_ms: Sequence[float], held_ms: Sequence[float],
                  split_share: float | Sequence[float] = 0.0,
                  stretch: float | None = None) -> tuple[float, float]:
    """The ``fair`` rule's (allowance ms, stretch) on a held core that best fit measured latencies: the
    DNN alone on a core, ``alone_ms`` (one per k, say), and the mean on the same core held by other
    work, ``held_ms``, with ``split_share`` of the frames split from the start (one for every point,
    or one each). The model: a frame
    runs its first ``allowance`` ms at full speed and the rest ``stretch`` times slower, or, split, all
    of it ``stretch`` times slower, ``held = (1 - q) (min(t, A) + S max(t - A, 0)) + q S t``; least
    squares in relative error, ``A`` on a grid of 1/400 of the longest ``t``, ``S`` in closed form at
    each, within [1, ``MAX_FITTED_STRETCH``] (a held core never speeds the DNN up). Ties go to the
    smaller allowance: latencies all stretched alike give (0, their ratio), the rule without an
    allowance. A ``stretch`` given (measured on the split frames themselves) is kept, and only ``A``
    fitted."""
    t = np.asarray(alone_ms, dtype=np.float64)
    held = np.asarray(held_ms, dtype=np.float64)
    if t.shape != held.shape or t.size == 0 or not (np.all(t > 0.0) and np.all(held > 0.0)):
        raise ValueError("fit_held_core: expected as many positive held as alone latencies, at least one")
    share = np.broadcast_to(np.asarray(split_share, dtype=np.float64), t.shape)
    if not np.all((share >= 0.0) & (share <= 1.0)):
        raise ValueError(f"fit_held_core: expected split shares in [0, 1], got {share.tolist()}")
    allowance = np.linspace(0.0, t.max(), 401)[:-1, None]  # (A, points): below the longest, S is seen
    # held = head + S beyond, with the split frames' share moved from the head to the stretched part
    head = (1.0 - share) * np.minimum(t, allowance)
    beyond = t - head
    weight = 1.0 / held**2
    stretches = (np.full(len(allowance), stretch) if stretch is not None else
                 np.clip(np.sum(weight * beyond * (held - head), axis=1) / np.sum(weight * beyond**2, axis=1),
                         1.0, MAX_FITTED_STRETCH))
    residual = np.sum(((head + stretches[:, None] * beyond) / held - 1.0) ** 2, axis=1)
    best = int(np.argmin(np.round(residual, 12)))  # rounding: equal fits tie, the first (smallest A) wins
    return float(allowance[best, 0]), float(stretches[best])


def split_share_at(pairs: Sequence[tuple[float, float]], frame_period_ms: float | None) -> float:
    """The share of frames a held core splits from the start at ``frame_period_ms``, of ``pairs``
    (frame period ms, share) sorted by period (a platform's ``contention_split_share``): interpolated
    in log period between the periods measured, held at the nearest beyond them; 0 where none was
    measured or no period is given."""
    if not pairs or frame_period_ms is None:
        return 0.0
    periods_ms, shares = zip(*pairs, strict=True)
    return float(np.interp(math.log(frame_period_ms), np.log(periods_ms), shares))


def split_window_end(phases_ms: Sequence[float], split: Sequence[bool], tick_ms: float,
                     latency_ms: float) -> tuple[float, float]:
    """Where in the scheduler tick the arrival phases of the frames a held core splits end, from
    frames of ``latency_ms`` alone: their phases (ms past a tick) and whether each was split. A
    frame is split where a tick falls after its first ``grace`` ms and before it is done
    (:func:`split_share_of`): its phase lies in the ``latency - grace`` ms before ``tick - grace``,
    the window's end. The end is placed (on a grid of 1/400 tick) where it tells the most frames'
    outcomes right. Returns (end ms, the share of the frames it tells right)."""
    phases = np.asarray(phases_ms, dtype=np.float64) % tick_ms
    was_split = np.asarray(split, dtype=bool)
    ends_ms = np.arange(400) * (tick_ms / 400.0)
    width_ms = split_share_of(np.full(len(ends_ms), latency_ms), tick_ms - ends_ms, tick_ms) * tick_ms
    inside = (ends_ms[:, None] - phases[None, :]) % tick_ms < width_ms[:, None]
    told = np.mean(inside == was_split[None, :], axis=1)
    best = int(np.argmax(told))
    return float(ends_ms[best]), float(told[best])


def split_share_of(latency_ms: np.ndarray, grace_ms: float, tick_ms: float,
                   on_cpu: np.ndarray | float = 1.0) -> np.ndarray:
    """The share of the tick's phases at which a frame of ``latency_ms`` alone arriving on a held
    core is split: where a tick falls after its first ``grace_ms`` (the tick less where the split
    window ends, or as calibration measured it against the table: ``contention_split_grace_ms``) and
    before it is done, so ``(latency - grace) / tick`` within [0, 1] (``on_cpu``: 0
    for a GPU's configurations, which no CPU tick splits)."""
    return np.clip((np.asarray(latency_ms, dtype=np.float64) - grace_ms) / tick_ms, 0.0, 1.0) * on_cpu


class Contention:
    """The contention rule of one platform (``platform.contention``), vectorised over loads.

    ``frame_period_ms``: the frames' period, where it is known (the simulator knows its trace's): on a
    ``fair`` platform that measured ``contention_split_share``, a held core's frame then has two
    outcomes (``LoadedMetrics.outcomes``), and the metrics are their expectation. Without it (the
    controllers, which do not know the period) every frame runs ahead for the allowance, unless the
    platform measured the tick's split window: then each configuration's share holds at any period,
    and the metrics are the expectation with or without one."""

    def __init__(self, platform: Any, frame_period_ms: float | None = None) -> None:
        self.platform = platform
        self.model = getattr(platform, "contention", "priority")
        self._pes = tuple((pe.kind == "gpu", float(pe.n_cores)) for pe in platform.pes)
        self._n_cores = np.array([float(pe.n_cores) for pe in platform.pes])
        self._slowed = 1.0 - 1.0 / getattr(platform, "contention_stretch", FULL_CORE_STRETCH)
        allowance_ms = getattr(platform, "contention_allowance_ms", NO_WAKE_ALLOWANCE_MS)
        split_share = split_share_at(getattr(platform, "contention_split_share", ()), frame_period_ms)
        # Per configuration, where the rule is ``fair``: its PE's wake-up allowance and the share of
        # frames a held core splits from the start at the period given (None where 0 everywhere).
        self._allowance_of_config = self._on_cpu_configs(allowance_ms)
        self._split_share_of_config = self._on_cpu_configs(split_share)
        # Where the tick's split window was measured, each configuration's own share, at any period.
        end_ms = getattr(platform, "contention_split_window_end_ms", None)
        grace_ms = getattr(platform, "contention_split_grace_ms", None)
        self._split_window = (None if end_ms is None or self.model != "fair" else
                              (platform.scheduler_tick_ms - end_ms if grace_ms is None else grace_ms,
                               platform.scheduler_tick_ms, self._on_cpu_configs(1.0)))
        self.turns = Turns.of(platform)
        self._fastest_of_cores = Memo()  # ``priority``: cores vary continuously
        self._rows_of_busy = Memo()  # loads vary continuously

    def _on_cpu_configs(self, value: float) -> np.ndarray | None:
        """``value`` for every configuration on a CPU PE, 0 on a GPU (a CPU scheduler's figure); None
        where it is 0 or the rule is not ``fair``."""
        if self.model != "fair" or value <= 0.0:
            return None
        return np.array([0.0 if is_gpu else value for is_gpu, _ in self._pes])[self.platform.config_pe_index]

    def allocation_of(self, busy: Sequence[float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(cores, stretch) per PE under one load ``busy`` (per PE: busy cores, GPU busy share), in
        plain Python floats: the one statement of the rule (:meth:`allocate` applies it to arrays).
        Plain floats because the live agent applies it every frame, where numpy's per-call cost on
        a few PEs was most of the time; the arithmetic is the same IEEE arithmetic numpy's."""
        cores, stretch = [], []
        for (is_gpu, n), b in zip(self._pes, busy, strict=True):
            if self.model == "fair":
                shared_busy = min(max(b if is_gpu else b - n + 1.0, 0.0), 1.0)
                cores.append(1.0 if is_gpu else _threads(n, b))
                stretch.append(1.0 / (1.0 - shared_busy * self._slowed))
            else:
                left = max((1.0 if is_gpu else n) - b, 0.0)
                cores.append(1.0 if is_gpu else min(max(left, SHARE_FLOOR), n))
                stretch.append(1.0 / max(left, SHARE_FLOOR) if is_gpu else 1.0)
        return tuple(cores), tuple(stretch)

    def allocate(self, busy: np.ndarray) -> Allocation:
        """The allocation under ``busy`` (shape (..., PEs): busy cores, GPU busy share)."""
        busy = np.asarray(busy, dtype=np.float64)
        rows = [self.allocation_of(row) for row in busy.reshape(-1, len(self._pes)).tolist()]
        cores = np.array([row[0] for row in rows]).reshape(busy.shape)
        stretch = np.array([row[1] for row in rows]).reshape(busy.shape)
        return Allocation(cores, stretch, cores / stretch)

    def config_metrics(self, busy: np.ndarray | None = None) -> LoadedMetrics:
        """Every configuration under ``busy`` (shape (PEs,); None: a free board): the table's figures
        at the allocation's ``cores`` (``fair``: the fastest thread count up to them), latency
        stretched."""
        allocation = self.allocate(np.zeros(len(self._n_cores)) if busy is None else busy)
        fastest = self._fastest(allocation.cores)
        outcomes = self._outcomes(fastest, allocation.stretch.tolist())
        return LoadedMetrics(_expectation(outcomes), fastest.threads, allocation, outcomes)

    def metrics_of(self, allocation: tuple[tuple[float, ...], tuple[float, ...]]) -> ConfigMetrics:
        """``config_metrics(busy).metrics`` for the ``allocation_of(busy)`` given, its arrays
        read-only: the table's rows read are remembered per ``cores``, and stretched only where a
        stretch is not 1 (the live agent asks every frame)."""
        cores, stretch = allocation
        return self._stretched(self._fastest_of(cores), stretch)

    def rows_read(self, busy: Sequence[float]) -> tuple[list[float], list[float]]:
        """Per configuration under ``busy`` (as :meth:`config_metrics`): the table's ``cores`` row read
        (the DNN's threads) and its power. Both depend on the allocation's cores alone, so they are
        computed once per allocation, and looked up by the load itself first: the live agent asks
        every frame, and the loads it reads repeat (an idle PE reads 0) or give allocations seen
        before."""
        rows = self._rows_of_busy.get(key := tuple(busy))
        if rows is None:
            rows = self._rows_of_busy.keep(key, self._fastest_of(self.allocation_of(key)[0]).rows)
        return rows

    def _fastest_of(self, cores: tuple[float, ...]) -> _Fastest:
        """:meth:`_fastest` remembered per ``cores``, its arrays read-only."""
        fastest = self._fastest_of_cores.get(cores)
        if fastest is None:
            fastest = self._fastest(np.array(cores))
            for array in (fastest.threads, *fastest.metrics, *(fastest.turns or ())):
                array.flags.writeable = False
            self._fastest_of_cores.keep(cores, fastest)
        return fastest

    def _fastest(self, cores: np.ndarray) -> _Fastest:
        """The table's figures per configuration at ``cores`` per PE, unstretched (``fair``: at the
        fastest thread count up to them), and the threads (the ``cores`` row) read."""
        platform = self.platform
        pe_of_config = platform.config_pe_index
        threads = cores[pe_of_config]
        best = platform.config_metrics(cores)
        if self.model == "fair":
            for t in range(1, int(cores.max())):
                fewer = np.minimum(cores, float(t))
                metrics = platform.config_metrics(fewer)
                faster = metrics.latency_ms < best.latency_ms
                best = best._make(np.where(faster, a, b) for a, b in zip(metrics, best, strict=True))
                threads = np.where(faster, fewer[pe_of_config], threads)
        turns = (None if self.turns is None else
                 self.turns.expected_wait_ms(best.latency_ms * self.turns.run_ratio))
        return _Fastest(threads, best, (threads.tolist(), best.power_w.tolist()), turns)

    def _outcomes(self, fastest: _Fastest, stretch: Sequence[float]) -> Outcomes:
        """The table's figures (``fastest.metrics``) stretched by each configuration's PE's
        ``stretch`` two ways (the std by the same factor as the mean): ``ahead``, past the wake-up
        allowance on a ``fair`` CPU PE, and ``split``, from the start; a frame is split with the
        platform's split share at the period times the share of the time the other work holds the
        core (``d``, from the stretch ``1 / (1 - d (1 - 1 / S))``). Without an allowance the two are
        the same; where every stretch is 1, both are the table's figures themselves (the products
        would equal them). Where the platform measured its turns, a CPU configuration's frame either
        runs as fast as alone or waits its turns (:meth:`_turned`)."""
        best = fastest.metrics
        if all(s == 1.0 for s in stretch):
            return Outcomes(best, best, np.zeros_like(best.latency_ms))
        stretch_of_config = np.array(stretch)[self.platform.config_pe_index]
        latency_ms = best.latency_ms * stretch_of_config
        power_w = best.power_w
        split_std_ms = best.latency_std_ms * stretch_of_config
        split = best._make((latency_ms, split_std_ms, power_w, power_w * latency_ms))
        if fastest.turns is not None:
            return self._turned(best, split, stretch_of_config, fastest.turns)
        if self._allowance_of_config is None:
            return Outcomes(split, split, np.zeros_like(latency_ms))
        # the allowance's first ms run at full speed: t s - head (s - 1) = head + (t - head) s
        head_ms = np.minimum(best.latency_ms, self._allowance_of_config)
        ahead_ms = latency_ms - head_ms * (stretch_of_config - 1.0)
        ahead = best._make((ahead_ms, best.latency_std_ms * (ahead_ms / best.latency_ms), power_w,
                            power_w * ahead_ms))
        if self._split_window is not None:
            share_of_config = split_share_of(best.latency_ms, *self._split_window)
        elif self._split_share_of_config is not None:
            share_of_config = self._split_share_of_config
        else:
            return Outcomes(ahead, split, np.zeros_like(latency_ms))
        return Outcomes(ahead, split, share_of_config * self._held_share(stretch_of_config))

    def _held_share(self, stretch_of_config: np.ndarray) -> np.ndarray:
        """Per configuration, the share of the time the other work holds its core (``d``), from
        its stretch ``1 / (1 - d (1 - 1 / S))`` (0 where ``S`` is 1: nothing is ever held up)."""
        if self._slowed == 0.0:
            return np.zeros_like(stretch_of_config)
        return (1.0 - 1.0 / stretch_of_config) / self._slowed

    def _turned(self, best: ConfigMetrics, stretched: ConfigMetrics, stretch_of_config: np.ndarray,
                turns: tuple[np.ndarray, np.ndarray]) -> Outcomes:
        """The two outcomes where the platform measured its turns (``platform_models.turns``): on a
        CPU core held ``d`` of the time, ``ahead`` runs the table's latency times ``1 - d (1 - r)``
        (``r``: the held core's run ratio) and ``split`` waits besides, the mean wait of the phases
        at which a tick takes the core, at that share of the phases times ``d``; a GPU's
        configurations, which no CPU tick takes, ``stretched`` (time-sliced) either way."""
        assert self.turns is not None and self._split_window is not None  # (turns need the window)
        on_cpu = self._split_window[2] > 0.0
        held = np.where(on_cpu, self._held_share(stretch_of_config), 0.0)
        phase_share, wait_ms = turns
        run = 1.0 - held * (1.0 - self.turns.run_ratio)
        ahead_ms = np.where(on_cpu, best.latency_ms * run, stretched.latency_ms)
        std_ms = np.where(on_cpu, best.latency_std_ms * run, stretched.latency_std_ms)
        split_ms = ahead_ms + np.where(on_cpu, wait_ms, 0.0)
        power_w = best.power_w
        return Outcomes(best._make((ahead_ms, std_ms, power_w, power_w * ahead_ms)),
                        best._make((split_ms, std_ms, power_w, power_w * split_ms)), phase_share * held)

    def _stretched(self, fastest: _Fastest, stretch: Sequence[float]) -> ConfigMetrics:
        """The table's figures (``fastest.metrics``) with each configuration's latency (mean and
        std) stretched by its PE's ``stretch``: the expectation of its two outcomes."""
        return _expectation(self._outcomes(fastest, stretch))


def _expectation(outcomes: Outcomes) -> ConfigMetrics:
    """The expectation of the two outcomes (their spread and the gap between them in the std);
    ``ahead`` itself where no frame is split."""
    ahead, split, share = outcomes
    if not share.any():
        return ahead
    gap_ms = split.latency_ms - ahead.latency_ms
    latency_ms = ahead.latency_ms + share * gap_ms
    std_ms = np.sqrt((1.0 - share) * ahead.latency_std_ms**2 + share * split.latency_std_ms**2
                     + share * (1.0 - share) * gap_ms**2)
    return ahead._make((latency_ms, std_ms, ahead.power_w, ahead.power_w * latency_ms))
