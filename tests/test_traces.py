"""The trace file: round trip, the one-line errors with file and line, the hot-path lookups."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traces import Budgets, Trace, TraceError, load_trace, save_trace, validate_trace

GOOD = """\
# dynscale-trace: 1
# platform: odroid-xu3
# kind: bursty                   # a note after the value
# seed: 3
# split: train
# frame_period_ms: 100
# duration_s: 60
# description: free text, with a comma
time_s,load_a7,load_a15,load_gpu,latency_budget_ms,power_budget_w,energy_budget_mj
0.0,1.0,0.0,0.0,50,,
2.5,3.5,1.0,0.4,50,3.0,
10,0,4,1,,,120.5
"""


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def test_load_reads_metadata_columns_and_budgets(tmp_path: Path) -> None:
    t = load_trace(_write(tmp_path, GOOD))
    assert (t.platform, t.kind, t.seed, t.split) == ("odroid-xu3", "bursty", 3, "train")
    assert (t.frame_period_ms, t.duration_s, t.description) == (100.0, 60.0, "free text, with a comma")
    assert t.pe_names == ("a7", "a15", "gpu")
    np.testing.assert_array_equal(t.time_s, [0.0, 2.5, 10.0])
    np.testing.assert_array_equal(t.load["a15"], [0.0, 1.0, 4.0])
    np.testing.assert_array_equal(t.latency_budget_ms, [50.0, 50.0, np.nan])
    np.testing.assert_array_equal(t.energy_budget_mj, [np.nan, np.nan, 120.5])
    assert t.path == tmp_path / "t.csv"


def test_lookups_follow_the_segments(tmp_path: Path) -> None:
    t = load_trace(_write(tmp_path, GOOD))
    assert [t.segment_at(x) for x in (0.0, 2.4999, 2.5, 9.99, 10.0, 59.9, 75.0, -1.0)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        2,
        0,
    ]
    assert t.load_at(3.0) == {"a7": 3.5, "a15": 1.0, "gpu": 0.4}
    assert t.budgets_at(3.0)[:2] == (50.0, 3.0) and math.isnan(t.budgets_at(3.0).energy_mj)
    assert isinstance(t.budgets_at(0), Budgets)
    assert [t.next_change_s(x) for x in (0.0, 2.5, 9.0, 10.0)] == [2.5, 10.0, 10.0, math.inf]
    np.testing.assert_array_equal(t.segments_at([0.0, 2.5, 11.0]), [0, 1, 2])
    # load_at hands out a copy: the caller may change it without changing the trace.
    t.load_at(3.0)["a7"] = 99.0
    assert t.load_at(3.0)["a7"] == 3.5


def test_save_then_load_is_exact(tmp_path: Path) -> None:
    t = load_trace(_write(tmp_path, GOOD))
    out = save_trace(t, tmp_path / "sub" / "copy.csv")
    again = load_trace(out)
    assert again == t
    assert save_trace(again, tmp_path / "copy2.csv").read_bytes() == out.read_bytes()
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name != "copy.csv"]  # no temp file left


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"time_s": [0, "x"]},
            r"^field 'time_s': expected numbers, got could not convert string to float: 'x'$",
        ),
        ({"load": {"cpu": [0, None]}}, r"^field 'load_cpu': expected a number >= 0, got nan$"),
        ({"load": {}}, r"^field 'load': expected at least one load_<pe> column$"),
        (
            {"power_budget_w": [1.0]},
            r"^field 'power_budget_w': expected 2 values \(one per segment\), got shape",
        ),
        ({"frame_period_ms": None}, r"^field 'frame_period_ms': expected a number, got None$"),
        ({"kind": "random"}, r"^field 'kind': expected one of steady\|periodic\|"),
        ({"seed": -2}, r"^field 'seed': expected an integer >= 0, got -2$"),
        ({"platform": "my board"}, r"^field 'platform': expected a platform name without spaces or '#'"),
    ],
)
def test_bad_arrays_in_memory_are_trace_errors(kwargs: dict, message: str) -> None:
    args = {
        "platform": "x",
        "kind": "steady",
        "split": "train",
        "frame_period_ms": 50,
        "duration_s": 10,
        "time_s": [0, 1],
        "load": {"cpu": [0, 0]},
        **kwargs,
    }
    with pytest.raises(TraceError, match=message):
        Trace(**args)


def test_trace_built_in_memory_is_checked() -> None:
    with pytest.raises(
        TraceError, match=r"^field 'time_s': expected a time after the previous row's 1.0, got 1.0$"
    ):
        Trace(
            platform="x",
            kind="steady",
            split="train",
            frame_period_ms=50,
            duration_s=10,
            time_s=[0, 1, 1],
            load={"cpu": [0, 0, 0]},
        )
    t = Trace(
        platform="x",
        kind="recorded",
        split="eval",
        frame_period_ms=50,
        duration_s=10,
        time_s=[0, 1],
        load={"cpu": [0.5, 2]},
    )
    assert math.isnan(t.budgets_at(5).latency_ms) and t.seed is None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "# split: train",
            "# split: training",
            r":5: field 'split': expected one of train\|eval\|novel, got 'training'$",
        ),
        ("# kind: bursty", "# kind: busty", r":3: field 'kind': expected one of .*, got 'busty'$"),
        ("# seed: 3", "# seed: three", r":4: field 'seed': expected an integer >= 0, got 'three'$"),
        (
            "# frame_period_ms: 100",
            "# frame_period_ms: -1",
            r":6: field 'frame_period_ms': expected a number in 1..60000, got -1.0$",
        ),
        ("# duration_s: 60\n", "", r": field 'duration_s': missing from the header"),
        (
            "# duration_s: 60",
            "# duration_s: 60\n# duration_s: 60",
            r":8: field 'duration_s': repeated header key",
        ),
        ("# description", "# colour: red\n# description", r":8: field 'colour': unknown header key"),
        (
            "# dynscale-trace: 1",
            "# dynscale-trace: 7",
            r":1: field 'dynscale-trace': expected format version 1",
        ),
        (
            "0.0,1.0,0.0",
            "0.5,1.0,0.0",
            r":10: field 'time_s': expected the first segment to start at 0, got 0.5$",
        ),
        ("10,0,4", "2.5,0,4", r":12: field 'time_s': expected a time after the previous row's 2.5, got 2.5$"),
        ("10,0,4", "60,0,4", r":12: field 'time_s': expected a time before duration_s 60.0, got 60.0$"),
        ("3.5,1.0", "-3.5,1.0", r":11: field 'load_a7': expected a number >= 0, got -3.5$"),
        ("3.5,1.0", "lots,1.0", r":11: field 'load_a7': expected a finite number, got 'lots'$"),
        (
            "50,3.0,",
            "-3,3.0,",
            r":11: field 'latency_budget_ms': expected a number > 0 or an empty cell, got -3.0$",
        ),
        (",,120.5", ",,nan", r":12: field 'energy_budget_mj': expected a finite number, got 'nan'$"),
        (",,120.5", ",120.5", r":12: expected 7 comma-separated cells, got 6$"),
        ("load_gpu,", "load_GPU,", r":9: field 'load_GPU': expected a PE name of \[a-z0-9_\]\+$"),
        ("load_gpu,", "load_a7,", r":9: field 'load_a7': repeated column$"),
        (",energy_budget_mj", "", r":9: field 'energy_budget_mj': missing column"),
        ("time_s,", "t,", r":9: field 'time_s': expected the first column to be time_s, got 't'$"),
    ],
)
def test_each_problem_is_one_line_with_file_line_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = _write(tmp_path, _replace(GOOD, old, new))
    with pytest.raises(TraceError, match="^" + re.escape(str(path)) + message) as info:
        load_trace(path)
    assert "\n" not in str(info.value)
    assert info.value.path == str(path)


def test_validate_collects_every_problem(tmp_path: Path) -> None:
    text = _replace(
        _replace(_replace(GOOD, "# split: train", "# split: x"), "3.5,1.0", "-3.5,1.0"), "50,,", "0,,"
    )
    problems = validate_trace(_write(tmp_path, text))
    assert [p.split(": ")[0].rsplit(":", 1)[1] for p in problems] == ["5", "10", "11"]
    assert validate_trace(_write(tmp_path, GOOD, "good.csv")) == []


def test_missing_and_binary_files_are_trace_errors(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"nope\.csv: cannot read the trace"):
        load_trace(tmp_path / "nope.csv")
    path = tmp_path / "bin.csv"
    path.write_bytes(GOOD.encode()[:40] + b"\xff\xfe\n")
    with pytest.raises(TraceError, match=r"bin\.csv:2: not UTF-8 text \(byte 0xff: invalid start byte\)$"):
        load_trace(path)


class _PE:
    def __init__(self, name: str, n_cores: int) -> None:
        self.name, self.n_cores = name, n_cores


class _Platform:
    name = "odroid-xu3"
    pes = (_PE("a7", 4), _PE("a15", 4), _PE("gpu", 1))


def test_platform_check_names_the_row_over_the_cores(tmp_path: Path) -> None:
    path = _write(tmp_path, _replace(GOOD, "10,0,4,1", "10,0,4.5,1"))
    assert load_trace(path).pe_names == ("a7", "a15", "gpu")  # fine without a platform
    with pytest.raises(
        TraceError, match=r":12: field 'load_a15': expected at most 4 \(the PE's cores\), got 4.5$"
    ):
        load_trace(path, platform=_Platform())
    assert len(validate_trace(path, platform=_Platform())) == 1
    other = _write(tmp_path, GOOD.replace("load_a7", "load_a57"), "other.csv")
    with pytest.raises(TraceError, match=r"field 'load': expected load columns for the PEs of odroid-xu3"):
        load_trace(other, platform=_Platform())


_LINES = GOOD.splitlines(keepends=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(0, len(GOOD)),
    junk=st.text(alphabet=st.sampled_from(list(",#:.-\n e0123456789anifx\r\x00é")), max_size=30),
    drop=st.sets(st.integers(0, len(_LINES) - 1), max_size=3),
)
def test_broken_files_raise_trace_error_and_nothing_else(
    tmp_path: Path, cut: int, junk: str, drop: set
) -> None:
    text = "".join(line for i, line in enumerate(_LINES) if i not in drop)
    text = text[:cut] + junk + text[cut:]
    path = _write(tmp_path, text)
    problems = validate_trace(path)
    try:
        load_trace(path)
    except TraceError as exc:
        assert problems and str(exc) == problems[0]
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
    else:
        assert problems == []


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_round_trip_of_any_valid_trace(tmp_path: Path, data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 6))
    steps = data.draw(st.lists(st.floats(1e-3, 1e3), min_size=n - 1, max_size=n - 1))
    time_s = np.concatenate([[0.0], np.cumsum(steps)])
    values = st.floats(0, 64, allow_subnormal=False)
    budget = st.one_of(st.just(math.nan), st.floats(1e-6, 1e6))
    t = Trace(
        platform="tiny",
        kind="ramp",
        split="eval",
        seed=data.draw(st.integers(0, 2**32)),
        frame_period_ms=data.draw(st.floats(1.0, 1e4)),
        duration_s=float(time_s[-1]) + 1.0,
        time_s=time_s,
        load={
            "little": data.draw(st.lists(values, min_size=n, max_size=n)),
            "gpu": data.draw(st.lists(values, min_size=n, max_size=n)),
        },
        latency_budget_ms=data.draw(st.lists(budget, min_size=n, max_size=n)),
        description=data.draw(st.text(max_size=20)),
    )
    again = load_trace(save_trace(t, tmp_path / "rt.csv"))
    assert again.description == " ".join(t.description.split())
    t_clean = Trace(**{**_kwargs(t), "description": again.description})
    assert again == t_clean


def _kwargs(t: Trace) -> dict:
    return dict(
        platform=t.platform,
        kind=t.kind,
        split=t.split,
        seed=t.seed,
        frame_period_ms=t.frame_period_ms,
        duration_s=t.duration_s,
        time_s=t.time_s,
        load=t.load,
        latency_budget_ms=t.latency_budget_ms,
        power_budget_w=t.power_budget_w,
        energy_budget_mj=t.energy_budget_mj,
        description=t.description,
    )
