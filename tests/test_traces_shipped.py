"""The shipped traces: valid on their platform, every kind in both splits, reproduced byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from platform_models import load_platform, shipped_platforms
from traces import GENERATED_KINDS, NOVEL_KINDS, TraceError, load_trace, shipped_traces
from traces.regenerate import SHIPPED, differences, main
from traces.shipped import DATA_DIR
from traces.synthetic import BudgetScale

BOARDS = ("odroid-xu3", "jetson-nano")


@pytest.mark.parametrize("board", BOARDS)
def test_each_board_ships_every_kind_for_training_and_for_evaluation(board: str) -> None:
    platform = load_platform(board)
    splits = {split: shipped_traces(board, split) for split in ("train", "eval", "novel")}
    train, held_out, novel = splits.values()
    assert len(train) + len(held_out) >= 6 and not set(train) & set(held_out)
    assert shipped_traces(board) == sorted(train + held_out + novel)
    for split, paths in splits.items():
        traces = [load_trace(p, platform=platform) for p in paths]  # validates, against the PEs' cores too
        assert {t.split for t in traces} == {split}
        assert {t.kind for t in traces} == set(NOVEL_KINDS if split == "novel" else GENERATED_KINDS)
        assert all(t.platform == board and t.duration_s == 60.0 for t in traces)


def test_every_shipped_file_is_valid_and_the_set_is_small() -> None:
    paths = sorted(DATA_DIR.glob("*/*.csv"))
    assert {e.relative_path for e in SHIPPED} <= {str(p.relative_to(DATA_DIR)) for p in paths}
    platforms = {name: load_platform(name) for name in shipped_platforms()}
    for path in paths:
        name = path.parent.name
        assert load_trace(path, platform=platforms.get(name)).platform == name
    assert sum(p.stat().st_size for p in paths) < 400_000


@pytest.mark.parametrize("board", BOARDS)
def test_shipped_budgets_bite_but_stay_within_reach(board: str) -> None:
    scale = BudgetScale.of(load_platform(board))
    metrics = np.column_stack([scale.latency_ms, scale.power_w, scale.energy_mj])
    seconds = {"fewer groups": 0.0, "all groups": 0.0}
    for path in shipped_traces(board):
        t = load_trace(path)
        for start_s, length_s in zip(t.time_s, t.segment_durations_s(), strict=True):
            limits = np.array(t.budgets_at(start_s))
            fits = np.all(np.isnan(limits) | (metrics <= limits), axis=1)
            assert fits.any(), f"{path.name} at {start_s} s: no configuration meets {limits} on a free board"
            seconds["all groups" if fits[scale.all_groups].any() else "fewer groups"] += length_s
    assert min(seconds.values()) > 0.3 * sum(seconds.values())


def test_shipped_synthetic_traces_are_reproduced_exactly() -> None:
    entries = [e for e in SHIPPED if e.platform in shipped_platforms()]
    assert {e.platform for e in entries} >= set(BOARDS)
    changed = differences(DATA_DIR, entries)
    assert not changed, f"{changed}: a platform table changed? run: python -m traces.regenerate"


def test_regenerate_commands_are_the_cli_verb(tmp_path, capsys: pytest.CaptureFixture) -> None:
    from dynscale.cli import main as dynscale

    entry = next(e for e in SHIPPED if e.kind == "concurrent-dnn" and e.platform == "jetson-nano")
    assert main(["--print", "--platform", "jetson-nano"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert " ".join(entry.command()) in printed
    assert dynscale(entry.command(tmp_path)[1:]) == 0
    assert (tmp_path / entry.relative_path).read_bytes() == (DATA_DIR / entry.relative_path).read_bytes()


def test_unknown_platform_has_no_traces_and_a_bad_split_is_refused() -> None:
    assert shipped_traces("no-such-board") == []
    with pytest.raises(TraceError, match=r"^field 'split': "):
        shipped_traces("odroid-xu3", "test")
