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
from tests.fake_sysfs import make_host_tree, make_xu3_tree
from tests.support import stderr_on_a_terminal
from traces import Trace, save_trace

REPO = Path(__file__).resolve().parents[1]


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


def _trace(tmp_path: Path) -> Path:
    return save_trace(Trace(platform="host", kind="steady", split="eval", frame_period_ms=100.0,
                            duration_s=0.3, time_s=[0.0], load={"cpu": [0.0]}, latency_budget_ms=[200.0]),
                      tmp_path / "trace.csv")


def _deploy(board, trace: Path | str, out: Path, *extra: str) -> int:
    """``dynscale deploy`` of lookup for 0.3 s, no load, on ``board``'s tree."""
    return main(["deploy", "--board", board.name, "--sysfs-root", str(board.sysfs_root), "--controller",
                 "lookup", "--trace", str(trace), "--duration", "0.3", "--no-load", "--out", str(out),
                 *extra])


@pytest.mark.slow
def test_deploy_calibrates_another_machines_table_first_and_says_so(
    fake_host, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    with stderr_on_a_terminal() as terminal:  # --json: no bar, even on a terminal
        code = _deploy(fake_host, _trace(tmp_path), out, "--watch-s", "1", "--json")
    assert code == 0
    err = b"".join(terminal).decode(errors="replace")
    assert "was measured on another machine" in err and "per reference point, watched for 1 s)" in err
    assert "%|" not in err, err  # tqdm's bar: "watch: 100%|###...| 1/1 [...]"
    summary = json.loads(capsys.readouterr().out)
    assert summary["platform"] == str(out / "platform" / "host.yaml")
    assert "calibrated to this one (watched for 1 s) into" in summary["calibrated"]
    assert json.loads((out / "summary.json").read_text())["calibrated"] == summary["calibrated"]
    calibrated = load_platform(summary["platform"])
    assert other_machine(fake_host, calibrated) == []
    assert calibrated.descriptor["provenance"]["calibration"]["watched"]["rounds"] >= 2
    # that table is this machine's now: no calibration of deploy's own to watch (one line, exit 2)
    again = tmp_path / "again"
    code = _deploy(fake_host, _trace(tmp_path), again, "--platform", summary["platform"], "--watch-s", "1")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and not again.exists()
    assert (f"field 'watch_s': --watch-s watches deploy's own calibration of another machine's table, and "
            f"platform host ({summary['platform']}) is this machine's table (measured or calibrated "
            "here)") in err


@pytest.mark.slow
def test_deploy_shows_its_watched_calibration_on_a_terminal(fake_host, tmp_path: Path, capsys) -> None:
    with stderr_on_a_terminal() as terminal:
        code = _deploy(fake_host, _trace(tmp_path), tmp_path / "run", "--watch-s", "1")
    assert code == 0
    err = b"".join(terminal).decode(errors="replace")
    assert "calibrate: 100%" in err and "watch: 100%" in err and "1/1 [" in err, err
    assert "per reference point, watched for 1 s)" in capsys.readouterr().out


def test_deploy_refuses_a_watch_with_no_calibration_to_watch(fake_host, tmp_path: Path, capsys) -> None:
    trace = _trace(tmp_path)
    out = tmp_path / "run"
    assert _deploy(fake_host, trace, out, "--watch-s", "1", "--no-calibrate") == 2
    err = capsys.readouterr().err
    assert err == ("dynscale: error: field 'watch_s': --watch-s watches deploy's own calibration of another "
                   "machine's table, which --no-calibrate turns off: pass one of them\n")
    xu3 = open_board("odroid-xu3", sysfs_root=make_xu3_tree(tmp_path / "xu3"),
                     journal_path=tmp_path / "xu3.journal")
    xu3_trace = REPO / "traces" / "data" / "odroid-xu3" / "bursty-eval-s103.csv"
    assert _deploy(xu3, xu3_trace, out, "--watch-s", "1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "is a derived table (it names no machine): deploy does not calibrate it" in err
    assert "`dynscale profile --board odroid-xu3 --calibrate " in err
    with pytest.raises(SystemExit) as exit_info:  # argparse checks the range, before any work
        _deploy(fake_host, trace, out, "--watch-s", "-1")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("--watch-s: expected a number >= 0, got '-1'")
    assert not out.exists()


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
