"""Power over a window: a board's power sensor sampled in a thread (the profiler's timed windows,
the live agent's inferences)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np

__all__ = ["PowerSampler"]


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
