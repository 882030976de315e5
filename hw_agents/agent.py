"""The live agent: a controller driving the dynamic DNN on a real board, frame by frame.

Frames arrive at the trace's frame period (frame ``i`` at ``i x frame_period_ms``, as in the
simulator) and are inferred in order; a frame that arrives while another is being inferred waits,
and its latency counts from its arrival. Every frame goes through four stages, each a method of
the run, each timed and logged (``sense_ms``, ``decide_ms``, ``apply_ms``, ``record_ms``; their sum
is the frame's ``agent_ms``, the agent's own time on it), and the inference between apply and record:

1. **sense**: the trace's budgets in force, the competing load of every PE (busy cores from
   /proc/stat over the CPUs of the PE since the last reading, minus this process's own CPU time on the
   PE it is pinned to: the DNN is not competing with itself, :class:`hw_agents.procstat.BusyMeter`;
   read just before the frame's arrival where the agent rehearsed it, see below) and the frames
   waiting behind this one;
2. **decide**: the shared observation (``platform_models.ObservationSpec``: budgets, how the last
   frame did, load, frequencies, current configuration), the controller's answer, told the last
   frame's outcome (``platform_models.frame``) and ``info["action_mask"]`` (False for the
   configurations of PEs the agent cannot run the DNN on, see :func:`masked_pes`); a masked answer is
   replaced by ``controllers.nearest_allowed`` (same groups, fastest allowed PE, the same share of its
   top frequency) and logged in the ``fallback`` column;
3. **apply**: ``set_active_groups(k)``, ``board.set_frequency`` where the board lets us (not in
   monitor-only mode), ``board.pin(pe)`` and the torch threads the platform's contention rule gives
   at the load read (``Contention.rows_read``: at most one per core the load leaves free, the count
   whose table row is fastest);
4. the inference (on a CUDA GPU PE: model and input on the device, timed up to
   ``torch.cuda.synchronize()``), the PE's power sensor sampled in a thread over it (where there is
   none, the platform table's power for that operating point, ``power_source = model``);
5. **record**: the frame's outcome (latency from arrival, budget met, power and energy, all as
   ``platform_models.frame`` defines them for the simulator too), kept for the next frame. Its CSV
   row is made, written and flushed at once after the frame (not timed: the agent would sleep then)
   so that a killed run keeps its log.

Between frames the agent sleeps, and the sleep empties the caches: the same stages cost 5-10 times
more after it than back to back. So, where the idle time allows (``rehearse``, the default), the agent
wakes a little before the frame's arrival, reads the competing load (the frame's window ends there),
**rehearses** the frame's decision on it (:meth:`_LiveRun.rehearse`: ``Controller.rehearse`` changes
nothing the frame's own decision reads), sets the DNN's groups and threads for the configuration
rehearsed, and spins to the arrival. Its time awake before the arrival is the frame's
``prepare_ms``: CPU time outside the frame, not in its latency. Everything the decision is made of
was read before the arrival, so the frame finds its observation and info made (the rehearsal's,
where what they are made of is the same) and the controller's answer too where the controller keeps
its last question and answer (lookup, lookup-adaptive, exported policies: ``Controller``); the
frame still asks it (``act``: a controller that learns learns then).

``wake_ms`` is the time from a frame's arrival to the agent running again after sleeping for it
(the operating system's, not the agent's, and 0 when the frame was already waiting or rehearsed). The
profiler times ``wake_ms + agent_ms`` to give the simulator its ``PE.agent_overhead_ms``.

The trace's competing load is played for real meanwhile (:class:`hw_agents.LoadReplayer`), starting
with the first frame; the trace starts over when ``duration_s`` outlasts it. Whatever happens, the
board's clocks (``board.session()``), this process's CPU affinity and torch's thread count are
restored and every burner is stopped.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import gc
import json
import math
import os
import time
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hw_agents.affinity import inference_state_restored, pin_inference, set_all_threads_affinity
from hw_agents.errors import BoardError
from hw_agents.inference import platform_dnn
from hw_agents.loadgen import LoadReplayer
from hw_agents.power import PowerSampler
from hw_agents.procstat import BusyMeter
from platform_models.frame import FrameOutcome, frame_outcome
from platform_models.frame import backlog as frames_waiting
from platform_models.model import Config
from platform_models.progress import progress_bar
from platform_models.signals import stop_signal, stop_signals_delivered, stop_signals_held
from traces import Budgets

__all__ = ["LOG_NAME", "SUMMARY_NAME", "DeployInterrupted", "DeploySummary", "deploy", "masked_pes",
           "summarise_log"]

LOG_NAME = "deploy-log.csv"
SUMMARY_NAME = "summary.json"
STAGE_COLUMNS = ("sense_ms", "decide_ms", "apply_ms", "record_ms")
"""The log's columns timing the agent's stages on each frame; ``agent_ms`` is their sum."""
_NO_LAST = (math.nan, math.nan, math.nan)  # the observation's last-frame figures before the first frame
# Frames queued when the run's duration ends get this long to be served; the rest are dropped, so
# that ``duration_s`` bounds a run whose inferences are slower than the frame period.
_QUEUE_GRACE_S = 1.0
# The agent wakes this long before a frame's arrival besides 1.5 times its last first rehearsal: the
# sleep before it ends late by 0.13 ms (median; p99 0.2 ms) on the EPYC VM.
_LEAD_MARGIN_S = 0.00025
# The first rehearsal's lead, before one has been timed.
_FIRST_LEAD_S = 0.001


@dataclass(frozen=True)
class DeploySummary:
    """The metrics of a live run, named as ``evaluate`` names them for a simulated one: share of
    inferences that met every budget, mean accuracy of the groups used, mean energy per inference,
    mean and 95th percentile latency (queueing included); ``fallbacks``: the inferences whose
    configuration the controller picked on a masked PE and the agent replaced; ``agent_ms``: the
    median of the agent's own time per frame; ``prepare_ms``: the median of its time awake before
    each frame's arrival, rehearsing it (0 without rehearsals); ``platform``: the platform file the
    run used; ``calibrated``: why and where its table was calibrated to this machine just before the run
    (empty when it was not); ``interrupted``: the run was stopped by SIGINT or SIGTERM (the figures are of the
    frames that ran)."""

    controller: str
    trace: str
    board: str
    n_inferences: int
    budget_met_rate: float
    accuracy: float
    energy_mj: float
    latency_ms: float
    latency_p95_ms: float
    power_source: str
    log: str
    fallbacks: int = 0
    agent_ms: float = math.nan
    prepare_ms: float = math.nan
    platform: str = ""
    calibrated: str = ""
    interrupted: bool = False


class DeployInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM (``stop``, what the signal raised) once its frames had
    started; ``summary`` is of the frames that ran (written to ``summary.json`` beside the log, with
    ``interrupted`` true). :func:`platform_models.signals.stop_signal` tells which signal it was."""

    def __init__(self, summary: DeploySummary, stop: KeyboardInterrupt) -> None:
        self.signum, self.word = stop_signal(stop)
        super().__init__(f"{self.word} after {summary.n_inferences} inferences")
        self.summary = summary


