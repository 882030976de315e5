"""Power rails: a named supply whose power a sensor reports, in watts here whatever the sensor's unit.

Two kinds of sensor: those that report power (INA231 ``sensor_W`` in W, hwmon ``power1_input`` in
µW, INA3221 ``in_powerN_input`` in mW, NVML in mW) and energy counters (RAPL ``energy_uj`` in µJ,
wrapping at ``max_energy_range_uj``; power = energy difference / time difference between two reads,
torvalds/linux Documentation/power/powercap/powercap.rst).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from hw_agents._sysfs import read_float, read_int
from hw_agents.errors import BoardError

# Scale from a sensor's unit to W.
W_PER_UNIT = {"W": 1.0, "mW": 1e-3, "uW": 1e-6}


class Rail:
    """A named power supply.

    Attributes:
        name: the rail's name ("a15", "POM_5V_IN", "package-0").
        pe: the PE it feeds alone, or None (memory, the board's input, a whole package).
        path: the file (or device) read.
        unit: the unit the sensor reports ("W", "mW", "uW", "uJ").
    """

    def __init__(self, name: str, pe: str | None, path: Path, unit: str) -> None:
        self.name, self.pe, self.path, self.unit = name, pe, path, unit

    def read_w(self) -> float:
        """Power now in W (for a counter: the mean since the previous read)."""
        raise NotImplementedError


class PowerFileRail(Rail):
    """A sensor file holding power in ``unit`` ("W", "mW" or "uW")."""

    def read_w(self) -> float:
        return read_float(self.path) * W_PER_UNIT[self.unit]


class EnergyCounterRail(Rail):
    """A RAPL energy counter (µJ); power is the mean since the previous read.

    Args:
        max_range_uj: the counter's wrap-around value (``max_energy_range_uj``), or None if it
            could not be read (a negative difference is then reported as NaN, not guessed).
        clock: monotonic clock in s (injectable so tests need no sleeping).
    """

    def __init__(self, name: str, pe: str | None, path: Path, max_range_uj: int | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name, pe, path, "uJ")
        self.max_range_uj = max_range_uj
        self._clock = clock
        self._last = (read_int(path), clock())

    def read_w(self) -> float:
        energy_uj, now_s = read_int(self.path), self._clock()
        last_uj, last_s = self._last
        self._last = (energy_uj, now_s)
        delta_uj = energy_uj - last_uj
        if delta_uj < 0:
            # The counter wrapped (valid if read at least once per wrap period, ~minutes).
            if self.max_range_uj is None:
                return float("nan")
            delta_uj += self.max_range_uj
        if now_s <= last_s:
            return float("nan")
        return delta_uj * 1e-6 / (now_s - last_s)


class CallableRail(Rail):
    """A sensor read through a library call returning mW (NVML)."""

    def __init__(self, name: str, pe: str | None, path: Path, read_mw: Callable[[], float]) -> None:
        super().__init__(name, pe, path, "mW")
        self._read_mw = read_mw

    def read_w(self) -> float:
        try:
            return float(self._read_mw()) * 1e-3
        except Exception as err:  # NVML raises its own NVMLError types
            raise BoardError(f"power read failed: {err}", path=self.path) from None
