"""Calibration: a platform's latency rescaled to this board as it runs now, from a few points.

A full ``profile`` sweep takes minutes (hours on a board with many clocks). Between sweeps a board's
speed moves as a whole: on the 2-vCPU development VM the same point ran 0.97-1.8x its table's time
within two hours (other tenants, the host's clock), and a derived table, or one profiled on another
unit of the same board, is off by a factor of its own. Calibration measures a few reference points
per PE with the profiler's own method (:func:`hw_agents.profiler.measure_point`): the PE's top
frequency, 1 core and every core, every k. Per PE and core count, the median over k of measured over
table latency is the *latency factor*; between 1 and every core it is interpolated linearly (how well
a PE's threads scale is a board's own: a derived table assumes it, and a VM's vCPUs share their host
with other tenants). The calibrated platform is the old one with each row's latency mean, std and p95
multiplied by its factor, at every frequency. Where the board's clock is not settable (no cpufreq,
monitor-only), the board runs at whatever it chose and the table's top frequency stands in for it;
the provenance names those PEs. The power of a PE is scaled by the median of measured over table
power where the board read its sensor at every reference point, and kept otherwise. The live
agent's own work per frame (``agent_overhead_ms``) is measured afresh, as ``profile`` measures it.
On a ``fair`` platform, how a core that other work keeps always busy slows the DNN's one thread
is measured too (``contention_allowance_ms`` and ``contention_stretch``, 0 and 2 unless measured):
the live agent's inference per k with every core of the first PE held by the load replayer's burners
at nice 0, fitted to the calibrated table (:func:`hw_agents.agent_timing.set_held_core`); with the
agent's own work, skipped when ``agent_frames`` is 0.

Factors measured at the top frequency correct the board's speed, not the table's shape across
frequencies: where the per-point ratios spread widely (the provenance lists them), run a full
``profile``. A PE the board cannot run the DNN on (a GPU without a torch backend) keeps its rows,
and the provenance says so.

A board's speed also wanders while it runs: on the 2-vCPU AMD EPYC VM the same point ran 0.84-1.10x
its calibrated figure within three minutes, and during the next minutes' runs about a tenth slower on
average than at the moment it was calibrated (docs/sim-to-real.md). ``watch_s`` measures the reference
points again in rounds over that many seconds (at least once) and calibrates to each point's mean over
the rounds.
:func:`first_round` writes what the same calibration would have written at its first moment alone (the
first round's factors): the table a calibration of one moment gives, to compare the watch against.

The provenance keeps its kind (a calibrated derived table stays ``derived``) and gains a
``calibration`` mapping: when, where, how, the factors and the ratios behind them (and, watched, the
factor of each round).
"""

from __future__ import annotations

import copy
import datetime
import math
import platform as host_platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from hw_agents.affinity import inference_state_restored
from hw_agents.agent_timing import (
    AGENT_METHOD,
    DEFAULT_AGENT_FRAMES,
    set_agent_overheads,
    set_held_core,
)
from hw_agents.errors import BoardError
from hw_agents.inference import DEFAULT_GAP_MS, platform_dnn
from hw_agents.machine import machine_of
from hw_agents.profiler import DEFAULT_REPEATS, DEFAULT_WARMUP, ProfilePoint, measure_point, profiled_pes
from hw_agents.provenance import tool
from platform_models.progress import progress_bar

__all__ = ["WATCH_PAUSE_S", "calibrate", "first_round", "reference_points"]

WATCH_PAUSE_S = 5.0
"""Idle seconds before each round of a watched calibration (``watch_s``): the rounds sample the board's
speed through the watch instead of loading it throughout (a round of the host's eight points takes
about 7 s)."""


def reference_points(board: Any, platform: Any) -> list[ProfilePoint]:
    """The points calibration measures: for each PE of ``platform`` that the board runs the DNN on,
    the top frequency that both offer (the table's top where the board's clock is not settable: it
    runs at whatever the board chose, which the provenance says), 1 core and every core the board has,
    every k.

    Raises:
        BoardError: no PE in common, or no frequency the board can set that the table has.
    """
    ours = {pe.name: pe for pe in profiled_pes(board)}
    common = [pe for pe in platform.pes if pe.name in ours]
    if not common:
        raise BoardError(f"platform {platform.name} has no PE that board {board.name} runs the DNN on "
                         f"(platform: {', '.join(pe.name for pe in platform.pes)}; board: "
                         f"{', '.join(ours) or 'none'})", field="pes")
    points = []
    for pe in common:
        table_mhz = {float(f) for f in pe.freqs_mhz}
        if board.freq_control.get(pe.name) is None:
            both_mhz = table_mhz
        else:
            both_mhz = table_mhz & {float(f) for f in ours[pe.name].freqs_mhz}
            if not both_mhz:
                raise BoardError(f"platform {platform.name}: PE {pe.name}'s table has none of the "
                                 f"frequencies this board sets; run a full `dynscale profile` instead",
                                 field="freqs_mhz")
        n_cores = min(pe.n_cores, len(ours[pe.name].cpus))
        for cores in sorted({1, n_cores}):
            points += [ProfilePoint(pe.name, max(both_mhz), cores, k) for k in range(1, platform.groups + 1)]
    return points


