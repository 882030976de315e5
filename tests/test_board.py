"""Board facade on a Linux host: discovery, frequency control, power, pinning, permissions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hw_agents import BoardError, open_board
from hw_agents._rails import EnergyCounterRail
from tests.fake_sysfs import make_host_tree, snapshot

POLICY0 = "sys/devices/system/cpu/cpufreq/policy0"


def read(root, relative):
    return (root / relative).read_text().strip()


def test_host_with_acpi_cpufreq_uses_userspace_and_restores_every_byte(tmp_path):
    root = make_host_tree(tmp_path / "fs")
    before = snapshot(root)
    board = open_board("host", sysfs_root=root)
    assert board.pe("cpu").cpus == (0, 1, 2, 3)
    assert board.pe("cpu").freqs_mhz == (800.0, 1200.0, 1800.0, 2400.0, 3000.0)
    assert board.freq_control == {"cpu": "userspace"}
    with board.session():
        assert board.set_frequency("cpu", 1800) is True
        for cpu in range(4):
            policy = f"sys/devices/system/cpu/cpufreq/policy{cpu}"
            assert read(root, f"{policy}/scaling_governor") == "userspace"
            assert read(root, f"{policy}/scaling_setspeed") == "1800000"
        assert board.journal_path.exists()
    assert snapshot(root) == before
    assert not board.journal_path.exists()


@pytest.mark.parametrize("first_mhz, second_mhz", [(1200, 2500), (2500, 900), (800, 3000)])
def test_intel_pstate_clamps_min_and_max_keeping_min_below_max(tmp_path, first_mhz, second_mhz):
    root = make_host_tree(tmp_path / "fs", driver="intel_pstate")
    before = snapshot(root)
    board = open_board("host", sysfs_root=root)
    assert board.freq_control == {"cpu": "clamp"}
    assert 2500.0 in board.pe("cpu").freqs_mhz
    with board.session():
        for mhz in (first_mhz, second_mhz):
            board.set_frequency("cpu", mhz)
            assert read(root, f"{POLICY0}/scaling_min_freq") == str(mhz * 1000)
            assert read(root, f"{POLICY0}/scaling_max_freq") == str(mhz * 1000)
    assert snapshot(root) == before


def test_clamp_refuses_min_above_max_as_the_kernel_does(tmp_path):
    from hw_agents._cpufreq import set_min_max

    root = make_host_tree(tmp_path / "fs", driver="intel_pstate")
    policy = root / POLICY0
    written = []
    with pytest.raises(BoardError, match=r"scaling_min_freq: refused: min 5000000 above max 3000000$"):
        # A writer that skips writing max models a kernel that refused it: min must then be refused.
        set_min_max(policy / "scaling_min_freq", policy / "scaling_max_freq", 5_000_000,
                    lambda path, value: written.append(path.name))
    assert written == ["scaling_max_freq"]


def test_host_without_cpufreq_has_one_nominal_level_and_says_so(tmp_path):
    root = make_host_tree(tmp_path / "fs", driver="none")
    board = open_board("host", sysfs_root=root)
    report = board.probe()
    assert report.pes[0].freqs_mhz == (2000.0,)
    assert board.freq_control == {"cpu": None}
    whys = dict(report.missing)
    assert "cpufreq absent" in whys[str(root / "proc/cpuinfo")]
    with board.session():
        assert board.set_frequency("cpu", 2000) is False
    with pytest.raises(BoardError, match=r"^field 'freq_mhz': 1000 MHz is not a level of PE 'cpu': 2000$"):
        board.set_frequency("cpu", 1000)


def test_set_frequency_outside_a_session_is_refused(tmp_path):
    board = open_board("host", sysfs_root=make_host_tree(tmp_path / "fs"))
    with pytest.raises(BoardError, match=r"outside `with board.session\(\):`"):
        board.set_frequency("cpu", 800)


def test_unwritable_control_file_names_it_and_falls_back_to_monitor_only(tmp_path):
    root = make_host_tree(tmp_path / "fs")
    os.chmod(root / POLICY0 / "scaling_setspeed", 0o444)
    before = snapshot(root)
    expected = r"policy0/scaling_setspeed: not permitted: cannot write \(mode 0444.*monitor-only mode"
    with pytest.warns(UserWarning, match=expected):
        board = open_board("host", sysfs_root=root)
    assert board.monitor_only and board.freq_control == {"cpu": None}
    assert (str(root / POLICY0 / "scaling_setspeed"), board.missing[-1][1]) in board.probe().missing
    with board.session():
        assert board.set_frequency("cpu", 1800) is False
    assert snapshot(root) == before


def test_monitor_only_on_request_writes_nothing(tmp_path):
    root = make_host_tree(tmp_path / "fs")
    before = snapshot(root)
    board = open_board("host", sysfs_root=root, monitor_only=True)
    with board.session():
        assert board.set_frequency("cpu", 3000) is False
    assert snapshot(root) == before and not board.journal_path.exists()


def test_unreadable_rapl_counter_is_reported_not_read_as_zero(tmp_path):
    root = make_host_tree(tmp_path / "fs")
    energy = root / "sys/devices/virtual/powercap/intel-rapl/intel-rapl:0/energy_uj"
    os.chmod(energy, 0o000)
    board = open_board("host", sysfs_root=root)
    assert "package-0" not in board.rails
    assert any(path.endswith("intel-rapl:0/energy_uj") and "root-only since Linux 5.10" in why
               for path, why in board.missing)


def test_rapl_power_is_energy_over_time_across_a_wrap(tmp_path):
    counter = tmp_path / "energy_uj"
    counter.write_text("999000000\n")
    clock = iter([10.0, 12.0, 14.0]).__next__
    rail = EnergyCounterRail("package-0", "cpu", counter, max_range_uj=1_000_000_000, clock=clock)
    counter.write_text("999000000\n")
    assert rail.read_w() == 0.0
    counter.write_text("3000000\n")  # wrapped: 1 J to the top, 3 J after
    assert rail.read_w() == pytest.approx(4.0 / 2.0)


def test_host_rails_and_zones_by_name(tmp_path):
    board = open_board("host", sysfs_root=make_host_tree(tmp_path / "fs"))
    assert board.rails == ("package-0", "package-0/core", "package-0/dram")
    assert board.read_temperatures_c() == {"acpitz": 40.0, "x86_pkg_temp": 41.0}
    assert set(board.read_power_w()) == set(board.rails)
    assert board.pe_power_w("cpu") is not None


def test_real_host_read_only(tmp_path):
    """This machine's real /sys and /proc: discovery never writes, pinning works and is undone."""
    board = open_board("host", journal_path=tmp_path / "journal.json")
    online = Path("/sys/devices/system/cpu/online").read_text().strip()
    cpus = board.pe("cpu").cpus
    assert f"{cpus[0]}-{cpus[-1]}" == online or online == str(cpus[0])
    assert board.pe("cpu").freqs_mhz, board.missing
    report = board.probe().as_dict()
    assert {"pes", "rails", "thermal_zones", "missing"} <= set(report)
    affinity = os.sched_getaffinity(0)
    with board.session():
        assert board.pin("cpu", cores=1) == {cpus[0]}
        assert os.sched_getaffinity(0) == {cpus[0]}
    assert os.sched_getaffinity(0) == affinity


