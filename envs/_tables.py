"""Operating table: what every action does in every segment of one trace, computed once per trace.

The simulator's hot path must never query the platform model per event: at 10,000 steps per second
there are about 100 us per step in all. So, the first time a trace is used,
:func:`build_operating_table` evaluates every configuration in every trace segment with the
platform's vectorised ``config_metrics`` and stores segments x actions arrays; the per-event code
then reads one float with ``ndarray.item``.

How competing load becomes the DNN's speed: the platform's contention rule
(``platform_models.contention``, shared with the model-based controllers and the live agent) gives,
per segment and configuration, the table's ``cores`` row to read (the DNN's threads) and the stretch
of its latency; power is the table's at that row (a GPU's rail draws it whoever keeps the GPU busy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from platform_models.contention import Contention
from platform_models.turns import Turns


@dataclass(frozen=True)
class OperatingTable:
    """Per trace segment ``s`` and action ``a`` (index into ``platform.configs()``).

    Array attributes have shape (segments, actions) unless noted; the ``*_rows`` attributes hold, per
    segment, the Python values (tuples, dicts) the per-step code passes on without converting them.
    """

    seg_start_ms: np.ndarray
    """(segments,) start of each segment in ms."""
    seg_end_ms: np.ndarray
    """(segments,) end of each segment in ms (the last one: ``inf``, its load holds on)."""
    rate_per_ms: np.ndarray
    """Inferences per ms (1 / latency) at the share the competing load leaves: the expectation over
    the two outcomes on a held core (``platform_models.contention``)."""
    ahead_rate_per_ms: np.ndarray
    """The rate of a frame that runs ahead of the competing work for the wake-up allowance."""
    split_rate_per_ms: np.ndarray
    """The rate of a frame split with the competing work from the start (where the platform measured
    its ``turns``: the expectation of the split frames' waits; each frame's own is ``turns``')."""
    split_share: np.ndarray
    """The share of frames split (0 everywhere unless the platform measured it at a period)."""
    power_w: np.ndarray
    """Power charged to the DNN while it runs."""
    latency_cv: np.ndarray
    """Latency std / mean of the operating point, either outcome (the spread of the noise)."""
    action_mask: np.ndarray
    """Bool: the action's PE has at least the mask's minimum share left (never all False)."""
    share_left: np.ndarray
    """(segments, PEs) share of the PE the DNN gets (cores for a CPU PE, fraction for a GPU)."""
    budgets: np.ndarray
    """(segments, 3) latency ms, power W, energy mJ budgets; ``inf`` where absent (no limit)."""
    budget_rows: list[tuple[float, float, float]]
    """Budgets as the observation builder takes them (NaN where absent)."""
    budget_inf_rows: list[tuple[float, float, float]]
    """Budgets as the reward takes them (``inf`` where absent)."""
    loaded_pes: list[tuple[int, ...]]
    """Indices of the PEs with competing load, per segment."""
    load_rows: list[dict[str, float]]
    """Competing load per PE name, per segment."""
    turns: Turns | None
    """The platform's turns on a held core (``platform_models.turns``), where measured: a split frame
    then runs at the ahead rate after its own wait, by its phase in the tick."""


def build_operating_table(platform: Any, trace: Any, min_share: float) -> OperatingTable:
    """The operating table of ``trace`` on ``platform``.

    Args:
        platform: a ``platform_models.PlatformModel``.
        trace: a ``traces.Trace`` whose load columns are the platform's PEs.
        min_share: an action is usable (mask True) when its PE leaves the DNN at least this share
            of one core (GPU: of the GPU). Where no PE does, the PE whose fastest configuration is
            fastest stays usable (the mask is never all False).

    Returns:
        The table; its arrays are read-only.
    """
    pes = platform.pes
    pe_of_action = platform.config_pe_index
    load = np.stack([np.asarray(trace.load[pe.name], dtype=np.float64) for pe in pes], axis=1)
    contention = Contention(platform, trace.frame_period_ms)
    loaded = [contention.config_metrics(busy) for busy in load]
    outcomes = [segment.outcomes for segment in loaded]
    share_left = np.array([segment.allocation.share for segment in loaded])  # (segments, PEs)
    latency_ms = np.array([segment.metrics.latency_ms for segment in loaded])
    ahead_ms = np.array([segment.ahead.latency_ms for segment in outcomes])
    ahead_rate = 1.0 / ahead_ms
    cv = np.array([segment.ahead.latency_std_ms for segment in outcomes]) / ahead_ms
    power_w = np.array([segment.metrics.power_w for segment in loaded])
    rate = 1.0 / latency_ms
    split_rate = 1.0 / np.array([segment.split.latency_ms for segment in outcomes])
    split_share = np.array([segment.split_share for segment in outcomes])
    usable = share_left >= min_share
    starved = np.flatnonzero(~usable.any(axis=1))
    if starved.size:  # every PE taken: leave the one whose fastest configuration is fastest
        best_rate = np.stack([rate[starved][:, pe_of_action == p].max(axis=1) for p in range(len(pes))],
                             axis=1)
        usable[starved, np.argmax(best_rate, axis=1)] = True
    mask = usable[:, pe_of_action]
    starts = np.asarray(trace.time_s, dtype=np.float64) * 1000.0
    ends = np.append(starts[1:], np.inf)
    budget_nan = np.stack([trace.latency_budget_ms, trace.power_budget_w, trace.energy_budget_mj], axis=1)
    budgets = np.where(np.isnan(budget_nan), np.inf, budget_nan)
    arrays = [starts, ends, rate, ahead_rate, split_rate, split_share, power_w, cv, mask, share_left, budgets]
    for array in arrays:
        array.setflags(write=False)
    names = [pe.name for pe in pes]
    return OperatingTable(
        *arrays,
        budget_rows=[tuple(row) for row in budget_nan.tolist()],
        budget_inf_rows=[tuple(row) for row in budgets.tolist()],
        loaded_pes=[tuple(np.flatnonzero(row > 0.0).tolist()) for row in load],
        load_rows=[dict(zip(names, row, strict=True)) for row in load.tolist()],
        turns=contention.turns,
    )
