"""Thermal zones, found by their ``type`` (never by index: the order differs between kernels).

``/sys/class/thermal/thermal_zoneN/{type,temp}``, temp in m°C (Documentation/driver-api/thermal).
Two zones of one type (e.g. ``x86_pkg_temp`` on a two-socket host) get "-1", "-2"... suffixes.
"""

from __future__ import annotations

from pathlib import Path

from hw_agents._sysfs import Missing, Sysfs, can_read, read_int, read_text
from hw_agents.errors import BoardError


def find_thermal_zones(fs: Sysfs, missing: Missing) -> dict[str, Path]:
    """{zone type: its ``temp`` file} for every readable zone."""
    zones: dict[str, Path] = {}
    dirs = fs.glob("sys/class/thermal/thermal_zone*")
    if not dirs:
        missing.append((str(fs.path("sys/class/thermal")), "no thermal zone"))
    for directory in dirs:
        try:
            kind = read_text(directory / "type")
        except BoardError as err:
            missing.append((str(directory / "type"), err.reason))
            continue
        temp = directory / "temp"
        if not can_read(temp):
            missing.append((str(temp), "absent" if not temp.exists() else "not permitted: cannot read"))
            continue
        name, n = kind, 1
        while name in zones:
            name = f"{kind}-{n}"
            n += 1
        zones[name] = temp
    return zones


def read_temperature_c(path: Path) -> float:
    """One zone's temperature in °C."""
    return read_int(path) / 1000.0
