"""The live agent timed on a board, for the simulator: the median of its own work per frame
(``wake_ms + agent_ms`` of :mod:`hw_agents.agent`'s log) on each PE becomes the PE's
``agent_overhead_ms``, which the simulator charges before every inference. Left out, the simulator
under-predicts every live frame by that much (about 1 ms, 13 % of a frame, on the host VM before
the agent's stages were made lean).

On a ``fair`` platform the agent's inference on a core other work keeps busy is timed the same way
(:func:`set_held_core`): a thread that wakes for each frame is not held to an even split at once,
and how long it runs ahead of the burners is the board's (its kernel's scheduler), so the
``contention_allowance_ms`` and ``contention_stretch`` the simulator prices a held core with are
fitted to what the live agent gets there. A frame there either runs ahead of the burners or is
split with them from the start, by the phase of its wake-up in the kernel's scheduler tick
(:func:`measure_split_share`, over the tick's phases: the ``contention_split_share`` the simulator
draws each frame's outcome with; :func:`kernel_tick_ms`, the ``scheduler_tick_ms`` it follows the
phase with)."""

from __future__ import annotations

import contextlib
import csv
import gzip
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hw_agents.agent import LOG_NAME, deploy
from hw_agents.inference import DEFAULT_GAP_MS

__all__ = ["AGENT_METHOD", "DEFAULT_AGENT_FRAMES", "HELD_CORE_METHOD", "MIN_WINDOW_TOLD", "SPLIT_PERIODS_MS",
           "TURN_KEYS", "SplitShare", "kernel_tick_ms", "measure_agent_ms", "measure_held_frames",
           "measure_split_share", "set_agent_overheads", "set_held_core"]

DEFAULT_AGENT_FRAMES = 100
AGENT_METHOD = ("agent_overhead_ms: median over {frames} frames of the live agent (lookup controller, no "
                "competing load, each frame rehearsed before it arrives as deploy does by default) of its "
                "own time per frame before the inference, scaled to the PE's top frequency")
HELD_CORE_METHOD = ("contention_allowance_ms and contention_stretch: per k, the mean inference time of "
                    "{frames} frames of the live agent (static:K at the top frequency) with every core of "
                    "{pe} held by the load replayer's burners at nice 0, fitted to the calibrated table's "
                    "1-core latency by platform_models.contention.fit_held_core (the first allowance ms "
                    "at full speed, the rest stretch times slower, or split from the start with the "
                    "split share at that period, or each k's own, split_share_of, where the window below "
                    "is known); contention_split_share: per frame period, the share of "
                    "{frames} such frames of k = 1 over {threshold:g}x the table's latency, the periods "
                    "taking turns in {rounds} rounds; contention_stretch: the median of those split frames "
                    "over the table's latency (fitted with the allowance where fewer than {min_split} "
                    "split); scheduler_tick_ms: 1000 / CONFIG_HZ of the running kernel's "
                    "configuration, where readable; contention_split_window_end_ms: the end of the window of "
                    "arrival phases in the tick (CLOCK_MONOTONIC) of the split k = 1 frames, written where "
                    "it tells {min_told:g} of those frames' outcomes right, and contention_split_grace_ms "
                    "with it: the table's k = 1 latency less the window's width; with the window, "
                    "contention_turn_slice_ms, contention_turn_extra_ms and contention_held_run_ratio: "
                    "platform_models.turns.fit_turns to every frame above, k = 1's split measurement and "
                    "each k's held frames, by the phase of its arrival in the tick")
TURN_KEYS = ("contention_turn_slice_ms", "contention_turn_extra_ms", "contention_held_run_ratio")
"""The descriptor's keys for a held core's turns (``platform_models.turns``), which calibration fits
where it measured the tick's window."""
SPLIT_PERIODS_MS = (21.618, 51.618, 101.618)
"""Frame periods the held core's split share is measured at (the simulator interpolates between
them; the host traces' frames come every 20 or 50 ms): whether a frame is split depends on the phase
of its wake-up within the kernel's scheduler tick (4 ms at HZ 250). A period of whole ticks wakes
every frame at one phase, so it would measure one phase's outcome (at 20 ms on the EPYC VM, 1.00 of
the frames split in one run, 0.04 in the next); 1.618 ms more, irrational against any tick,
spreads the frames over the tick's phases and measures their average."""
SPLIT_ROUNDS = 3
"""Rounds over ``SPLIT_PERIODS_MS`` that :func:`measure_split_share` takes."""
MIN_SPLIT_FRAMES = 5
"""Split frames :func:`measure_split_share` needs to report their stretch."""
MIN_WINDOW_TOLD = 0.8
"""The share of the split measurement's frames whose outcome the tick's split window must tell right
for calibration to write the window: well over what "none split" tells (0.54-0.7 on the EPYC VM,
whose windows told 0.84-0.97), and over what a kernel whose tick does not follow the monotonic clock
would tell."""
SPLIT_THRESHOLD = 1.5
"""A frame over this many times its 1-core latency alone counts as split: the two outcomes lie near
1x and near the held core's stretch (2-2.4x on the EPYC VM), never between."""


