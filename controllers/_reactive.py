"""The reactive manager of the Dynamic-OFA line of work: one level down on a miss, one up on slack.

Dynamic-OFA's runtime demo (UoS-EEC/DynamicOFA ``runtime_demo/runtime_adjustment/run.sh`` and
``test2.py``) keeps a Pareto-ordered list of sub-networks, watches the mean latency of the last 20
images, steps one level down when it exceeds the constraint and one level up when there is slack;
when a level just entered by stepping up fails at once it drops back and pins the lower level.
Ours does the same over (groups, PE, frequency):

* levels: the configurations on the Pareto front of (latency, accuracy, energy) with all cores free,
  ordered fastest first, each next level slower and either more accurate or cheaper; at most
  ``max_levels`` of them, spread evenly along the front so that one step matters.
* window: the worst measured / budget ratio of each of the last ``window`` inferences (any budget
  in force); their mean above 1 is a miss, below ``slack`` is slack. After a step the window starts
  afresh, so the manager judges each level on its own inferences.
* oscillation guard: a step down from a level that was entered by stepping up caps the manager one
  level lower for ``hold`` inferences.
* action mask: a level the mask rules out runs as the nearest allowed configuration
  (``controllers._base.nearest_allowed``); the level list itself does not change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from controllers._base import Controller
from platform_models.prediction import Predictor


def pareto_levels(platform: Any, max_levels: int = 8) -> list[int]:
    """Action indices of the level list, fastest first (see the module docstring)."""
    prediction = Predictor(platform).predict({pe.name: 0.0 for pe in platform.pes})
    order = np.lexsort((prediction.energy_mj, -prediction.accuracy, prediction.latency_ms))
    chain: list[int] = []
    for i in order:
        if not chain:
            chain.append(int(i))
            continue
        last = chain[-1]
        better = prediction.accuracy[i] > prediction.accuracy[last] or (
            prediction.accuracy[i] == prediction.accuracy[last]
            and prediction.energy_mj[i] < prediction.energy_mj[last]
        )
        if better:
            chain.append(int(i))
    if len(chain) <= max_levels:
        return chain
    picks = np.unique(np.round(np.linspace(0, len(chain) - 1, max_levels)).astype(int))
    return [chain[p] for p in picks]


class ReactiveController(Controller):
    """Steps along a Pareto-ordered level list on measured budget misses and slack."""

    name = "reactive"

    def __init__(
        self, platform: Any, window: int = 5, slack: float = 0.8, hold: int = 50, max_levels: int = 8
    ) -> None:
        super().__init__(platform)
        self.levels = pareto_levels(platform, max_levels)
        self.window, self.slack, self.hold = window, slack, hold
        self.reset()

    def reset(self) -> None:
        self.level = len(self.levels) // 2  # Dynamic-OFA starts mid-list (level 4 of 6)
        self._ratios: list[float] = []
        self._entered_by_step_up = False
        self._ceiling = len(self.levels) - 1
        self._ceiling_left = 0

    def _worst_ratio(self, obs: np.ndarray) -> float | None:
        view = self.view(obs)
        if view.last_latency_ms <= 0:
            return None  # nothing measured yet
        pairs = (
            (view.last_latency_ms, view.latency_budget_ms),
            (view.last_power_w, view.power_budget_w),
            (view.last_energy_mj, view.energy_budget_mj),
        )
        ratios = [last / budget for last, budget in pairs if np.isfinite(budget) and budget > 0]
        return max(ratios, default=0.0)

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        ratio = self._worst_ratio(obs)
        if ratio is not None:
            self._ratios.append(ratio)
        if self._ceiling_left > 0:
            self._ceiling_left -= 1
            if self._ceiling_left == 0:
                self._ceiling = len(self.levels) - 1
        if len(self._ratios) >= self.window:
            self._decide(float(np.mean(self._ratios[-self.window :])))
        return self.allowed(self.levels[self.level], info)

    def _decide(self, mean_ratio: float) -> None:
        if mean_ratio > 1.0 and self.level > 0:
            if self._entered_by_step_up:
                # The step up failed straight away: stay below it for a while (anti-oscillation).
                self._ceiling, self._ceiling_left = self.level - 1, self.hold
            self._step(-1)
        elif mean_ratio < self.slack and self.level < self._ceiling:
            self._step(+1)
        else:
            self._entered_by_step_up = False  # this level held for a whole window

    def _step(self, direction: int) -> None:
        self.level += direction
        self._entered_by_step_up = direction > 0
        self._ratios.clear()
