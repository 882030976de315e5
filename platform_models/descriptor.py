"""The platform descriptor (YAML): name, processing elements (PEs), the DNN, and provenance.

``read_descriptor`` parses and checks a descriptor file and returns every problem it finds, each
with the line of the YAML key it concerns, so ``platform validate`` can list them all and
``load_platform`` can raise the first. The format is in docs/formats.md.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platform_models._problems import Problem, as_int, as_number, short
from platform_models.user_text import TextProblem, index_lines, line_of, load_yaml_file

PE_KINDS = ("cpu", "gpu")
PROVENANCE_KINDS = ("derived", "measured")
_PE_NAME = re.compile(r"[a-z0-9_]+\Z")
_MEASURED_KEYS = ("host", "date", "tool", "method")
_DERIVED_KEYS = ("model", "sources")
_CALIBRATION_KEYS = ("date", "host", "tool", "base", "method", "latency_factor", "power_factor")
MAX_DESCRIPTOR_BYTES = 1 << 20
# Largest values a descriptor may hold: beyond them no board exists, and the grid a table must fill
# (PEs x frequencies x cores x groups) or the model's arithmetic would run away.
MAX_GROUPS = 64
MAX_CPU_ID = 4095
MAX_FREQ_MHZ = 1e6
MAX_INPUT_VALUES = 10**8  # values in one input of the DNN
MAX_QUANTITY = 1e6  # W or ms for idle power, DVFS transition, migration and agent overhead

CONTENTION_MODELS = ("priority", "fair")
"""The contention rules a descriptor may name (``platform_models.contention`` implements them)."""
FULL_CORE_STRETCH = 2.0
"""``fair``: the DNN's latency on a core other work keeps always busy, over its latency alone, where
the descriptor does not say (``contention_stretch``): two runnable threads at one priority split a
core evenly."""
NO_WAKE_ALLOWANCE_MS = 0.0
"""``fair``: the DNN's work at full speed on a held core before the split begins, where the descriptor
does not say (``contention_allowance_ms``): none, the split from the first instant (the rule as
``FULL_CORE_STRETCH`` states it)."""
MAX_FRAME_PERIOD_MS = 1e5
"""The longest frame period ``contention_split_share`` may name (100 s)."""


@dataclass(frozen=True)
class PE:
    """A processing element: a CPU cluster (its cores run the DNN) or a GPU (``n_cores`` is 1)."""

    name: str
    kind: str
    cpus: tuple[int, ...]
    freqs_mhz: tuple[float, ...]
    idle_power_w: float
    dvfs_transition_ms: float
    migration_ms: float
    agent_overhead_ms: float = 0.0
    """The live agent's own work per frame with its process on this PE at the top frequency (reading
    the load, observation, controller, applying the configuration), paid before each inference;
    measured by ``dynscale profile``; 0 where not measured (derived boards)."""

    def agent_ms(self, freq_mhz: float) -> float:
        """The live agent's work per frame with its process on this PE at ``freq_mhz``."""
        return self.agent_overhead_ms * self.agent_slowdown(freq_mhz)

    def agent_slowdown(self, freq_mhz: float) -> float:
        """How much slower the agent's work is at ``freq_mhz`` than at the top frequency: top /
        current on a CPU PE (CPU-bound Python); 1 on a GPU, whose clock does not pace the CPU thread
        that runs the agent."""
        return max(self.freqs_mhz) / freq_mhz if self.kind == "cpu" else 1.0

    @property
    def n_cores(self) -> int:
        """Cores the DNN can use on this PE: the CPU count of a cluster, 1 for a GPU."""
        return len(self.cpus) if self.kind == "cpu" else 1