@contextlib.contextmanager
def _aside(descriptor: dict[str, Any], rows: list[dict[str, Any]]) -> Iterator[Any]:
    """The platform of ``descriptor`` + ``rows``, written aside for the time of the block: the agent
    needs the platform it runs against."""
    from platform_models import load_platform, save_platform

    with tempfile.TemporaryDirectory() as tmp:
        aside = Path(tmp) / f"{descriptor['name']}.yaml"
        save_platform({**descriptor, "table": aside.with_suffix(".csv").name}, rows, aside)
        yield load_platform(aside)


def set_agent_overheads(board: Any, descriptor: dict[str, Any], rows: list[dict[str, Any]], pes: list[str], *,
                        checkpoint: str | Path | None = None, frames: int = DEFAULT_AGENT_FRAMES,
                        gap_ms: float = DEFAULT_GAP_MS) -> None:
    """Time the live agent on each of ``pes`` (:func:`measure_agent_ms`) against the platform
    ``descriptor`` + ``rows`` and write the medians into the descriptor's ``agent_overhead_ms``."""
    with _aside(descriptor, rows) as platform:
        for pe in descriptor["pes"]:
            if pe["name"] in pes:
                agent_ms = measure_agent_ms(board, platform, pe["name"], checkpoint=checkpoint, frames=frames,
                                            gap_ms=gap_ms)
                pe["agent_overhead_ms"] = round(agent_ms, 4)


def set_held_core(board: Any, descriptor: dict[str, Any], rows: list[dict[str, Any]], pes: list[str], *,
                  checkpoint: str | Path | None = None, frames: int = DEFAULT_AGENT_FRAMES,
                  gap_ms: float = DEFAULT_GAP_MS) -> str | None:
    """On a ``fair`` platform, time the live agent's inference with every core held
    (:func:`measure_held_frames`), each k, on the first of ``pes`` that is a CPU PE this process may run on,
    and write the descriptor's ``contention_split_share`` (:func:`measure_split_share`),
    ``scheduler_tick_ms`` (:func:`kernel_tick_ms`, where readable), and ``contention_allowance_ms``
    and ``contention_stretch`` fitted to it against the table's 1-core latency at the top frequency.
    Returns the provenance note (None, and nothing written, on a ``priority`` platform or where no
    such PE is this machine's: a fake sysfs tree)."""
    from platform_models.contention import fit_held_core, split_share_at, split_share_of

    if descriptor.get("contention", "priority") != "fair":
        return None
    ours = os.sched_getaffinity(0)
    runnable = [pe["name"] for pe in descriptor["pes"] if pe["name"] in pes and pe["kind"] == "cpu"
                and set(board.pe(pe["name"]).cpus) <= ours]
    if not runnable:
        return None
    pe = runnable[0]
    with _aside(descriptor, rows) as platform:
        top_mhz = max(platform.pe(pe).freqs_mhz)
        tick_ms = kernel_tick_ms()
        measured = measure_split_share(board, platform, pe, checkpoint=checkpoint, frames=frames,
                                       tick_ms=tick_ms)
        held_frames = {k: measure_held_frames(board, platform, pe, k, checkpoint=checkpoint, frames=frames,
                                              gap_ms=gap_ms)
                       for k in range(1, platform.groups + 1)}
        alone_ms = [platform.latency_ms(pe, top_mhz, 1, k) for k in held_frames]
    figures = {k: (round(t, 3), round(float(np.mean(infer_ms)), 3))
               for (k, (_, infer_ms)), t in zip(held_frames.items(), alone_ms, strict=True)}
    descriptor["contention_split_share"] = measured.by_period
    if tick_ms is not None:
        descriptor["scheduler_tick_ms"] = tick_ms
    for key in ("contention_split_window_end_ms", "contention_split_grace_ms", *TURN_KEYS):
        descriptor.pop(key, None)  # a stale window would replay wrong
    turns_note = "turns not measured (no window)"
    if measured.window_end_ms is not None:
        descriptor["contention_split_window_end_ms"] = measured.window_end_ms
        descriptor["contention_split_grace_ms"] = measured.grace_ms
        turns_note = _set_turns(descriptor, measured, tick_ms,
                                list(zip(alone_ms, held_frames.values(), strict=True)))
    held_period_ms = _held_period_ms(platform, pe, gap_ms)
    held_ms = [held for _, held in figures.values()]
    # each k split at its own share where the window is known (as the simulator prices it), else the
    # period's; the stretch the split frames' own (fitting it to the per-k means instead gave 1.32
    # against their 1.89 in a calibration on a busy EPYC VM, and the simulator met every split frame)
    held_split_share = (split_share_at(sorted(measured.by_period.items()), held_period_ms)
                        if measured.window_end_ms is None else
                        split_share_of(np.array(alone_ms), measured.grace_ms, tick_ms))
    allowance_ms, stretch = fit_held_core(alone_ms, held_ms, split_share=held_split_share,
                                          stretch=measured.stretch)
    descriptor["contention_allowance_ms"] = round(allowance_ms, 3)
    descriptor["contention_stretch"] = round(stretch, 3)
    method = HELD_CORE_METHOD.format(frames=frames, pe=pe, threshold=SPLIT_THRESHOLD, rounds=SPLIT_ROUNDS,
                                     min_split=MIN_SPLIT_FRAMES, min_told=MIN_WINDOW_TOLD)
    return (f"allowance {descriptor['contention_allowance_ms']} ms, stretch "
            f"{descriptor['contention_stretch']}, split share by frame period {measured.by_period}, split "
            f"window ending {measured.window_end_ms} ms into the tick (telling {measured.window_told} of "
            f"the frames right), grace {measured.grace_ms} ms, {turns_note}: {method}; per k at "
            f"{held_period_ms:g} ms frames (table ms, held ms): {figures}")


