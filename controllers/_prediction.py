"""What the platform table predicts for every configuration under a competing load.

The model-based controllers (lookup, reactive) ask the table, not the simulator, so the same code
runs on the board. Contention follows the simulator's rule (envs/_tables.py): on a CPU cluster of
``n`` cores with ``L`` busy the DNN gets ``n - L`` cores (fractional cores interpolate; below one
core a time share of one core), on a GPU with busy share ``b`` it gets ``1 - b`` of it, so its
latency stretches by ``1 / (1 - b)``; either share is floored at ``MIN_SHARE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_SHARE = 0.05  # the scheduler never starves a runnable thread completely (envs' SHARE_FLOOR)
P95_Z = 1.645  # one-sided 95 % point of a normal: the lookup plans for the p95 latency, not the mean


@dataclass(frozen=True)
class Prediction:
    """Per-configuration predictions, arrays aligned with ``platform.configs()``."""

    latency_ms: np.ndarray
    latency_p95_ms: np.ndarray
    power_w: np.ndarray
    energy_mj: np.ndarray
    accuracy: np.ndarray


class Predictor:
    """Predicts every configuration of a platform under a load (PE name -> busy cores or share)."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        configs = platform.configs()
        self.accuracy = np.array([platform.accuracy[c.groups - 1] for c in configs])
        self._is_gpu = np.array([pe.kind == "gpu" for pe in platform.pes])
        self._n_cores = np.array([float(pe.n_cores) for pe in platform.pes])
        pe_index = {pe.name: i for i, pe in enumerate(platform.pes)}
        self._pe_of_config = np.array([pe_index[c.pe] for c in configs])
        self._cache: dict[tuple[float, ...], Prediction] = {}

    def predict(self, load: Mapping[str, float]) -> Prediction:
        """Latency (mean, p95), power and energy of every configuration under ``load``."""
        busy = np.array([float(load.get(pe.name, 0.0)) for pe in self.platform.pes])
        key = tuple(np.round(busy, 3))
        if key not in self._cache:
            left = np.maximum(np.where(self._is_gpu, 1.0, self._n_cores) - busy, 0.0)
            cores = np.where(self._is_gpu, 1.0, np.clip(left, MIN_SHARE, self._n_cores))
            stretch = 1.0 / np.where(self._is_gpu, np.maximum(left, MIN_SHARE), 1.0)[self._pe_of_config]
            metrics = self.platform.config_metrics(cores)
            latency = metrics.latency_ms * stretch
            p95 = latency + P95_Z * metrics.latency_std_ms * stretch
            self._cache[key] = Prediction(
                latency, p95, metrics.power_w, metrics.power_w * latency, self.accuracy
            )
        return self._cache[key]
