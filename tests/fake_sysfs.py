"""Fake sysfs trees of the boards, laid out and filled as their kernels do, for tests.

``make_xu3_tree(root, kernel=...)``, ``make_nano_tree(root)`` and ``make_host_tree(root)`` write a
tree under ``root`` (which then plays "/" for ``open_board(..., sysfs_root=root)``). Layouts and
contents follow the public kernels and their documentation (Hardkernel 3.10/4.14 and mainline
5.4 kernels on the XU3, L4T 32 on the Nano, acpi-cpufreq or intel_pstate on a host), including
the kernels' quirks: ``scaling_setspeed`` reads "<unsupported>" unless the governor is
userspace; devfreq min <= max; ``/sys/class/...`` entries are symlinks into ``/sys/devices``; RAPL
``energy_uj`` is mode 0400.

A plain file cannot react to a write the way an attribute does. The kernel's refusals that matter
(setspeed only under userspace; min never above max) are checked by the writers in ``hw_agents``
themselves before writing, exactly as the kernel would refuse; these trees only have to start in
a state a kernel could be in.
"""

from __future__ import annotations

import os
from pathlib import Path

# Odroid XU3: OPPs of mainline arch/arm/boot/dts/samsung/exynos5800.dtsi, in kHz.
XU3_A7_KHZ = tuple(range(200_000, 1_400_001, 100_000))
XU3_A15_KHZ = tuple(range(200_000, 2_000_001, 100_000))
XU3_GPU_MHZ = (177, 266, 350, 420, 480, 543, 600)
# INA231 address -> Hardkernel sensor_name (Hardkernel ina231-sysfs.c; the
# mainline exynos5422-odroidxu3.dts comments agree).
XU3_INA231 = {"0040": "sensor_arm", "0041": "sensor_mem", "0044": "sensor_g3d", "0045": "sensor_kfc"}
# Jetson Nano, L4T 32 (``scaling_available_frequencies`` and GPU devfreq ``available_frequencies``
# as NVIDIA's jetson_clocks and Nano DVFS scripts list them).
NANO_CPU_KHZ = (102000, 204000, 307200, 403200, 518400, 614400, 710400, 825600, 921600, 1036800,
                1132800, 1224000, 1326000, 1428000, 1479000)
NANO_GPU_HZ = tuple(76_800_000 * n for n in range(1, 13))
HOST_ACPI_KHZ = (800_000, 1_200_000, 1_800_000, 2_400_000, 3_000_000)


def make_xu3_tree(root: str | Path, kernel: str = "4.14") -> Path:
    """An Odroid XU3 (Exynos 5422) tree as the Hardkernel 3.10 or 4.14 kernel or mainline 5.4 lays it out.

    3.10: per-CPU ``cpuN/cpufreq`` (cpu1-3 and cpu5-7 link to cpu0/cpu4), frequency tables only in
    ``cpufreq/mp-cpufreq/{kfc,cpu}_freq_table``, no userspace governor (published XU3 scripts clamp
    ``scaling_max_freq``), INA231 at ``3-00xx`` (W), Mali ``dvfs_{min,max}_lock`` (MHz), the TMU's
    multi-line ``temp`` and no thermal class. 4.14: ``policy0``/``policy4`` with userspace, INA231 at
    ``0-00xx``, Mali devfreq ``devfreq0``. 5.4: as 4.14 but hwmon ``ina2xx`` (µW) and panfrost
    devfreq ``11800000.gpu``.
    """
    if kernel not in ("3.10", "4.14", "5.4"):
        raise ValueError(f"kernel {kernel!r}: expected 3.10, 4.14 or 5.4")
    root = Path(root)
    _write(root, "sys/firmware/devicetree/base/model", "Hardkernel Odroid XU3\0")
    _cpus(root, range(8))
    if kernel == "3.10":
        governors = "interactive conservative ondemand powersave performance"
        for first, table, khz in ((0, "kfc_freq_table", XU3_A7_KHZ), (4, "cpu_freq_table", XU3_A15_KHZ)):
            cpus = range(first, first + 4)
            directory = f"sys/devices/system/cpu/cpu{first}/cpufreq"
            _policy(root, directory, cpus, khz, governors, "interactive", list_freqs=False)
            for cpu in cpus[1:]:
                _link(root, f"sys/devices/system/cpu/cpu{cpu}/cpufreq", f"../cpu{first}/cpufreq")
            _write(root, f"sys/devices/system/cpu/cpufreq/mp-cpufreq/{table}",
                   " ".join(str(k) for k in sorted(khz, reverse=True)) + " ", mode=0o444)
        for address, name in XU3_INA231.items():
            _ina231(root, f"sys/bus/i2c/drivers/INA231/3-{address}", name)
        mali = "sys/bus/platform/drivers/mali/11800000.mali"
        _write(root, f"{mali}/clock", "177", mode=0o444)
        _write(root, f"{mali}/dvfs_table", " ".join(str(f) for f in XU3_GPU_MHZ), mode=0o444)
        _write(root, f"{mali}/dvfs_min_lock", str(XU3_GPU_MHZ[0]))
        _write(root, f"{mali}/dvfs_max_lock", str(XU3_GPU_MHZ[-1]))
        _write(root, "sys/devices/10060000.tmu/temp",
               "sensor0 : 45000\nsensor1 : 46000\nsensor2 : 44000\nsensor3 : 47000\nsensor4 : 40000", 0o444)
        return root
    governors = "powersave userspace conservative ondemand performance schedutil"
    for number, khz in ((0, XU3_A7_KHZ), (4, XU3_A15_KHZ)):
        cpus = range(number, number + 4)
        _policy(root, f"sys/devices/system/cpu/cpufreq/policy{number}", cpus, khz, governors, "ondemand")
        for cpu in cpus:
            _link(root, f"sys/devices/system/cpu/cpu{cpu}/cpufreq", f"../cpufreq/policy{number}")
    gpu_hz = [mhz * 1_000_000 for mhz in XU3_GPU_MHZ]
    if kernel == "4.14":
        for address, name in XU3_INA231.items():
            _ina231(root, f"sys/bus/i2c/drivers/INA231/0-{address}", name)
        _devfreq(root, "sys/devices/platform/11800000.mali/devfreq/devfreq0", gpu_hz, "simple_ondemand")
    else:
        for n, address in enumerate(XU3_INA231):
            hwmon = f"sys/bus/i2c/devices/0-{address}/hwmon/hwmon{n}"
            _write(root, f"{hwmon}/name", "ina231", mode=0o444)
            _write(root, f"{hwmon}/power1_input", str(250_000 * (n + 1)), mode=0o444)
            _write(root, f"{hwmon}/update_interval", "264")
        panfrost = "sys/devices/platform/soc/11800000.gpu/devfreq/11800000.gpu"
        _devfreq(root, panfrost, gpu_hz, "simple_ondemand")
    _thermal(root, ["cpu0-thermal", "cpu1-thermal", "cpu2-thermal", "cpu3-thermal", "gpu-thermal"])
    return root