def _set_turns(descriptor: dict[str, Any], measured: SplitShare, tick_ms: float,
               held: list[tuple[float, tuple[list[float], list[float]]]]) -> str:
    """Fit the held core's turns (``platform_models.turns.fit_turns``) to every frame timed on it: the
    split measurement's k = 1 frames and ``held``'s (per k, the table's latency alone and the frames'
    arrivals and inferences); each frame's work the table's latency times the run ratio of the
    frames no tick took, its first tick where its arrival's phase puts it. Writes the descriptor's
    ``TURN_KEYS`` and returns the provenance's words for them."""
    from platform_models.turns import fit_turns

    run_ratio = measured.run_ratio
    assert run_ratio is not None and measured.window_end_ms is not None  # (the window needs both)
    every = [(held[0][0], measured.frames), *held]  # the split measurement's frames are k = 1's
    runs_ms = np.concatenate([np.full(len(arrivals), alone_ms * run_ratio)
                              for alone_ms, (arrivals, _) in every])
    arrivals_ms = np.concatenate([arrivals for _, (arrivals, _) in every])
    infer_ms = np.concatenate([infers for _, (_, infers) in every])
    first_tick_ms = (tick_ms - arrivals_ms) % tick_ms
    slice_ms, extra_ms, error = fit_turns(tick_ms, tick_ms - measured.window_end_ms, runs_ms, first_tick_ms,
                                          infer_ms)
    descriptor.update(zip(TURN_KEYS, (slice_ms, extra_ms, run_ratio), strict=True))
    return (f"turns after {slice_ms} ms with {extra_ms} ms extra at the first, run ratio {run_ratio} "
            f"(telling {len(infer_ms)} frames within a median {error:.1%})")


def kernel_tick_ms(config_paths: tuple[Path, ...] | None = None) -> float | None:
    """The running kernel's scheduler tick in ms, ``1000 / CONFIG_HZ`` from its build configuration
    (``/proc/config.gz``, else ``/boot/config-<release>``); None where neither is readable."""
    paths = config_paths or (Path("/proc/config.gz"), Path("/boot") / f"config-{os.uname().release}")
    for path in paths:
        try:
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt") as f:
                found = re.search(r"^CONFIG_HZ=(\d+)$", f.read(), re.MULTILINE)
        except OSError:
            continue
        if found and int(found.group(1)) > 0:
            return 1000.0 / int(found.group(1))
    return None


