"""Calibration (``dynscale profile --calibrate``): a platform rescaled to the board as it runs now."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from hw_agents import calibrate as calibrate_module
from hw_agents import open_board
from hw_agents import profiler as profiler_module
from hw_agents.agent_timing import MIN_WINDOW_TOLD, SPLIT_PERIODS_MS, kernel_tick_ms
from platform_models import load_platform, validate_platform
from tests.fake_sysfs import make_host_tree, make_nano_tree, make_xu3_tree, snapshot
from tests.support import TINY, scaled_copy, start_stoppable, wait_until

REPO = Path(__file__).resolve().parents[1]
N_CPUS = min(2, len(os.sched_getaffinity(0)))
DIGITS = {"arch": "alexnet-digits", "accuracy_from": TINY, "warmup": 0, "agent_frames": 0, "progress": False}


def _one_core_board(tmp_path: Path, repeats: int):
    """A fake host tree with one CPU, its board, and a table profiled on it with the digits net. One
    core: a 2-thread row's time swings several-fold beside the other tests' work on a 2-vCPU CI."""
    root = make_host_tree(tmp_path / "root", n_cpus=1, rapl=False)
    board = open_board("host", sysfs_root=root, journal_path=tmp_path / "restore.journal")
    return root, board, load_platform(profiler_module.profile(board, tmp_path / "profiled", repeats=repeats,
                                                              **DIGITS))


def test_calibrate_brings_a_wrong_table_back_to_this_board_and_restores_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dynscale.cli import main

    root, _, profiled = _one_core_board(tmp_path, repeats=10)
    slow = scaled_copy(profiled, 10.0, tmp_path / "slow")  # ten times this board's latency
    before = snapshot(root)

    code = main(["profile", "--board", "host", "--sysfs-root", str(root), "--calibrate", str(slow),
                 "--repeats", "10", "--warmup", "2", "--agent-frames", "5", "--out", str(tmp_path / "cal")])

    assert code == 0
    out = capsys.readouterr().out
    assert "cpu, 1 core: latency x" in out and "a core held by other work: the DNN's first" in out
    assert snapshot(root) == before  # the clocks the reference points set are given back
    calibrated_path = tmp_path / "cal" / "host.yaml"
    assert validate_platform(calibrated_path) == []
    calibrated, base = load_platform(calibrated_path), load_platform(slow)
    calibration = calibrated.descriptor["provenance"]["calibration"]
    assert calibrated.provenance_kind == "measured"  # the kind is kept; the calibration is added to it
    # a fair platform: a core held by other work, the live agent's inference timed there per k on this
    # machine's cpu 0, and the allowance and stretch fitted to it written (no longer the defaults 0, 2)
    assert calibrated.contention_stretch == calibrated.descriptor["contention_stretch"] >= 1.0
    assert calibrated.contention_allowance_ms == calibrated.descriptor["contention_allowance_ms"] >= 0.0
    assert calibration["contention"].startswith(
        f"allowance {calibrated.contention_allowance_ms} ms, stretch {calibrated.contention_stretch}, split "
        "share by frame period {")
    # and the share of frames split on the held core, at each frame period the simulator reads it at
    assert [period for period, _ in calibrated.contention_split_share] == list(SPLIT_PERIODS_MS)
    assert all(0.0 <= share <= 1.0 for _, share in calibrated.contention_split_share)
    assert calibrated.scheduler_tick_ms == kernel_tick_ms()  # this kernel's, where its configuration says
    # where in the tick the split frames arrived, written only where it tells enough frames right
    told = calibration["contention"].split("(telling ")[1].split(" ")[0]  # None: no tick, or nothing split
    end_ms = calibrated.contention_split_window_end_ms
    assert (end_ms is not None) == (told != "None" and float(told) >= MIN_WINDOW_TOLD)
    assert end_ms is None or 0.0 <= end_ms < calibrated.scheduler_tick_ms
    # and with it how much of the table's latency runs before a tick can split a frame
    assert (calibrated.contention_split_grace_ms is None) == (end_ms is None)
    # and the held core's turns, fitted to every frame timed there by its phase in the tick (with the
    # window only: the phase is what places each frame's first tick)
    assert (calibrated.contention_turn_extra_ms is None) == (end_ms is None)
    assert end_ms is None or ("its turns: a tick" in out and calibrated.contention_held_run_ratio > 0.0
                              and 0.0 <= calibrated.contention_turn_slice_ms <= calibrated.scheduler_tick_ms)
    per_k = calibration["contention"].split("(table ms, held ms): ")[1]
    assert per_k.startswith("{1: (") and "4: (" in per_k
    assert str(slow) in calibration["base"]
    (factor,) = calibration["latency_factor"]["cpu"].values()
    assert 0.02 < factor < 0.4  # about 1/10: the table was ten times too slow
    for new, old in zip(calibrated.rows, base.rows, strict=True):
        # one factor per core count, at every frequency; power kept (no sensor on this tree)
        expected = calibration["latency_factor"]["cpu"][new.cores]
        assert new.latency_ms_mean == pytest.approx(old.latency_ms_mean * expected, rel=1e-3, abs=1e-4)
        assert new.power_w_mean == old.power_w_mean
    assert calibration["power_factor"] == {"cpu": "kept: no sensor read at every reference point"}
    assert 0.0 < calibrated.pe("cpu").agent_overhead_ms < 100.0  # measured afresh
    assert "CALIBRATED" in calibrated.table_path.read_text().splitlines()[0]
    assert main(["platform", "show", str(calibrated_path)]) == 0
    assert capsys.readouterr().out.startswith(f"platform host (MEASURED, CALIBRATED) from {calibrated_path}")


def _table_point(board, model, x, point, **kwargs) -> dict:
    """A reference point's figures as stated, not measured: k / cores + 1 ms, 2 W read by a sensor."""
    return {"latency_ms_mean": point.groups / point.cores + 1.0, "latency_ms_std": 0.1,
            "latency_ms_p95": point.groups / point.cores + 1.2, "latency_n": 3, "power_w_mean": 2.0,
            "power_w_std": 0.0, "background_cores": 0.0, "power_measured": True}