def test_pin_checks_cores(tmp_path):
    board = open_board("host", sysfs_root=make_host_tree(tmp_path / "fs", n_cpus=2))
    with pytest.raises(BoardError, match=r"^field 'cores': expected 1..2 for PE 'cpu', got 3$"):
        board.pin("cpu", cores=3)
    with pytest.raises(BoardError, match=r"^field 'cores': expected CPUs of PE 'cpu' \[0, 1\], got \[7\]$"):
        board.pin("cpu", cores=[7])


def test_unknown_board_and_pe(tmp_path):
    expected = r"^field 'board': unknown board 'xu4'; expected one of odroid-xu3, jetson-nano, host$"
    with pytest.raises(BoardError, match=expected):
        open_board("xu4")
    board = open_board("host", sysfs_root=make_host_tree(tmp_path / "fs"))
    with pytest.raises(BoardError, match=r"^field 'pe': no PE 'gpu' on host; it has cpu$"):
        board.set_frequency("gpu", 100)


def test_hw_agents_imports_without_gymnasium_simpy_or_sb3():
    code = ("import sys, hw_agents, hw_agents.board; "
            "bad = [m for m in ('gymnasium', 'simpy', 'stable_baselines3') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


class FakeNVML:
    """The few pynvml calls the NVML backend makes, answering as an RTX-class GPU would."""

    class NVMLError(Exception):
        pass

    def __init__(self, fail_init: bool = False) -> None:
        self.fail_init = fail_init

    def nvmlInit(self):
        if self.fail_init:
            raise self.NVMLError("Driver Not Loaded")

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("gpu", index)

    def nvmlDeviceGetPowerUsage(self, handle):
        return 45_250  # mW

    def nvmlDeviceGetSupportedMemoryClocks(self, handle):
        return [5001, 810]

    def nvmlDeviceGetSupportedGraphicsClocks(self, handle, memory_mhz):
        return [1980, 1410, 210] if memory_mhz == 5001 else [210]


def test_nvidia_gpu_through_nvml_when_installed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNVML())
    board = open_board("host", sysfs_root=make_host_tree(tmp_path / "fs"))
    assert board.pe("gpu").freqs_mhz == (210.0, 1410.0, 1980.0)
    assert board.freq_control["gpu"] is None
    assert board.pe_power_w("gpu") == pytest.approx(45.25)
    assert board.read_power_w()["nvidia-gpu0"] == pytest.approx(45.25)


@pytest.mark.parametrize("module, why", [
    (None, "not installed (pip install nvidia-ml-py)"),
    (FakeNVML(fail_init=True), "no NVIDIA driver or GPU: Driver Not Loaded"),
])
def test_nvml_absent_is_reported_missing_never_a_crash(tmp_path, monkeypatch, module, why):
    monkeypatch.setitem(sys.modules, "pynvml", module)  # None makes `import pynvml` raise ImportError
    board = open_board("host", sysfs_root=make_host_tree(tmp_path / "fs"))
    assert [pe.name for pe in board.pes] == ["cpu"]
    assert any(why in reason for _, reason in board.missing)