@dataclass(frozen=True)
class Descriptor:
    """A checked descriptor; ``raw`` keeps the whole YAML mapping (derivation constants live there)."""

    path: Path
    name: str
    table_path: Path
    provenance_kind: str
    pes: tuple[PE, ...]
    groups: int
    accuracy: tuple[float, ...]
    raw: dict
    contention: str = "priority"
    contention_stretch: float = FULL_CORE_STRETCH
    contention_allowance_ms: float = NO_WAKE_ALLOWANCE_MS
    contention_split_share: tuple[tuple[float, float], ...] = ()
    """``fair``: (frame period ms, share of frames split on a held core), by period; empty: none."""
    scheduler_tick_ms: float | None = None
    """``fair``: the kernel's scheduler tick, whose phase at a frame's wake-up decides whether a held
    core splits it; None: not known (each frame's outcome drawn on its own)."""
    contention_split_window_end_ms: float | None = None
    """``fair``, with the tick: where in the tick (ms past a tick of the monotonic clock, to which the
    kernel aligns its ticks) the phases of the arrivals a held core splits end: a frame arriving within
    its split share of the tick before it is split; None: not measured (a replayed run's phase then
    says nothing)."""
    contention_split_grace_ms: float | None = None
    """``fair``, with the window: how much of a frame's table latency runs before a tick can split it
    (a configuration of ``t`` ms is split at ``(t - grace) / tick`` of the phases); None: the tick
    less the window's end (right where the table's latencies are the live frames')."""
    contention_turn_slice_ms: float | None = None
    """``fair``, with the window: after a turn of the other work, how long a frame runs before a tick
    takes the core again (``platform_models.turns``); None: turns not measured."""
    contention_turn_extra_ms: float | None = None
    """``fair``, with the window: how much longer than the frame ran ahead of it the other work's first
    turn lasts (``platform_models.turns``); None: turns not measured (a split frame then runs its whole
    inference ``contention_stretch`` times slower)."""
    contention_held_run_ratio: float = 1.0
    """``fair``, with the turns: a frame's work on a core other work keeps busy over the table's latency
    alone (``platform_models.turns``)."""
    lines: dict[tuple, int] = field(default_factory=dict, compare=False, repr=False)
    """The line of every key path in the file, e.g. ``("pes", 0, "model")`` (empty when built in memory)."""

    def line_of(self, keys: tuple) -> int | None:
        """The line of the deepest key of ``keys`` found in the file (None when none is)."""
        return line_of(self.lines, keys)


def read_descriptor(path: Path) -> tuple[Descriptor | None, list[Problem]]:
    """Parse and check the descriptor at ``path``: (descriptor, []) or (None, every problem)."""
    where = str(path)
    try:
        data, root = load_yaml_file(path, MAX_DESCRIPTOR_BYTES)
    except TextProblem as problem:
        return None, [Problem(where, problem.line, None, problem.reason)]
    return check_descriptor(data, path, index_lines(root))


