"""The live agent timed on a board, for the simulator: the median of its own work per frame
(``wake_ms + agent_ms`` of :mod:`hw_agents.agent`'s log) on each PE becomes the PE's
``agent_overhead_ms``, which the simulator charges before every inference. Left out, the simulator
under-predicts every live frame by that much (about 1 ms, 13 % of a frame, on the host VM before
the agent's stages were made lean)."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hw_agents.agent import LOG_NAME, deploy
from hw_agents.inference import DEFAULT_GAP_MS

__all__ = ["AGENT_METHOD", "DEFAULT_AGENT_FRAMES", "measure_agent_ms", "set_agent_overheads"]

DEFAULT_AGENT_FRAMES = 100
AGENT_METHOD = ("agent_overhead_ms: median over {frames} frames of the live agent (lookup controller, no "
                "competing load) of its own time per frame before the inference, scaled to the PE's top "
                "frequency")


def set_agent_overheads(board: Any, descriptor: dict[str, Any], rows: list[dict[str, Any]], pes: list[str], *,
                        checkpoint: str | Path | None = None, frames: int = DEFAULT_AGENT_FRAMES,
                        gap_ms: float = DEFAULT_GAP_MS) -> None:
    """Time the live agent on each of ``pes`` (:func:`measure_agent_ms`) against the platform
    ``descriptor`` + ``rows`` and write the medians into the descriptor's ``agent_overhead_ms``."""
    from platform_models import load_platform, save_platform

    # The agent needs the platform it runs against: this one, written aside first.
    with tempfile.TemporaryDirectory() as tmp:
        aside = Path(tmp) / f"{descriptor['name']}.yaml"
        save_platform({**descriptor, "table": aside.with_suffix(".csv").name}, rows, aside)
        platform = load_platform(aside)
        for pe in descriptor["pes"]:
            if pe["name"] in pes:
                agent_ms = measure_agent_ms(board, platform, pe["name"], checkpoint=checkpoint, frames=frames,
                                            gap_ms=gap_ms)
                pe["agent_overhead_ms"] = round(agent_ms, 4)


def measure_agent_ms(board: Any, platform: Any, pe: str, *, checkpoint: str | Path | None = None,
                     frames: int = DEFAULT_AGENT_FRAMES, gap_ms: float = DEFAULT_GAP_MS) -> float:
    """The live agent's own work per frame on ``pe`` at its top frequency, in ms: the median
    ``wake_ms + agent_ms`` of ``frames`` frames deployed on ``pe`` alone with the lookup controller, no
    competing load and no budgets, at a frame period leaving ``gap_ms`` idle after the slowest
    inference. A frame decided at a lower frequency (the lookup may lower the clock) is divided by
    ``PE.agent_slowdown`` there."""
    from controllers import make_controller
    from traces import Trace

    top_mhz = max(platform.pe(pe).freqs_mhz)
    slowest_ms = max(r.latency_ms_mean for r in platform.rows if r.pe == pe and r.freq_mhz == top_mhz)
    period_ms = gap_ms + slowest_ms
    trace = Trace(platform=platform.name, kind="steady", split="eval", frame_period_ms=period_ms,
                  duration_s=frames * period_ms / 1000.0, time_s=[0.0],
                  load={p.name: [0.0] for p in platform.pes},
                  description=f"the profiler's timing of the live agent on {pe}")
    proc = Path(board.sysfs_root) / "proc"
    with tempfile.TemporaryDirectory() as tmp:
        deploy(board, make_controller("lookup", platform), trace, tmp, duration_s=trace.duration_s,
               platform=platform, checkpoint=checkpoint, replay_load=False, pes=[pe],
               proc_root=proc if (proc / "stat").exists() else "/proc")
        with (Path(tmp) / LOG_NAME).open(newline="") as f:
            rows = list(csv.DictReader(f))
    freq_in_force = [top_mhz, *(float(r["freq_mhz"]) for r in rows[:-1])]  # the decision precedes the apply
    slowdown = platform.pe(pe).agent_slowdown
    # Before a frame's inference: the wake-up for it and the agent's stages (the record stage of the
    # frame before stands for this frame's, which comes after its inference).
    return float(np.median([(float(r["wake_ms"]) + float(r["agent_ms"])) / slowdown(f)
                            for r, f in zip(rows, freq_in_force, strict=True)]))
