"""The model-based lookup manager: the best configuration the platform table predicts will fit.

Every inference it predicts each configuration's p95 latency, power and energy under the competing
load it observes (``platform_models.prediction``); a frame's latency also holds the agent's own work
before the inference (``PE.agent_ms`` of the PE and frequency in force, where the platform measured it). It
keeps those that meet every budget in force, and takes the most accurate of them, least energy on
ties. When none fits it takes the one that misses its worst budget by the smallest factor.
Configurations the action mask rules out are never candidates. It has no memory: what it knows of
the world is the observation.

``lookup-adaptive`` is the same manager with one number of memory: how much slower (or faster) the
board runs than its table says. After each frame it compares the frame's latency with what it
predicted for it (the agent's own work plus the mean inference) and keeps a running geometric mean
of the ratio (weight ``ADAPT_WEIGHT`` per frame, held within ``SCALE_LIMITS``); every latency and
energy it predicts (the agent's work included) is multiplied by it. A table measured in a quieter
hour, on another unit of the board, or derived, then stops fooling it within a few dozen frames. In
the simulator, whose latencies are the table's, the scale returns to 1 between queues.

The time a frame waited for the one before it counts while a latency budget is in force: a queue
then is a miss in the making, and a scale that rises with it makes the manager pick faster
configurations until the queue drains (in the simulator, on the odroid-xu3 bursty eval trace, it met
89 % of budgets with the right table against lookup's 78 %; a variant that always left the wait out
met 19 % on the steady trace with a table three times too fast, where a queue built early never
drained). With no latency budget the wait is left out (``LAST_FRAME_KEYS`` of ``info``, which the
simulator and the live agent both give): the manager may then choose a configuration slower than the
frame period on purpose, and counting the queue that builds took the scale to its limit on such a
phase of a shipped trace.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from controllers._base import Controller
from platform_models.frame import CONTROLLER_INFO_KEYS
from platform_models.memo import Memo
from platform_models.observation import ObservationView
from platform_models.prediction import Prediction, Predictor, budgets_key, worst_budget_ratio

# lookup-adaptive: about 20 frames of memory, long enough to average out one frame's noise, short
# enough to follow a board whose speed moves within a minute (the 2-vCPU VM: up to 1.8x).
ADAPT_WEIGHT = 0.05
# Bounds of its scale. A queue under a latency budget drives the scale up to the upper one while it
# lasts (that is how the manager backs off); beyond 4x either way it stops following the comparison.
SCALE_LIMITS = (0.25, 4.0)
# What it reads of the previous frame in ``info``: the keys the simulator and the live agent both
# give (``platform_models.frame``).
LAST_FRAME_KEYS = CONTROLLER_INFO_KEYS
_LAST_FRAME_KEY_SET = frozenset(LAST_FRAME_KEYS)
_LOG_SCALE_LIMITS = (math.log(SCALE_LIMITS[0]), math.log(SCALE_LIMITS[1]))


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
        self._predictor = Predictor.of(platform)
        self._choices = Memo()  # loads and scales vary continuously (see ``_choose``)

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        return self._choose(obs, info)[0]

    _rehearse = _act  # a choice changes nothing but the memos of choices, which it reads the same

    def _choose(self, obs: np.ndarray, info: dict | None, scale: float = 1.0) -> tuple[int, float]:
        """(the pick, its predicted frame latency in ms: the agent's work, then the mean inference),
        with every latency and energy of the table multiplied by ``scale``.

        A choice depends on the observation, the scale and the mask alone: the last one is kept with
        them (the live agent asks each frame's twice, rehearsing it first). Within the observation,
        on the prediction (one per allocation of the load), the budgets in force and the agent's work:
        it is remembered per those, so that frames under the same budgets and a load that leaves the
        same cores free cost a look-up."""
        mask, mask_key = self._checked_mask(info)
        return self._answer((obs.tobytes(), scale, mask_key),
                            lambda: self._remembered_choice(obs, mask, mask_key, scale))

    def _remembered_choice(self, obs: np.ndarray, mask: np.ndarray | None, mask_key: Any,
                           scale: float) -> tuple[int, float]:
        """:meth:`_choose`'s answer from the memo of choices, or picked and kept there."""
        view = self.view(obs)
        prediction = self._predictor.predict(view.load)
        key = (prediction, view.pe, view.freq_mhz[view.pe], scale, mask_key, budgets_key(view.budgets))
        choice = self._choices.get(key)
        if choice is None:
            choice = self._choices.keep(key, self._pick(prediction, view, mask, scale))
        return choice

    def _pick(self, prediction: Prediction, view: ObservationView, mask: np.ndarray | None,
              scale: float) -> tuple[int, float]:
        if scale != 1.0:
            prediction = dataclasses.replace(prediction, latency_ms=prediction.latency_ms * scale,
                                             latency_p95_ms=prediction.latency_p95_ms * scale,
                                             energy_mj=prediction.energy_mj * scale)
        agent_ms = self.platform.pe(view.pe).agent_ms(view.freq_mhz[view.pe]) * scale
        ratio = worst_budget_ratio(prediction, view.budgets, agent_ms)
        if mask is not None:
            ratio = np.where(mask, ratio, np.inf)  # never feasible, never the least miss
        action = pick_best(prediction, ratio)
        return action, agent_ms + float(prediction.latency_ms[action])


class AdaptiveLookupController(LookupController):
    """``lookup`` with every prediction scaled by the running ratio of observed to predicted latency."""

    name = "lookup-adaptive"

    def __init__(self, platform: Any) -> None:
        super().__init__(platform)
        self.reset()

    @property
    def scale(self) -> float:
        """Observed / predicted latency, as the controller currently believes it."""
        return math.exp(self._log_scale)

    def reset(self) -> None:
        self._log_scale = 0.0
        self._predicted_ms = math.nan  # the frame latency predicted for the last choice

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        self._log_scale = self._log_scale_after(info)
        scale = self.scale
        action, predicted_ms = self._choose(obs, info, scale)
        self._predicted_ms = predicted_ms / scale  # the table's own figure: the next ratio is against it
        return action

    def _rehearse(self, obs: np.ndarray, info: dict | None) -> int:
        # The choice act will make (it is remembered), with nothing learnt and no prediction kept.
        return self._choose(obs, info, math.exp(self._log_scale_after(info)))[0]

    def _log_scale_after(self, info: dict | None) -> float:
        """The log of the scale once the last frame's latency in ``info`` is learnt from."""
        last = info or {}
        if not last.keys() >= _LAST_FRAME_KEY_SET:  # nothing to learn from (the first frame)
            return self._log_scale
        observed_ms = float(last["latency_ms"])
        if not math.isfinite(float(last["latency_budget_ms"])):
            observed_ms -= float(last["queue_ms"])
        if not (observed_ms > 0 and self._predicted_ms > 0):  # NaN compares False
            return self._log_scale
        log_ratio = math.log(observed_ms / self._predicted_ms) - self._log_scale
        low, high = _LOG_SCALE_LIMITS
        return min(max(self._log_scale + ADAPT_WEIGHT * log_ratio, low), high)
