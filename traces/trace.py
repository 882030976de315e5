"""A trace: the competing load on every PE and the DNN's budgets, over time, as segments.

A trace is a list of segments. Segment ``i`` holds from ``time_s[i]`` until ``time_s[i + 1]`` (the last
until ``duration_s``); during it the competing work keeps ``load[pe][i]`` cores of each CPU PE busy
(a float: 2.5 = two cores fully busy and one at 50 % duty) and ``load[pe][i]`` of each GPU busy (a
share in [0, 1]), and the DNN must meet the budgets in force (NaN = no such budget). The file format
and the API are in docs/formats.md.

The simulator asks a trace, for every frame, which segment it is in, what load and budgets hold there
and when the next change comes: :meth:`Trace.segment_at`, :meth:`Trace.load_at`,
:meth:`Trace.budgets_at` and :meth:`Trace.next_change_s` are a binary search over the segment starts
plus a lookup in tables built once.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from traces.errors import TraceError

FORMAT_VERSION = 1
KINDS = (
    "steady",
    "periodic",
    "bursty",
    "ramp",
    "concurrent-dnn",
    "recorded",
    # shapes of the held-out ``novel`` split only (``traces.synthetic.NOVEL_KINDS``)
    "heavy-tailed",
    "budget-drop",
    "gpu-dnn",
    "oscillating",
    "overload",
)
SPLITS = ("train", "eval", "novel")
BUDGET_FIELDS = ("latency_budget_ms", "power_budget_w", "energy_budget_mj")
PE_NAME = re.compile(r"[a-z0-9_]+")
# The frame periods the simulator and the live agent can honour: the agent's own work per frame and
# a timer's resolution are a fraction of a millisecond; beyond a minute a "frame" is no longer one.
FRAME_PERIOD_MS_RANGE = (1.0, 60_000.0)
MAX_DURATION_S = 86_400.0
# Frames in one trace (duration / period): what an evaluation allocates and a replay iterates.
MAX_FRAMES = 10_000_000


class Budgets(NamedTuple):
    """The budgets per inference in force at one time; NaN where the trace sets none."""

    latency_ms: float
    power_w: float
    energy_mj: float


class Trace:
    """Competing load and budgets over time; immutable (arrays are read-only).

    Args:
        platform: name of the platform the trace was made for (its PEs are the load columns).
        kind: one of ``KINDS``.
        split: ``"train"``, ``"eval"`` (held out from training, kinds training knows) or
            ``"novel"`` (held out, of kinds no training trace has).
        frame_period_ms: time between two frames of the DNN's input, > 0.
        duration_s: length of the trace, > the last segment's start.
        time_s: start of each segment in s: starts at 0, strictly increasing.
        load: PE name -> busy cores (CPU PE) or busy share (GPU PE) per segment, >= 0; column order
            is the mapping's order.
        latency_budget_ms, power_budget_w, energy_budget_mj: per segment, > 0 or NaN (absent);
            ``None`` = absent throughout.
        seed: the generator's seed (``None`` for recorded or hand-written traces).
        description: free text, one line.
        path: the file it was loaded from, if any.

    Raises:
        TraceError: when a value breaks the format's rules (the first problem found).
    """

    def __init__(
        self,
        *,
        platform: str,
        kind: str,
        split: str,
        frame_period_ms: float,
        duration_s: float,
        time_s: Any,
        load: Mapping[str, Any],
        latency_budget_ms: Any = None,
        power_budget_w: Any = None,
        energy_budget_mj: Any = None,
        seed: int | None = None,
        description: str = "",
        path: str | Path | None = None,
        _row_lines: tuple[int, ...] | None = None,
    ) -> None:
        self.platform = str(platform)
        self.kind = str(kind)
        self.split = str(split)
        self.path = None if path is None else Path(path)
        self.frame_period_ms = _number(frame_period_ms, "frame_period_ms", self.path)
        self.duration_s = _number(duration_s, "duration_s", self.path)
        self.seed = None if seed is None else int(seed)
        if self.seed is not None and self.seed < 0:
            raise TraceError(f"expected an integer >= 0, got {seed!r}", path=self.path, field="seed")
        self.description = str(description)
        self.time_s = _frozen(time_s, "time_s", self.path)
        n = self.time_s.shape[0] if self.time_s.ndim == 1 else -1
        self.pe_names: tuple[str, ...] = tuple(load)
        self.load: dict[str, np.ndarray] = {pe: _frozen(v, f"load_{pe}", self.path) for pe, v in load.items()}
        budgets = (latency_budget_ms, power_budget_w, energy_budget_mj)
        self.latency_budget_ms, self.power_budget_w, self.energy_budget_mj = (
            _frozen(np.full(max(n, 0), np.nan) if b is None else b, name, self.path)
            for name, b in zip(BUDGET_FIELDS, budgets, strict=True)
        )
        self._row_lines = _row_lines
        for field, what in (
            *check_metadata(self.platform, self.kind, self.split, self.frame_period_ms, self.duration_s),
            *check_pe_names(self.pe_names),
        ):
            raise TraceError(what, path=self.path, field=field)
        for row, field, what in check_columns(self.time_s, self.duration_s, self.load, self.budget_arrays()):
            raise TraceError(what, path=self.path, line=self._line(row), field=field)
        # Lookup tables for the hot path, built once.
        self._starts: list[float] = self.time_s.tolist()
        self._loads: list[dict[str, float]] = [
            dict(zip(self.pe_names, row, strict=True))
            for row in zip(*(self.load[pe].tolist() for pe in self.pe_names), strict=True)
        ]
        self._budgets: list[Budgets] = [
            Budgets(*row) for row in zip(*(b.tolist() for b in self.budget_arrays().values()), strict=True)
        ]

    # --- the simulator's hot path -------------------------------------------------------------

    def segment_at(self, time_s: float) -> int:
        """Index of the segment holding ``time_s`` (times before 0 give 0, after the end the last)."""
        # bisect on a list: O(log n) like np.searchsorted, without numpy's per-call overhead on a scalar.
        i = bisect_right(self._starts, time_s) - 1
        return i if i > 0 else 0

    def load_at(self, time_s: float) -> dict[str, float]:
        """Competing load of every PE at ``time_s`` (a fresh dict: busy cores, GPU busy share)."""
        return self._loads[self.segment_at(time_s)].copy()

    def budgets_at(self, time_s: float) -> Budgets:
        """Budgets in force at ``time_s`` (NaN = absent)."""
        return self._budgets[self.segment_at(time_s)]

    def next_change_s(self, time_s: float) -> float:
        """Start of the first segment after ``time_s`` (``inf`` if none)."""
        i = bisect_right(self._starts, time_s)
        return self._starts[i] if i < len(self._starts) else math.inf

    # --- whole-trace views -----------------------------------------------------------------

    def segments_at(self, times_s: Any) -> np.ndarray:
        """Vectorised :meth:`segment_at` for an array of times."""
        index = np.searchsorted(self.time_s, np.asarray(times_s, dtype=np.float64), side="right") - 1
        return np.maximum(index, 0)

    def segment_durations_s(self) -> np.ndarray:
        """Length of every segment in s."""
        return np.diff(np.append(self.time_s, self.duration_s))

    def budget_arrays(self) -> dict[str, np.ndarray]:
        """Budget column name -> per-segment array (NaN = absent), in file column order."""
        return dict(
            zip(
                BUDGET_FIELDS,
                (self.latency_budget_ms, self.power_budget_w, self.energy_budget_mj),
                strict=True,
            )
        )

    def check_platform(self, platform: Any) -> None:
        """Check that the load columns are the platform's PEs and fit their cores.

        Args:
            platform: anything with ``pes`` whose items have ``name`` and ``n_cores`` (a
                ``platform_models.PlatformModel``; a GPU has ``n_cores`` 1, so its share is <= 1).

        Raises:
            TraceError: naming the file, line and column of the first mismatch.
        """
        for row, field, what in check_against_pes(self, platform):
            raise TraceError(what, path=self.path, line=self._line(row), field=field)

    def __len__(self) -> int:
        return len(self._starts)

    def __repr__(self) -> str:
        return (
            f"Trace(platform={self.platform!r}, kind={self.kind!r}, split={self.split!r}, "
            f"segments={len(self)}, duration_s={self.duration_s:g}, path={self.path})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trace):
            return NotImplemented
        same_meta = (
            self.platform,
            self.kind,
            self.split,
            self.frame_period_ms,
            self.duration_s,
            self.seed,
            self.description,
            self.pe_names,
        ) == (
            other.platform,
            other.kind,
            other.split,
            other.frame_period_ms,
            other.duration_s,
            other.seed,
            other.description,
            other.pe_names,
        )
        return same_meta and all(
            np.array_equal(a, b, equal_nan=True)
            for a, b in zip(self._columns(), other._columns(), strict=True)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking container of arrays

    def _columns(self) -> list[np.ndarray]:
        return [self.time_s, *self.load.values(), *self.budget_arrays().values()]

    def _line(self, row: int | None) -> int | None:
        if row is None or self._row_lines is None:
            return None
        return self._row_lines[row]


def _frozen(values: Any, field: str, path: Path | None) -> np.ndarray:
    try:
        array = np.array(values, dtype=np.float64)  # a copy: the caller's array stays theirs
    except (TypeError, ValueError) as exc:
        raise TraceError(f"expected numbers, got {exc}", path=path, field=field) from None
    array.setflags(write=False)
    return array


def _number(value: Any, field: str, path: Path | None) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TraceError(f"expected a number, got {value!r}", path=path, field=field) from None


# --- the format's rules, shared by the constructor and the file validator --------------------------
# Each check yields the problems it finds instead of raising, so that ``trace validate`` reports all.


def check_metadata(
    platform: str | None,
    kind: str | None,
    split: str | None,
    frame_period_ms: float | None,
    duration_s: float | None,
) -> Iterator[tuple[str, str]]:
    """(field, what) for every metadata value that breaks the format; ``None`` = not known, not checked."""
    if platform is not None and (not platform or "#" in platform or any(c.isspace() for c in platform)):
        yield "platform", f"expected a platform name without spaces or '#', got {platform!r}"
    if kind is not None and kind not in KINDS:
        yield "kind", f"expected one of {'|'.join(KINDS)}, got {kind!r}"
    if split is not None and split not in SPLITS:
        yield "split", f"expected one of {'|'.join(SPLITS)}, got {split!r}"
    low_ms, high_ms = FRAME_PERIOD_MS_RANGE
    if frame_period_ms is not None and not low_ms <= frame_period_ms <= high_ms:  # NaN fails too
        yield "frame_period_ms", f"expected a number in {low_ms:g}..{high_ms:g}, got {frame_period_ms!r}"
    if duration_s is not None and not 0 < duration_s <= MAX_DURATION_S:
        yield "duration_s", f"expected a number > 0 and <= {MAX_DURATION_S:g}, got {duration_s!r}"
    elif frame_period_ms is not None and duration_s is not None and low_ms <= frame_period_ms <= high_ms:
        frames = duration_s * 1000.0 / frame_period_ms
        if frames > MAX_FRAMES:
            what = f"{frames:.3g} frames at {frame_period_ms:g} ms; a trace holds at most {MAX_FRAMES:g}"
            yield "duration_s", what


def check_pe_names(pe_names: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(field, what) for a missing or badly named load column."""
    if not pe_names:
        yield "load", "expected at least one load_<pe> column"
    for pe in pe_names:
        if not PE_NAME.fullmatch(pe):
            yield f"load_{pe}", "expected a PE name of [a-z0-9_]+"