def measure_agent_ms(board: Any, platform: Any, pe: str, *, checkpoint: str | Path | None = None,
                     frames: int = DEFAULT_AGENT_FRAMES, gap_ms: float = DEFAULT_GAP_MS) -> float:
    """The live agent's own work per frame on ``pe`` at its top frequency, in ms: the median
    ``wake_ms + agent_ms`` of ``frames`` frames deployed on ``pe`` alone with the lookup controller, no
    competing load and no budgets, at a frame period leaving ``gap_ms`` idle after the slowest
    inference. A frame decided at a lower frequency (the lookup may lower the clock) is divided by
    ``PE.agent_slowdown`` there."""
    rows = _deployed(board, platform, pe, "lookup", 0.0, checkpoint=checkpoint, frames=frames,
                     period_ms=_period_ms(platform, pe, gap_ms))
    top_mhz = max(platform.pe(pe).freqs_mhz)
    freq_in_force = [top_mhz, *(float(r["freq_mhz"]) for r in rows[:-1])]  # the decision precedes the apply
    slowdown = platform.pe(pe).agent_slowdown
    # Before a frame's inference: the wake-up for it and the agent's stages (the record stage of the
    # frame before stands for this frame's, which comes after its inference).
    return float(np.median([(float(r["wake_ms"]) + float(r["agent_ms"])) / slowdown(f)
                            for r, f in zip(rows, freq_in_force, strict=True)]))


def measure_held_frames(board: Any, platform: Any, pe: str, groups: int, *,
                        checkpoint: str | Path | None = None, frames: int = DEFAULT_AGENT_FRAMES,
                        gap_ms: float = DEFAULT_GAP_MS) -> tuple[list[float], list[float]]:
    """The arrivals (ms, monotonic clock) and inference times (ms) of ``frames`` frames of the live
    agent running k = ``groups`` on ``pe`` at its top frequency while the load replayer's burners
    (nice 0, as ``deploy`` replays a trace) hold every core of ``pe``: the agent then runs one thread,
    sharing a held core. Near the allowance a frame either runs ahead of the burners or is split (2.6
    or 5.8 ms for k = 2 on the EPYC VM), by its phase in the tick; the frames come at a period that
    is no whole number of ticks, so they walk over the phases."""
    rows = _held(board, platform, pe, groups, checkpoint=checkpoint, frames=frames,
                 period_ms=_held_period_ms(platform, pe, gap_ms))
    return [float(r["arrival_s"]) * 1000.0 for r in rows], [float(r["infer_ms"]) for r in rows]


class SplitShare(NamedTuple):
    """What :func:`measure_split_share` measured."""

    by_period: dict[float, float]
    """Frame period ms -> share of the frames split."""
    stretch: float | None
    """The median of the split frames' inference over the table's (None: fewer than
    ``MIN_SPLIT_FRAMES`` split)."""
    window_end_ms: float | None
    """Where in the tick the split frames' arrival phases end (None: the tick not known, no frame or
    every frame split, or the window told fewer than ``MIN_WINDOW_TOLD`` of the frames right)."""
    window_told: float | None
    """The share of the frames the window tells right (None where the tick is not known)."""
    grace_ms: float | None
    """With the window: how much of the table's 1-core latency the frames ran before a tick could
    split them, the table's latency less the window's width (the frames' own time ahead less the
    tick's part past the window's end). The table, timed by the profiler without the agent's
    rehearsal, read 2.1-2.5 ms for k = 1 on the EPYC VM where the live frames ran ahead in 1.8-1.9."""
    run_ratio: float | None
    """The median of the frames that were not split, their inference over the table's (None: every
    frame split): how fast the held core runs a frame no tick takes."""
    frames: tuple[list[float], list[float]]
    """Every frame's arrival (ms, monotonic clock) and inference (ms), in the order they ran."""


