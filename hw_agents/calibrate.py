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
multiplied by its factor, at every frequency. The power of a PE is scaled by the median of measured
over table power where the board reads a sensor for it, and kept where it reads none. The live
agent's own work per frame (``agent_overhead_ms``) is measured afresh, as ``profile`` measures it.

Factors measured at the top frequency correct the board's speed, not the table's shape across
frequencies: where the per-point ratios spread widely (the provenance lists them), run a full
``profile``. A PE the board cannot run the DNN on (a GPU without a torch backend) keeps its rows,
and the provenance says so.

The provenance keeps its kind (a calibrated derived table stays ``derived``) and gains a
``calibration`` mapping: when, where, how, the factors and the ratios behind them.
"""

from __future__ import annotations

import copy
import datetime
import platform as host_platform
from pathlib import Path
from typing import Any

import numpy as np

from hw_agents.errors import BoardError
from hw_agents.profiler import (
    AGENT_METHOD,
    DEFAULT_AGENT_FRAMES,
    DEFAULT_GAP_MS,
    DEFAULT_REPEATS,
    DEFAULT_WARMUP,
    ProfilePoint,
    inference_state_restored,
    load_dnn,
    measure_point,
    profiled_pes,
    set_agent_overheads,
)

__all__ = ["calibrate", "reference_points"]


def reference_points(board: Any, platform: Any) -> list[ProfilePoint]:
    """The points calibration measures: for each PE of ``platform`` that the board runs the DNN on,
    the top frequency that both offer (the board's one clock where it is not settable), 1 core and
    every core, every k.

    Raises:
        BoardError: no PE in common, or a point the platform's table does not have.
    """
    ours = {pe.name: pe for pe in profiled_pes(board)}
    common = [pe for pe in platform.pes if pe.name in ours]
    if not common:
        raise BoardError(f"platform {platform.name} has no PE that board {board.name} runs the DNN on "
                         f"(platform: {', '.join(pe.name for pe in platform.pes)}; board: "
                         f"{', '.join(ours) or 'none'})", field="pes")
    points = []
    for pe in common:
        board_mhz = {float(f) for f in ours[pe.name].freqs_mhz}
        if board.freq_control.get(pe.name) is None:  # the one clock the board reports
            board_mhz = {max(board_mhz)}
        both_mhz = board_mhz & {float(f) for f in pe.freqs_mhz}
        if not both_mhz:
            raise BoardError(f"platform {platform.name}: PE {pe.name}'s table has none of the frequencies it "
                             f"runs at here ({', '.join(f'{f:g}' for f in sorted(board_mhz))} MHz)",
                             field="freqs_mhz")
        freq_mhz = max(both_mhz)
        n_cores = min(pe.n_cores, len(ours[pe.name].cpus))
        for cores in sorted({1, n_cores}):
            points += [ProfilePoint(pe.name, float(freq_mhz), cores, k)
                       for k in range(1, platform.groups + 1)]
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
) -> Path:
    """Measure :func:`reference_points` on ``board``, rescale ``platform`` (a ``PlatformModel``) by the
    factors of the module docstring and write it as ``out_dir/<name>.yaml`` + ``.csv`` (same name, so
    that its traces still load); returns the descriptor's path. Nothing is written on error.
    """
    import torch

    from dynscale import __version__
    from platform_models import save_platform
    from platform_models.table import COLUMNS

    if repeats < 1 or warmup < 0:
        raise BoardError(f"field 'repeats': expected repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    points = reference_points(board, platform)
    dnn_section = platform.descriptor["dnn"]
    model, section = load_dnn(checkpoint, dnn_section["arch"], accuracy_from=platform.path)
    shape = list(dnn_section["input_shape"])
    if section["groups"] != platform.groups or list(section["input_shape"]) != shape:
        raise BoardError(f"checkpoint {checkpoint}: G={section['groups']}, input {section['input_shape']}; "
                         f"platform {platform.name} was profiled with G={platform.groups}, input "
                         f"{shape}", field="checkpoint")
    x = torch.randn(1, *section["input_shape"], generator=torch.Generator().manual_seed(0))
    with inference_state_restored(), board.session():
        measured = {p: measure_point(board, model, x, p, repeats=repeats, warmup=warmup, gap_ms=gap_ms)
                    for p in points}

    # ratios[pe][cores][k]: measured over table latency at the PE's reference frequency
    ratios: dict[str, dict[int, dict[int, float]]] = {}
    power_ratio: dict[str, list[float]] = {}
    for p, m in measured.items():
        ratio = m["latency_ms_mean"] / platform.latency_ms(*p.key)
        ratios.setdefault(p.pe, {}).setdefault(p.cores, {})[p.groups] = ratio
        if m["power_measured"]:
            power_ratio.setdefault(p.pe, []).append(m["power_w_mean"] / platform.power_w(*p.key))
    latency_factor = {pe: {cores: float(np.median(list(by_k.values()))) for cores, by_k in by_cores.items()}
                      for pe, by_cores in ratios.items()}
    # Power only where every reference point of the PE read the sensor.
    power_factor = {pe: float(np.median(r)) for pe, r in power_ratio.items()
                    if len(r) == sum(len(by_k) for by_k in ratios[pe].values())}

    rows = []
    for row in platform.rows:
        values = {column: getattr(row, column) for column in COLUMNS}
        lf, pf = _factor_at(latency_factor.get(row.pe), row.cores), power_factor.get(row.pe, 1.0)
        for column in ("latency_ms_mean", "latency_ms_std", "latency_ms_p95"):
            values[column] = round(values[column] * lf, 4)
        for column in ("power_w_mean", "power_w_std"):
            values[column] = round(values[column] * pf, 4)
        rows.append(values)

    descriptor = copy.deepcopy(platform.descriptor)
    descriptor["table"] = f"{platform.name}.csv"
    kept = [pe.name for pe in platform.pes if pe.name not in latency_factor]
    descriptor["provenance"]["calibration"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": host_platform.node() or "unknown",
        "tool": f"dynscale {__version__} (dynscale profile --calibrate)",
        "base": _base_note(platform),
        "method": (f"per PE and cores (1 and all; linear in between), the median over k of measured / "
                   f"table latency mean at the PE's top frequency, {repeats} timed inferences each after "
                   f"{warmup} warm-up, as `dynscale profile` measures; every latency of the PE (mean, std, "
                   f"p95) multiplied by it at every frequency; power likewise where the board reads the "
                   f"PE's sensor; "
                   + (AGENT_METHOD.format(frames=agent_frames) if agent_frames
                      else "agent_overhead_ms kept")),
        "latency_factor": {pe: {cores: round(f, 4) for cores, f in by_cores.items()}
                           for pe, by_cores in latency_factor.items()},
        "latency_ratios": {pe: {cores: {k: round(r, 3) for k, r in by_k.items()}
                                for cores, by_k in by_cores.items()}
                           for pe, by_cores in ratios.items()},
        "power_factor": ({pe: round(f, 4) for pe, f in power_factor.items()} if power_factor
                         else "none: no reference point read a power sensor; power kept"),
        "kept": f"{', '.join(kept)}: not run here, rows kept" if kept else "none",
    }
    if agent_frames:
        set_agent_overheads(board, descriptor, rows, list(latency_factor), checkpoint=checkpoint,
                            frames=agent_frames, gap_ms=gap_ms)
    out = Path(out_dir)
    yaml_path = out / f"{platform.name}.yaml"
    save_platform(descriptor, rows, yaml_path)
    return yaml_path


def _factor_at(by_cores: dict[int, float] | None, cores: int) -> float:
    """The latency factor at ``cores``: measured at 1 and at every core, linear in between (1 for a PE
    not calibrated)."""
    if by_cores is None:
        return 1.0
    measured = sorted(by_cores)
    return float(np.interp(cores, measured, [by_cores[c] for c in measured]))


def _base_note(platform: Any) -> str:
    """What was calibrated: the platform's file, kind and date, and any earlier calibration of it."""
    prov = platform.descriptor["provenance"]
    note = f"{platform.path} ({platform.provenance_kind}{', ' + str(prov['date']) if 'date' in prov else ''})"
    if "calibration" in prov:
        earlier = prov["calibration"]
        note += f", itself calibrated on {earlier['date']} by latency factors {earlier['latency_factor']}"
    return note