def check_columns(
    time_s: np.ndarray, duration_s: float, load: Mapping[str, np.ndarray], budgets: Mapping[str, np.ndarray]
) -> Iterator[tuple[int | None, str, str]]:
    """(row, field, what) for every value that breaks the format; row None = the whole column."""
    if time_s.ndim != 1 or time_s.shape[0] == 0:
        yield None, "time_s", "expected at least one segment"
        return
    n = time_s.shape[0]
    for name, values in {**{f"load_{pe}": v for pe, v in load.items()}, **budgets}.items():
        if values.shape != (n,):
            yield None, name, f"expected {n} values (one per segment), got shape {values.shape}"
            return
    yield from _check_times(time_s, duration_s)
    for pe, values in load.items():
        for row in np.flatnonzero(~(np.isfinite(values) & (values >= 0))):
            yield int(row), f"load_{pe}", f"expected a number >= 0, got {float(values[row])!r}"
    for name, values in budgets.items():
        for row in np.flatnonzero(~(np.isnan(values) | (np.isfinite(values) & (values > 0)))):
            yield int(row), name, f"expected a number > 0 or an empty cell, got {float(values[row])!r}"


def _check_times(time_s: np.ndarray, duration_s: float) -> Iterator[tuple[int | None, str, str]]:
    if time_s[0] != 0:
        yield 0, "time_s", f"expected the first segment to start at 0, got {float(time_s[0])!r}"
    for row in np.flatnonzero(~np.isfinite(time_s)):
        yield int(row), "time_s", f"expected a finite number, got {float(time_s[row])!r}"
    for row in np.flatnonzero(~(time_s[1:] > time_s[:-1])) + 1:
        previous, now = float(time_s[row - 1]), float(time_s[row])
        yield int(row), "time_s", f"expected a time after the previous row's {previous!r}, got {now!r}"
    if math.isfinite(duration_s):
        for row in np.flatnonzero(time_s >= duration_s):
            got = float(time_s[row])
            yield int(row), "time_s", f"expected a time before duration_s {duration_s!r}, got {got!r}"


def check_against_pes(trace: Trace, platform: Any) -> Iterator[tuple[int | None, str, str]]:
    """(row, field, what) where the trace does not fit the platform's PEs."""
    pes = {pe.name: float(pe.n_cores) for pe in platform.pes}
    if set(pes) != set(trace.pe_names):
        name = getattr(platform, "name", "the platform")
        got = sorted(trace.pe_names)
        yield None, "load", f"expected load columns for the PEs of {name} {sorted(pes)}, got {got}"
        return
    for pe, n_cores in pes.items():
        for row in np.flatnonzero(trace.load[pe] > n_cores):
            got = float(trace.load[pe][row])
            yield int(row), f"load_{pe}", f"expected at most {n_cores:g} (the PE's cores), got {got!r}"