def deploy(
    board: Any,
    controller: Any,
    trace: Any,
    out_dir: str | Path,
    *,
    duration_s: float,
    platform: Any,
    checkpoint: str | Path | None = None,
    replay_load: bool = True,
    load_nice: int = 0,
    proc_root: str | Path = "/proc",
    pes: Collection[str] | None = None,
    calibrated: str = "",
    progress: bool = False,
    rehearse: bool = True,
) -> DeploySummary:
    """Run ``controller`` live on ``board`` for ``duration_s`` under ``trace``'s budgets and load.

    ``platform``: the board's platform model (observation layout, configurations, accuracy per k
    unless ``checkpoint`` brings its own, and the power estimate where no sensor is readable).
    ``load_nice``: the burners' nice value (see :class:`LoadReplayer`). ``pes``: run the DNN on
    these PEs only (the others are masked, as PEs the agent cannot use are). ``calibrated``: recorded
    in the summary (see :class:`DeploySummary`). ``progress``: a bar over the frames on a terminal.
    ``rehearse``: go through each frame's stages just before it arrives (:meth:`_LiveRun.rehearse`), at
    a cost of ``prepare_ms`` of CPU time per frame (in the log) and a spin to the arrival. Writes
    ``out_dir/deploy-log.csv`` (one row per inference) and ``out_dir/summary.json``; returns the
    summary.
    """
    import torch

    masked = masked_pes(board, platform, pes)
    out = Path(out_dir)
    log_path = out / LOG_NAME
    period_s = trace.frame_period_ms / 1000.0
    n_frames = max(math.ceil(duration_s / period_s - 1e-9), 1)
    # The first frame arrives one frame period after the load starts, so that its load reading has a
    # window as long as every later one.
    replayer = (LoadReplayer(trace, board.pes, lead_in_s=period_s, nice=load_nice) if replay_load
                else contextlib.nullcontext())
    started = False
    interrupted: KeyboardInterrupt | None = None
    try:
        with contextlib.ExitStack() as stack:
            with stop_signals_held():  # start-up: a signal now could abort inside torch (see signals)
                model, dnn_section, x = platform_dnn(platform, checkpoint)
                run = _LiveRun(board, controller, trace, platform, _Runner(model, x, platform, masked),
                               proc_root, dnn_section["accuracy_top1"], masked, n_frames, rehearse)
                for context in (contextlib.closing(run), inference_state_restored(), board.session(),
                                torch.inference_mode()):
                    stack.enter_context(context)
                out.mkdir(parents=True, exist_ok=True)  # the board is ours: a refused run leaves nothing
                run.warm_up()
                stack.enter_context(replayer)
                f = stack.enter_context(log_path.open("w", newline=""))
                writer = csv.DictWriter(f, fieldnames=run.columns, restval="", lineterminator="\n")
                writer.writeheader()
                run.start_load_window()
                start = getattr(replayer, "start_monotonic", time.monotonic()) + period_s
                controller.reset()
                started = True
            with (stop_signals_delivered(), _start_up_frozen(),
                  progress_bar("deploy", n_frames, "frame", enabled=progress) as bar):
                for frame in range(n_frames):
                    if time.monotonic() >= start + duration_s + _QUEUE_GRACE_S:
                        break  # a backlog never stretches the run past the grace
                    writer.writerow(run.row(run.frame(frame, start + frame * period_s, start)))
                    f.flush()
                    bar.update()  # after the frame, in the time the agent would sleep anyway
    except KeyboardInterrupt as stop:  # the board is restored by now; summarise the frames that ran
        if not started:
            raise
        interrupted = stop
    with stop_signals_held():  # a second Ctrl-C does not cut the summary short
        summary = summarise_log(log_path, controller=getattr(controller, "name", str(controller)),
                                trace=str(trace.path or trace.description), board=board.name,
                                interrupted=interrupted is not None)
        summary = replace(summary, platform=str(platform.path), calibrated=calibrated)
        tmp = out / (SUMMARY_NAME + ".tmp")
        figures = {k: None if isinstance(v, float) and math.isnan(v) else v
                   for k, v in asdict(summary).items()}
        tmp.write_text(json.dumps(figures, indent=2) + "\n")
        os.replace(tmp, out / SUMMARY_NAME)
    if interrupted is not None:
        raise DeployInterrupted(summary, interrupted)  # the caller stops too (exit 128 + the signal's number)
    return summary


