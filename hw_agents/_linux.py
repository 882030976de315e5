"""A generic Linux host: PE ``cpu`` (all online CPUs), cpufreq where present, RAPL, NVML.

* Frequencies: the levels every cpufreq policy offers. Without cpufreq (containers, many VMs) the
  PE has one nominal level, the "cpu MHz" of ``/proc/cpuinfo``, and no control; ``missing`` says so.
* Power: RAPL energy counters ``/sys/class/powercap/intel-rapl:N[:M]`` named by their ``name``
  file (``package-0``, ``dram``; subzones as ``package-0/core``); ``energy_uj`` is root-only since
  Linux 5.10 (CVE-2020-8694), which ``missing`` names. Packages feed PE ``cpu``.
* An NVIDIA GPU through NVML (``_nvml``), when ``pynvml`` is installed.
"""

from __future__ import annotations

import re

from hw_agents import _nvml
from hw_agents._cpufreq import CpufreqControl, common_freqs_mhz, find_policies
from hw_agents._parts import BoardParts, BoardPE
from hw_agents._rails import EnergyCounterRail, Rail
from hw_agents._sysfs import Missing, Sysfs, can_read, read_cpu_list, read_int, read_text
from hw_agents._thermal import find_thermal_zones
from hw_agents.errors import BoardError

# /proc/cpuinfo on x86: "cpu MHz\t\t: 2000.000"
_CPU_MHZ = re.compile(r"^cpu MHz\s*:\s*([0-9.]+)", re.MULTILINE)
# Default sampling period when no sensor states one: RAPL updates about every 1 ms, so 0.1 s
# gives a mean over ~100 updates.
HOST_SENSOR_PERIOD_S = 0.1


def discover(fs: Sysfs) -> BoardParts:
    """Everything a host exposes under ``fs`` (never raises for an absent feature)."""
    parts = BoardParts()
    online = _online_cpus(fs)
    policies = [p for p in find_policies(fs, parts.missing) if set(p.cpus) & set(online)]
    if policies:
        control = CpufreqControl(policies)
        freqs = common_freqs_mhz(policies)
    else:
        control = None
        freqs = _nominal_freq_mhz(fs, parts.missing)
    parts.pes.append(BoardPE("cpu", "cpu", online, freqs))
    parts.controls["cpu"] = control
    parts.rails.extend(_rapl_rails(fs, parts.missing))
    parts.thermal_zones = find_thermal_zones(fs, parts.missing)
    _nvml.discover(parts)
    parts.sensor_period_s = HOST_SENSOR_PERIOD_S
    return parts


def _online_cpus(fs: Sysfs) -> tuple[int, ...]:
    path = fs.path("sys/devices/system/cpu/online")
    try:
        return read_cpu_list(path)
    except BoardError as err:
        raise BoardError(f"cannot list the online CPUs ({err})", path=path) from None


def _nominal_freq_mhz(fs: Sysfs, missing: Missing) -> tuple[float, ...]:
    path = fs.path("proc/cpuinfo")
    try:
        match = _CPU_MHZ.search(read_text(path))
    except BoardError as err:
        missing.append((str(path), f"{err}; PE cpu has no frequency level"))
        return ()
    if match is None:
        missing.append((str(path), "no 'cpu MHz' line; PE cpu has no frequency level"))
        return ()
    nominal_mhz = float(round(float(match.group(1))))
    missing.append((str(path), f"cpufreq absent: one nominal level {nominal_mhz:g} MHz (cpu MHz), "
                    "not settable"))
    return (nominal_mhz,)


def _rapl_rails(fs: Sysfs, missing: Missing) -> list[Rail]:
    zones = fs.glob("sys/class/powercap/intel-rapl:*")
    if not zones:
        missing.append((str(fs.path("sys/class/powercap")), "no RAPL zone (not Intel/AMD, or not exposed)"))
    names = {}
    rails: list[Rail] = []
    for zone in zones:
        energy = zone / "energy_uj"
        try:
            name = read_text(zone / "name")
        except BoardError as err:
            missing.append((str(zone / "name"), err.reason))
            continue
        names[zone.name] = name
        parent = zone.name.rsplit(":", 1)[0]
        is_top = parent == "intel-rapl"
        if not is_top:
            name = f"{names.get(parent, parent)}/{name}"
        if not can_read(energy):
            missing.append((str(energy), "not permitted: cannot read (RAPL is root-only since Linux 5.10; "
                            "`sudo chmod o+r` it or run as root)" if energy.exists() else "absent"))
            continue
        max_range = zone / "max_energy_range_uj"
        max_range_uj = read_int(max_range) if can_read(max_range) else None
        if max_range_uj is None:
            missing.append((str(max_range), "unreadable: a wrapped counter reads as NaN"))
        pe = "cpu" if is_top and name.startswith("package") else None
        rails.append(EnergyCounterRail(name, pe, energy, max_range_uj))
    return rails
