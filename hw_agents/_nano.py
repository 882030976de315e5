"""The Jetson Nano (Tegra X1, L4T 32 / JetPack 4): PEs a57 (cpus 0-3) and gpu (Maxwell); INA3221 rails.

* CPU: cpufreq ``policy0`` (cpus 0-3), kHz.
* GPU: devfreq ``57000000.gpu``, under ``/sys/devices/gpu.0/`` or ``/sys/devices/57000000.gpu/``
  depending on the L4T release, so it is found through ``/sys/class/devfreq``; Hz, set by
  ``min_freq``/``max_freq`` (NVIDIA's ``jetson_clocks``; rbonghi/jetson_stats ``jtop/core/gpu.py``)
* Power: INA3221 (driver ``ina3221x``) at ``/sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0``,
  rails named by ``rail_name_N``, power ``in_powerN_input`` in mW. ``POM_5V_IN`` is the whole
  board's input: it already contains the CPU and GPU rails, never add them to it (NVIDIA forum
  answer quoted in rbonghi/jetson_stats#51). The Nano 2GB has no INA3221: no rails, said in
  ``missing``.
"""

from __future__ import annotations

import re

from hw_agents._cpufreq import add_cluster, find_policies
from hw_agents._devfreq import devfreq_control, find_devfreq
from hw_agents._parts import BoardParts, BoardPE
from hw_agents._rails import PowerFileRail
from hw_agents._sysfs import Sysfs, model_matches, read_text
from hw_agents._thermal import find_thermal_zones
from hw_agents.errors import BoardAbsentError, BoardError

_MODEL = re.compile(r"jetson[- ]nano|p3448|p3450", re.IGNORECASE)
A57_CPUS = (0, 1, 2, 3)
# Which PE a rail feeds alone, by a word of its name (POM_5V_CPU, POM_5V_GPU; POM_5V_IN: none).
_RAIL_PE = (("CPU", "a57"), ("GPU", "gpu"))


def discover(fs: Sysfs) -> BoardParts:
    """Everything a Nano exposes under ``fs``.

    Raises:
        BoardAbsentError: neither the device tree nor the GPU node nor the INA3221 say Nano.
    """
    parts = BoardParts()
    named = model_matches(fs, _MODEL, "a Jetson Nano")
    policy = next((p for p in find_policies(fs, parts.missing) if p.cpus == A57_CPUS), None)
    node = find_devfreq(fs, parts.missing, lambda real: "57000000.gpu" in str(real), "the GPU (57000000.gpu)")
    _find_ina3221(fs, parts)
    if not named and not (policy and (node or parts.rails)):
        raise BoardAbsentError("no Jetson Nano here: no A57 cluster (cpus 0-3) with a 57000000.gpu devfreq "
                               "node or INA3221 rails (a copied tree? pass --sysfs-root)",
                               path=fs.path("sys/class/devfreq"))
    add_cluster(parts, fs, "a57", A57_CPUS, policy)
    parts.pes.append(BoardPE("gpu", "gpu", A57_CPUS, tuple(hz / 1e6 for hz in node.freqs_hz) if node else ()))
    parts.controls["gpu"] = devfreq_control(node) if node else None
    parts.thermal_zones = find_thermal_zones(fs, parts.missing)
    return parts


def _find_ina3221(fs: Sysfs, parts: BoardParts) -> None:
    devices = fs.glob("sys/bus/i2c/drivers/ina3221x/*/iio:device*")
    if not devices:
        parts.missing.append((str(fs.path("sys/bus/i2c/drivers/ina3221x")),
                              "no INA3221 (a Nano 2GB has none): no power rails"))
    for device in devices:
        for name_file in sorted(device.glob("rail_name_*")):
            channel = name_file.name.rsplit("_", 1)[-1]
            try:
                rail = read_text(name_file)
            except BoardError as err:
                parts.missing.append((str(name_file), err.reason))
                continue
            pe = next((pe for word, pe in _RAIL_PE if word in rail.upper()), None)
            parts.rails.append(PowerFileRail(rail, pe, device / f"in_power{channel}_input", "mW"))
