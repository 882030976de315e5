"""What the platform table predicts for every configuration under a competing load.

The model-based controllers (lookup, reactive) ask the table, not the simulator, so the same code
runs on the board; the observation (``observation``) carries the same predictions, set against the
budgets in force, for learned controllers. Competing load becomes the DNN's share of a PE by the
platform's contention rule (``platform_models.contention``), the one the simulator and the live
agent use too. numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from platform_models.contention import Contention

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
        self._contention = Contention(platform)
        self._cache: dict[tuple[float, ...], Prediction] = {}

    def predict(self, load: Mapping[str, float]) -> Prediction:
        """Latency (mean, p95), power and energy of every configuration under ``load``."""
        busy = np.array([float(load.get(pe.name, 0.0)) for pe in self.platform.pes])
        key = tuple(np.round(busy, 3))
        if key not in self._cache:
            metrics = self._contention.config_metrics(busy).metrics
            p95 = metrics.latency_ms + P95_Z * metrics.latency_std_ms
            self._cache[key] = Prediction(
                metrics.latency_ms, p95, metrics.power_w, metrics.energy_mj, self.accuracy
            )
        return self._cache[key]


def worst_budget_ratio(
    prediction: Prediction, budgets: Sequence[float], agent_ms: float = 0.0
) -> np.ndarray:
    """Per configuration, the largest predicted / budget over the ``budgets`` in force (latency ms,
    power W, energy mJ; NaN or inf = absent), 0 with none; ``agent_ms`` of work precedes every
    inference."""
    ratio = np.zeros(len(prediction.accuracy))
    latency_budget_ms, power_budget_w, energy_budget_mj = budgets
    for predicted, budget in (
        (prediction.latency_p95_ms + agent_ms, latency_budget_ms),
        (prediction.power_w, power_budget_w),
        (prediction.energy_mj, energy_budget_mj),
    ):
        if np.isfinite(budget) and budget > 0:
            ratio = np.maximum(ratio, predicted / budget)
    return ratio
