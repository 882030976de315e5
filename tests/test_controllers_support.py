"""Shared helpers of the controller, training and evaluation tests (no tests here)."""

from __future__ import annotations

import math
from pathlib import Path

TINY = Path(__file__).parent / "data" / "tiny.yaml"
NAN = math.nan


def write_tiny_traces(platform, folder: Path, duration_s: float = 2.0) -> list[str]:
    """Two short generated traces of the tiny platform (train split), written as files."""
    import traces

    paths = []
    for seed, kind in enumerate(("bursty", "steady")):
        path = folder / f"{kind}.csv"
        traces.save_trace(traces.generate(kind, platform, seed=seed, duration_s=duration_s), path)
        paths.append(str(path))
    return paths


def observation(
    platform,
    *,
    latency_budget_ms=NAN,
    power_budget_w=NAN,
    energy_budget_mj=NAN,
    last=(NAN, NAN, NAN),
    load=None,
    freq_mhz=None,
    groups=None,
    pe=None,
    backlog=0,
):
    """A hand-made observation of ``platform`` (defaults: no load, top frequencies, full net on PE 0)."""
    from platform_models import ObservationSpec

    pes = platform.pes
    return ObservationSpec(platform).build(
        budgets=(latency_budget_ms, power_budget_w, energy_budget_mj),
        last=last,
        load={p.name: 0.0 for p in pes} | (load or {}),
        freq_mhz={p.name: max(p.freqs_mhz) for p in pes} | (freq_mhz or {}),
        groups=groups or platform.groups,
        pe=pe or pes[0].name,
        backlog=backlog,
    )
