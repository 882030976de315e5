"""The profiler on a fake host tree: a measured platform that validates, and a sweep that resumes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from hw_agents import open_board
from hw_agents import profiler as profiler_module
from hw_agents.agent_timing import SPLIT_PERIODS_MS
from platform_models import load_platform, validate_platform
from tests.fake_sysfs import make_host_tree, snapshot
from tests.support import TINY, n_lines, start_stoppable, wait_until

REPO = Path(__file__).resolve().parents[1]
N_CPUS = min(2, len(os.sched_getaffinity(0)))
SWEEP = {"arch": "alexnet-digits", "accuracy_from": TINY, "repeats": 2, "warmup": 0, "agent_frames": 0,
         "progress": False}


def _board(tmp_path: Path, n_cpus: int = N_CPUS):
    root = make_host_tree(tmp_path / "root", n_cpus=n_cpus, rapl=False)
    return open_board("host", sysfs_root=root, journal_path=tmp_path / "restore.journal"), root


def test_profile_writes_a_measured_platform_that_validates(tmp_path: Path) -> None:
    board, root = _board(tmp_path)
    before = snapshot(root)
    yaml_path = profiler_module.profile(board, tmp_path / "out", **{**SWEEP, "repeats": 1, "agent_frames": 5})
    assert validate_platform(yaml_path) == []
    platform = load_platform(yaml_path)
    assert platform.provenance_kind == "measured"
    provenance = platform.descriptor["provenance"]
    assert {"host", "date", "tool", "method"} <= set(provenance)
    assert "NOT MEASURED" in provenance["power"]  # no RAPL in this tree: power is a labelled estimate
    assert "agent_overhead_ms: median over 5 frames" in provenance["method"]
    (pe,) = platform.pes
    assert pe.name == "cpu" and len(pe.freqs_mhz) == 5  # the acpi-cpufreq table, clocks settable
    assert 0.0 < pe.agent_overhead_ms < 100.0  # the live agent's own work per frame, timed
    # and its inference on this machine's held cores, per k: the fair rule's figures fitted to it
    assert platform.contention == "fair" and platform.contention_stretch >= 1.0
    assert provenance["contention"].startswith(
        f"allowance {platform.contention_allowance_ms} ms, stretch {platform.contention_stretch}, split ")
    assert "(table ms, held ms): {1: (" in provenance["contention"]
    assert [period for period, _ in platform.contention_split_share] == list(SPLIT_PERIODS_MS)
    points = {(r.freq_mhz, r.cores, r.groups) for r in platform.rows}
    assert len(points) == 5 * N_CPUS * 4
    assert all(r.latency_n == 1 and r.latency_ms_mean > 0 for r in platform.rows)
    assert snapshot(root) == before  # governor and frequencies restored
    assert not list((tmp_path / "out").glob(".profile-journal*"))


def test_interrupted_profile_resumes_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    board, root = _board(tmp_path, n_cpus=1)  # one core: 20 points, enough to interrupt and resume
    before = snapshot(root)
    real_measure = profiler_module.measure_point
    measured: list[object] = []

    def interrupted_after_three(*args, **kwargs):
        if len(measured) == 3:
            raise KeyboardInterrupt
        measured.append(args[3])
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(profiler_module, "measure_point", interrupted_after_three)
    with pytest.raises(KeyboardInterrupt):
        profiler_module.profile(board, tmp_path / "out", **SWEEP)
    assert not (tmp_path / "out" / "host.yaml").exists()  # no partial platform
    assert snapshot(root) == before

    measured_again: list[object] = []

    def counting(*args, **kwargs):
        measured_again.append(args[3])
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(profiler_module, "measure_point", counting)
    yaml_path = profiler_module.profile(board, tmp_path / "out", **SWEEP)
    assert set(measured_again).isdisjoint(measured)
    assert len(measured_again) == 5 * 4 - 3
    assert len(load_platform(yaml_path).rows) == 5 * 4


def test_profile_with_a_checkpoint_records_its_accuracy(tmp_path: Path) -> None:
    import dnn
    from dnn.checkpoint import save_checkpoint

    save_checkpoint(dnn.build_model("alexnet-digits"), tmp_path / "ckpt",
                    [{"groups": k, "top1": 0.5 + 0.1 * k, "confidence": 0.9} for k in range(1, 5)])
    board, _ = _board(tmp_path, n_cpus=1)
    sweep = {**SWEEP, "accuracy_from": None, "repeats": 1}
    yaml_path = profiler_module.profile(board, tmp_path / "out", checkpoint=tmp_path / "ckpt", **sweep)
    platform = load_platform(yaml_path)
    assert platform.accuracy == pytest.approx((0.6, 0.7, 0.8, 0.9))
    assert str(tmp_path / "ckpt") in platform.descriptor["dnn"]["weights"]
    assert platform.descriptor["dnn"]["arch"] == "alexnet-digits"


def test_profile_verb_on_an_absent_board_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dynscale.cli import main

    code = main(["profile", "--board", "odroid-xu3", "--sysfs-root", str(tmp_path), "--out", str(tmp_path)])
    assert code == 2
    assert "error" in capsys.readouterr().err


def test_profile_names_the_points_whose_latency_was_noisy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    board, _ = _board(tmp_path, n_cpus=1)
    real_measure = profiler_module.measure_point

    def one_noisy_point(*args, **kwargs):
        result = real_measure(*args, **kwargs)
        point = args[3]
        if (point.freq_mhz, point.groups) == (max(board.pe("cpu").freqs_mhz), 2):
            result["latency_ms_std"] = result["latency_ms_mean"]  # std / mean = 1: a VM's neighbours
        else:
            result["latency_ms_std"] = 0.1 * result["latency_ms_mean"]
        return result

    monkeypatch.setattr(profiler_module, "measure_point", one_noisy_point)
    yaml_path = profiler_module.profile(board, tmp_path / "out", **SWEEP)
    spread = load_platform(yaml_path).descriptor["provenance"]["latency_spread"]
    top = f"{max(board.pe('cpu').freqs_mhz):g}"
    assert spread == ("latency std / mean: median 0.10, max 1.00; 1 of 20 points (pe/freq/cores/k) "
                      f"above 0.5: cpu/{top}/1/2 (1.00) (re-measure on a quiet machine)")


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "word"), [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")])
def test_a_signal_mid_sweep_restores_the_board_keeps_the_journal_and_exits_128_plus_its_number(
        tmp_path: Path, signum: int, word: str) -> None:
    # Before, SIGTERM killed `profile` by its default action (exit 143, no line); the board was
    # restored by the session's handler, the journal kept, as a Ctrl-C does.
    root = make_host_tree(tmp_path / "root", n_cpus=1, rapl=False)
    before = snapshot(root)
    out = tmp_path / "out"
    # 2 x 100 ms idle gaps per point: the 20 points take seconds, time to stop it after two
    argv = ["profile", "--board", "host", "--sysfs-root", str(root), "--arch", "alexnet-digits",
            "--accuracy-from", str(TINY), "--repeats", "2", "--warmup", "0", "--gap-ms", "100",
            "--agent-frames", "0", "--out", str(out)]
    run = start_stoppable("-m", "dynscale", *argv)
    journal = out / ".profile-journal.csv"
    wait_until(lambda: n_lines(journal) >= 4)  # its settings, its header, two points
    run.send_signal(signum)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signum, err
    assert err == f"dynscale: {word}\n"
    assert snapshot(root) == before  # the governor and the clock given back
    rows = journal.read_text().splitlines()[2:]
    assert 2 <= len(rows) < 20 and all(row.endswith(("True", "False")) for row in rows)  # kept, to resume
    assert sorted(p.name for p in out.iterdir()) == [journal.name]  # no partial platform