def summarise_log(log_path: str | Path, *, controller: str, trace: str, board: str,
                  interrupted: bool = False) -> DeploySummary:
    """The run's metrics from its log (so a killed run can be summarised too)."""
    with Path(log_path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    column = lambda name: np.array([float(r[name]) for r in rows])  # noqa: E731
    latency = column("latency_ms") if rows else np.array([math.nan])
    sources = sorted({r["power_source"] for r in rows})
    return DeploySummary(
        controller=controller,
        trace=trace,
        board=board,
        n_inferences=len(rows),
        budget_met_rate=float(np.mean([r["budget_met"] == "True" for r in rows])) if rows else math.nan,
        accuracy=float(column("accuracy").mean()) if rows else math.nan,
        energy_mj=float(column("energy_mj").mean()) if rows else math.nan,
        latency_ms=float(latency.mean()),
        latency_p95_ms=float(np.percentile(latency, 95)),
        power_source="+".join(sources),
        log=str(log_path),
        fallbacks=sum(bool(r.get("fallback")) for r in rows),
        agent_ms=float(np.median(column("agent_ms"))) if rows and "agent_ms" in rows[0] else math.nan,
        prepare_ms=float(np.median(column("prepare_ms"))) if rows and "prepare_ms" in rows[0] else math.nan,
        interrupted=interrupted,
    )


def gpu_unavailable() -> str | None:
    """None where torch can run the DNN on this machine's GPU (a CUDA build that sees a device: a
    Jetson with NVIDIA's torch), else why not (the XU3's Mali has no torch backend at all)."""
    import torch

    if torch.cuda.is_available():
        return None
    return "no torch backend for this GPU (torch.cuda unavailable)"


def masked_pes(board: Any, platform: Any, pes: Collection[str] | None = None) -> dict[str, str]:
    """PE name -> why the agent cannot run the DNN there, for the platform's PEs it must mask: PEs
    the board lacks, GPUs torch cannot use, and those not among ``pes`` when given. The other PEs are
    CPU clusters of the board, or a GPU where :func:`gpu_unavailable` says None.

    Raises:
        BoardError: ``pes`` names a PE the platform lacks, or none of the platform's PEs is runnable.
    """
    if pes is not None:
        unknown = sorted(set(pes) - {pe.name for pe in platform.pes})
        if unknown:
            raise BoardError(f"platform {platform.name} has no PE {', '.join(unknown)} (it has "
                             f"{', '.join(pe.name for pe in platform.pes)})", path=platform.path, field="pes")
    board_pes = {pe.name for pe in board.pes}
    why = {}
    for pe in platform.pes:
        if pe.name not in board_pes:
            why[pe.name] = f"board {board.name} has no such PE (it has {', '.join(sorted(board_pes))})"
        elif pe.kind != "cpu" and (reason := gpu_unavailable()) is not None:
            why[pe.name] = reason
    if len(why) == len(platform.pes):
        raise BoardError(f"platform {platform.name}: the agent can run the DNN on none of its PEs ("
                         + "; ".join(f"{name}: {reason}" for name, reason in why.items()) + ")",
                         path=platform.path, field="pes")
    if pes is not None:
        why |= {pe.name: "not among the PEs asked for" for pe in platform.pes if pe.name not in pes}
        if len(why) == len(platform.pes):
            raise BoardError(f"platform {platform.name}: none of the PEs asked for ({', '.join(pes)}) is "
                             "runnable", path=platform.path, field="pes")
    return why


class _Runner:
    """The DNN and its input on every device the run uses: the CPU, and the GPU where a gpu PE is
    runnable (a copy of the model, so that switching PEs moves no weights)."""

    def __init__(self, model: Any, x: Any, platform: Any, masked: dict[str, str]) -> None:
        self.gpu_pes = {pe.name for pe in platform.pes if pe.kind != "cpu" and pe.name not in masked}
        self._models = {"cpu": (model, x)}
        if self.gpu_pes:
            try:
                self._models["cuda"] = (copy.deepcopy(model).to("cuda"), x.to("cuda"))
            except (AssertionError, RuntimeError) as err:  # torch built without CUDA raises AssertionError
                raise BoardError(f"cannot put the DNN on the GPU ({', '.join(sorted(self.gpu_pes))}): "
                                 f"{str(err).splitlines()[0]}", field="pes") from None

    def set_active_groups(self, k: int) -> None:
        for model, _ in self._models.values():
            model.set_active_groups(k)

    def infer(self, pe: str) -> None:
        """One inference on ``pe``, returning once its result exists (CUDA launches are
        asynchronous: wait for the device, or the time would be the launch's)."""
        import torch

        device = "cuda" if pe in self.gpu_pes else "cpu"
        model, x = self._models[device]
        model(x)
        if device == "cuda":
            torch.cuda.synchronize()


@contextlib.contextmanager
def _start_up_frozen() -> Iterator[None]:
    """Every object of the start-up (torch, numpy, the model: some 170,000 after importing torch) left
    out of the garbage collections during the frames: the remembered predictions and choices of a
    long run accumulate until a full collection, which walks every tracked object, falls inside a
    frame."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Sensed(NamedTuple):
    """What the sense stage read at a frame's start."""

    index: int
    arrival_s: float
    ready_s: float
    """When the agent could take the frame up: its arrival, or the previous frame's end if later."""
    wake_ms: float
    """From the frame's arrival to the agent running again after sleeping for it (0 if it did not)."""
    trace_time_s: float
    budgets: Budgets
    load: dict[str, float]
    backlog: int


class _Decision(NamedTuple):
    """What the decide stage chose: the configuration, and the controller's own pick where the agent
    replaced it (``fallback``, as ``static:K:PE:FREQ`` names it; empty when not)."""

    action: int
    config: Config
    fallback: str


class _Ran(NamedTuple):
    """The inference as it went."""

    threads: int
    infer_ms: float
    end_s: float
    power_w: float
    power_source: str


class _Frame(NamedTuple):
    """One frame as it went: what :meth:`_LiveRun.row` logs."""

    sensed: _Sensed
    decision: _Decision
    ran: _Ran
    outcome: FrameOutcome
    prepare_ms: float
    stages_ms: tuple[float, float, float, float]
    """sense, decide, apply, record."""


class _LiveRun:
    """The agent's frame, as four stages (each its own method, each timed in the log), and the state
    it carries from one frame to the next:

    * **sense**: the clock, the trace's budgets in force, the competing load of every PE, the backlog;
    * **decide**: the observation, the controller's answer, the fallback for a masked one;
    * **apply**: groups, frequency, PE (pinning) and torch threads;
    * **record**: the frame's outcome (``platform_models.frame``); :meth:`row` makes its log row.

    Before a frame, :meth:`_wait` sleeps, or rehearses it (:meth:`rehearse`).
    """

    def __init__(self, board: Any, controller: Any, trace: Any, platform: Any, runner: _Runner | None,
                 proc_root: str | Path, accuracy: list[float], masked: dict[str, str], n_frames: int,
                 rehearsing: bool = True) -> None:
        from controllers import nearest_allowed
        from platform_models import Contention, ObservationSpec

        self._nearest_allowed = nearest_allowed
        self.board, self.controller, self.trace, self.platform = board, controller, trace, platform
        self.runner, self.accuracy, self.n_frames = runner, accuracy, n_frames
        self.period_s = trace.frame_period_ms / 1000.0
        self.spec = ObservationSpec(platform)
        self._contention = Contention(platform)
        self.configs = tuple(platform.configs())
        self.runnable = [pe for pe in platform.pes if pe.name not in masked]
        # One read-only array handed to the controller every frame (controllers only read it, and
        # know it again without checking it again), and its values as Python bools for the agent.
        self.action_mask = np.array([c.pe not in masked for c in self.configs])
        self.action_mask.flags.writeable = False
        self._allowed = tuple(self.action_mask.tolist())
        # A sampling thread per inference costs ~1 ms of the frame's latency on a loaded machine:
        # start one only for PEs whose power the board can read at all.
        self._power_readable = {pe.name: board.pe_power_w(pe.name) is not None for pe in self.runnable}
        self.freq_settable = {pe.name: board.freq_control.get(pe.name) is not None and not board.monitor_only
                              for pe in self.runnable}
        # Before the first frame: the full network on the first runnable PE at its top frequency.
        self.pe = self.runnable[0].name
        self.groups = self._dnn_groups = platform.groups  # the observation's k; the runner's k
        self.freq_mhz = {pe.name: float(max(pe.freqs_mhz)) for pe in platform.pes}
        self.last: FrameOutcome | None = None
        self._observed_of: tuple = ()  # what the last observation and info were made of (see _observed)
        self._observation: tuple[np.ndarray, dict[str, Any]] | None = None
        self.rehearsing, self.lead_s = rehearsing, _FIRST_LEAD_S
        # A controller that does not derive from controllers.Controller may have no rehearse: the
        # rest of the frame is rehearsed still.
        self._rehearse_decision = getattr(controller, "rehearse", None)
        self._pinned_pe: str | None = None
        self._threads: int | None = None  # torch's thread count as apply last set it
        self._pinned_cpus: frozenset[int] = frozenset()
        self._busy = BusyMeter(proc_root, {pe.name: pe.cpus for pe in platform.pes})
        self.columns = [
            "frame", "time_s", "arrival_s", "latency_budget_ms", "power_budget_w", "energy_budget_mj",
            *(f"load_{name}" for name in self.spec.pe_names), "groups", "pe", "freq_mhz", "cores",
            "backlog", "wake_ms", "prepare_ms", *STAGE_COLUMNS, "agent_ms", "infer_ms", "latency_ms",
            "power_w", "power_source", "energy_mj", "budget_met", "accuracy", "fallback",
        ]

    def close(self) -> None:
        self._busy.close()

    def warm_up(self, n_per_config: int = 3) -> None:
        """Run every k on every PE a few times before the clock starts (first inferences are slow:
        allocation, thread start-up); the process's CPU affinity is given back afterwards, so that
        the load replayer can pin its burners to any CPU."""
        affinity = os.sched_getaffinity(0)
        for pe in self.runnable:
            pin_inference(self.board, pe.name)
            for k in range(1, self.platform.groups + 1):
                self.runner.set_active_groups(k)
                for _ in range(n_per_config):
                    self.runner.infer(pe.name)
        set_all_threads_affinity(affinity)
        self._pinned_pe, self._pinned_cpus = None, frozenset()
        self.runner.set_active_groups(self._dnn_groups)

    def start_load_window(self) -> None:
        """Start measuring the competing load from now."""
        self._busy.start()

    def frame(self, index: int, arrival_s: float, start_s: float) -> _Frame:
        """Wait for frame ``index`` (arriving at ``arrival_s`` on the monotonic clock), run its stages
        and the inference; returns what :meth:`row` logs of it."""
        ready_s = time.monotonic()
        wake_ms = prepare_ms = 0.0
        load = None
        if ready_s < arrival_s:
            prepare_ms, load = self._wait(index, arrival_s, start_s)
            wake_ms = (time.monotonic() - arrival_s) * 1000.0
            ready_s = arrival_s
        clock = time.perf_counter
        t0 = clock()
        sensed = self.sense(index, arrival_s, ready_s, wake_ms, start_s, load)
        t1 = clock()
        decision = self.decide(sensed)
        t2 = clock()
        threads = self.apply(decision, sensed.load)
        t3 = clock()
        ran = self._infer(decision, threads, sensed.load)
        t4 = clock()
        outcome = self.record(sensed, ran)
        t5 = clock()
        return _Frame(sensed, decision, ran, outcome, prepare_ms,
                      ((t1 - t0) * 1000.0, (t2 - t1) * 1000.0, (t3 - t2) * 1000.0, (t5 - t4) * 1000.0))

    def row(self, frame: _Frame) -> dict[str, Any]:
        """A frame's log row (``columns``): figures rounded, an absent one (NaN) an empty cell, as in
        the trace format."""
        sensed, decision, ran, outcome = frame.sensed, frame.decision, frame.ran, frame.outcome
        config, budgets = decision.config, sensed.budgets
        row = {
            "frame": sensed.index, "time_s": round(sensed.trace_time_s, 4),
            "arrival_s": round(sensed.arrival_s, 6),  # the clock the kernel's tick follows: its phase
            "latency_budget_ms": budgets.latency_ms, "power_budget_w": budgets.power_w,
            "energy_budget_mj": budgets.energy_mj,
            **{f"load_{name}": round(v, 3) for name, v in sensed.load.items()},
            "groups": config.groups, "pe": config.pe, "freq_mhz": config.freq_mhz, "cores": ran.threads,
            "backlog": sensed.backlog, "wake_ms": round(sensed.wake_ms, 4),
            "prepare_ms": round(frame.prepare_ms, 4),
            **{column: round(ms, 4) for column, ms in zip(STAGE_COLUMNS, frame.stages_ms, strict=True)},
            "agent_ms": round(sum(frame.stages_ms), 4),
            "infer_ms": round(ran.infer_ms, 4), "latency_ms": round(outcome.latency_ms, 4),
            "power_w": round(outcome.power_w, 4), "power_source": ran.power_source,
            "energy_mj": round(outcome.energy_mj, 4), "budget_met": outcome.budget_met,
            "accuracy": self.accuracy[config.groups - 1], "fallback": decision.fallback,
        }
        return {k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}

    def _wait(self, index: int, arrival_s: float, start_s: float) -> tuple[float, dict[str, float] | None]:
        """Sleep until frame ``index`` arrives at ``arrival_s``. Rehearsing, where the idle time allows,
        wake ``self.lead_s`` early, then: read the competing load (the frame's window ends there:
        ``/proc/stat`` is the costliest read of the frame, a kernel walk of every interrupt counter
        that empties the caches again), :meth:`rehearse` the frame, set the DNN's groups and threads
        for the configuration rehearsed (:meth:`_set_dnn`; apply sets them again if the frame decides
        otherwise), rehearse again until one more rehearsal would pass the arrival, and spin to it.
        Returns the time from waking to the arrival in ms (0 when the agent did not wake early): CPU
        time the agent spends outside the frame; and the load read for the frame (None when not)."""
        idle_s = arrival_s - time.monotonic()
        if not self.rehearsing or idle_s < 2.0 * self.lead_s:
            time.sleep(max(idle_s, 0.0))
            return 0.0, None
        time.sleep(idle_s - self.lead_s)
        woke_s = time.monotonic()
        load = self._busy.read(self._pinned_cpus)
        action = self.rehearse(index, arrival_s, start_s, load)
        if action is not None and self._allowed[action] and self.configs[action].pe == self._pinned_pe:
            self._set_dnn(action, load)  # pinning another PE is apply's
        now_s = time.monotonic()
        first_s = rehearsal_s = now_s - woke_s
        while now_s + rehearsal_s < arrival_s:  # the caches warm best the closer to the arrival
            self.rehearse(index, arrival_s, start_s, load)
            rehearsal_s, now_s = time.monotonic() - now_s, time.monotonic()
        # The first rehearsal finds the caches cold: the next lead covers it and the sleep's lateness.
        self.lead_s = min(_LEAD_MARGIN_S + 1.5 * first_s, self.period_s / 4.0)
        while time.monotonic() < arrival_s:
            pass  # the rest is shorter than a rehearsal: a sleep would end late, and cold
        return (time.monotonic() - woke_s) * 1000.0, load

    def rehearse(self, index: int, arrival_s: float, start_s: float, load: dict[str, float]) -> int | None:
        """Frame ``index``'s stages gone through just before it arrives, on the ``load`` it will read,
        changing nothing the frame decides on: the observation (kept: the frame's, where it is made of
        the same, :meth:`_observed`) and the controller's decision (``Controller.rehearse``). After the
        sleep between frames the same stages cost 5-10 times what they cost back to back (the caches
        emptied); rehearsed, the frame finds them warm. (Not the record stage: it follows the
        inference, which empties them again.) Returns the action rehearsed (None where the controller
        does not rehearse)."""
        sensed = self.sense(index, arrival_s, arrival_s, 0.0, start_s, load)
        if self._rehearse_decision is None:
            return None
        return self._rehearse_decision(*self._observed(sensed))

    # --- the stages ---------------------------------------------------------------------------

    def sense(self, index: int, arrival_s: float, ready_s: float, wake_ms: float, start_s: float,
              load: dict[str, float] | None = None) -> _Sensed:
        """The trace's budgets in force (the trace replayed from ``start_s``, starting over at its
        end), the competing load since the last reading (``load``: read already, just before the
        frame's arrival where the agent rehearsed it), the frames waiting behind this one."""
        now_s = time.monotonic()
        trace_time_s = (max(now_s, arrival_s) - start_s) % self.trace.duration_s
        if load is None:
            load = self._busy.read(self._pinned_cpus)
        return _Sensed(
            index, arrival_s, ready_s, wake_ms, trace_time_s, self.trace.budgets_at(trace_time_s), load,
            frames_waiting(now_s, arrival_s, self.period_s, self.n_frames - 1 - index),
        )

    def decide(self, sensed: _Sensed) -> _Decision:
        """The observation, the controller's answer (told the last frame's outcome and the action
        mask), and the nearest allowed configuration where the answer is masked."""
        action = self.controller.act(*self._observed(sensed))
        fallback = ""
        if not self._allowed[action]:
            wanted = self.configs[action]
            fallback = f"{wanted.groups}:{wanted.pe}:{wanted.freq_mhz:g}"
            action = self._nearest_allowed(self.platform, action, self.action_mask)
        return _Decision(action, self.configs[action], fallback)

    def apply(self, decision: _Decision, load: dict[str, float]) -> int:
        """Set the frequency, the PE, k and the threads (:meth:`_set_dnn`). Returns the threads used."""
        config = decision.config
        if self.freq_settable[config.pe] and self.freq_mhz[config.pe] != config.freq_mhz:
            self.board.set_frequency(config.pe, config.freq_mhz)
        self.freq_mhz[config.pe] = float(config.freq_mhz)
        if self._pinned_pe != config.pe:
            self._pinned_cpus = frozenset(pin_inference(self.board, config.pe))
            self._pinned_pe, self._threads = config.pe, None  # pinning sets torch's threads too
        self.groups, self.pe = config.groups, config.pe
        return self._set_dnn(decision.action, load)

    def record(self, sensed: _Sensed, ran: _Ran) -> FrameOutcome:
        """The frame's outcome, kept for the next frame's observation and controller info (its log
        row, :meth:`row`, is made and written after the frame, untimed, in time the agent would
        sleep)."""
        self.last = frame_outcome(latency_ms=(ran.end_s - sensed.arrival_s) * 1000.0,
                                  queue_ms=(sensed.ready_s - sensed.arrival_s) * 1000.0, run_ms=ran.infer_ms,
                                  energy_mj=ran.power_w * ran.infer_ms, budgets=sensed.budgets)
        return self.last

    # --- helpers ------------------------------------------------------------------------------

    def _observed(self, sensed: _Sensed) -> tuple[np.ndarray, dict[str, Any]]:
        """The observation and the info the controller is given for a frame: the last ones again where
        what they are made of is the same (the frame the agent has just rehearsed: its budgets, load
        and backlog were read before it arrived)."""
        last = self.last
        made_of = (sensed.budgets, sensed.load, sensed.backlog, last, self.groups, self.pe,
                   tuple(self.freq_mhz.values()))
        if made_of == self._observed_of:
            return self._observation
        obs = self.spec.build(budgets=sensed.budgets, last=last.last if last else _NO_LAST, load=sensed.load,
                              freq_mhz=self.freq_mhz, groups=self.groups, pe=self.pe, backlog=sensed.backlog)
        info = last.controller_info() if last else {}
        info["action_mask"] = self.action_mask
        self._observed_of, self._observation = made_of, (obs, info)
        return obs, info

    def _set_dnn(self, action: int, load: dict[str, float]) -> int:
        """The DNN's groups for ``action`` and, on a CPU PE, the threads the platform's contention rule
        gives at ``load`` (at most one per core the load leaves wholly free, the count the table says
        is fastest; ``priority``: its fractional cores, at least one); only what changes is set.
        Returns the threads."""
        config = self.configs[action]
        if config.groups != self._dnn_groups:
            self.runner.set_active_groups(config.groups)
            self._dnn_groups = config.groups
        if config.pe in self.runner.gpu_pes:
            return 1  # one host thread drives the GPU
        threads = max(int(self._contention.rows_read(self._busy_of(load))[0][action]), 1)
        if threads != self._threads:
            import torch

            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            self._threads = threads
        return threads

    def _infer(self, decision: _Decision, threads: int, load: dict[str, float]) -> _Ran:
        """One inference, its power sampled where the board reads it (else the table's at the
        operating point, ``power_source = model``)."""
        pe = decision.config.pe
        sampler = None
        if self._power_readable[pe]:
            sampler = PowerSampler(lambda: self.board.pe_power_w(pe), self.board.sensor_period_s)
            sampler.start()
        begin = time.perf_counter()
        self.runner.infer(pe)
        infer_ms = (time.perf_counter() - begin) * 1000.0
        power_w, _, n_power = sampler.stop() if sampler is not None else (math.nan, math.nan, 0)
        end_s = time.monotonic()
        if n_power:
            return _Ran(threads, infer_ms, end_s, power_w, "sensor")
        power_w = self._contention.rows_read(self._busy_of(load))[1][decision.action]
        return _Ran(threads, infer_ms, end_s, power_w, "model")

    def _busy_of(self, load: dict[str, float]) -> list[float]:
        return [load[name] for name in self.spec.pe_names]
