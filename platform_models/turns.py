"""Turns: how long a frame on a held core waits for the other work, tick by tick.

On a CPU core that other work keeps busy (``platform_models.contention``, rule ``fair``) a frame that
wakes for its inference runs ahead of that work until a scheduler tick takes the core from it. How
long it then waits was measured on the 2-vCPU AMD EPYC VM (Linux 6.18, HZ 250: a tick every 4 ms;
``benchmarks/contention_stretch.py --by-phase``, docs/sim-to-real.md), frame by frame against the
phase of its arrival in the tick:

* a tick in the frame's first ``grace_ms`` does not take the core (k = 1 and 2 frames whose first
  tick came 0.4 ms after their arrival ran as fast as alone);
* the first tick after that hands the other work a turn as long as the frame has run since it
  arrived, and ``extra_ms`` more: a k = 2 frame waited 1.5 ms when the tick came 0.6 ms in and 3.5 ms
  when it came 2.6 ms in, about the time it ran + 0.9 ms at every phase;
* once the frame has the core back, a tick takes it again only after ``slice_ms`` of running (k = 3
  frames whose next tick came 1.1 ms after they got the core back ran on; 1.4 ms after, they waited
  again), and that turn is as long as the frame ran since it got the core back;
* a tick that falls while the other work has the core changes nothing.

That is what a fair scheduler that gives the other work back the time a woken thread ran ahead of it
(EEVDF's lag) does, with the tick as the only moment it looks; the constants are the board's and
calibration measures them (``hw_agents.agent_timing``). Fitted as calibration fits them to 2,220 held
frames of k = 1-4 (``tests/data/host-epyc-held-phases.csv``), the rule told each frame's inference
within a median 5.2 % (``S t`` for every split frame: 7.5 %; k = 2: 5.2 against 11.2 %).

A frame's first tick comes ``first_tick_ms`` after its arrival: live, the tick less the arrival's
phase in the tick; in the simulator, from a live run's replayed phase or one drawn per episode
(``envs.dynamic_dnn``). :meth:`Turns.wait_ms` is the rule.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

EXPECTATION_PHASES = 64
"""Phases of the tick the expected wait is averaged over (:meth:`Turns.expected_wait_ms`)."""


class Turns(NamedTuple):
    """A held core's turns, as a platform measured them."""

    tick_ms: float
    """The kernel's scheduler tick (``scheduler_tick_ms``)."""
    grace_ms: float
    """A tick in a frame's first ``grace_ms`` after its arrival does not take the core: the tick less
    where the window of split arrivals ends (``contention_split_window_end_ms``)."""
    slice_ms: float
    """After a turn, the frame keeps the core at a tick until it has run this long
    (``contention_turn_slice_ms``)."""
    extra_ms: float
    """The other work's first turn is as long as the frame ran ahead of it and this much more
    (``contention_turn_extra_ms``)."""
    run_ratio: float
    """A frame's work on a core the other work keeps busy over the table's latency alone
    (``contention_held_run_ratio``): on the EPYC VM 0.77-0.80 for k = 1-3, a busy virtual CPU never
    idling between frames as an idle one does."""

    @classmethod
    def of(cls, platform: Any) -> Turns | None:
        """The turns ``platform`` measured: a ``fair`` platform with the tick's split window and both
        turn constants; else None."""
        extra_ms = getattr(platform, "contention_turn_extra_ms", None)
        end_ms = getattr(platform, "contention_split_window_end_ms", None)
        if getattr(platform, "contention", "priority") != "fair" or extra_ms is None or end_ms is None:
            return None
        tick_ms = platform.scheduler_tick_ms
        # the grace from the window alone: the frames' work is the held core's, not the table's
        return cls(tick_ms, round(tick_ms - end_ms, 6), platform.contention_turn_slice_ms, extra_ms,
                   platform.contention_held_run_ratio)

    def wait_ms(self, run_ms: float, first_tick_ms: float) -> float:
        """The time a frame of ``run_ms`` of work alone waits for the other work, its first tick
        ``first_tick_ms`` after its arrival (0 where no tick takes the core before it is done). Plain
        Python floats: the simulator asks once per held frame (0.4 us; numpy's per-call cost made it
        50)."""
        now_ms = done_ms = since_ms = wait_ms = 0.0
        need_ms, extra_ms, tick_ms = self.grace_ms, self.extra_ms, first_tick_ms
        while tick_ms < now_ms + run_ms - done_ms:  # the tick falls before the frame is done
            done_ms += tick_ms - now_ms
            now_ms = tick_ms
            if now_ms - since_ms < need_ms:  # not yet: the next tick
                tick_ms += self.tick_ms
                continue
            taken_ms = now_ms - since_ms + extra_ms  # what the frame ran since it last got the core
            wait_ms += taken_ms
            now_ms += taken_ms
            since_ms, need_ms, extra_ms = now_ms, self.slice_ms, 0.0
            # the first tick after the turn: the frame does not run during it
            tick_ms += self.tick_ms * (math.floor((now_ms - tick_ms) / self.tick_ms) + 1.0)
        return wait_ms

    def waits_ms(self, run_ms: Any, first_tick_ms: Any) -> np.ndarray:
        """:meth:`wait_ms` of arrays of frames (broadcast together)."""
        return np.frompyfunc(self.wait_ms, 2, 1)(run_ms, first_tick_ms).astype(np.float64)

    def expected_wait_ms(self, run_ms: Any) -> tuple[np.ndarray, np.ndarray]:
        """Over the tick's phases (``EXPECTATION_PHASES`` of them), for frames of ``run_ms``: the
        share of the phases at which the frame waits, and its mean wait there (0 where it never
        waits)."""
        run = np.asarray(run_ms, dtype=np.float64)
        first_ms = (np.arange(EXPECTATION_PHASES) + 0.5) * (self.tick_ms / EXPECTATION_PHASES)
        waits = self.waits_ms(run[..., None], first_ms)
        waited = waits > 0.0
        share = waited.mean(axis=-1)
        mean_ms = np.divide(waits.sum(axis=-1), waited.sum(axis=-1), out=np.zeros_like(share),
                            where=waited.any(axis=-1))
        return share, mean_ms


