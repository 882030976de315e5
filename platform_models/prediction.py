"""What the platform table predicts for every configuration under a competing load.

The model-based controllers (lookup, reactive) ask the table, not the simulator, so the same code
runs on the board; the observation (``observation``) carries the same predictions, set against the
budgets in force, for learned controllers. Competing load becomes the DNN's share of a PE by the
platform's contention rule (``platform_models.contention``), the one the simulator and the live
agent use too. numpy only.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from platform_models.contention import Contention
from platform_models.memo import Memo

P95_Z = 1.645  # one-sided 95 % point of a normal: the lookup plans for the p95 latency, not the mean
_SHARED: weakref.WeakValueDictionary[int, Predictor] = weakref.WeakValueDictionary()  # ``Predictor.of``


@dataclass(frozen=True, eq=False)
class Prediction:
    """Per-configuration predictions, arrays aligned with ``platform.configs()``. Compared and hashed
    by identity: :meth:`Predictor.predict` gives the same object for every load with the same
    allocation, so callers can key what they derive from it on the object."""

    latency_ms: np.ndarray
    latency_p95_ms: np.ndarray
    power_w: np.ndarray
    energy_mj: np.ndarray
    accuracy: np.ndarray


class Predictor:
    """Predicts every configuration of a platform under a load (PE name -> busy cores or share)."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self._pe_names = tuple(pe.name for pe in platform.pes)
        configs = platform.configs()
        self.accuracy = np.array([platform.accuracy[c.groups - 1] for c in configs])
        self._contention = Contention(platform)
        self._of_busy = Memo()  # per load; loads vary continuously
        self._of_allocation = Memo()  # per allocation (``priority``: they vary continuously too)

    @classmethod
    def of(cls, platform: Any) -> Predictor:
        """The predictor shared by everything that predicts for ``platform`` (the observation builder,
        the model-based controllers): on the board they ask about the same load every frame, and
        the second asks for what the first has just remembered."""
        # Held by its users only (a weak value), and it holds the platform: while it lives, no other
        # platform can have this id.
        predictor = _SHARED.get(id(platform))
        if predictor is None or predictor.platform is not platform:
            predictor = _SHARED[id(platform)] = cls(platform)
        return predictor

    def predict(self, load: Mapping[str, float]) -> Prediction:
        """Latency (mean, p95), power and energy of every configuration under ``load``: the same
        object for every load the contention rule gives the same allocation (the prediction depends
        on nothing else). The live agent asks every frame: a load seen before is one dict look-up,
        a new one with an allocation seen before (``fair``: every load that leaves the same cores
        free and shares none) one allocation."""
        busy = tuple([float(load.get(name, 0.0)) for name in self._pe_names])
        prediction = self._of_busy.get(busy)
        if prediction is None:
            prediction = self._of_busy.keep(busy, self._of(busy))
        return prediction

    def _of(self, busy: tuple[float, ...]) -> Prediction:
        key = self._contention.allocation_of(busy)
        prediction = self._of_allocation.get(key)
        if prediction is None:
            metrics = self._contention.metrics_of(key)
            p95 = metrics.latency_ms + P95_Z * metrics.latency_std_ms
            prediction = self._of_allocation.keep(key, Prediction(
                metrics.latency_ms, p95, metrics.power_w, metrics.energy_mj, self.accuracy
            ))
        return prediction


def budgets_key(budgets: Sequence[float]) -> tuple[float | None, ...]:
    """``budgets`` with each one not in force (NaN, 0 or inf) as None: all that
    :func:`worst_budget_ratio` reads of them, as a key (NaN, never equal to itself, would make
    every key new)."""
    return tuple([b if 0.0 < b < math.inf else None for b in budgets])


def worst_budget_ratio(
    prediction: Prediction, budgets: Sequence[float], agent_ms: float = 0.0
) -> np.ndarray:
    """Per configuration, the largest predicted / budget over the ``budgets`` in force (latency ms,
    power W, energy mJ; NaN or inf = absent), 0 with none; ``agent_ms`` of work precedes every
    inference."""
    # Only the budgets in force cost array operations: the live agent runs this every frame.
    ratio = None
    latency_budget_ms, power_budget_w, energy_budget_mj = budgets
    for figure, budget in enumerate((latency_budget_ms, power_budget_w, energy_budget_mj)):
        if 0.0 < budget < math.inf:  # NaN compares False
            if figure == 0:
                predicted = prediction.latency_p95_ms + agent_ms
            else:
                predicted = prediction.power_w if figure == 1 else prediction.energy_mj
            share = predicted / budget
            # The figures are never negative: the first share needs no maximum with 0.
            ratio = share if ratio is None else np.maximum(ratio, share)
    return np.zeros(len(prediction.accuracy)) if ratio is None else ratio
