"""A board: its PEs, their frequencies, the power rails and thermal zones its kernel exposes.

``open_board(name, sysfs_root)`` discovers at run time what the kernel offers (cpufreq policies,
devfreq nodes, rails by name, thermal zones by type) through one private backend per board
(``_xu3``, ``_nano``, ``_linux``); the ``Board`` it returns is the same whatever the board:

    board = open_board("host")
    with board.session():                       # journalled; restored on exit, error, SIGINT, SIGTERM
        board.set_frequency("cpu", board.pe("cpu").freqs_mhz[-1])
        board.pin("cpu", cores=2)
        board.read_power_w()                    # {rail: W}

Where a control file may not be written, the board says exactly which and runs monitor-only:
frequencies are read, never set, and ``set_frequency`` returns False.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from hw_agents._parts import BoardParts, BoardPE
from hw_agents._restore import Restorer, default_journal_path
from hw_agents._sysfs import Missing, Sysfs, can_write, why_not_writable
from hw_agents._thermal import read_temperature_c
from hw_agents.errors import BoardError

# Board name -> private backend module with ``discover(fs) -> BoardParts``.
_BACKENDS = {"odroid-xu3": "_xu3", "jetson-nano": "_nano", "host": "_linux"}
BOARDS = tuple(_BACKENDS)
# Two levels closer than this (MHz) are the same level: devfreq Hz / 1e6 gives e.g. 76.8.
_LEVEL_TOLERANCE_MHZ = 1e-3
# The sampling period when no sensor states its own, in s.
_DEFAULT_SENSOR_PERIOD_S = 0.1


@dataclass(frozen=True)
class PEReport:
    """One PE as probed: levels in MHz, its governor now and how its frequency is set."""

    name: str
    kind: str
    cpus: tuple[int, ...]
    freqs_mhz: tuple[float, ...]
    governor: str | None
    freq_control: str | None


@dataclass(frozen=True)
class RailReport:
    """One power rail as probed; ``power_w`` is one reading (None if it failed, see ``missing``)."""

    name: str
    pe: str | None
    path: str
    unit: str
    power_w: float | None


@dataclass(frozen=True)
class ZoneReport:
    """One thermal zone as probed."""

    type: str
    path: str
    temp_c: float | None


@dataclass(frozen=True)
class ProbeReport:
    """What a board's kernel exposes, and each file looked for in vain or not permitted."""

    board: str
    sysfs_root: str
    monitor_only: bool
    sensor_period_s: float
    pes: tuple[PEReport, ...]
    rails: tuple[RailReport, ...]
    thermal_zones: tuple[ZoneReport, ...]
    missing: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict:
        """Plain dict for ``--json`` (``missing`` as ``{"path", "why"}`` objects)."""
        payload = asdict(self)
        payload["missing"] = [{"path": path, "why": why} for path, why in self.missing]
        return payload


def open_board(name: str = "host", sysfs_root: str | Path = "/", monitor_only: bool = False,
               journal_path: str | Path | None = None) -> Board:
    """Discover a board under ``sysfs_root``.

    Args:
        name: "odroid-xu3", "jetson-nano" or "host".
        sysfs_root: the directory playing "/" (a fake tree in tests).
        monitor_only: never write anything (also switched on, with a warning, when a control file
            may not be written).
        journal_path: the session journal (default: ``_restore.default_journal_path``).

    Raises:
        BoardAbsentError: the board is not the machine under ``sysfs_root``.
        BoardError: an unknown name or a root that is not a directory.
    """
    if name not in _BACKENDS:
        raise BoardError(f"unknown board {name!r}; expected one of {', '.join(BOARDS)}", field="board")
    fs = Sysfs(sysfs_root)
    if not fs.root.is_dir():
        raise BoardError("sysfs root is not a directory", path=fs.root, field="sysfs_root")
    backend = importlib.import_module(f"hw_agents.{_BACKENDS[name]}")
    parts = backend.discover(fs)
    journal = Path(journal_path) if journal_path is not None else default_journal_path(fs.root)
    return Board(name, fs, parts, monitor_only, journal)


