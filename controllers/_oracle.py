"""The clairvoyant oracle: the upper bound every evaluation report is measured against.

It knows the trace's future load: ``env.unwrapped.lookahead_all()`` gives, for every configuration,
the latency, power and energy the coming frame would get, walked over the true future load segments
(queueing, migration and DVFS costs included) without noise. The per-inference noise it cannot know
(nor can anything on a board), so it takes the configuration with the highest *expected* reward over
the noise: the simulator scales an inference's work by ``1 + cv * z`` with ``z`` standard normal and
``cv`` the table's std / mean, so the oracle averages ``envs.reward`` over ``N_QUANTILES``
equally likely values of ``z``. A controller can still beat it on one episode by luck, and by
planning across frames (it is greedy per inference), which the reward rarely rewards.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np

from controllers._base import Controller
from controllers.errors import ControllerError
from platform_models.prediction import P95_Z, Predictor

N_QUANTILES = 9
_Z = np.array([NormalDist().inv_cdf((i + 0.5) / N_QUANTILES) for i in range(N_QUANTILES)])


class OracleController(Controller):
    """Highest expected reward among the allowed actions, with the future load known."""

    name = "oracle"

    def __init__(self, platform: Any, env: Any) -> None:
        from envs.soc import MIN_WORK

        super().__init__(platform)
        if env is None or not hasattr(env.unwrapped, "lookahead_all"):
            raise ControllerError("oracle: needs the simulated environment (it reads the future load)")
        self._env = env.unwrapped
        nominal = Predictor(platform).predict({})
        cv = (nominal.latency_p95_ms - nominal.latency_ms) / (P95_Z * nominal.latency_ms)
        # The simulator's noise on an inference's work, at N_QUANTILES points, floored as it floors it.
        self._work_factor = np.maximum(1.0 + np.outer(cv, _Z), MIN_WORK)  # (actions, quantiles)

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        return int(np.argmax(self.scores(obs)))

    def scores(self, obs: np.ndarray) -> np.ndarray:
        """Per action, the expected reward of this inference less what it costs the frames that wait
        for it (``-inf`` where the action mask rules it out): the oracle takes the highest."""
        from envs import reward

        ahead = self._env.lookahead_all()
        view = self.view(obs)
        budgets = [
            b if np.isfinite(b) else np.inf
            for b in (view.latency_budget_ms, view.power_budget_w, view.energy_budget_mj)
        ]
        factor = self._work_factor
        expected = reward(
            np.asarray(ahead["accuracy"])[:, None],
            np.asarray(ahead["latency_ms"])[:, None] * factor,
            np.asarray(ahead["power_w"])[:, None],
            np.asarray(ahead["energy_mj"])[:, None] * factor,
            *budgets,
            **self._env.reward_weights,
        ).mean(axis=1)
        expected -= self._delay_cost(ahead, view.backlog, view.latency_budget_ms)
        mask = np.asarray(self._env.action_masks(), dtype=bool)
        return np.where(mask, expected, -np.inf)

    def _delay_cost(self, ahead: dict[str, np.ndarray], backlog: int, latency_budget_ms: float) -> np.ndarray:
        """What this inference's busy time costs the frames that wait for it.

        Greedy per frame, a queue once built never pays to drain (every choice misses, the penalty
        is capped, the cheapest wins). So each waiting frame, and each frame that arrives before
        this one ends, is charged the reward slope of its extra latency, ``w_violation / budget``.
        """
        busy_ms = np.asarray(ahead["busy_ms"])
        if not np.isfinite(latency_budget_ms):
            return np.zeros_like(busy_ms)
        trace = getattr(self._env, "trace", None)
        period_ms = float(getattr(trace, "frame_period_ms", np.inf))
        delayed_ms = backlog * busy_ms + np.maximum(busy_ms - period_ms, 0.0)
        return self._env.reward_weights["w_violation"] * delayed_ms / latency_budget_ms