def check_descriptor(
    data: Any, path: Path, lines: dict[tuple, int] | None = None
) -> tuple[Descriptor | None, list[Problem]]:
    """Check descriptor data (as loaded from YAML): (descriptor, []) or (None, every problem).

    ``lines`` maps a key path such as ``("pes", 0, "freqs_mhz")`` to its line in the file.
    """
    checker = _Checker(str(path), lines or {})
    if not isinstance(data, dict):
        checker.add((), "expected a mapping (name, table, provenance, dnn, pes)")
        return None, checker.problems
    name = checker.text(data, ("name",))
    table = checker.text(data, ("table",))
    kind = _check_provenance(checker, data)
    groups, accuracy = _check_dnn(checker, data)
    pes = _check_pes(checker, data)
    contention = data.get("contention", "priority")
    if contention not in CONTENTION_MODELS:
        choices = ", ".join(CONTENTION_MODELS)
        checker.add(("contention",), f"expected one of {choices}, got {short(contention)}")
    stretch = checker.number(data, ("contention_stretch",), low=1.0) if "contention_stretch" in data else None
    allowance = (checker.number(data, ("contention_allowance_ms",))
                 if "contention_allowance_ms" in data else None)
    split_share = _check_split_share(checker, data)
    tick_ms = (checker.number(data, ("scheduler_tick_ms",), low=1e-3, high=MAX_FRAME_PERIOD_MS)
               if "scheduler_tick_ms" in data else None)
    # a phase in the tick needs the tick; the grace against the table, the window it is of
    window_end_ms = _check_needing(checker, data, "contention_split_window_end_ms", "scheduler_tick_ms",
                                   tick_ms, high=tick_ms)
    grace_ms = _check_needing(checker, data, "contention_split_grace_ms", "contention_split_window_end_ms",
                              window_end_ms, high=MAX_FRAME_PERIOD_MS)
    # a turn is taken at a tick, of frames whose phase in it the window tells; the two go together
    slice_ms = _check_needing(checker, data, "contention_turn_slice_ms", "contention_split_window_end_ms",
                              window_end_ms, high=tick_ms)
    extra_ms = _check_needing(checker, data, "contention_turn_extra_ms", "contention_turn_slice_ms",
                              slice_ms, low=-MAX_FRAME_PERIOD_MS, high=MAX_FRAME_PERIOD_MS)
    if slice_ms is not None and "contention_turn_extra_ms" not in data:
        checker.add(("contention_turn_slice_ms",), "needs contention_turn_extra_ms")
    run_ratio = _check_needing(checker, data, "contention_held_run_ratio", "contention_turn_extra_ms",
                               extra_ms, low=1e-3, high=MAX_FRAME_PERIOD_MS)
    if checker.problems:
        return None, checker.problems
    assert name is not None and table is not None and kind is not None and groups is not None
    descriptor = Descriptor(
        path=path,
        name=name,
        table_path=path.parent / table,
        provenance_kind=kind,
        pes=pes,
        groups=groups,
        accuracy=accuracy,
        raw=data,
        contention=contention,
        contention_stretch=FULL_CORE_STRETCH if stretch is None else stretch,
        contention_allowance_ms=NO_WAKE_ALLOWANCE_MS if allowance is None else allowance,
        contention_split_share=split_share,
        scheduler_tick_ms=tick_ms,
        contention_split_window_end_ms=window_end_ms,
        contention_split_grace_ms=grace_ms,
        contention_turn_slice_ms=slice_ms,
        contention_turn_extra_ms=extra_ms,
        contention_held_run_ratio=1.0 if run_ratio is None else run_ratio,
        lines=lines or {},
    )
    return descriptor, []


class _Checker:
    """Collects problems, each placed at the line of the deepest key of its path found in the file."""

    def __init__(self, where: str, lines: dict[tuple, int]) -> None:
        self.where = where
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, keys: tuple, message: str) -> None:
        name = ".".join(str(k) for k in keys) if keys else None
        self.problems.append(Problem(self.where, line_of(self.lines, keys), name, message))

    def get(self, data: dict, keys: tuple) -> Any:
        value = data.get(keys[-1])
        if value is None:  # absent, or present with no value (``name:``)
            self.add(keys, "missing")
        return value

    def text(self, data: dict, keys: tuple) -> str | None:
        value = self.get(data, keys)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(keys, f"expected a non-empty string, got {short(value)}")
            return None
        return value

    def number(self, data: dict, keys: tuple, low: float = 0.0, high: float = MAX_QUANTITY) -> float | None:
        value = self.get(data, keys)
        if value is None:
            return None
        number = as_number(value)
        if number is None or not low <= number <= high:
            self.add(keys, f"expected a number >= {low:g} and <= {high:g}, got {short(value)}")
            return None
        return number

    def mapping(self, data: dict, keys: tuple) -> dict | None:
        value = self.get(data, keys)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.add(keys, f"expected a mapping, got {short(value)}")
            return None
        return value