def _four_core_board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fake four-core host and its table profiled from :func:`_table_point` (the real measurement is
    exercised above; this board has more cores than the VM)."""
    root = make_host_tree(tmp_path / "root", n_cpus=4, rapl=False)
    board = open_board("host", sysfs_root=root, journal_path=tmp_path / "restore.journal")
    monkeypatch.setattr(profiler_module, "measure_point", _table_point)
    return board, load_platform(profiler_module.profile(board, tmp_path / "profiled", repeats=3, **DIGITS))


def test_calibrate_interpolates_between_one_and_every_core_and_scales_measured_power(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A four-core board whose measurements are stated: table latency x 2 on one core, x 4 on four,
    # power x 1.5.
    board, platform = _four_core_board(tmp_path, monkeypatch)

    def board_now(board, model, x, point, **kwargs):
        table = _table_point(board, model, x, point)
        slower = {1: 2.0, 4: 4.0}[point.cores]
        return {**table, "latency_ms_mean": table["latency_ms_mean"] * slower, "power_w_mean": 3.0}

    monkeypatch.setattr(calibrate_module, "measure_point", board_now)
    calibrated = load_platform(calibrate_module.calibrate(board, platform, tmp_path / "cal", agent_frames=0))

    expected = {1: 2.0, 2: 2.0 + 2.0 / 3.0, 3: 2.0 + 4.0 / 3.0, 4: 4.0}
    for new, old in zip(calibrated.rows, platform.rows, strict=True):  # every frequency, every k
        assert new.latency_ms_mean / old.latency_ms_mean == pytest.approx(expected[new.cores], rel=1e-3)
    assert {r.power_w_mean for r in calibrated.rows} == {3.0}
    assert calibrated.descriptor["provenance"]["calibration"]["power_factor"] == {"cpu": 1.5}


def test_a_watched_calibration_takes_each_points_mean_over_its_rounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A board that runs at its table's speed in the first round and twice as slow in every later one.
    _, board, platform = _one_core_board(tmp_path, repeats=3)
    rounds = []

    def board_now(board, model, x, point, **kwargs):
        slower = 1.0 if len(rounds) < len(calibrate_module.reference_points(board, platform)) else 2.0
        rounds.append(point)
        return {"latency_ms_mean": platform.latency_ms(*point.key) * slower, "latency_ms_std": 0.1,
                "latency_ms_p95": 1.0, "latency_n": 3, "power_w_mean": 2.0, "power_w_std": 0.0,
                "background_cores": 0.0, "power_measured": False}

    monkeypatch.setattr(calibrate_module, "measure_point", board_now)
    monkeypatch.setattr(calibrate_module, "WATCH_PAUSE_S", 0.05)
    calibrated = load_platform(calibrate_module.calibrate(board, platform, tmp_path / "cal", agent_frames=0,
                                                          watch_s=0.3))
    watched = calibrated.descriptor["provenance"]["calibration"]["watched"]
    n = watched["rounds"]
    assert n >= 2 and len(rounds) == n * len(calibrate_module.reference_points(board, platform))
    assert watched["latency_factor_by_round"] == {"cpu": {1: [1.0] + [2.0] * (n - 1)}}
    for new, old in zip(calibrated.rows, platform.rows, strict=True):  # each point's mean over the rounds
        assert new.latency_ms_mean / old.latency_ms_mean == pytest.approx((1.0 + 2.0 * (n - 1)) / n, rel=1e-3)
    # a watch shorter than the first round still measures every point again, once
    rounds.clear()
    brief = load_platform(calibrate_module.calibrate(board, platform, tmp_path / "brief", agent_frames=0,
                                                     watch_s=1e-3))
    assert brief.descriptor["provenance"]["calibration"]["watched"]["rounds"] == 2
    # unwatched: one round, as before
    rounds.clear()
    once = load_platform(calibrate_module.calibrate(board, platform, tmp_path / "once", agent_frames=0))
    assert "watched" not in once.descriptor["provenance"]["calibration"]
    assert [r.latency_ms_mean for r in once.rows] == [r.latency_ms_mean for r in platform.rows]


def test_a_watched_calibrations_first_round_is_the_table_one_moment_would_have_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A four-core board at its table's speed, then 2x slower on one core and 4x on four in the first
    # round of a watch, and back at its table's speed in every later round.
    from platform_models.errors import PlatformError

    board, platform = _four_core_board(tmp_path, monkeypatch)
    n_points = len(calibrate_module.reference_points(board, platform))
    measured = []

    def board_now(board, model, x, point, **kwargs):
        table = _table_point(board, model, x, point)
        slower = {1: 2.0, 4: 4.0}[point.cores] if len(measured) < n_points else 1.0
        measured.append(point)
        return {**table, "latency_ms_mean": table["latency_ms_mean"] * slower}

    monkeypatch.setattr(calibrate_module, "measure_point", board_now)
    monkeypatch.setattr(calibrate_module, "WATCH_PAUSE_S", 0.05)
    watched = load_platform(calibrate_module.calibrate(board, platform, tmp_path / "cal", agent_frames=0,
                                                       watch_s=0.2))
    first_path = calibrate_module.first_round(watched, tmp_path / "first")

    assert first_path == tmp_path / "first" / "host.yaml" and validate_platform(first_path) == []
    first = load_platform(first_path)
    expected = {1: 2.0, 2: 2.0 + 2.0 / 3.0, 3: 2.0 + 4.0 / 3.0, 4: 4.0}  # linear between 1 and 4 cores
    for new, old in zip(first.rows, platform.rows, strict=True):
        assert new.latency_ms_mean / old.latency_ms_mean == pytest.approx(expected[new.cores], rel=1e-3)
    rounds = watched.descriptor["provenance"]["calibration"]["watched"]["rounds"]
    assert rounds >= 2 and watched.rows != first.rows  # the watch's mean is not its first round
    calibration = first.descriptor["provenance"]["calibration"]
    assert calibration["latency_factor"] == {"cpu": {1: 2.0, 4: 4.0}}
    assert "watched" not in calibration and "latency_ratios" not in calibration  # the watch's, not these
    said = calibration["first_round"]
    assert said["of"] == str(watched.path) and said["rounds"] == rounds
    assert said["watched_latency_factor"] == watched.descriptor["provenance"]["calibration"]["latency_factor"]
    assert said["method"].startswith(f"the first of the {rounds} rounds of the watched calibration")
    assert "CALIBRATED" in first.table_path.read_text().splitlines()[0]
    with pytest.raises(PlatformError, match="is not a watched calibration"):  # one round: nothing to take
        calibrate_module.first_round(platform, tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_profile_calibrate_watch_s_measures_this_board_for_that_long_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    from dynscale.cli import main

    root, _, profiled = _one_core_board(tmp_path, repeats=3)
    started = time.monotonic()
    code = main(["profile", "--board", "host", "--sysfs-root", str(root), "--calibrate", str(profiled.path),
                 "--repeats", "3", "--warmup", "1", "--agent-frames", "0", "--watch-s", "6",
                 "--out", str(tmp_path / "cal")])
    assert code == 0 and time.monotonic() - started >= 6.0
    out = capsys.readouterr().out
    watched = load_platform(tmp_path / "cal" / "host.yaml").descriptor["provenance"]["calibration"]["watched"]
    assert watched["rounds"] >= 2 and watched["seconds"] == 6.0
    assert f"per round, {watched['rounds']} over 6 s: " in out
    # --watch-s belongs to --calibrate (one line, exit 2); a negative one is a usage error; nothing written
    bad = ["profile", "--board", "host", "--sysfs-root", str(root), "--out", str(tmp_path / "bad")]
    assert main([*bad, "--watch-s", "6"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "field 'watch_s': --watch-s applies to --calibrate only" in err
    with pytest.raises(SystemExit) as exit_info:  # argparse checks the range, before any work
        main([*bad, "--calibrate", "host", "--watch-s", "-1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("--watch-s: expected a number >= 0, got '-1'")
    assert not (tmp_path / "bad").exists()


def test_calibrating_a_platform_of_another_board_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dynscale.cli import main

    root = make_host_tree(tmp_path / "root", n_cpus=N_CPUS, rapl=False)
    code = main(["profile", "--board", "host", "--sysfs-root", str(root), "--calibrate", str(TINY),
                 "--out", str(tmp_path / "cal")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "platform tiny has no PE that board host runs the DNN on" in err
    assert not (tmp_path / "cal").exists()

    code = main(["profile", "--board", "host", "--sysfs-root", str(root), "--calibrate", "host",
                 "--arch", "alexnet-digits", "--out", str(tmp_path / "cal")])
    assert code == 2
    assert "--arch and --accuracy-from do not apply" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "make_tree", "expected"), [
    ("odroid-xu3", make_xu3_tree, {"a7": {(1400.0, 1), (1400.0, 4)}, "a15": {(2000.0, 1), (2000.0, 4)}}),
    ("jetson-nano", make_nano_tree, {"a57": {(1479.0, 1), (1479.0, 4)}}),
])
def test_a_board_is_calibrated_on_its_cpu_clusters_at_their_top_clocks(tmp_path: Path, name, make_tree,
                                                                       expected) -> None:
    board = open_board(name, sysfs_root=make_tree(tmp_path / "root"),
                       journal_path=tmp_path / "restore.journal")
    points = calibrate_module.reference_points(board, load_platform(name))
    by_pe = {pe: {(p.freq_mhz, p.cores) for p in points if p.pe == pe} for pe in {p.pe for p in points}}
    assert by_pe == expected  # the GPU has no torch backend here: its rows are kept
    assert sorted({p.groups for p in points}) == [1, 2, 3, 4]


@pytest.mark.slow
def test_sigterm_mid_calibration_restores_the_board_writes_nothing_and_exits_143(tmp_path: Path) -> None:
    # Before, SIGTERM killed `profile --calibrate` by its default action (exit 143, no line).
    root, _, profiled = _one_core_board(tmp_path, repeats=1)
    before = snapshot(root)
    restore_journal = root.with_name(root.name + ".dynscale-journal.json")  # the session's, while it runs
    out = tmp_path / "cal"
    argv = ["profile", "--board", "host", "--sysfs-root", str(root), "--calibrate", str(profiled.path),
            "--repeats", "2", "--warmup", "0", "--agent-frames", "0", "--watch-s", "60", "--out", str(out)]
    run = start_stoppable("-m", "dynscale", *argv)
    wait_until(restore_journal.exists)
    time.sleep(0.5)  # into the reference points
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGTERM, err
    assert err == "dynscale: terminated\n"
    assert snapshot(root) == before and not restore_journal.exists()
    assert not out.exists()  # nothing written: a calibration writes its platform at the end