def fit_turns(tick_ms: float, grace_ms: float, run_ms: Any, first_tick_ms: Any,
              infer_ms: Any) -> tuple[float, float, float]:
    """The (slice ms, extra ms) with which :meth:`Turns.wait_ms` best tells measured frames on a held
    core, and the median relative error it tells them with: each frame's work on the held core
    ``run_ms`` (as fast as its frames that no tick took), its first tick ``first_tick_ms`` after its
    arrival and its measured inference ``infer_ms``. Least mean absolute relative error, on a grid of
    0.1 ms (slice up to one tick, extra -1 to +3 ms) and then of 0.05 ms around the best; ties go to
    the smaller slice, then the smaller extra."""
    run = np.asarray(run_ms, dtype=np.float64)
    first = np.asarray(first_tick_ms, dtype=np.float64)
    infer = np.asarray(infer_ms, dtype=np.float64)

    def best_of(slices_ms: np.ndarray, extras_ms: np.ndarray) -> tuple[float, float, float, float]:
        scored = []
        for slice_ms in slices_ms:
            for extra_ms in extras_ms:
                turns = Turns(tick_ms, grace_ms, float(slice_ms), float(extra_ms), 1.0)
                error = np.abs(run + turns.waits_ms(run, first) - infer) / infer
                scored.append((round(float(error.mean()), 9), float(slice_ms), float(extra_ms),
                               float(np.median(error))))
        return min(scored)

    _, slice_ms, extra_ms, _ = best_of(np.arange(1, round(10 * tick_ms) + 1) * 0.1, np.arange(-10, 31) * 0.1)
    steps = np.array([-0.05, 0.0, 0.05])
    _, slice_ms, extra_ms, error = best_of(np.maximum(slice_ms + steps, 0.05), extra_ms + steps)
    return round(slice_ms, 3), round(extra_ms, 3), round(error, 4)
