"""Whose machine a measured table describes (hw_agents.machine), and deploy calibrating another's first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dynscale.cli import main
from hw_agents import open_board
from hw_agents.calibrate import calibrate
from hw_agents.machine import machine_of, other_machine, other_machine_line
from platform_models import load_platform
from tests.fake_sysfs import make_host_tree
from traces import Trace, save_trace


@pytest.fixture
def fake_host(tmp_path: Path):
    # The shipped host table was measured on a 2-core Intel Xeon VM at 2000 MHz; this tree is a 1-core
    # "Fake CPU" whose clock (cpuinfo's 2000 MHz) is not settable.
    root = make_host_tree(tmp_path / "root", driver="none", n_cpus=1, rapl=False)
    (root / "proc" / "stat").write_text("cpu  100 0 100 1000 0 0 0 0 0 0\ncpu0 100 0 100 1000 0 0 0 0 0 0\n")
    return open_board("host", sysfs_root=root, journal_path=tmp_path / "restore.journal")


def test_the_shipped_host_table_is_another_machines(fake_host) -> None:
    shipped = load_platform("host")
    differences = other_machine(fake_host, shipped)
    assert differences == ["CPU 'Intel(R) Xeon(R) Processor', here 'Fake CPU @ 2.00GHz'",
                           "cpu 2 cores, here 1"]
    line = other_machine_line(fake_host, shipped, differences)
    assert "\n" not in line
    assert "`dynscale profile --board host --calibrate host --out DIR`" in line


def test_derived_tables_name_no_machine(fake_host) -> None:
    assert other_machine(fake_host, load_platform("odroid-xu3")) == []


def test_a_table_calibrated_here_is_this_machines(fake_host, tmp_path: Path) -> None:
    path = calibrate(fake_host, load_platform("host"), tmp_path / "cal", repeats=2, warmup=0, agent_frames=0)
    calibrated = load_platform(path)
    assert calibrated.descriptor["provenance"]["calibration"]["machine"] == machine_of(fake_host)
    assert other_machine(fake_host, calibrated) == []
    other = open_board("host", sysfs_root=make_host_tree(tmp_path / "two", driver="none", n_cpus=2,
                                                           rapl=False))
    assert other_machine(other, calibrated) == ["cpu 1 cores, here 2"]


@pytest.mark.slow
def test_deploy_calibrates_another_machines_table_first_and_says_so(
    fake_host, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = save_trace(Trace(platform="host", kind="steady", split="eval", frame_period_ms=100.0,
                             duration_s=0.3, time_s=[0.0], load={"cpu": [0.0]},
                             latency_budget_ms=[200.0]), tmp_path / "trace.csv")
    out = tmp_path / "run"
    code = main(["deploy", "--board", "host", "--sysfs-root", str(fake_host.sysfs_root), "--controller",
                 "lookup", "--trace", str(trace), "--duration", "0.3", "--no-load", "--out", str(out),
                 "--json"])
    assert code == 0
    captured = capsys.readouterr()
    assert "was measured on another machine" in captured.err and "deploy calibrates it first" in captured.err
    summary = json.loads(captured.out)
    assert summary["platform"] == str(out / "platform" / "host.yaml")
    assert "calibrated to this one" in summary["calibrated"]
    assert json.loads((out / "summary.json").read_text())["calibrated"] == summary["calibrated"]
    assert other_machine(fake_host, load_platform(summary["platform"])) == []


def test_a_bad_pes_is_refused_before_deploy_calibrates(fake_host, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    trace = save_trace(Trace(platform="host", kind="steady", split="eval", frame_period_ms=100.0,
                             duration_s=0.3, time_s=[0.0], load={"cpu": [0.0]},
                             latency_budget_ms=[200.0]), tmp_path / "trace.csv")
    out = tmp_path / "run"
    code = main(["deploy", "--board", "host", "--sysfs-root", str(fake_host.sysfs_root), "--controller",
                 "lookup", "--trace", str(trace), "--pes", "npu", "--no-load", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "calibrates" not in err and not out.exists()
    assert err.splitlines()[-1].endswith("field 'pes': platform host has no PE npu (it has cpu)"), err