def _check_needing(checker: _Checker, data: dict, key: str, needed: str, needed_value: float | None,
                   high: float | None, low: float = 0.0) -> float | None:
    """``key``: a number in [``low``, ``high``] that means something only beside ``needed`` (whose
    checked value is ``needed_value``)."""
    if key not in data:
        return None
    if needed_value is None:
        if needed not in data:  # (a bad one has its own problem)
            checker.add((key,), f"needs {needed}")
        return None
    return checker.number(data, (key,), low=low, high=high)


def _check_split_share(checker: _Checker, data: dict) -> tuple[tuple[float, float], ...]:
    """``contention_split_share``: a mapping frame period ms (> 0) -> share of frames split (0-1)."""
    shares = checker.mapping(data, ("contention_split_share",)) if "contention_split_share" in data else None
    pairs = []
    for period in shares or {}:
        period_ms = as_number(period)
        # the key as the file spells it (the line index keeps keys as text; YAML read 20 as a number)
        keys = ("contention_split_share", str(period))
        if period_ms is None or not 0.0 < period_ms <= MAX_FRAME_PERIOD_MS:
            checker.add(keys, f"expected a frame period ms > 0 and <= {MAX_FRAME_PERIOD_MS:g}, "
                              f"got {short(period)}")
            continue
        number = checker.number({str(period): shares[period]}, keys, high=1.0)
        if number is not None:
            pairs.append((period_ms, number))
    return tuple(sorted(pairs))


def _check_provenance(checker: _Checker, data: dict) -> str | None:
    prov = checker.mapping(data, ("provenance",))
    if prov is None:
        return None
    kind = prov.get("kind")
    if kind not in PROVENANCE_KINDS:
        checker.add(
            ("provenance", "kind"), f"expected one of {', '.join(PROVENANCE_KINDS)}, got {short(kind)}"
        )
        return None
    for key in _DERIVED_KEYS if kind == "derived" else _MEASURED_KEYS:
        if key not in prov or prov[key] in (None, "", {}):
            checker.add(("provenance", key), f"missing (a {kind} platform states its {key})")
    if "calibration" in prov:  # written by `dynscale profile --calibrate` (hw_agents/calibrate.py)
        calibration = checker.mapping(prov, ("provenance", "calibration"))
        for key in _CALIBRATION_KEYS if calibration is not None else ():
            if calibration.get(key) in (None, "", {}):
                checker.add(("provenance", "calibration", key), f"missing (a calibration states its {key})")
    return kind


def _check_dnn(checker: _Checker, data: dict) -> tuple[int | None, tuple[float, ...]]:
    dnn = checker.mapping(data, ("dnn",))
    if dnn is None:
        return None, ()
    checker.text(dnn, ("dnn", "arch"))
    groups_value = checker.get(dnn, ("dnn", "groups"))
    groups = as_int(groups_value) if groups_value is not None else None
    if groups_value is not None and (groups is None or not 1 <= groups <= MAX_GROUPS):
        checker.add(("dnn", "groups"), f"expected an integer in 1..{MAX_GROUPS}, got {short(groups_value)}")
        groups = None
    shape = dnn.get("input_shape")
    sizes = [as_int(s) or 0 for s in shape] if isinstance(shape, list) and 0 < len(shape) <= 8 else [0]
    if any(s < 1 for s in sizes) or math.prod(sizes) > MAX_INPUT_VALUES:
        checker.add(
            ("dnn", "input_shape"),
            f"expected 1..8 positive integers, {MAX_INPUT_VALUES:g} values at most, got {short(shape)}",
        )
    accuracy = dnn.get("accuracy_top1")
    values = [as_number(a) for a in accuracy] if isinstance(accuracy, list) else []
    if not values or any(v is None or not 0.0 <= v <= 1.0 for v in values):
        checker.add(
            ("dnn", "accuracy_top1"), f"expected a list of fractions in [0, 1], got {short(accuracy)}"
        )
        return groups, ()
    if groups is not None and len(values) != groups:
        checker.add(
            ("dnn", "accuracy_top1"), f"expected {groups} values (one per k = 1..G), got {len(values)}"
        )
    checker.text(dnn, ("dnn", "accuracy_source"))
    return groups, tuple(float(v) for v in values if v is not None)


