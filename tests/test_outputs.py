"""What the verbs write: files with the user's permissions, and bad output paths refused up front."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dynscale.cli import main
from tests.support import REPO


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_results_get_the_users_umask_not_0600(tmp_path: Path, umask_022) -> None:
    trace = tmp_path / "t.csv"
    assert main(["trace", "gen", "--kind", "steady", "--platform", "odroid-xu3", "--duration", "2",
                 "--out", str(trace)]) == 0
    assert main(["replay", "--trace", str(trace), "--controller", "performance",
                 "--out", str(tmp_path / "replay")]) == 0
    assert main(["platform", "show", "host", "--png", str(tmp_path / "host.png")]) == 0
    written = [trace, tmp_path / "host.png", *sorted((tmp_path / "replay").iterdir())]
    assert len(written) > 3
    assert {p.name: _mode(p) for p in written} == {p.name: 0o644 for p in written}


# Each verb that writes, pointed at a place it cannot write (a folder where a file goes, /proc), and at
# a file where a folder goes: one line naming the path, exit 2, before any work, nothing left.
def _bad_out_commands(tmp_path: Path) -> list[list[str]]:
    run = tmp_path / "no-run"  # export fails on its --out before looking at the run
    folder = tmp_path / "a-folder"
    folder.mkdir()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    trace = "traces/data/host/ramp-eval-s122.csv"
    return [
        ["trace", "gen", "--kind", "steady", "--platform", "odroid-xu3", "--out", "/proc/nope/x.csv"],
        ["trace", "gen", "--kind", "steady", "--platform", "odroid-xu3", "--out", str(folder)],
        ["trace", "record", "--duration", "1", "--out", str(folder)],
        ["trace", "show", trace, "--png", "/proc/nope.png"],
        ["export", str(run), "--out", str(folder)],
        ["export", str(run), "--out", "/proc/nope/p.npz"],
        ["evaluate", "--controllers", "lookup", "--out", "/proc/nope"],
        ["evaluate", "--controllers", "lookup", "--out", str(a_file)],
        ["replay", "--trace", trace, "--platform", "host", "--controller", "lookup", "--out", str(a_file)],
        ["deploy", "--controller", "lookup", "--trace", trace, "--out", "/proc/nope"],
        ["deploy", "--controller", "lookup", "--trace", trace, "--out", str(a_file)],
        ["profile", "--out", "/proc/nope"],
        ["train", "--out", "/proc/nope"],
        ["quickstart", "--out", str(a_file)],
        ["dnn", "train", "--out", "/proc/nope"],
    ]


def test_unwritable_outputs_are_one_line_exit_2_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the shipped trace paths, relative
    for argv in _bad_out_commands(tmp_path):
        before = sorted(tmp_path.rglob("*"))
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("dynscale: error: "), (argv, err)
        assert "field '--out'" in err or "field '--png'" in err, (argv, err)
        assert sorted(tmp_path.rglob("*")) == before, argv  # nothing left, no temp file
    assert not list(Path.cwd().glob("*.npz")) and not list(Path.cwd().glob(".*.tmp"))


def test_evaluate_and_deploy_refuse_a_folder_holding_files(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "results.md").write_text("another run's")
    trace = str(Path(__file__).resolve().parents[1] / "traces/data/host/ramp-eval-s122.csv")
    for argv in (["evaluate", "--controllers", "lookup", "--out", str(used)],
                 ["deploy", "--controller", "lookup", "--trace", trace, "--out", str(used)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "folder not empty" in err and "--overwrite" in err
    assert sorted(p.name for p in used.iterdir()) == ["results.md"]


@pytest.mark.parametrize("argv", [
    ["train", "--timesteps", "-100", "--out", "x"],
    ["train", "--timesteps", "0", "--out", "x"],
    ["deploy", "--duration", "-1", "--controller", "lookup", "--trace", "t.csv", "--out", "x"],
    ["deploy", "--load-nice", "40", "--controller", "lookup", "--trace", "t.csv", "--out", "x"],
    ["trace", "record", "--duration", "-3", "--out", "x.csv"],
    ["trace", "gen", "--kind", "steady", "--platform", "host", "--duration", "nan", "--out", "x.csv"],
    ["dnn", "bench", "--runs", "-3"],
    ["dnn", "train", "--lr", "0", "--out", "x"],
    ["evaluate", "--episodes", "0"],
    ["profile", "--repeats", "0", "--out", "x"],
])
def test_numbers_out_of_range_are_argparse_errors(argv: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "expected a" in capsys.readouterr().err.splitlines()[-1]


def test_a_reader_that_stops_early_ends_the_verb_quietly() -> None:
    # `dynscale ... --json | head -1`: the reader closes the pipe before the verb writes
    verb = subprocess.Popen([sys.executable, "-m", "dynscale", "platform", "show", "odroid-xu3", "--json"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    verb.stdout.close()
    _, err = verb.communicate(timeout=120)
    assert (verb.returncode, err) == (128 + signal.SIGPIPE, "")
