"""Recording a trace from /proc/stat: busy cores summed over CPUs, per sample period."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hw_agents import recorder
from hw_agents.errors import BoardError
from traces import load_trace


def _stat(cpus: list[tuple[int, int, int]]) -> str:
    """A /proc/stat whose CPU i has (busy user ticks, idle ticks, iowait ticks) = cpus[i]."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    lines += [f"cpu{i} {busy} 0 0 {idle} {iowait} 0 0 0 0 0" for i, (busy, idle, iowait) in enumerate(cpus)]
    return "\n".join([*lines, "intr 1 2 3", "ctxt 99", ""])


class _FakeClock:
    """Stands in for the ``time`` module: each sleep moves the fake /proc/stat to its next state."""

    def __init__(self, stat_path: Path, states: list[str]) -> None:
        self.now_s, self.stat_path, self.states = 0.0, stat_path, iter(states)
        stat_path.write_text(next(self.states))

    def monotonic(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.now_s += seconds
        self.stat_path.write_text(next(self.states))


def test_recorded_trace_holds_busy_cores_per_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    states = [
        _stat([(0, 0, 0), (0, 0, 0)]),
        _stat([(100, 0, 0), (50, 50, 0)]),      # cpu0 100 % busy, cpu1 50 %     -> 1.5
        _stat([(200, 0, 0), (100, 100, 0)]),    # same again                      -> merged
        _stat([(225, 50, 25), (100, 200, 0)]),  # iowait is not busy: 0.25 + 0.0 -> 0.25
    ]
    monkeypatch.setattr(recorder, "time", _FakeClock(proc / "stat", states))
    out = tmp_path / "recorded.csv"
    trace = recorder.record_trace(out, 1.5, sample_period_s=0.5, latency_budget_ms=40.0, proc_root=proc,
                                  split="train")
    loaded = load_trace(out)
    assert loaded == trace
    assert (loaded.platform, loaded.kind, loaded.split) == ("host", "recorded", "train")
    assert loaded.pe_names == ("cpu",)
    assert loaded.time_s.tolist() == [0.0, 1.0]
    assert loaded.load["cpu"].tolist() == [1.5, 0.25]
    assert loaded.duration_s == 1.5
    assert loaded.latency_budget_ms.tolist() == [40.0, 40.0]
    assert math.isnan(loaded.budgets_at(1.2).power_w)  # no power budget given


def test_unreadable_proc_stat_is_a_board_error(tmp_path: Path) -> None:
    with pytest.raises(BoardError, match="stat"):
        recorder.record_trace(tmp_path / "t.csv", 1.0, proc_root=tmp_path / "nowhere")
    assert not (tmp_path / "t.csv").exists()
