"""The Odroid XU3 (Exynos 5422): PEs a7 (cpus 0-3), a15 (cpus 4-7), gpu (Mali-T628); four INA231 rails.

Kernel flavours (Hardkernel's 3.10 and 4.14 kernels, mainline 5.4 and its
``exynos5422-odroidxu3.dts``):
* Hardkernel 3.10: ``cpu0/cpufreq`` (A7) and ``cpu4/cpufreq`` (A15), frequency tables in
  ``cpufreq/mp-cpufreq/{kfc,cpu}_freq_table``; INA231 at ``/sys/bus/i2c/drivers/INA231/3-00xx``;
  Mali locked through ``/sys/bus/platform/drivers/mali/11800000.mali/dvfs_{min,max}_lock`` (MHz,
  community scripts; unverified on hardware), levels from its ``dvfs_table``.
* Hardkernel 4.14: ``cpufreq/policy0``, ``policy4``; INA231 at ``0-00xx``; Mali devfreq.
* mainline / 5.4: as 4.14, sensors through hwmon ``ina2xx`` (``power1_input`` µW, no names), Mali
  (panfrost) devfreq ``11800000.gpu``.

Rails are named by the Hardkernel driver's ``sensor_name`` (never by address: one project swaps
A7 and MEM); hwmon has no names, so there the address maps to the rail as in the mainline XU3 DT
(``ina231@40`` VDD_ARM, ``@41`` VDD_MEM, ``@44`` VDD_G3D, ``@45`` VDD_KFC).
"""

from __future__ import annotations

import re
from pathlib import Path

from hw_agents._cpufreq import add_cluster, find_policies
from hw_agents._devfreq import MinMaxControl, devfreq_control, find_devfreq
from hw_agents._parts import BoardParts, BoardPE
from hw_agents._rails import PowerFileRail
from hw_agents._sysfs import Sysfs, model_matches, read_int, read_ints, read_text
from hw_agents._thermal import find_thermal_zones
from hw_agents.errors import BoardAbsentError, BoardError

_MODEL = re.compile(r"odroid[- ]?xu", re.IGNORECASE)
A7_CPUS = (0, 1, 2, 3)
A15_CPUS = (4, 5, 6, 7)
# Hardkernel sensor_name -> (rail, PE it feeds alone).
_SENSORS = {"sensor_arm": ("a15", "a15"), "sensor_kfc": ("a7", "a7"), "sensor_g3d": ("gpu", "gpu"),
            "sensor_mem": ("mem", None)}
# I2C address -> sensor, from the mainline XU3 device tree (for hwmon, which has no names).
_ADDRESS_SENSOR = {"0040": "sensor_arm", "0041": "sensor_mem", "0044": "sensor_g3d", "0045": "sensor_kfc"}
_MALI_310 = "sys/bus/platform/drivers/mali/11800000.mali"
# "263808 usec" (ina231-sysfs.c update_period)
_PERIOD = re.compile(r"^(\d+)\s*usec")


def discover(fs: Sysfs) -> BoardParts:
    """Everything an XU3 exposes under ``fs``.

    Raises:
        BoardAbsentError: neither the device tree nor the CPU clusters nor the sensors say XU3.
    """
    parts = BoardParts()
    named = model_matches(fs, _MODEL, "an Odroid XU3")
    found = find_policies(fs, parts.missing, freq_table=lambda cpus: _freq_table(fs, cpus))
    policies = {p.cpus: p for p in found}
    _find_ina231(fs, parts) or _find_hwmon(fs, parts)
    if not named and not parts.rails and not (A7_CPUS in policies and A15_CPUS in policies):
        raise BoardAbsentError("no Odroid XU3 here: no A7/A15 clusters (cpus 0-3, 4-7) in cpufreq and no "
                               "INA231 sensor (a copied tree? pass --sysfs-root)",
                               path=fs.path("sys/devices/system/cpu"))
    for name, cpus in (("a7", A7_CPUS), ("a15", A15_CPUS)):
        add_cluster(parts, fs, name, cpus, policies.get(cpus))
    _find_gpu(fs, parts)
    parts.thermal_zones = find_thermal_zones(fs, parts.missing)
    tmu = fs.path("sys/devices/10060000.tmu/temp")
    if tmu.exists():
        parts.missing.append((str(tmu), "3.10 TMU file: line format unverified, not parsed"))
    return parts


