"""The model-based lookup manager: the best configuration the platform table predicts will fit.

Every inference it predicts each configuration's p95 latency, power and energy under the competing
load it observes (``_prediction``); a frame's latency also holds the agent's own work before the
inference (``PE.agent_ms`` of the PE and frequency in force, where the platform measured it). It
keeps those that meet every budget in force, and takes the most accurate of them, least energy on
ties. When none fits it takes the one that misses its worst budget by the smallest factor.
Configurations the action mask rules out are never candidates. It has no memory: what it knows of
the world is the observation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from controllers._base import Controller
from controllers._prediction import Prediction, Predictor
from platform_models.observation import ObservationView


def worst_budget_ratio(prediction: Prediction, view: ObservationView, agent_ms: float = 0.0) -> np.ndarray:
    """Per configuration, the largest predicted / budget over the budgets in force (0 with none);
    ``agent_ms`` of work precedes every inference."""
    ratio = np.zeros(len(prediction.accuracy))
    for predicted, budget in (
        (prediction.latency_p95_ms + agent_ms, view.latency_budget_ms),
        (prediction.power_w, view.power_budget_w),
        (prediction.energy_mj, view.energy_budget_mj),
    ):
        if np.isfinite(budget) and budget > 0:
            ratio = np.maximum(ratio, predicted / budget)
    return ratio


def pick_best(prediction: Prediction, ratio: np.ndarray) -> int:
    """Most accurate configuration with ratio <= 1, least energy on ties; else the smallest ratio."""
    feasible = np.flatnonzero(ratio <= 1.0)
    if feasible.size == 0:
        return int(np.argmin(ratio))
    # lexsort sorts by the last key first: highest accuracy, then lowest energy.
    order = np.lexsort((prediction.energy_mj[feasible], -prediction.accuracy[feasible]))
    return int(feasible[order[0]])


class LookupController(Controller):
    """Picks, every inference, the most accurate configuration predicted to meet every budget."""

    name = "lookup"

    def __init__(self, platform: Any) -> None:
        super().__init__(platform)
        self._predictor = Predictor(platform)

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        view = self.view(obs)
        prediction = self._predictor.predict(view.load)
        agent_ms = self.platform.pe(view.pe).agent_ms(view.freq_mhz[view.pe])
        ratio = worst_budget_ratio(prediction, view, agent_ms)
        mask = self.mask(info)
        if mask is not None:
            ratio = np.where(mask, ratio, np.inf)  # never feasible, never the least miss
        return pick_best(prediction, ratio)
