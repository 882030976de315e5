"""The Odroid XU3 (3.10, 4.14, 5.4 kernels) and Jetson Nano (both GPU paths) backends on fake trees."""

from __future__ import annotations

import os
import shutil

import pytest

from hw_agents import BoardAbsentError, open_board
from tests.fake_sysfs import make_host_tree, make_nano_tree, make_xu3_tree, snapshot


def read(root, relative):
    return (root / relative).read_text().strip()


@pytest.mark.parametrize("kernel, cpu_control",
                         [("3.10", "clamp"), ("4.14", "userspace"), ("5.4", "userspace")])
def test_xu3_pes_rails_and_zones(tmp_path, kernel, cpu_control):
    board = open_board("odroid-xu3", sysfs_root=make_xu3_tree(tmp_path / "fs", kernel=kernel))
    pes = {pe.name: pe for pe in board.pes}
    assert list(pes) == ["a7", "a15", "gpu"]
    assert pes["a7"].cpus == (0, 1, 2, 3) and pes["a15"].cpus == (4, 5, 6, 7)
    assert pes["a7"].freqs_mhz[0] == 200.0 and pes["a7"].freqs_mhz[-1] == 1400.0
    assert pes["a15"].freqs_mhz[-1] == 2000.0 and len(pes["a15"].freqs_mhz) == 19
    assert pes["gpu"].freqs_mhz == (177.0, 266.0, 350.0, 420.0, 480.0, 543.0, 600.0)
    assert board.freq_control == {"a7": cpu_control, "a15": cpu_control, "gpu": "clamp"}
    assert sorted(board.rails) == ["a15", "a7", "gpu", "mem"]
    assert board.sensor_period_s == pytest.approx(0.264, abs=0.001)
    if kernel != "3.10":
        assert board.thermal_zones == ("cpu0-thermal", "cpu1-thermal", "cpu2-thermal", "cpu3-thermal",
                                       "gpu-thermal")


def test_xu3_rails_are_named_by_sensor_name_not_address(tmp_path):
    """One project (Barbeque RTRM's Odroid power manager) swaps A7 and MEM addresses against the XU3
    device tree: the name decides."""
    root = make_xu3_tree(tmp_path / "fs", kernel="4.14")
    ina = root / "sys/bus/i2c/drivers/INA231"
    (ina / "0-0041/sensor_W").chmod(0o644)
    (ina / "0-0041/sensor_W").write_text("0.321000\n")
    for address, name in (("0041", "sensor_kfc"), ("0045", "sensor_mem")):
        (ina / f"0-{address}/sensor_name").chmod(0o644)
        (ina / f"0-{address}/sensor_name").write_text(name + "\n")
    board = open_board("odroid-xu3", sysfs_root=root)
    assert board.read_power_w()["a7"] == pytest.approx(0.321)
    assert board.pe_power_w("a7") == pytest.approx(0.321)


def test_xu3_session_enables_ina231_sensors_and_restores(tmp_path):
    root = make_xu3_tree(tmp_path / "fs", kernel="3.10")
    before = snapshot(root)
    board = open_board("odroid-xu3", sysfs_root=root)
    with board.session():
        assert read(root, "sys/bus/i2c/drivers/INA231/3-0040/enable") == "1"
        board.set_frequency("a15", 1800)
        assert read(root, "sys/devices/system/cpu/cpu4/cpufreq/scaling_max_freq") == "1800000"
        assert read(root, "sys/devices/system/cpu/cpu4/cpufreq/scaling_min_freq") == "1800000"
        assert read(root, "sys/devices/system/cpu/cpu4/cpufreq/scaling_governor") == "interactive"
        board.set_frequency("gpu", 266)
        mali = "sys/bus/platform/drivers/mali/11800000.mali"
        assert (read(root, f"{mali}/dvfs_min_lock"), read(root, f"{mali}/dvfs_max_lock")) == ("266", "266")
    assert snapshot(root) == before


@pytest.mark.parametrize("gpu_dir", ["gpu.0", "57000000.gpu"])
def test_nano_gpu_found_through_devfreq_class_on_either_path(tmp_path, gpu_dir):
    root = make_nano_tree(tmp_path / "fs", gpu_dir=gpu_dir)
    before = snapshot(root)
    board = open_board("jetson-nano", sysfs_root=root)
    gpu = board.pe("gpu")
    assert gpu.freqs_mhz[0] == pytest.approx(76.8) and gpu.freqs_mhz[-1] == pytest.approx(921.6)
    assert board.pe("a57").freqs_mhz[-1] == 1479.0
    assert board.freq_control == {"a57": "userspace", "gpu": "clamp"}
    node = f"sys/devices/{gpu_dir}/devfreq/57000000.gpu"
    with board.session():
        board.set_frequency("gpu", 460.8)
        assert (read(root, f"{node}/min_freq"), read(root, f"{node}/max_freq")) == ("460800000", "460800000")
        board.set_frequency("gpu", 921.6)  # raising: max first, else min > max is refused
        board.set_frequency("gpu", 76.8)  # lowering: min first
        assert (read(root, f"{node}/min_freq"), read(root, f"{node}/max_freq")) == ("76800000", "76800000")
        board.set_frequency("a57", 921.6)
        assert read(root, "sys/devices/system/cpu/cpufreq/policy0/scaling_setspeed") == "921600"
    assert snapshot(root) == before


def test_nano_total_is_pom_5v_in_alone_and_zones_go_by_type(tmp_path):
    root = make_nano_tree(tmp_path / "fs")
    # Another release orders the zones differently: swap two zone directories.
    zones = root / "sys/devices/virtual/thermal"
    shutil.move(zones / "thermal_zone1", zones / "tmp")
    shutil.move(zones / "thermal_zone2", zones / "thermal_zone1")
    shutil.move(zones / "tmp", zones / "thermal_zone2")
    board = open_board("jetson-nano", sysfs_root=root)
    power = board.read_power_w()
    assert power == pytest.approx({"POM_5V_IN": 2.46, "POM_5V_GPU": 0.039, "POM_5V_CPU": 0.403})
    assert board.pe_power_w("a57") == pytest.approx(0.403)
    assert board.read_temperatures_c()["CPU-therm"] == 33.0


def test_nano_unwritable_gpu_clamp_goes_monitor_only_naming_the_file(tmp_path):
    root = make_nano_tree(tmp_path / "fs")
    node = root / "sys/devices/gpu.0/devfreq/57000000.gpu"
    os.chmod(node / "max_freq", 0o444)
    with pytest.warns(UserWarning, match=r"57000000.gpu/max_freq: not permitted: cannot write \(mode 0444"):
        board = open_board("jetson-nano", sysfs_root=root)
    assert board.monitor_only
    assert board.freq_control == {"a57": None, "gpu": None}


@pytest.mark.parametrize("name, make", [("odroid-xu3", make_nano_tree), ("jetson-nano", make_xu3_tree),
                                        ("odroid-xu3", make_host_tree)])
def test_other_board_is_absent(tmp_path, name, make):
    with pytest.raises(BoardAbsentError, match=r"(model is .*, not |no (Odroid XU3|Jetson Nano) here)"):
        open_board(name, sysfs_root=make(tmp_path / "fs"))


@pytest.mark.parametrize("name", ["odroid-xu3", "jetson-nano"])
def test_boards_absent_on_this_machine(name):
    if os.path.exists("/sys/firmware/devicetree/base/model"):
        pytest.skip("this machine has a device tree; it may be one of the boards")
    with pytest.raises(BoardAbsentError, match=r"^/sys/\S+: no (Odroid XU3|Jetson Nano) here: "):
        open_board(name)