def _freq_table(fs: Sysfs, cpus: tuple[int, ...]) -> Path:
    # Hardkernel 3.10: "kfc" = the A7 cluster, "cpu" = the A15 cluster.
    name = "kfc_freq_table" if cpus == A7_CPUS else "cpu_freq_table"
    return fs.path(f"sys/devices/system/cpu/cpufreq/mp-cpufreq/{name}")


def _find_ina231(fs: Sysfs, parts: BoardParts) -> bool:
    directories = fs.glob("sys/bus/i2c/drivers/INA231/*-00*")
    for directory in directories:
        try:
            sensor = read_text(directory / "sensor_name")
        except BoardError as err:
            parts.missing.append((str(directory / "sensor_name"), err.reason))
            continue
        if sensor not in _SENSORS:
            parts.missing.append((str(directory / "sensor_name"), f"unknown sensor {sensor!r}"))
            continue
        rail, pe = _SENSORS[sensor]
        parts.rails.append(PowerFileRail(rail, pe, directory / "sensor_W", "W"))
        _note_sensor_off(directory / "enable", parts)
        period = _PERIOD.match(read_text(directory / "update_period"))
        if period:
            parts.sensor_period_s = max(parts.sensor_period_s or 0.0, int(period.group(1)) * 1e-6)
    parts.rails.sort(key=lambda r: r.name)
    return bool(directories)


def _note_sensor_off(enable: Path, parts: BoardParts) -> None:
    # A sensor switched off reads 0 W; a session switches it on (and off again on leaving).
    try:
        is_off = read_int(enable) == 0
    except BoardError as err:
        parts.missing.append((str(enable), err.reason))
        is_off = True
    if is_off:
        parts.sensor_enables.append(enable)
        parts.missing.append((str(enable), "off: reads 0 W until a session enables it"))


def _find_hwmon(fs: Sysfs, parts: BoardParts) -> bool:
    found = False
    for address, sensor in _ADDRESS_SENSOR.items():
        for hwmon in fs.glob(f"sys/bus/i2c/devices/*-{address}/hwmon/hwmon*"):
            found = True
            rail, pe = _SENSORS[sensor]
            parts.rails.append(PowerFileRail(rail, pe, hwmon / "power1_input", "uW"))
            interval = hwmon / "update_interval"
            if interval.exists():
                parts.sensor_period_s = max(parts.sensor_period_s or 0.0, read_int(interval) * 1e-3)
    if not found:
        parts.missing.append((str(fs.path("sys/bus/i2c/drivers/INA231")),
                              "no INA231 sensor (nor hwmon ina2xx at 0x40/41/44/45): no power rails"))
    parts.rails.sort(key=lambda r: r.name)
    return found


def _find_gpu(fs: Sysfs, parts: BoardParts) -> None:
    all_cpus = A7_CPUS + A15_CPUS
    mali = fs.path(_MALI_310)
    if mali.is_dir():
        table = mali / "dvfs_table"
        freqs = tuple(float(f) for f in sorted(read_ints(table))) if table.exists() else ()
        if not freqs:
            parts.missing.append((str(table), "absent: Mali levels unknown"))
        parts.pes.append(BoardPE("gpu", "gpu", all_cpus, freqs))
        # Lock values in MHz; no governor file on this driver.
        locks = MinMaxControl(mali / "dvfs_min_lock", mali / "dvfs_max_lock", 1, None)
        parts.controls["gpu"] = locks if freqs else None
        return
    node = find_devfreq(fs, parts.missing, lambda real: "11800000" in str(real), "the Mali GPU (11800000)")
    parts.pes.append(BoardPE("gpu", "gpu", all_cpus, tuple(hz / 1e6 for hz in node.freqs_hz) if node else ()))
    parts.controls["gpu"] = devfreq_control(node) if node else None
