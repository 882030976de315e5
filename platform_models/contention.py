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
    thread runs at ``1 - d (1 - 1 / S)`` of full speed. ``S`` defaults to 2 (two runnable threads at one
    priority split a core evenly: ``2 / (2 - d)``); calibration measures it on the board as it runs
    (``hw_agents.calibrate``), because a thread that wakes for each frame after sleeping between frames
    does not always get only half: the kernel may let it run ahead of the burners. A GPU with busy
    share ``b`` is time-sliced the same way, with ``d = b``. Measured on the 2-vCPU development VM
    (Intel), the DNN's one thread with both cores held by burners at nice 0 took 1.98x its idle
    one-core time (``priority`` predicts the 5 % floor, 20x; an even split of two cores among three
    threads, 1.5x).

Either way a share never falls below ``SHARE_FLOOR`` of one core (or of the GPU): a runnable thread
is never starved completely, and every inference finishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from platform_models.descriptor import FULL_CORE_STRETCH
from platform_models.model import ConfigMetrics

SHARE_FLOOR = 0.05
"""The least share of one core (or of the GPU) the DNN gets, however busy the PE."""
FREE_CORE_BUSY = 0.1
"""A core busy less than this share of the time counts as wholly free: a thread there is seldom held
up, and /proc/stat counts whole 10 ms ticks, so over one frame an idle core can read up to ~0.1 busy.
(Without it the live agent, reading 0.06 busy cores, ran two threads where the simulator, told 0.04
by the trace, ran one.)"""

_ROWS_READ_KEPT = 4096


class Allocation(NamedTuple):
    """Per PE (arrays of the load's shape): what the DNN gets under a competing load."""

    cores: np.ndarray
    """The table's ``cores`` to read (1 for a GPU); fractional under ``priority``."""
    stretch: np.ndarray
    """Factor on the table's latency (>= 1): the time the DNN waits for its share."""
    share: np.ndarray
    """Cores (GPU: fraction of the GPU) the DNN effectively runs on: ``cores / stretch``."""


class LoadedMetrics(NamedTuple):
    """Every configuration (arrays aligned with ``platform.configs()``) under one competing load."""

    metrics: ConfigMetrics
    """Latency (mean and std stretched by the load), power and energy."""
    threads: np.ndarray
    """The table's ``cores`` row read, per configuration: the DNN's threads (fractional under
    ``priority``, 1 on a GPU)."""
    allocation: Allocation
    """Per PE, as :meth:`Contention.allocate` gives it."""


def _threads(n_cores: Any, busy_cores: Any) -> Any:
    return np.clip(np.floor(n_cores - busy_cores + FREE_CORE_BUSY), 1, n_cores)


def dnn_threads(n_cores: int, busy_cores: float) -> int:
    """Threads the DNN runs on a CPU PE: one per core ``busy_cores`` leaves wholly free (busy less
    than ``FREE_CORE_BUSY``), at least one."""
    return int(_threads(n_cores, busy_cores))


class Contention:
    """The contention rule of one platform (``platform.contention``), vectorised over loads."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.model = getattr(platform, "contention", "priority")
        self._is_gpu = np.array([pe.kind == "gpu" for pe in platform.pes])
        self._n_cores = np.array([float(pe.n_cores) for pe in platform.pes])
        self._slowed = 1.0 - 1.0 / getattr(platform, "contention_stretch", FULL_CORE_STRETCH)
        self._rows_of_cores: dict[tuple[float, ...], tuple[list[float], list[float]]] = {}
        self._rows_of_busy: dict[tuple[float, ...], tuple[list[float], list[float]]] = {}

    def allocate(self, busy: np.ndarray) -> Allocation:
        """The allocation under ``busy`` (shape (..., PEs): busy cores, GPU busy share)."""
        busy = np.asarray(busy, dtype=np.float64)
        is_gpu, n = self._is_gpu, self._n_cores
        if self.model == "fair":
            threads = _threads(n, busy)
            shared_busy = np.clip(np.where(is_gpu, busy, busy - n + 1.0), 0.0, 1.0)
            cores = np.where(is_gpu, 1.0, threads)
            stretch = 1.0 / (1.0 - shared_busy * self._slowed)
        else:
            left = np.maximum(np.where(is_gpu, 1.0, n) - busy, 0.0)
            cores = np.where(is_gpu, 1.0, np.clip(left, SHARE_FLOOR, n))
            stretch = np.where(is_gpu, 1.0 / np.maximum(left, SHARE_FLOOR), 1.0)
        return Allocation(cores, stretch, cores / stretch)

    def config_metrics(self, busy: np.ndarray | None = None) -> LoadedMetrics:
        """Every configuration under ``busy`` (shape (PEs,); None: a free board): the table's figures
        at the allocation's ``cores`` (``fair``: the fastest thread count up to them), latency
        stretched."""
        allocation = self.allocate(np.zeros(len(self._n_cores)) if busy is None else busy)
        platform = self.platform
        pe_of_config = platform.config_pe_index
        threads = allocation.cores[pe_of_config]
        best = platform.config_metrics(allocation.cores)
        if self.model == "fair":
            for t in range(1, int(allocation.cores.max())):
                fewer = np.minimum(allocation.cores, float(t))
                metrics = platform.config_metrics(fewer)
                faster = metrics.latency_ms < best.latency_ms
                best = best._make(np.where(faster, a, b) for a, b in zip(metrics, best, strict=True))
                threads = np.where(faster, fewer[pe_of_config], threads)
        stretch = allocation.stretch[pe_of_config]
        latency_ms = best.latency_ms * stretch
        power_w = best.power_w
        metrics = best._make((latency_ms, best.latency_std_ms * stretch, power_w, power_w * latency_ms))
        return LoadedMetrics(metrics, threads, allocation)

    def rows_read(self, busy: Sequence[float]) -> tuple[list[float], list[float]]:
        """Per configuration under ``busy`` (as :meth:`config_metrics`): the table's ``cores`` row read
        (the DNN's threads) and its power. Both depend on the allocation's cores alone, so they are
        computed once per allocation, and looked up by the load itself first: the live agent asks
        every frame, and the loads it reads repeat (an idle PE reads 0) or give allocations seen
        before."""
        rows = self._rows_of_busy.get(key := tuple(busy))
        if rows is None:
            if len(self._rows_of_busy) >= _ROWS_READ_KEPT:  # loads vary continuously
                self._rows_of_busy.clear()
            busy_array = np.asarray(busy, dtype=np.float64)
            cores = tuple(self.allocate(busy_array).cores.tolist())
            rows = self._rows_of_cores.get(cores)
            if rows is None:
                if len(self._rows_of_cores) >= _ROWS_READ_KEPT:  # ``priority``: cores vary continuously
                    self._rows_of_cores.clear()
                loaded = self.config_metrics(busy_array)
                rows = self._rows_of_cores[cores] = (loaded.threads.tolist(), loaded.metrics.power_w.tolist())
            self._rows_of_busy[key] = rows
        return rows
