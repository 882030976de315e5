"""One frame's outcome, defined once for the simulator (``envs``) and the live agent (``hw_agents``).

Both run the same loop: a frame arrives, waits for the one before it, the controller picks a
configuration from the observation, the DNN infers it. What the frame's result *is* lives here, so
that a simulated run and a live run of the same choices report the same figures:

* **the segment in force** at a time: the last trace segment starting at or before it
  (:func:`segment_at`); the segment at a frame's start sets the budgets that judge it;
* **the backlog**: frames that have arrived, behind the one about to start (:func:`backlog`);
* **the outcome** (:class:`FrameOutcome`): latency from arrival to result, the wait before the
  frame's start, the time the PE ran it (migration, DVFS and inference, the agent's own work left
  out) and the energy drawn over that time; its power is that energy / that time;
* **budget met** (:func:`budget_met`): every budget in force met. A budget that is NaN or ``inf``
  is absent (no limit); a figure that is NaN against a budget in force is *not* met (an unknown
  figure never counts as a success);
* **what a controller is told** of the last frame beside the observation
  (:meth:`FrameOutcome.controller_info`, keys ``CONTROLLER_INFO_KEYS``); budgets absent there are
  ``inf``.

numpy-free (only ``bisect`` and ``math``): the simulator calls this once per step and the agent
once per frame, where numpy's per-call overhead on scalars would cost more than the arithmetic.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["CONTROLLER_INFO_KEYS", "FrameOutcome", "absent_as_inf", "backlog", "budget_met", "frame_outcome",
           "segment_at"]

CONTROLLER_INFO_KEYS = ("latency_ms", "queue_ms", "latency_budget_ms")
"""What a controller reads of the last frame in ``info`` (after the first frame): its latency uncapped
by the observation's encoding, its wait before it could start, and the latency budget that judged it."""

# A frame arriving within this share of a period of the current time counts as arrived: the
# simulator's arrivals land at i x period up to float rounding.
_ARRIVAL_TOLERANCE = 1e-9
_INF = math.inf


def segment_at(starts: Sequence[float], time: float) -> int:
    """Index of the segment in force at ``time`` (``starts`` ascending, in the same unit; times before
    the first start give 0)."""
    i = bisect_right(starts, time) - 1
    return i if i > 0 else 0


def backlog(now: float, arrival: float, period: float, frames_left: int) -> int:
    """Frames waiting behind the one about to start at ``now``: those that arrived (one every
    ``period`` after its ``arrival``) by then, at most the ``frames_left`` still to come."""
    waiting = int((now - arrival) / period + _ARRIVAL_TOLERANCE)
    return min(max(waiting, 0), frames_left)


def budget_met(budgets: Sequence[float], figures: Sequence[float]) -> bool:
    """Every budget in force met: (latency ms, power W, energy mJ) budgets against the figures.
    NaN or ``inf`` budgets are absent; a NaN figure against a budget in force is a miss."""
    # The three written out, here and in absent_as_inf: the live agent's record stage runs them
    # just after the inference has emptied the caches, where a loop's or a generator's machinery
    # cost more than the comparisons (frame_outcome 0.012 -> 0.006 ms there, on the EPYC VM).
    latency, power, energy = budgets
    latency_ms, power_w, energy_mj = figures
    # NaN budget: both comparisons False
    if latency < _INF and not latency_ms <= latency:
        return False
    if power < _INF and not power_w <= power:
        return False
    return not (energy < _INF and not energy_mj <= energy)


def absent_as_inf(budgets: Sequence[float]) -> tuple[float, float, float]:
    """Budgets with the absent ones (NaN) as ``inf``, as ``info`` and the reward take them."""
    latency, power, energy = budgets
    return (_INF if latency != latency else float(latency), _INF if power != power else float(power),
            _INF if energy != energy else float(energy))


class FrameOutcome(NamedTuple):
    """What happened to one frame (build it with :func:`frame_outcome`)."""

    latency_ms: float
    """From arrival to result: the wait, the agent's work, migration/DVFS, the inference."""
    queue_ms: float
    """From arrival to when the frame could start (the previous one done)."""
    run_ms: float
    """The PE's time on the frame: migration/DVFS cost and inference (not the agent's work)."""
    energy_mj: float
    """Energy drawn over ``run_ms``."""
    power_w: float
    """Mean power over ``run_ms``: ``energy_mj / run_ms`` (0 for a frame that took no time)."""
    budgets: tuple[float, float, float]
    """Latency ms, power W, energy mJ budgets in force at the frame's start; ``inf`` = absent."""
    budget_met: bool

    @property
    def last(self) -> tuple[float, float, float]:
        """(latency ms, power W, energy mJ): the last-frame figures of the next observation."""
        return self.latency_ms, self.power_w, self.energy_mj

    def controller_info(self) -> dict[str, float]:
        """The ``info`` entries a controller reads of this frame (``CONTROLLER_INFO_KEYS``)."""
        return {"latency_ms": self.latency_ms, "queue_ms": self.queue_ms,
                "latency_budget_ms": self.budgets[0]}


def frame_outcome(*, latency_ms: float, queue_ms: float, run_ms: float, energy_mj: float,
                  budgets: Sequence[float]) -> FrameOutcome:
    """The outcome of a frame from what was measured (live) or simulated: its latency, wait, the
    PE's time on it and the energy over that time, judged by ``budgets`` (NaN or ``inf`` = absent)."""
    power_w = energy_mj / run_ms if run_ms > 0.0 else 0.0
    limits = absent_as_inf(budgets)
    return FrameOutcome(latency_ms, queue_ms, run_ms, energy_mj, power_w, limits,
                        budget_met(limits, (latency_ms, power_w, energy_mj)))