class Board:
    """A discovered board (build it with ``open_board``).

    Attributes:
        name: the board's name.
        sysfs_root: the tree's root.
        pes: the PEs found.
        freq_control: per PE, "userspace", "clamp" or None (not settable, or monitor-only).
        monitor_only: whether nothing is ever written.
        rails: names of the power rails found.
        thermal_zones: types of the thermal zones found.
        sensor_period_s: how often the power sensors refresh (sample at this period or slower).
        missing: (path, why) for each file looked for in vain or not permitted.
    """

    def __init__(self, name: str, fs: Sysfs, parts: BoardParts, monitor_only: bool,
                 journal_path: Path) -> None:
        self.name = name
        self.sysfs_root = fs.root
        self._parts = parts
        self.pes = tuple(parts.pes)
        to_write = [path for control in parts.controls.values() if control is not None
                    for path in control.files()] + self._parts.sensor_enables
        not_permitted = [(str(path), why_not_writable(path)) for path in to_write if not can_write(path)]
        if not_permitted and not monitor_only:
            path, why = not_permitted[0]
            more = f" (and {len(not_permitted) - 1} more files)" if len(not_permitted) > 1 else ""
            warnings.warn(f"{path}: {why}{more}; monitor-only mode: frequencies are read, not set",
                          stacklevel=3)
            monitor_only = True
        self.monitor_only = monitor_only
        self.missing = tuple(parts.missing + not_permitted)
        self.freq_control = {pe.name: None if monitor_only or parts.controls.get(pe.name) is None
                             else parts.controls[pe.name].mode for pe in self.pes}
        self.rails = tuple(rail.name for rail in parts.rails)
        self.thermal_zones = tuple(parts.thermal_zones)
        self.sensor_period_s = parts.sensor_period_s or _DEFAULT_SENSOR_PERIOD_S
        self.journal_path = journal_path
        self._restorer: Restorer | None = None
        self._in_session = False

    def pe(self, name: str) -> BoardPE:
        """The PE called ``name``."""
        for pe in self.pes:
            if pe.name == name:
                return pe
        raise BoardError(f"no PE {name!r} on {self.name}; it has {', '.join(p.name for p in self.pes)}",
                         field="pe")

    @contextmanager
    def session(self) -> Iterator[Board]:
        """Inside, the board may be changed; on leaving (normally, by an exception, SIGINT or
        SIGTERM) every file written gets its original bytes back and the process its affinity.

        The changes are journalled to ``journal_path`` before the first one, so that
        ``dynscale board restore`` undoes a run killed by SIGKILL.
        """
        if self._in_session:
            raise BoardError("a session is already open on this board")
        affinity = os.sched_getaffinity(0)
        if not self.monitor_only:
            self._restorer = Restorer(self.journal_path, self.name, self.sysfs_root)
            self._restorer.install_handlers()
        self._in_session = True
        try:
            for path in self._parts.sensor_enables if self._restorer is not None else ():
                self._restorer.write(path, "1")
            yield self
        finally:
            self._in_session = False
            os.sched_setaffinity(0, affinity)
            if self._restorer is not None:
                failures = self._restorer.restore()
                self._restorer.uninstall_handlers()
                self._restorer.close()
                self._restorer = None
                if failures:
                    warnings.warn(f"{failures[0][0]}: not restored ({failures[0][1]}); "
                                  f"{len(failures)} files left; run `dynscale board restore --journal "
                                  f"{self.journal_path}`", stacklevel=3)

    def set_frequency(self, pe: str, freq_mhz: float) -> bool:
        """Run ``pe`` at ``freq_mhz`` (one of its ``freqs_mhz``), inside a session.

        Returns:
            True if set; False where the PE's frequency is not settable (``freq_control`` None).

        Raises:
            BoardError: an unknown PE or level, a write outside a session, or a refused write.
        """
        level = self._level(self.pe(pe), freq_mhz)
        control = self._parts.controls.get(pe)
        if self.freq_control[pe] is None or control is None:
            return False
        if self._restorer is None:
            raise BoardError("set_frequency outside `with board.session():` would never be restored",
                             field="set_frequency")
        control.apply(level, self._restorer.write)
        return True

    def pin(self, pe: str, cores: int | Collection[int] | None = None) -> set[int]:
        """Pin the calling thread (and what it starts later) to ``pe``'s CPUs.

        Args:
            pe: a PE name (a GPU pins to the CPUs its host thread may use).
            cores: None for all the PE's CPUs, a count n for its first n, or the CPU ids.

        Returns:
            The CPU ids pinned to. A session gives the process back its affinity on leaving.
        """
        cpus = self.pe(pe).cpus
        if cores is None:
            chosen = set(cpus)
        elif isinstance(cores, int):
            if not 1 <= cores <= len(cpus):
                raise BoardError(f"expected 1..{len(cpus)} for PE {pe!r}, got {cores}", field="cores")
            chosen = set(cpus[:cores])
        else:
            chosen = set(cores)
            if not chosen or not chosen <= set(cpus):
                raise BoardError(f"expected CPUs of PE {pe!r} {list(cpus)}, got {sorted(chosen)}",
                                 field="cores")
        try:
            os.sched_setaffinity(0, chosen)
        except OSError as err:
            raise BoardError(f"cannot pin to CPUs {sorted(chosen)}: {err.strerror} (this process may use "
                             f"{sorted(os.sched_getaffinity(0))})", field="cores") from None
        return chosen

    def read_power_w(self) -> dict[str, float]:
        """{rail: W} for every rail (a RAPL rail: the mean since its previous read)."""
        return {rail.name: rail.read_w() for rail in self._parts.rails}

    def pe_power_w(self, pe: str) -> float | None:
        """Power of the rails feeding ``pe`` alone, in W; None if it has none of its own."""
        self.pe(pe)
        rails = [rail for rail in self._parts.rails if rail.pe == pe]
        return sum(rail.read_w() for rail in rails) if rails else None

    def read_temperatures_c(self) -> dict[str, float]:
        """{zone type: °C} for every thermal zone."""
        return {kind: read_temperature_c(path) for kind, path in self._parts.thermal_zones.items()}

    def probe(self) -> ProbeReport:
        """What was found (PEs, rails with one reading, zones with one reading) and what is missing."""
        missing = list(self.missing)
        pes = tuple(PEReport(pe.name, pe.kind, pe.cpus, pe.freqs_mhz, self._governor(pe.name, missing),
                             self.freq_control[pe.name]) for pe in self.pes)
        rails = tuple(RailReport(rail.name, rail.pe, str(rail.path), rail.unit,
                                 _reading(rail.read_w, missing))
                      for rail in self._parts.rails)
        zones = tuple(ZoneReport(kind, str(path), _reading(lambda p=path: read_temperature_c(p), missing))
                      for kind, path in self._parts.thermal_zones.items())
        return ProbeReport(self.name, str(self.sysfs_root), self.monitor_only, self.sensor_period_s,
                           pes, rails, zones, tuple(missing))

    def _governor(self, pe: str, missing: Missing) -> str | None:
        control = self._parts.controls.get(pe)
        return None if control is None else _reading(control.governor, missing)

    def _level(self, pe: BoardPE, freq_mhz: float) -> float:
        for level in pe.freqs_mhz:
            if abs(level - freq_mhz) < _LEVEL_TOLERANCE_MHZ:
                return level
        raise BoardError(f"{freq_mhz:g} MHz is not a level of PE {pe.name!r}: "
                         f"{', '.join(f'{f:g}' for f in pe.freqs_mhz) or 'none'}", field="freq_mhz")



def _reading(read, missing: Missing):
    try:
        return read()
    except BoardError as err:
        missing.append((err.path or "?", err.reason))
        return None
