"""The Gymnasium environment: one step = one inference of the dynamic DNN on a simulated SoC.

Registered as ``dynscale/DynamicDNN-v0`` when ``envs`` is imported. The SoC itself (frame arrivals,
the inference re-rated under changing load, the competing workloads, DVFS and migration costs) is
the SimPy model in :mod:`envs.soc`; this module is the Gymnasium face of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs._reward import VIOLATION_CAP, W_ACCURACY, W_ENERGY, W_MISS, W_VIOLATION, reward
from envs._tables import OperatingTable, build_operating_table
from envs._timeline import Timeline
from envs.errors import EnvError
from envs.soc import FrameResult, SocSimulation, n_frames_of
from platform_models.frame import frame_outcome

DEFAULT_PLATFORM = "odroid-xu3"
"""The platform of ``gymnasium.make("dynscale/DynamicDNN-v0")`` without arguments."""

MASK_MIN_SHARE = 0.1
"""Default: a PE whose competing load leaves the DNN less than 0.1 core (GPU: 10 %) is masked."""


class DynamicDNNEnv(gym.Env):
    """Pick groups, PE and frequency for every inference of a dynamic DNN under competing load.

    **Episode.** One pass over a trace: frames arrive every ``trace.frame_period_ms`` from t = 0 until
    ``trace.duration_s``; the episode terminates when the last of them has its result (frames queued
    behind a slow inference are still served after the trace's end, at its last segment's load), or
    is truncated after ``max_frames`` steps. With a list of traces, ``reset`` draws one with
    ``self.np_random``, or takes ``options={"trace_index": i}`` (evaluation over every trace). The
    DNN starts on the platform's first PE, every PE at its highest frequency.

    **Action.** ``Discrete(len(platform.configs()))``: an index into ``platform.configs()``, the
    (groups, pe, freq_mhz) triples in the platform's fixed order (``envs.MultiDiscreteAction`` gives
    a (k, pe, freq index) form). ``action_masks()`` is False for the configurations of a PE whose
    competing load leaves the DNN less than ``mask_min_share`` of one core (GPU: of its time); when
    every PE is that busy, the PE whose fastest configuration is fastest stays allowed, so the mask
    is never all False. A masked action may still be taken (it runs at the little share left).

    **Step.** The action is applied at the frame's start (a frame starts when it has arrived and the
    previous one is done). The simulation then runs until the frame's result is known and on to the
    next frame's start, where the observation is taken. Every frame first costs the live agent's own
    work (the ``agent_overhead_ms`` of the PE the DNN ran on last, scaled by top / current frequency
    on a CPU PE; no power drawn). Changing the PE costs that PE's
    ``migration_ms``, changing its frequency its ``dvfs_transition_ms`` (descriptor values), paid
    before the inference. The inference's work is the table's mean latency times a noise factor
    ``1 + cv * z`` (``cv`` = the table's std / mean, ``z`` standard normal from ``self.np_random``;
    ``latency_noise=False`` turns it off), and is re-rated whenever the competing load on its PE
    changes mid-inference. On a platform that measured a held core's split share at frame periods
    (``contention_split_share``), each frame on a held core is either ahead of the competing work or
    split with it, by the phase of its arrival in the kernel's scheduler tick (``scheduler_tick_ms``;
    one phase drawn per episode from ``self.np_random``, or a live run's replayed:
    ``options={"tick_phase_ms": p}``, the phase of its first frame's arrival, where the platform
    measured where in the tick the split phases lie, ``contention_split_window_end_ms``) or, where
    the tick is not known, by a uniform draw per frame (``latency_noise=False``: at the two outcomes'
    expected rate, unless a phase is given).

    **Observation.** ``platform_models.ObservationSpec(platform).build(...)`` (see that module for the
    table of entries and bounds), ``Box(spec.low, spec.high)``, float32: budgets in force, the last
    inference's latency/power/energy relative to its budget, frames waiting, per-PE competing load
    and frequency, the current k and PE.

    **Reward.** ``envs.reward`` (see :mod:`envs._reward`): ``w_accuracy * accuracy(k)`` when every
    budget is met, else ``-(w_miss + w_violation * min(relative overshoot, violation_cap))``; minus
    ``w_energy * energy / worst-case energy``. A frame's budgets are those in force at its start.

    **info** (every step): latency_ms (arrival to result), energy_mj, power_w (mean while running),
    accuracy, budget_met, groups, pe, freq_mhz, time_s (simulated time of the result),
    latency_budget_ms, power_budget_w, energy_budget_mj (``inf`` where the trace sets none), missed
    (frames over budget so far in the episode), frame (index), backlog (frames waiting), queue_ms
    (arrival to start), overhead_ms (migration + DVFS), agent_ms (the agent's work), competing_speed
    (lowest frequency / maximum frequency over the PEs with competing load: how much the DNN's
    frequency choice slows the other applications sharing a cluster's frequency domain; 1.0 when
    none).

    **Render.** ``"ansi"``: a line of text for the last step. ``"rgb_array"``: the run's timeline as
    an RGB ``uint8`` image (``TIMELINE_HEIGHT`` x ``TIMELINE_WIDTH`` x 3), one column per frame (the
    last ``TIMELINE_WIDTH`` frames): the latency over its budget as a bar (green met, red missed, the
    budget a grey line at half height), the PE in a colour band below it, and the groups k as a grey
    level in the bottom band. SB3's ``make_vec_env`` asks for it, and its video recorder uses it.

    Args:
        platform: a shipped platform name, a descriptor path, or a ``PlatformModel`` (default
            ``odroid-xu3``).
        trace: a trace path or ``Trace``, or a list of them (one drawn per reset); default: the
            platform's shipped train traces (an error for a platform that ships none).
        accuracy: top-1 accuracy per k (G fractions) instead of the platform descriptor's.
        max_frames: truncate an episode after this many steps (None: the whole trace).
        latency_noise: draw each inference's latency from the table's spread (False: exact means).
        mask_min_share: see Action.
        w_accuracy, w_miss, w_violation, w_energy, violation_cap: reward weights (``envs.reward``).
        render_mode: None, "ansi" or "rgb_array" (see Render).

    Raises:
        EnvError, PlatformError, TraceError: on bad arguments or files (one line naming what).

    Version history: v0 - first version.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 10}

    def __init__(
        self,
        platform: Any = DEFAULT_PLATFORM,
        trace: Any = None,
        *,
        accuracy: Sequence[float] | None = None,
        max_frames: int | None = None,
        latency_noise: bool = True,
        mask_min_share: float = MASK_MIN_SHARE,
        w_accuracy: float = W_ACCURACY,
        w_miss: float = W_MISS,
        w_violation: float = W_VIOLATION,
        w_energy: float = W_ENERGY,
        violation_cap: float = VIOLATION_CAP,
        render_mode: str | None = None,
    ) -> None:
        from platform_models import ObservationSpec

        self.platform = _as_platform(platform)
        if accuracy is not None:
            self.platform = self.platform.with_accuracy(accuracy)
        if trace is None:
            trace = _shipped_train_traces(self.platform)
        self._traces = [_as_trace(t, self.platform) for t in _as_list(trace)]
        if max_frames is not None and (not isinstance(max_frames, (int, np.integer)) or max_frames < 1):
            raise EnvError(f"field 'max_frames': expected an integer >= 1 or None, got {max_frames!r}")
        if not 0.0 <= mask_min_share <= 1.0:
            raise EnvError(f"field 'mask_min_share': expected a number in [0, 1], got {mask_min_share!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvError(f"field 'render_mode': expected None, 'ansi' or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.max_frames = max_frames
        self.latency_noise = bool(latency_noise)
        self.mask_min_share = float(mask_min_share)
        self.configs = self.platform.configs()
        self.observation_spec = ObservationSpec(self.platform)
        self.reward_weights = {
            "w_accuracy": w_accuracy, "w_miss": w_miss, "w_violation": w_violation, "w_energy": w_energy,
            "violation_cap": violation_cap, "energy_scale_mj": float(self.observation_spec.scales[2]),
        }
        self.action_space = spaces.Discrete(len(self.configs))
        spec = self.observation_spec
        self.observation_space = spaces.Box(spec.low, spec.high, dtype=np.float32)

        pes = self.platform.pes
        self._pe_names = [pe.name for pe in pes]
        self._max_freq_mhz = [float(max(pe.freqs_mhz)) for pe in pes]
        self._pe_of_action = self.platform.config_pe_index
        self._freq_of_action = np.array([float(c.freq_mhz) for c in self.configs])
        self._groups_of_action = [c.groups for c in self.configs]
        self._accuracy_of_action = np.array([self.platform.accuracy[c.groups - 1] for c in self.configs])
        self._accuracy_list = self._accuracy_of_action.tolist()
        self._tables: dict[int, OperatingTable] = {}
        self.trace = self._traces[0]
        self._table = self._operating_table(0)
        self._sim: SocSimulation | None = None
        self._lookahead: dict[str, np.ndarray] | None = None
        self._last_info: dict[str, Any] | None = None
        self._timeline = Timeline(self.platform.groups)

    # --- Gymnasium API ----------------------------------------------------------------------------

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        sim = self._sim
        if sim is None or sim.done:
            raise EnvError("step() called before reset() or after the episode ended; call reset()")
        a = int(action)
        if not 0 <= a < len(self.configs):
            raise EnvError(
                f"field 'action': expected an integer in 0..{len(self.configs) - 1}, got {action!r}"
            )
        result = sim.run_frame(a)
        self._lookahead = None
        info = self._frame_info(a, result)
        terminated = sim.done
        truncated = not terminated and self.max_frames is not None and sim.frames_done >= self.max_frames
        if truncated:
            sim.n_frames = sim.frames_done  # the episode ends here; step() refuses to go on
        self._last_info = info
        if self.render_mode == "rgb_array":
            self._timeline.add(info, p=sim.pe)
        rew = reward(
            info["accuracy"], info["latency_ms"], info["power_w"], info["energy_mj"],
            info["latency_budget_ms"], info["power_budget_w"], info["energy_budget_mj"],
            **self.reward_weights,
        )
        return self._observe(), rew, terminated, truncated, info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        index = self._trace_index(options)
        phase_ms = self._tick_phase_ms(options)
        self.trace = self._traces[index]
        self._table = self._operating_table(index)
        n_frames = n_frames_of(self.trace.duration_s, self.trace.frame_period_ms)
        n_noise = min(n_frames, self.max_frames or n_frames)
        noise_z = self.np_random.standard_normal(n_noise).tolist() if self.latency_noise else [0.0] * n_noise
        drawn = self.latency_noise or phase_ms is not None  # a phase given is no draw: noise-free too
        noise_u = self._split_draws(n_noise, phase_ms) if drawn and self._table.split_share.any() else None
        self._sim = SocSimulation(
            self._table,
            n_frames=n_frames,
            period_ms=self.trace.frame_period_ms,
            pe_of_action=self._pe_of_action,
            freq_of_action=self._freq_of_action,
            migration_ms=[pe.migration_ms for pe in self.platform.pes],
            dvfs_transition_ms=[pe.dvfs_transition_ms for pe in self.platform.pes],
            agent_ms_at=[pe.agent_ms for pe in self.platform.pes],
            noise_z=noise_z,
            noise_u=noise_u,
            start_pe=0,
            start_freq_mhz=self._max_freq_mhz,
        )
        self._groups = self.platform.groups
        self._last = (math.nan, math.nan, math.nan)
        self._missed = 0
        self._lookahead = None
        self._last_info = None
        self._timeline.clear()
        return self._observe(), {"trace_index": index, "n_frames": n_frames}

    def _split_draws(self, n_frames: int, phase_ms: float | None = None) -> list[float]:
        """Per frame, a number in [0, 1): a frame on a held core is split where it falls under the
        split share. Where the kernel's scheduler tick is known, how far the frame's arrival falls
        before the end of the tick's split phases, in ticks (the phase decides it live), from the
        first frame's phase: ``phase_ms`` (a live run's, replayed) or one drawn per episode. At a
        period of whole ticks every frame of an episode then falls alike, as every frame of a live
        run does. Otherwise one uniform per frame. Drawn only on platforms with a split share, so
        that other platforms' episodes stay as they were for a seed."""
        tick_ms = getattr(self.platform, "scheduler_tick_ms", None)
        if not tick_ms:
            return self.np_random.random(n_frames).tolist()
        ticks_per_frame = self.trace.frame_period_ms / tick_ms
        if phase_ms is None:
            first = float(self.np_random.random())
        else:
            first = (self.platform.contention_split_window_end_ms - phase_ms) / tick_ms
        return [(first - i * ticks_per_frame) % 1.0 for i in range(n_frames)]

    def _tick_phase_ms(self, options: dict[str, Any] | None) -> float | None:
        """``options["tick_phase_ms"]``: the first frame's arrival phase in the scheduler tick, to
        replay a live run (its log's ``arrival_s``, modulo the tick); None where not given."""
        if not options or options.get("tick_phase_ms") is None:
            return None
        phase_ms = options["tick_phase_ms"]
        if getattr(self.platform, "contention_split_window_end_ms", None) is None:
            raise EnvError(f"field 'tick_phase_ms': platform {self.platform.name} has no "
                           "contention_split_window_end_ms, where in the tick a phase replayed splits")
        tick_ms = self.platform.scheduler_tick_ms  # (the window needs the tick)
        number = isinstance(phase_ms, (int, float)) and not isinstance(phase_ms, bool)
        if not number or not 0.0 <= phase_ms < tick_ms:
            raise EnvError(f"field 'tick_phase_ms': expected a number in [0, {tick_ms:g}), got {phase_ms!r}")
        return float(phase_ms)

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self._timeline.image()
        if self.render_mode != "ansi":
            return None
        info = self._last_info
        if info is None:
            return f"t={self._sim.now_ms / 1000.0 if self._sim else 0.0:.3f}s  (no frame yet)\n"
        verdict = "met " if info["budget_met"] else "MISS"
        return (
            f"t={info['time_s']:.3f}s frame={info['frame']} k={info['groups']} pe={info['pe']} "
            f"f={info['freq_mhz']:g}MHz lat={info['latency_ms']:.2f}/{info['latency_budget_ms']:g}ms "
            f"P={info['power_w']:.2f}/{info['power_budget_w']:g}W E={info['energy_mj']:.2f}/"
            f"{info['energy_budget_mj']:g}mJ {verdict} backlog={info['backlog']} missed={info['missed']}\n"
        )

    # --- for controllers ------------------------------------------------------------------------

    def action_masks(self) -> np.ndarray:
        """Bool per action: True where the action's PE is usable now (see the class doc)."""
        sim = self._sim
        segment = sim.segment() if sim is not None else 0
        return self._table.action_mask[segment].copy()

    def lookahead_all(self) -> dict[str, np.ndarray]:
        """The clairvoyant outcome of every action for the frame about to start (arrays over actions).

        Keys as :meth:`lookahead`. Computed once per frame (then cached): a vectorised walk over the
        trace's true future segments, without noise, changing nothing.
        """
        if self._lookahead is None:
            sim = self._sim
            if sim is None or sim.done:
                raise EnvError("lookahead() called before reset() or after the episode ended; call reset()")
            latency_ms, busy_ms, energy_mj = sim.expected()
            power_w = energy_mj / (busy_ms - sim.agent_ms())
            budget = self._table.budgets[sim.segment()]
            met = (latency_ms <= budget[0]) & (power_w <= budget[1]) & (energy_mj <= budget[2])
            value = reward(self._accuracy_of_action, latency_ms, power_w, energy_mj, *budget,
                           **self.reward_weights)
            self._lookahead = {
                "latency_ms": latency_ms, "energy_mj": energy_mj, "power_w": power_w,
                "accuracy": self._accuracy_of_action, "budget_met": met, "reward": value, "busy_ms": busy_ms,
            }
        return self._lookahead

    def lookahead(self, action: int) -> dict[str, Any]:
        """The outcome ``action`` would get if taken now, from the trace's true future load.

        Returns:
            latency_ms (arrival to result), energy_mj, power_w, accuracy, budget_met, reward, and
            busy_ms (start to result: agent + migration/DVFS cost + inference); no noise, no state
            change.
        """
        return {key: values[action].item() for key, values in self.lookahead_all().items()}

    # --- helpers ----------------------------------------------------------------------------------

    def _trace_index(self, options: dict[str, Any] | None) -> int:
        """The trace of the next episode: ``options["trace_index"]`` if given, else a random draw."""
        n = len(self._traces)
        if options and "trace_index" in options:
            index = options["trace_index"]
            if not isinstance(index, (int, np.integer)) or not 0 <= index < n:
                raise EnvError(f"field 'trace_index': expected an integer in 0..{n - 1}, got {index!r}")
            return int(index)
        return int(self.np_random.integers(n)) if n > 1 else 0

    def _operating_table(self, index: int) -> OperatingTable:
        table = self._tables.get(index)
        if table is None:
            table = self._tables[index] = build_operating_table(
                self.platform, self._traces[index], self.mask_min_share
            )
        return table

    def _observe(self) -> np.ndarray:
        sim = self._sim
        segment = sim.segment()
        table = self._table
        return self.observation_spec.build(
            budgets=table.budget_rows[segment],
            last=self._last,
            load=table.load_rows[segment],
            freq_mhz=dict(zip(self._pe_names, sim.freq_mhz, strict=True)),
            groups=self._groups,
            pe=self._pe_names[sim.pe],
            backlog=sim.backlog,
        )

    def _frame_info(self, a: int, result: FrameResult) -> dict[str, Any]:
        sim = self._sim
        table = self._table
        outcome = frame_outcome(latency_ms=result.latency_ms, queue_ms=result.start_ms - result.arrival_ms,
                                run_ms=result.busy_ms - result.agent_ms, energy_mj=result.energy_mj,
                                budgets=table.budget_inf_rows[result.segment])
        if not outcome.budget_met:
            self._missed += 1
        self._groups = self._groups_of_action[a]
        self._last = outcome.last
        p = sim.pe
        freq_mhz, max_freq_mhz = sim.freq_mhz, self._max_freq_mhz
        _, power_budget, energy_budget = outcome.budgets
        return {
            **outcome.controller_info(),
            "energy_mj": outcome.energy_mj,
            "power_w": outcome.power_w,
            "accuracy": self._accuracy_list[a],
            "budget_met": outcome.budget_met,
            "groups": self._groups,
            "pe": self._pe_names[p],
            "freq_mhz": freq_mhz[p],
            "time_s": result.end_ms / 1000.0,
            "power_budget_w": power_budget,
            "energy_budget_mj": energy_budget,
            "missed": self._missed,
            "frame": sim.frames_done - 1,
            "backlog": sim.backlog,
            "overhead_ms": result.overhead_ms,
            "agent_ms": result.agent_ms,
            "competing_speed": min(
                (freq_mhz[q] / max_freq_mhz[q] for q in table.loaded_pes[result.segment]), default=1.0
            ),
        }


def _as_list(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        if not value:
            raise EnvError("field 'trace': expected a trace or a non-empty list of traces, got an empty list")
        return list(value)
    return [value]


def _as_platform(platform: Any) -> Any:
    from platform_models import PlatformModel, load_platform

    if isinstance(platform, PlatformModel):
        return platform
    if isinstance(platform, (str, Path)):
        return load_platform(platform)
    raise EnvError(
        f"field 'platform': expected a name, a descriptor path or a PlatformModel, got {platform!r}"
    )


def _shipped_train_traces(platform: Any) -> list[Path]:
    from traces import shipped_traces

    paths = shipped_traces(platform.name, "train")
    if not paths:
        raise EnvError(f"field 'trace': platform {platform.name} ships no train traces; pass trace= "
                       "(a trace file, a Trace or a list of them)")
    return paths


def _as_trace(trace: Any, platform: Any) -> Any:
    from traces import Trace, load_trace

    if isinstance(trace, (str, Path)):
        trace = load_trace(trace)
    elif not isinstance(trace, Trace):
        raise EnvError(f"field 'trace': expected a trace path or a Trace, got {trace!r}")
    trace.check_platform(platform)
    return trace