def make_nano_tree(root: str | Path, gpu_dir: str = "gpu.0") -> Path:
    """A Jetson Nano (L4T 32) tree; ``gpu_dir`` "gpu.0" or "57000000.gpu" (it varies by release)."""
    root = Path(root)
    _write(root, "sys/firmware/devicetree/base/model", "NVIDIA Jetson Nano Developer Kit\0")
    _cpus(root, range(4))
    _policy(root, "sys/devices/system/cpu/cpufreq/policy0", range(4), NANO_CPU_KHZ,
            "interactive conservative ondemand userspace powersave performance schedutil", "schedutil")
    for cpu in range(4):
        _link(root, f"sys/devices/system/cpu/cpu{cpu}/cpufreq", "../cpufreq/policy0")
    _devfreq(root, f"sys/devices/{gpu_dir}/devfreq/57000000.gpu", NANO_GPU_HZ, "nvhost_podgov")
    iio = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    rails = (("POM_5V_IN", 2460), ("POM_5V_GPU", 39), ("POM_5V_CPU", 403))
    for channel, (rail, power_mw) in enumerate(rails):
        _write(root, f"{iio}/rail_name_{channel}", rail, mode=0o444)
        _write(root, f"{iio}/in_power{channel}_input", str(power_mw), mode=0o444)
        _write(root, f"{iio}/in_voltage{channel}_input", "5000", mode=0o444)
        _write(root, f"{iio}/in_current{channel}_input", str(power_mw // 5), mode=0o444)
    # The zones' order differs between L4T releases; the backend must go by type.
    _thermal(root, ["AO-therm", "CPU-therm", "GPU-therm", "PLL-therm", "PMIC-Die", "thermal-fan-est"],
             temps_mc=[31500, 33000, 31000, 31500, 100000, 32200])
    return root


def make_host_tree(root: str | Path, driver: str = "acpi-cpufreq", n_cpus: int = 4,
                   rapl: bool = True) -> Path:
    """A Linux host: one cpufreq policy per CPU (``driver`` "acpi-cpufreq" with userspace and a
    frequency table, "intel_pstate" with neither, or "none" for no cpufreq), RAPL, thermal zones."""
    root = Path(root)
    _cpus(root, range(n_cpus))
    _write(root, "proc/cpuinfo", "".join(f"processor\t: {cpu}\nmodel name\t: Fake CPU @ 2.00GHz\n"
                                         f"cpu MHz\t\t: 2000.000\n\n" for cpu in range(n_cpus)), mode=0o444)
    if driver != "none":
        acpi = driver == "acpi-cpufreq"
        governors = "conservative ondemand userspace powersave performance schedutil" if acpi else (
            "performance powersave")
        for cpu in range(n_cpus):
            directory = f"sys/devices/system/cpu/cpufreq/policy{cpu}"
            _policy(root, directory, [cpu], HOST_ACPI_KHZ, governors, "schedutil" if acpi else "powersave",
                    list_freqs=acpi)
            _write(root, f"{directory}/scaling_driver", driver, mode=0o444)
            _link(root, f"sys/devices/system/cpu/cpu{cpu}/cpufreq", f"../cpufreq/policy{cpu}")
    else:
        (root / "sys/devices/system/cpu/cpufreq").mkdir(parents=True, exist_ok=True)
    if rapl:
        base = "sys/devices/virtual/powercap/intel-rapl"
        for zone, name, energy in (("intel-rapl:0", "package-0", 81_234_567),
                                   ("intel-rapl:0/intel-rapl:0:0", "core", 41_000_000),
                                   ("intel-rapl:0/intel-rapl:0:1", "dram", 9_000_000)):
            _write(root, f"{base}/{zone}/name", name, mode=0o444)
            _write(root, f"{base}/{zone}/energy_uj", str(energy), mode=0o400)
            _write(root, f"{base}/{zone}/max_energy_range_uj", "262143328850", mode=0o444)
            _link(root, f"sys/class/powercap/{zone.rsplit('/', 1)[-1]}",
                  f"../../{base.removeprefix('sys/')}/{zone}")
    _thermal(root, ["acpitz", "x86_pkg_temp"])
    return root


def snapshot(root: str | Path) -> dict[str, bytes]:
    """{relative path: bytes} of every regular file under ``root`` (symlinks not followed)."""
    root = Path(root)
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def _cpus(root: Path, cpus: range) -> None:
    last = cpus[-1]
    for name in ("online", "possible", "present"):
        _write(root, f"sys/devices/system/cpu/{name}", f"0-{last}", mode=0o444)
    for cpu in cpus:
        (root / f"sys/devices/system/cpu/cpu{cpu}").mkdir(parents=True, exist_ok=True)


def _policy(root: Path, directory: str, cpus, khz, governors: str, governor: str,
            list_freqs: bool = True) -> None:
    cpu_list = " ".join(str(c) for c in cpus)
    low, high = min(khz), max(khz)
    read_only = {"affected_cpus": cpu_list, "related_cpus": cpu_list, "cpuinfo_min_freq": low,
                 "cpuinfo_max_freq": high, "cpuinfo_transition_latency": 140000, "scaling_cur_freq": low,
                 "scaling_available_governors": governors}
    if list_freqs:
        # acpi-cpufreq and cpufreq-dt list frequencies with a trailing space.
        read_only["scaling_available_frequencies"] = " ".join(str(k) for k in sorted(khz, reverse=True)) + " "
    for name, value in read_only.items():
        _write(root, f"{directory}/{name}", str(value), mode=0o444)
    _write(root, f"{directory}/cpuinfo_cur_freq", str(low), mode=0o400)
    _write(root, f"{directory}/scaling_governor", governor)
    _write(root, f"{directory}/scaling_min_freq", str(low))
    _write(root, f"{directory}/scaling_max_freq", str(high))
    _write(root, f"{directory}/scaling_setspeed", "<unsupported>" if governor != "userspace" else str(low))


def _devfreq(root: Path, directory: str, freqs_hz, governor: str) -> None:
    _write(root, f"{directory}/available_frequencies", " ".join(str(f) for f in freqs_hz), mode=0o444)
    _write(root, f"{directory}/available_governors",
           "wmark_active nvhost_podgov userspace performance simple_ondemand", mode=0o444)
    _write(root, f"{directory}/cur_freq", str(min(freqs_hz)), mode=0o444)
    _write(root, f"{directory}/governor", governor)
    _write(root, f"{directory}/min_freq", str(min(freqs_hz)))
    _write(root, f"{directory}/max_freq", str(max(freqs_hz)))
    name = directory.rsplit("/", 1)[-1]
    _link(root, f"sys/class/devfreq/{name}", "../../" + directory.removeprefix("sys/"))


def _ina231(root: Path, directory: str, name: str) -> None:
    # Hardkernel ina231-sysfs.c: W/V/A printed "%d.%06d"; enable RW root; update_period "N usec".
    _write(root, f"{directory}/sensor_name", name, mode=0o444)
    _write(root, f"{directory}/sensor_W", "0.000000", mode=0o444)
    _write(root, f"{directory}/sensor_V", "0.000000", mode=0o444)
    _write(root, f"{directory}/sensor_A", "0.000000", mode=0o444)
    _write(root, f"{directory}/enable", "0", mode=0o644)
    _write(root, f"{directory}/update_period", "263808 usec", mode=0o444)


def _thermal(root: Path, types: list[str], temps_mc: list[int] | None = None) -> None:
    for n, kind in enumerate(types):
        directory = f"sys/devices/virtual/thermal/thermal_zone{n}"
        _write(root, f"{directory}/type", kind, mode=0o444)
        _write(root, f"{directory}/temp", str(temps_mc[n] if temps_mc else 40000 + 1000 * n), mode=0o444)
        _link(root, f"sys/class/thermal/thermal_zone{n}", f"../../devices/virtual/thermal/thermal_zone{n}")


def _write(root: Path, relative: str, text: str, mode: int = 0o644) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + ("" if text.endswith("\0") else "\n"), encoding="ascii")
    os.chmod(path, mode)


def _link(root: Path, relative: str, target: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_symlink():
        path.symlink_to(target)
