"""One run per board, and signals at any moment (issue 14): two deploys started together on one fake
tree never both run and leave the tree as it was; `board restore` leaves a live run's journal alone;
SIGINT or SIGTERM mid-run writes the summary of what ran and exits 128 + its number, and at start-up
exits the same way with the tree untouched, never with an abort or a traceback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynscale.cli import main
from tests.fake_sysfs import make_host_tree, make_nano_tree, snapshot
from tests.support import REPO, n_lines, start_child, start_stoppable, wait_until
from traces import Trace, save_trace

# How many times the race is run: a few in CI, many under `make fuzz` (DYNSCALE_RACES=50).
RACES = int(os.environ.get("DYNSCALE_RACES", "2"))


# A run that takes the board (argv[1]) as soon as a file (argv[2]) appears, and holds it.
TAKER = """
import pathlib, sys, time
from hw_agents import open_board
print("ready", flush=True)
while not pathlib.Path(sys.argv[2]).exists():
    time.sleep(0.005)
with open_board("host", sysfs_root=sys.argv[1]).session():
    print("taken", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def nano(tmp_path: Path) -> Path:
    root = make_nano_tree(tmp_path / "fs")
    (root / "proc").mkdir(exist_ok=True)
    shutil.copy("/proc/stat", root / "proc" / "stat")  # a snapshot: its load reads idle
    return root


def _trace(tmp_path: Path, duration_s: float) -> Path:
    trace = Trace(platform="jetson-nano", kind="steady", split="eval", frame_period_ms=100.0,
                  duration_s=duration_s, time_s=[0.0], load={"a57": [0.0], "gpu": [0.0]},
                  latency_budget_ms=[200.0])
    return save_trace(trace, tmp_path / "trace.csv")


def _deploy(root: Path, trace: Path, out: Path, duration_s: float) -> subprocess.Popen:
    return start_stoppable("-m", "dynscale", "deploy", "--board", "jetson-nano", "--sysfs-root", str(root),
                           "--controller", "lookup", "--trace", str(trace), "--duration", str(duration_s),
                           "--no-load", "--out", str(out), "--json")


@pytest.mark.slow
def test_two_deploys_started_together_never_both_run(tmp_path: Path, nano: Path) -> None:
    before = snapshot(nano)
    trace = _trace(tmp_path, 4.0)
    for race in range(RACES):
        outs = [tmp_path / f"race{race}-{i}" for i in range(2)]
        runs = [_deploy(nano, trace, out, 4.0) for out in outs]
        results = [(run.pid, *run.communicate(timeout=180), run.returncode) for run in runs]
        codes = sorted(code for *_, code in results)
        assert codes == [0, 2], results
        (winner, *_), (_, _, err, _) = sorted(results, key=lambda r: r[-1])
        assert "Traceback" not in err and [line for line in err.splitlines() if "dynscale:" in line] == [
            err.splitlines()[-1]
        ], err
        assert f"in use by a running dynscale (pid {winner}: " in err and " deploy " in err, err
        assert [out.exists() for out in outs] == [pid == winner for pid in (runs[0].pid, runs[1].pid)]
        assert snapshot(nano) == before
        assert not list(tmp_path.glob("fs.dynscale-journal.json"))


def test_board_restore_leaves_a_live_runs_journal_alone(tmp_path: Path, capsys) -> None:
    root = make_nano_tree(tmp_path / "fs")
    before = snapshot(root)
    journal = tmp_path / "journal.json"
    child = start_child("jetson-nano", root, journal)
    changed = snapshot(root)
    assert changed != before and journal.exists()
    assert main(["board", "restore", "--journal", str(journal)]) == 2
    err = capsys.readouterr().err
    assert f"in use by a running dynscale (pid {child.pid}: " in err
    assert snapshot(root) == changed and journal.exists()  # the live run's clocks and journal untouched
    child.terminate()
    child.communicate(timeout=20)
    assert snapshot(root) == before and not journal.exists()


@pytest.mark.slow
def test_a_deploy_refused_after_it_calibrated_leaves_no_out_folder(tmp_path: Path, capsys) -> None:
    # Another run takes the board between deploy's calibration (another machine's table: the
    # shipped host table is a Xeon's, this tree a 1-core "Fake CPU") and its run.
    root = make_host_tree(tmp_path / "fs", driver="none", n_cpus=1, rapl=False)
    (root / "proc" / "stat").write_text("cpu  100 0 100 1000 0 0 0 0 0 0\ncpu0 100 0 100 1000 0 0 0 0 0 0\n")
    out = tmp_path / "run"
    taker = subprocess.Popen([sys.executable, "-c", TAKER, str(root), str(out / "platform" / "host.yaml")],
                             cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert taker.stdout.readline() == "ready\n"  # imported (on a loaded machine, slower than the deploy)
    trace = save_trace(Trace(platform="host", kind="steady", split="eval", frame_period_ms=100.0,
                             duration_s=0.3, time_s=[0.0], load={"cpu": [0.0]}, latency_budget_ms=[200.0]),
                       tmp_path / "trace.csv")
    try:
        code = main(["deploy", "--board", "host", "--sysfs-root", str(root), "--controller", "lookup",
                     "--trace", str(trace), "--duration", "0.3", "--no-load", "--out", str(out), "--json"])
        assert taker.stdout.readline() == "taken\n"
    finally:
        taker.kill()
        taker.communicate(timeout=20)
    err = capsys.readouterr().err
    assert code == 2 and "deploy calibrates it first" in err and "in use by a running dynscale" in err, err
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "word"), [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")])
def test_a_signal_mid_run_writes_the_summary_of_what_ran_and_exits_128_plus_its_number(
        tmp_path: Path, nano: Path, signum: int, word: str) -> None:
    before = snapshot(nano)
    out = tmp_path / "run"
    run = _deploy(nano, _trace(tmp_path, 60.0), out, 60.0)
    log = out / "deploy-log.csv"
    wait_until(lambda: n_lines(log) >= 3)
    run.send_signal(signum)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signum, err
    assert "Traceback" not in err and err.splitlines()[-1].startswith(f"dynscale: {word} after"), err
    summary = json.loads((out / "summary.json").read_text())
    rows = log.read_bytes().split(b"\n")
    assert summary["interrupted"] is True and summary["n_inferences"] == len(rows) - 2 >= 2
    assert b"\r" not in log.read_bytes()
    assert snapshot(nano) == before


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "delay_s"),
                         [(signal.SIGINT, 0.5), (signal.SIGINT, 1.3), (signal.SIGTERM, 0.9)])
def test_a_signal_at_start_up_ends_the_run_cleanly(tmp_path: Path, nano: Path, signum: int,
                                                   delay_s: float) -> None:
    # Before torch was imported inside the held window, 4 runs in 60 with SIGINT 0.3-1.8 s in ended
    # by an abort inside torch's import (exit -6), by the signal (exit -2), or lost the signal (exit 0).
    before = snapshot(nano)
    run = _deploy(nano, _trace(tmp_path, 60.0), tmp_path / "run", 60.0)
    time.sleep(delay_s)
    run.send_signal(signum)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 128 + signum, err  # never -6 (an abort inside torch), never a traceback
    assert "Traceback" not in err and "terminate called" not in err
    assert snapshot(nano) == before