def calibrate(
    board: Any,
    platform: Any,
    out_dir: str | Path,
    *,
    checkpoint: str | Path | None = None,
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
    gap_ms: float = DEFAULT_GAP_MS,
    agent_frames: int = DEFAULT_AGENT_FRAMES,
    watch_s: float = 0.0,
    progress: bool = False,
) -> Path:
    """Calibrate ``platform`` to ``board`` as it runs now (the module docstring) and write it.

    Args:
        board: an open board (``hw_agents.open_board``).
        platform: the ``PlatformModel`` to calibrate: shipped, measured or derived.
        out_dir: where ``<platform name>.yaml`` + ``.csv`` go (the same name, so that its traces load).
        checkpoint: the DNN's checkpoint; default fresh weights of the platform's architecture.
        repeats, warmup, gap_ms: per reference point, as ``profile`` measures.
        agent_frames: frames to time the live agent's own work per PE, and (``fair``) its inference on a
            held core per k (0: keep ``agent_overhead_ms`` and the held-core figures).
        watch_s: measure the reference points again, a round every ``WATCH_PAUSE_S`` or so, until this
            many seconds have passed since the first round began (at least once), and calibrate to each
            point's mean over the rounds: the board's speed over that time, not at one moment (0: one
            round).
        progress: a progress bar over the reference points (and the watch) on a terminal's stderr.

    Returns:
        The calibrated descriptor's path. Nothing is written on error.

    Raises:
        BoardError: a platform this board cannot calibrate, or a checkpoint whose DNN is not the
            platform's.
    """
    from platform_models import save_platform
    from platform_models.table import scaled_rows

    if repeats < 1 or warmup < 0:
        raise BoardError(f"field 'repeats': expected repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    if not watch_s >= 0.0 or math.isinf(watch_s):
        raise BoardError(f"field 'watch_s': expected seconds >= 0, got {watch_s}", field="watch_s")
    points = reference_points(board, platform)
    model, _, x = platform_dnn(platform, checkpoint)
    with inference_state_restored(), board.session():
        started = time.monotonic()
        with progress_bar("calibrate", len(points), "point", enabled=progress) as bar:
            measured = {}
            for p in points:
                measured[p] = measure_point(board, model, x, p, repeats=repeats, warmup=warmup, gap_ms=gap_ms)
                bar.update()
        rounds = [{p: m["latency_ms_mean"] for p, m in measured.items()}]
        if watch_s:
            rounds += _watched(board, model, x, points, started + watch_s, repeats=repeats, warmup=warmup,
                               gap_ms=gap_ms, progress=progress)

    # ratios[pe][cores][k]: each point's mean over the rounds over its table latency
    ratios = _ratios(platform, {p: float(np.mean([latencies[p] for latencies in rounds])) for p in points})
    power_ratios: dict[str, list[float]] = {}
    for p, m in measured.items():
        if m["power_measured"]:
            power_ratios.setdefault(p.pe, []).append(m["power_w_mean"] / platform.power_w(*p.key))
    latency_factor = _median_over_k(ratios)
    # A sensor that read at only some points is flaky or shared: its median would be a guess.
    power_factor = {pe: float(np.median(power_ratios[pe])) for pe in ratios
                    if len(power_ratios.get(pe, ())) == len(_points_of(points, pe))}

    rows = scaled_rows(platform.rows, lambda row: _factor_at(latency_factor.get(row.pe), row.cores),
                       lambda row: power_factor.get(row.pe, 1.0))

    descriptor = copy.deepcopy(platform.descriptor)
    descriptor["table"] = f"{platform.name}.csv"
    provenance = descriptor["provenance"]
    if power_factor:
        provenance["power"] = (f"{provenance.get('power', 'as the base platform')}; then scaled for "
                               f"{', '.join(power_factor)} by calibration.power_factor (measured at the "
                               f"reference points)")
    provenance["calibration"] = _calibration_note(board, platform, points, ratios, latency_factor,
                                                  power_factor, repeats, warmup, agent_frames)
    if len(rounds) > 1:
        factors_by_round = [_median_over_k(_ratios(platform, latencies)) for latencies in rounds]
        provenance["calibration"]["watched"] = {
            "rounds": len(rounds), "seconds": round(watch_s, 1),
            "method": (f"every reference point measured in {len(rounds)} rounds over {watch_s:g} s (the "
                       f"first, then each after up to {WATCH_PAUSE_S:g} s idle), each point's latency the "
                       f"mean over the rounds: the latency factor is the board's speed over the watch"),
            "latency_factor_by_round": {pe: {cores: [round(f[pe][cores], 4) for f in factors_by_round]
                                             for cores in by_cores}
                                        for pe, by_cores in latency_factor.items()}}
    if agent_frames:
        set_agent_overheads(board, descriptor, rows, list(latency_factor), checkpoint=checkpoint,
                            frames=agent_frames, gap_ms=gap_ms)
        held = set_held_core(board, descriptor, rows, list(latency_factor), checkpoint=checkpoint,
                             frames=agent_frames, gap_ms=gap_ms)
        if held is not None:
            provenance["calibration"]["contention"] = held
    yaml_path = Path(out_dir) / f"{platform.name}.yaml"
    save_platform(descriptor, rows, yaml_path)
    return yaml_path


def first_round(watched: Any, out_dir: str | Path) -> Path:
    """A watched calibration (``calibrate(..., watch_s=SEC)``) at its first round alone, written to
    ``out_dir`` under the same name: what a calibration of that moment (one round) would have written.

    Each row's latency is the watched one times the first round's latency factor over the watch's, at
    its core count (both interpolated between core counts as calibration does), which is the base
    table times the first round's factor. Everything else (power, the agent's own work, a held core's
    figures) is the watched calibration's, measured once. The provenance's ``calibration`` keeps its
    record, with ``latency_factor`` the first round's, and ``first_round`` saying so (the watched
    platform, its rounds and its factor); the watch's ``watched`` and per-point ``latency_ratios``
    (means over the rounds) are dropped, as they are not this table's.

    Returns:
        The descriptor's path.

    Raises:
        PlatformError: ``watched`` is not a watched calibration (no ``calibration.watched``).
    """
    from platform_models import save_platform
    from platform_models.errors import PlatformError
    from platform_models.table import scaled_rows

    calibration = watched.descriptor["provenance"].get("calibration", {})
    if "watched" not in calibration:
        raise PlatformError(f"platform {watched.name} is not a watched calibration (`dynscale profile "
                            f"--calibrate ... --watch-s SEC`): it has no first round to take",
                            path=watched.path, field="provenance.calibration.watched")
    watch = calibration["watched"]
    mean = calibration["latency_factor"]
    first = {pe: {int(cores): factors[0] for cores, factors in by_cores.items()}
             for pe, by_cores in watch["latency_factor_by_round"].items()}
    rows = scaled_rows(watched.rows, lambda row: (_factor_at(first.get(row.pe), row.cores)
                                                  / _factor_at(mean.get(row.pe), row.cores)))
    descriptor = copy.deepcopy(watched.descriptor)
    descriptor["table"] = f"{watched.name}.csv"
    note = {key: value for key, value in calibration.items() if key not in ("watched", "latency_ratios")}
    note["latency_factor"] = first
    note["first_round"] = {
        "of": str(watched.path), "rounds": watch["rounds"], "seconds": watch["seconds"],
        "watched_latency_factor": mean,
        "method": (f"the first of the {watch['rounds']} rounds of the watched calibration {watched.path} "
                   f"alone: every latency its watched figure x the first round's latency factor / the "
                   f"watch's, per core count (what a calibration of one moment writes); power, the "
                   f"agent's own work and a held core's figures as the watched calibration measured them")}
    descriptor["provenance"]["calibration"] = note
    yaml_path = Path(out_dir) / f"{watched.name}.yaml"
    save_platform(descriptor, rows, yaml_path)
    return yaml_path


def _watched(board: Any, model: Any, x: Any, points: list[ProfilePoint], until: float, *, repeats: int,
             warmup: int, gap_ms: float, progress: bool) -> list[dict[ProfilePoint, float]]:
    """Rounds of every reference point's latency mean, each after up to ``WATCH_PAUSE_S`` idle, while
    the monotonic clock reads before ``until``, and at least one: a watch shorter than the first round
    still measures the points again."""
    rounds: list[dict[ProfilePoint, float]] = []
    begun = time.monotonic()
    total_s = max(1, math.ceil(until - begun))
    with progress_bar("watch", total_s, "s", enabled=progress) as bar:
        shown_s = 0
        while not rounds or time.monotonic() < until:
            time.sleep(min(WATCH_PAUSE_S, max(until - time.monotonic(), 0.0)))
            rounds.append({p: measure_point(board, model, x, p, repeats=repeats, warmup=warmup,
                                            gap_ms=gap_ms)["latency_ms_mean"] for p in points})
            elapsed_s = min(total_s, math.floor(time.monotonic() - begun))  # the clock never goes back
            bar.update(elapsed_s - shown_s)
            shown_s = elapsed_s
        bar.update(total_s - shown_s)  # the watch is over, however soon its last round ended
    return rounds


def _ratios(platform: Any, latencies: dict[ProfilePoint, float]) -> dict[str, dict[int, dict[int, float]]]:
    """ratios[pe][cores][k]: measured over table latency at each reference point."""
    ratios: dict[str, dict[int, dict[int, float]]] = {}
    for p, latency_ms in latencies.items():
        by_k = ratios.setdefault(p.pe, {}).setdefault(p.cores, {})
        by_k[p.groups] = latency_ms / platform.latency_ms(*p.key)
    return ratios


def _median_over_k(ratios: dict[str, dict[int, dict[int, float]]]) -> dict[str, dict[int, float]]:
    """Per PE and core count, the median over k: the latency factor."""
    return {pe: {cores: float(np.median(list(by_k.values()))) for cores, by_k in by_cores.items()}
            for pe, by_cores in ratios.items()}


def _points_of(points: list[ProfilePoint], pe: str) -> list[ProfilePoint]:
    """The reference points of ``pe``."""
    return [p for p in points if p.pe == pe]


def _factor_at(by_cores: dict[int, float] | None, cores: int) -> float:
    """The latency factor at ``cores``: measured at 1 and at every core, linear in between (1 for a PE
    not calibrated)."""
    if by_cores is None:
        return 1.0
    measured = sorted(by_cores)
    return float(np.interp(cores, measured, [by_cores[c] for c in measured]))


def _calibration_note(board: Any, platform: Any, points: list[ProfilePoint], ratios: dict,
                      latency_factor: dict, power_factor: dict, repeats: int, warmup: int,
                      agent_frames: int) -> dict[str, Any]:
    """The provenance's ``calibration`` mapping: what was measured, how, and the factors."""
    unfixed = sorted({p.pe for p in points if board.freq_control.get(p.pe) is None})
    where = "; ".join(f"{pe} at {_points_of(points, pe)[0].freq_mhz:g} MHz on "
                      f"{sorted({p.cores for p in _points_of(points, pe)})} cores" for pe in ratios)
    no_power = [pe for pe in ratios if pe not in power_factor]
    kept = [pe.name for pe in platform.pes if pe.name not in ratios]
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": host_platform.node() or "unknown",
        "machine": machine_of(board),
        "tool": tool("dynscale profile --calibrate"),
        "base": _base_note(platform),
        "method": (f"reference points: {where}, every k; {repeats} timed inferences each after {warmup} "
                   f"warm-up, as `dynscale profile` measures; clock not fixed (the board chose it; compared "
                   f"with the table's top frequency): {', '.join(unfixed) or 'none'}; per PE and core "
                   f"count, the median over k of measured / table latency mean, linear in between core "
                   f"counts (the nearest one beyond them), multiplied into every latency of the PE (mean, "
                   f"std, p95) at every frequency; power likewise where every reference point read the "
                   f"PE's sensor; "
                   + (AGENT_METHOD.format(frames=agent_frames) if agent_frames
                      else "agent_overhead_ms kept")),
        "latency_factor": {pe: {cores: round(f, 4) for cores, f in by_cores.items()}
                           for pe, by_cores in latency_factor.items()},
        "latency_ratios": {pe: {cores: {k: round(r, 3) for k, r in by_k.items()}
                                for cores, by_k in by_cores.items()}
                           for pe, by_cores in ratios.items()},
        "power_factor": {**{pe: round(f, 4) for pe, f in power_factor.items()},
                         **{pe: "kept: no sensor read at every reference point" for pe in no_power}},
        "kept": f"{', '.join(kept)}: not run here, rows kept" if kept else "none",
    }


def _base_note(platform: Any) -> str:
    """What was calibrated: the platform's file, kind and date, and the chain of earlier calibrations."""
    prov = platform.descriptor["provenance"]
    note = f"{platform.path} ({platform.provenance_kind}{', ' + str(prov['date']) if 'date' in prov else ''})"
    if "calibration" in prov:
        earlier = prov["calibration"]
        note += (f", itself calibrated on {earlier['date']} by latency factors {earlier['latency_factor']} "
                 f"from {earlier['base']}")
    return note
