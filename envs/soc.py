"""The SoC during one episode, as a SimPy simulation: frames arrive, the DNN infers, other apps compete.

SimPy's clock has no unit; this module counts milliseconds (``now_ms``). The processes, in the order a
frame meets them:

* ``_arrivals`` - the camera: a frame every ``period_ms`` (from t = 0 until the trace's end) joins
  the queue. A frame that arrives while another is being inferred waits; its latency counts from its
  arrival, so queueing shows up as latency (and as misses).
* ``_dnn`` - the inference. It waits for the controller's action (the environment's ``step``), pays
  the live agent's own work for the frame (``agent_overhead_ms``, below), then the PE's migration
  cost if the DNN moves to another PE and the PE's DVFS transition cost if that PE's frequency
  changes (both from the platform descriptor), then works through one inference (one
  unit of work, times a noise factor drawn from the table's latency spread) at the rate the
  operating table gives for the competing load on its PE. Where a held core has two outcomes (the
  frame runs ahead of the competing work for a while, or is split with it from the start:
  ``platform_models.contention``), a draw per frame (the phase of its arrival in the kernel's
  scheduler tick, or a uniform) picks one at the frame's start, and the frame keeps it through the
  load's changes; without draws (a noise-free run) the frame runs at
  the two outcomes' expected rate (where the platform measured its turns, ``platform_models.turns``,
  a split frame runs at the ahead rate after waiting its own turns, by where its phase puts the
  ticks). When that load changes mid-inference the
  process is interrupted and the remaining work is re-rated at the new rate.
* ``_competing`` (one per PE) - the other applications on that PE: at each point where the trace
  changes their load they take the new busy cores (GPU: busy share), and interrupt the inference if
  it runs on that PE. Events are scheduled only at these real change points.

Frequency domains are per cluster: the frequency the controller picks for a PE holds for the whole
cluster, so the competing applications there run at it too. The model charges the DNN only its own
power (the table's), never the competing applications' energy. Their slow-down at a low frequency is
reported (``competing_speed``: the lowest frequency / maximum frequency over the PEs with competing
load) but does not feed back into their load: the trace fixes their busy cores (duty-cycled
applications, not work-conserving ones). Frequencies change only when a frame starts (the controller
acts once per inference), so re-rating mid-inference is caused by load changes alone.

The live agent (``hw_agents``) spends time on every frame before its inference: it reads the load,
builds the observation, asks the controller and applies the answer. Its process sits on the PE the
DNN ran on last, so that PE's ``agent_overhead_ms`` (measured at the PE's top frequency by the
profiler) is charged, scaled to its current frequency (``PE.agent_ms``). It is wall
time in which the DNN neither works nor draws power (the agent's energy is the inference's, as the
live log counts it), and nothing interrupts it.

The clairvoyant lookahead (:meth:`SocSimulation.expected`) walks the same operating table over the
trace's true future segments, without noise and without touching the simulation.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import simpy

from envs._tables import OperatingTable
from platform_models.frame import backlog as frames_waiting
from platform_models.frame import segment_at

MIN_WORK = 0.05
"""The least work of one inference (a fraction of the table's mean), however the noise falls."""


class FrameResult(NamedTuple):
    """What happened to one frame."""

    arrival_ms: float
    start_ms: float
    end_ms: float
    latency_ms: float
    """From arrival to result: queueing + agent + migration/DVFS cost + inference."""
    busy_ms: float
    """From start to result (agent + migration/DVFS cost + inference)."""
    energy_mj: float
    overhead_ms: float
    """Migration + DVFS transition time paid before the inference."""
    agent_ms: float
    """The live agent's own work for the frame, before the overhead (no power drawn)."""
    segment: int
    """Trace segment at the frame's start (its budgets judge the frame)."""


class SocSimulation:
    """One episode of the SoC; the environment drives it a frame at a time.

    Args:
        table: the operating table of the episode's trace.
        n_frames: frames in the episode.
        period_ms: time between two frame arrivals.
        pe_of_action, freq_of_action: PE index and frequency (MHz) of every action.
        migration_ms, dvfs_transition_ms: per PE, from the platform descriptor.
        agent_ms_at: per PE, the agent's work per frame (ms) at a frequency (``PE.agent_ms``).
        noise_z: one standard normal per frame (zeros for a noise-free run).
        noise_u: one number in [0, 1) per frame, the draw of a held core's outcome: split where it
            is under the split share (None: every frame at the expected rate); where the platform
            measured its turns, also where the frame's first tick falls: ``u`` ticks past the grace
            (``platform_models.turns``).
        start_pe: PE the DNN ran on before the first frame.
        start_freq_mhz: frequency of every PE before the first frame.
    """

    def __init__(
        self,
        table: OperatingTable,
        *,
        n_frames: int,
        period_ms: float,
        pe_of_action: np.ndarray,
        freq_of_action: np.ndarray,
        migration_ms: Sequence[float],
        dvfs_transition_ms: Sequence[float],
        agent_ms_at: Sequence[Callable[[float], float]],
        noise_z: Sequence[float],
        noise_u: Sequence[float] | None = None,
        start_pe: int,
        start_freq_mhz: Sequence[float],
    ) -> None:
        self.table = table
        self.n_frames = n_frames
        self.period_ms = period_ms
        self.pe = start_pe
        self.freq_mhz = list(start_freq_mhz)
        self.frames_done = 0
        self.queue: deque[float] = deque()
        self._pe_of = pe_of_action.tolist()
        self._freq_of = freq_of_action.tolist()
        self._pe_of_array = pe_of_action
        self._freq_of_array = freq_of_action
        self._migration_ms = list(migration_ms)
        self._dvfs_ms = list(dvfs_transition_ms)
        self._migration_of_action = np.asarray(migration_ms, dtype=np.float64)[pe_of_action]
        self._dvfs_of_action = np.asarray(dvfs_transition_ms, dtype=np.float64)[pe_of_action]
        self._agent_ms_at = list(agent_ms_at)
        self._noise_z = noise_z
        self._noise_u = noise_u
        self._seg_starts = table.seg_start_ms.tolist()
        self._pe_seg = [0] * len(self.freq_mhz)  # trace segment whose load holds on each PE now
        self._running_pe = -1
        self._action = 0
        self._result: FrameResult | None = None
        self.env = simpy.Environment(initial_time=0.0)
        self._go = self.env.event()
        self._dnn_process = self.env.process(self._dnn())
        self.env.process(self._arrivals())
        for p in range(len(self.freq_mhz)):
            changes = np.flatnonzero(np.diff(table.share_left[:, p]) != 0.0) + 1
            if changes.size:
                self.env.process(self._competing(p, changes.tolist()))
        self._advance_to_next_frame()

    # --- driven by the environment ------------------------------------------------------------

    @property
    def now_ms(self) -> float:
        """The simulation clock."""
        return self.env.now

    @property
    def done(self) -> bool:
        """Every frame of the episode has its result."""
        return self.frames_done >= self.n_frames

    @property
    def backlog(self) -> int:
        """Frames waiting behind the one about to start (``platform_models.frame.backlog``)."""
        if not self.queue:
            return 0
        frames_left = self.n_frames - self.frames_done - 1
        return frames_waiting(self.env.now, self.queue[0], self.period_ms, frames_left)

    def segment(self) -> int:
        """Trace segment holding the current time."""
        return segment_at(self._seg_starts, self.env.now)

    def run_frame(self, action: int) -> FrameResult:
        """Infer the frame at the head of the queue with ``action``; stop at the next frame's start."""
        self._action = action
        self._result = None
        self._go.succeed()
        step = self.env.step
        while self._result is None:
            step()
        result = self._result
        self._advance_to_next_frame()
        return result

    def expected(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Noise-free outcome of every action if taken now, from the trace's true future load.

        Returns:
            (latency_ms, busy_ms, energy_mj) arrays over the actions; nothing in the simulation changes.
        """
        table = self.table
        now = self.env.now
        agent_ms = self.agent_ms()
        cur_freq = np.asarray(self.freq_mhz)[self._pe_of_array]
        overhead = self._migration_of_action * (self._pe_of_array != self.pe) + self._dvfs_of_action * (
            self._freq_of_array != cur_freq
        )
        n = overhead.shape[0]
        end_ms = np.empty(n)
        energy_mj = np.empty(n)
        active = np.arange(n)
        t = np.full(n, now + agent_ms)
        work = np.ones(n)
        energy = np.zeros(n)
        s = segment_at(self._seg_starts, now + agent_ms)
        while active.size:
            seg_end = table.seg_end_ms[s]
            rate = table.rate_per_ms[s, active]
            power = table.power_w[s, active]
            # migration/DVFS time first: wall time, no work done, power drawn
            used = np.minimum(overhead, seg_end - t)
            overhead -= used
            t += used
            energy += power * used
            need = work / rate
            finished = (overhead <= 0.0) & (t + need <= seg_end)
            end_ms[active[finished]] = (t + need)[finished]
            energy_mj[active[finished]] = (energy + power * need)[finished]
            left = ~finished
            span = seg_end - t[left]  # 0 where the overhead took the whole segment
            work = work[left] - span * rate[left]
            energy = energy[left] + span * power[left]
            overhead = overhead[left]
            t = np.full(work.shape[0], seg_end)
            active = active[left]
            s += 1
        return end_ms - self.queue[0], end_ms - now, energy_mj

    def agent_ms(self) -> float:
        """The live agent's work before the next inference: on the PE the DNN ran on last, at its
        current frequency."""
        return self._agent_ms_at[self.pe](self.freq_mhz[self.pe])

    # --- SimPy processes ------------------------------------------------------------------------

    def _arrivals(self):
        env, queue, period_ms = self.env, self.queue, self.period_ms
        for i in range(self.n_frames):
            delay_ms = i * period_ms - env.now  # from t = 0, so rounding never accumulates
            if delay_ms > 0.0:
                yield env.timeout(delay_ms)
            queue.append(env.now)

    def _dnn(self):
        env = self.env
        table = self.table
        # ndarray.item(s, a): a Python float in ~0.1 us, without a per-trace copy of the tables as lists
        power_at, cv_at, split_share_at = table.power_w.item, table.latency_cv.item, table.split_share.item
        while True:
            yield self._go
            start_ms = env.now
            agent_ms = self.agent_ms()
            if agent_ms > 0.0:
                yield env.timeout(agent_ms)
            a = self._action
            p = self._pe_of[a]
            freq_mhz = self._freq_of[a]
            overhead_ms = 0.0
            if p != self.pe:
                overhead_ms += self._migration_ms[p]
            if freq_mhz != self.freq_mhz[p]:
                overhead_ms += self._dvfs_ms[p]
            self.pe = p
            self.freq_mhz[p] = freq_mhz
            mark_ms = env.now
            segment = segment_at(self._seg_starts, start_ms)
            s = self._pe_seg[p]
            work = max(1.0 + cv_at(s, a) * self._noise_z[self.frames_done], MIN_WORK)
            turn_at_ms = None  # where a held core makes this frame wait its turns: its first tick
            if self._noise_u is None:
                rate_at = table.rate_per_ms.item
            elif (u := self._noise_u[self.frames_done]) < split_share_at(s, a):
                if table.turns is None:
                    rate_at = table.split_rate_per_ms.item
                else:
                    rate_at = table.ahead_rate_per_ms.item
                    turn_at_ms = u * table.turns.tick_ms + table.turns.grace_ms
            else:
                rate_at = table.ahead_rate_per_ms.item
            rate, power_w = rate_at(s, a), power_at(s, a)
            # the waits for the other work: time the DNN does not work, as the migration's
            held_ms = 0.0 if turn_at_ms is None else table.turns.wait_ms(work / rate, turn_at_ms)
            overhead_left_ms = overhead_ms + held_ms
            energy_mj = 0.0
            self._running_pe = p
            while True:
                try:
                    yield env.timeout(overhead_left_ms + work / rate)
                    break
                except simpy.Interrupt:
                    # the load on this PE changed: bank what was done at the old rate, re-rate the rest
                    elapsed_ms = env.now - mark_ms
                    mark_ms = env.now
                    energy_mj += power_w * elapsed_ms
                    if elapsed_ms <= overhead_left_ms:
                        overhead_left_ms -= elapsed_ms
                    else:
                        work = max(work - (elapsed_ms - overhead_left_ms) * rate, 0.0)
                        overhead_left_ms = 0.0
                    s = self._pe_seg[p]
                    rate, power_w = rate_at(s, a), power_at(s, a)
            self._running_pe = -1
            end_ms = env.now
            energy_mj += power_w * (end_ms - mark_ms)
            arrival_ms = self.queue.popleft()
            self.frames_done += 1
            self._go = env.event()
            self._result = FrameResult(
                arrival_ms, start_ms, end_ms, end_ms - arrival_ms, end_ms - start_ms, energy_mj, overhead_ms,
                agent_ms, segment,
            )

    def _competing(self, p: int, change_segments: list[int]):
        env = self.env
        starts = self._seg_starts
        for s in change_segments:
            yield env.timeout(starts[s] - env.now)
            self._pe_seg[p] = s
            if self._running_pe == p:
                self._dnn_process.interrupt()

    # --- helpers ----------------------------------------------------------------------------------

    def _advance_to_next_frame(self) -> None:
        """Run the simulation until a frame waits to start (or the episode is over)."""
        step = self.env.step
        while not self.queue and self.frames_done < self.n_frames:
            step()


def n_frames_of(duration_s: float, period_ms: float) -> int:
    """Frames that arrive during a trace: at 0, period, 2 period, ... before its end."""
    return max(math.ceil(duration_s * 1000.0 / period_ms - 1e-9), 1)