def measure_split_share(board: Any, platform: Any, pe: str, *, checkpoint: str | Path | None = None,
                        frames: int = DEFAULT_AGENT_FRAMES, tick_ms: float | None = None) -> SplitShare:
    """Per frame period of ``SPLIT_PERIODS_MS``: the share of ``frames`` frames of the live agent
    running k = 1 on ``pe`` at its top frequency, with every core of ``pe`` held as in
    :func:`measure_held_frames`, whose inference took over ``SPLIT_THRESHOLD`` times the table's 1-core
    latency: split with the burners from the start rather than run ahead of them. The periods take
    turns in ``SPLIT_ROUNDS`` rounds, so that the machine's state of one moment does not make one
    period's figure. Also the median over the split frames of their inference over the
    table's: the held core's stretch from the start; and, with the kernel's tick (``tick_ms``), where
    in it the split frames' arrival phases end (``platform_models.contention.split_window_end``: the
    kernel aligns its tick to the monotonic clock the log's ``arrival_s`` reads)."""
    from platform_models.contention import split_window_end

    alone_ms = platform.latency_ms(pe, max(platform.pe(pe).freqs_mhz), 1, 1)
    per_round = max(math.ceil(frames / SPLIT_ROUNDS), 1)
    # every frame in the order they ran: its period, its arrival (ms), its inference over the table's
    periods_ms, arrivals_ms, infer_ms = [], [], []
    for _ in range(SPLIT_ROUNDS):
        for period_ms in SPLIT_PERIODS_MS:
            rows = _held(board, platform, pe, 1, checkpoint=checkpoint, frames=per_round + 1,
                         period_ms=period_ms)
            # a deploy's first frame may run cold (1.8x its table figure in one live log on the EPYC
            # VM), split or not: left out
            periods_ms += [period_ms] * len(rows[1:])
            arrivals_ms += [float(r["arrival_s"]) * 1000.0 for r in rows[1:]]
            infer_ms += [float(r["infer_ms"]) for r in rows[1:]]
    ratio, of_period = np.array(infer_ms) / alone_ms, np.array(periods_ms)
    split = ratio > SPLIT_THRESHOLD
    shares = {period_ms: round(float(np.mean(split[of_period == period_ms])), 3)
              for period_ms in SPLIT_PERIODS_MS}
    end_ms = told = None
    run_ratio = float(np.median(ratio[~split])) if not split.all() else None
    if tick_ms is not None and run_ratio is not None and split.any():
        # the frames' own time ahead (the machine's now; the table's may have drifted) places the
        # window's start, where a tick first falls before such a frame is done
        end_ms, told = split_window_end(arrivals_ms, split, tick_ms, alone_ms * run_ratio)
    window = told is not None and told >= MIN_WINDOW_TOLD
    stretch = round(float(np.median(ratio[split])), 3) if split.sum() >= MIN_SPLIT_FRAMES else None
    return SplitShare(shares, stretch,
                      round(end_ms, 3) if window else None, None if told is None else round(told, 3),
                      round(alone_ms * (1.0 - run_ratio) + tick_ms - end_ms, 3) if window else None,
                      None if run_ratio is None else round(run_ratio, 4), (arrivals_ms, infer_ms))


def _held(board: Any, platform: Any, pe: str, groups: int, *, checkpoint: str | Path | None, frames: int,
          period_ms: float) -> list[dict[str, str]]:
    """:func:`_deployed` with ``static:groups`` at the top frequency and every core of ``pe`` held."""
    spec = f"static:{groups}:{pe}:{max(platform.pe(pe).freqs_mhz):g}"
    return _deployed(board, platform, pe, spec, float(platform.pe(pe).n_cores), checkpoint=checkpoint,
                     frames=frames, period_ms=period_ms)


def _period_ms(platform: Any, pe: str, gap_ms: float) -> float:
    """A frame period leaving ``gap_ms`` idle after the PE's slowest inference at its top frequency."""
    top_mhz = max(platform.pe(pe).freqs_mhz)
    return gap_ms + max(r.latency_ms_mean for r in platform.rows if r.pe == pe and r.freq_mhz == top_mhz)


def _held_period_ms(platform: Any, pe: str, gap_ms: float) -> float:
    """The frame period of :func:`measure_held_frames`: :func:`_period_ms` in whole ms + 1.618, as
    ``SPLIT_PERIODS_MS``, never a whole number of ticks, so that the frames walk over the tick."""
    return math.floor(_period_ms(platform, pe, gap_ms)) + 1.618


def _deployed(board: Any, platform: Any, pe: str, spec: str, busy_cores: float, *,
              checkpoint: str | Path | None, frames: int, period_ms: float) -> list[dict[str, str]]:
    """The log rows of ``frames`` frames of the live agent with controller ``spec`` on ``pe`` alone, its
    cores kept ``busy_cores`` busy by the load replayer (0: no load replayed), no budgets, a frame
    every ``period_ms``."""
    from controllers import make_controller
    from traces import Trace

    trace = Trace(platform=platform.name, kind="steady", split="eval", frame_period_ms=period_ms,
                  duration_s=frames * period_ms / 1000.0, time_s=[0.0],
                  load={p.name: [busy_cores if p.name == pe else 0.0] for p in platform.pes},
                  description=f"the profiler's timing of the live agent on {pe}")
    proc = Path(board.sysfs_root) / "proc"
    with tempfile.TemporaryDirectory() as tmp:
        deploy(board, make_controller(spec, platform), trace, tmp, duration_s=trace.duration_s,
               platform=platform, checkpoint=checkpoint, replay_load=busy_cores > 0.0, pes=[pe],
               proc_root=proc if (proc / "stat").exists() else "/proc")
        with (Path(tmp) / LOG_NAME).open(newline="") as f:
            return list(csv.DictReader(f))