def _check_pes(checker: _Checker, data: dict) -> tuple[PE, ...]:
    pes = checker.get(data, ("pes",))
    if pes is None:
        return ()
    if not isinstance(pes, list) or not pes:
        checker.add(("pes",), f"expected a non-empty list of PEs, got {short(pes)}")
        return ()
    result, seen = [], set()
    for i, entry in enumerate(pes):
        pe = _check_pe(checker, entry, i)
        if pe is None:
            continue
        if pe.name in seen:
            checker.add(("pes", i, "name"), f"PE '{pe.name}' is listed twice")
        seen.add(pe.name)
        result.append(pe)
    return tuple(result)


def _check_pe(checker: _Checker, entry: Any, i: int) -> PE | None:
    if not isinstance(entry, dict):
        checker.add(("pes", i), f"expected a mapping (name, kind, cpus, freqs_mhz, ...), got {short(entry)}")
        return None
    n_before = len(checker.problems)
    name = checker.text(entry, ("pes", i, "name"))
    if name is not None and not _PE_NAME.match(name):
        checker.add(("pes", i, "name"), f"expected lower-case letters, digits or _, got {short(name)}")
    kind = entry.get("kind")
    if kind not in PE_KINDS:
        checker.add(("pes", i, "kind"), f"expected one of {', '.join(PE_KINDS)}, got {short(kind)}")
    cpus = entry.get("cpus")
    cpu_ids = [as_int(c) for c in cpus] if isinstance(cpus, list) else None
    if (
        cpu_ids is None
        or any(c is None or not 0 <= c <= MAX_CPU_ID for c in cpu_ids)
        or len(set(cpu_ids)) != len(cpu_ids)
    ):
        checker.add(("pes", i, "cpus"), f"expected distinct CPU ids in 0..{MAX_CPU_ID}, got {short(cpus)}")
    elif kind == "cpu" and not cpu_ids:
        checker.add(("pes", i, "cpus"), "a cpu PE needs at least one CPU id")
    freqs = entry.get("freqs_mhz")
    freq_values = [as_number(f) for f in freqs] if isinstance(freqs, list) else []
    if not freq_values or any(f is None or not 0 < f <= MAX_FREQ_MHZ for f in freq_values):
        checker.add(
            ("pes", i, "freqs_mhz"),
            f"expected a non-empty list of frequencies > 0 and <= {MAX_FREQ_MHZ:g}, got {short(freqs)}",
        )
    elif any(b <= a for a, b in itertools.pairwise(freq_values)):  # type: ignore[operator]
        checker.add(("pes", i, "freqs_mhz"), "expected strictly ascending frequencies")
    idle = checker.number(entry, ("pes", i, "idle_power_w"))
    dvfs = checker.number(entry, ("pes", i, "dvfs_transition_ms"))
    migration = checker.number(entry, ("pes", i, "migration_ms"))
    agent = checker.number(entry, ("pes", i, "agent_overhead_ms")) if "agent_overhead_ms" in entry else 0.0
    if len(checker.problems) > n_before:
        return None
    return PE(
        name=name,  # type: ignore[arg-type]
        kind=kind,
        cpus=tuple(cpu_ids),  # type: ignore[arg-type]
        freqs_mhz=tuple(freq_values),  # type: ignore[arg-type]
        idle_power_w=idle,  # type: ignore[arg-type]
        dvfs_transition_ms=dvfs,  # type: ignore[arg-type]
        migration_ms=migration,  # type: ignore[arg-type]
        agent_overhead_ms=agent,  # type: ignore[arg-type]
    )
