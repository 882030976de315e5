"""`dynscale board probe` and `board restore` as a user runs them, on fake trees and this machine."""

from __future__ import annotations

import json
import os

import pytest

from dynscale.cli import main
from tests.fake_sysfs import make_host_tree, make_nano_tree, make_xu3_tree

LAYOUTS = [("odroid-xu3", lambda root: make_xu3_tree(root, kernel="3.10")),
           ("odroid-xu3", lambda root: make_xu3_tree(root, kernel="4.14")),
           ("odroid-xu3", lambda root: make_xu3_tree(root, kernel="5.4")),
           ("jetson-nano", make_nano_tree),
           ("host", make_host_tree)]


@pytest.mark.parametrize("board, make", LAYOUTS)
def test_probe_json_of_every_layout(tmp_path, capsys, board, make):
    root = make(tmp_path / "fs")
    assert main(["board", "probe", "--board", board, "--sysfs-root", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"pes", "rails", "thermal_zones", "missing"} <= set(report)
    for pe in report["pes"]:
        assert {"name", "cpus", "freqs_mhz"} <= set(pe) and pe["freqs_mhz"]
    assert report["rails"] and all(rail["power_w"] is not None for rail in report["rails"])


def test_probe_text_lists_pes_rails_zones_and_missing(tmp_path, capsys):
    root = make_nano_tree(tmp_path / "fs")
    assert main(["board", "probe", "--board", "jetson-nano", "--sysfs-root", str(root)]) == 0
    out = capsys.readouterr().out
    for expected in ("a57", "gpu", "POM_5V_IN", "CPU-therm", "nvhost_podgov", "missing or not permitted"):
        assert expected in out


def test_probe_names_the_unwritable_file_and_goes_monitor_only(tmp_path, capsys):
    root = make_host_tree(tmp_path / "fs")
    setspeed = root / "sys/devices/system/cpu/cpufreq/policy2/scaling_setspeed"
    os.chmod(setspeed, 0o444)
    assert main(["board", "probe", "--sysfs-root", str(root), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"dynscale: warning: {setspeed}: not permitted: cannot write (mode 0444")
    report = json.loads(captured.out)
    assert report["monitor_only"] is True
    assert any(entry["path"] == str(setspeed) and entry["why"].startswith("not permitted")
               for entry in report["missing"])


def test_probe_of_this_machine(capsys):
    assert main(["board", "probe", "--board", "host", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (pe,) = [pe for pe in report["pes"] if pe["name"] == "cpu"]
    assert set(os.sched_getaffinity(0)) <= set(pe["cpus"])
    assert pe["freqs_mhz"]


def test_absent_board_is_one_line_and_exit_2(tmp_path, capsys):
    root = make_host_tree(tmp_path / "fs")
    assert main(["board", "probe", "--board", "odroid-xu3", "--sysfs-root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("dynscale: error: ") and "no Odroid XU3 here" in err


def test_restore_without_journal_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["board", "restore", "--sysfs-root", str(tmp_path / "fs")]) == 2
    journal = tmp_path / "fs.dynscale-journal.json"
    assert capsys.readouterr().err == f"dynscale: error: {journal}: no journal here: nothing to restore\n"
