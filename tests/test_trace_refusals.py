"""What fuzzing found in trace files (issue 14): a period no runner can honour, a FIFO that blocked
``trace show`` forever, and a big trace read in silence."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dynscale.cli import main
from traces import load_trace, validate_trace

SHIPPED = "traces/data/odroid-xu3/bursty-eval-s103.csv"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("# frame_period_ms: 1e-6", "field 'frame_period_ms': expected a number in 1..60000, got 1e-06"),
        ("# frame_period_ms: 90000", "field 'frame_period_ms': expected a number in 1..60000, got 90000.0"),
        ("# duration_s: 1e9", "field 'duration_s': expected a number > 0 and <= 86400, got 1000000000.0"),
    ],
)
def test_a_period_or_length_no_runner_can_honour_is_refused(tmp_path, capsys, header, message):
    lines = Path(SHIPPED).read_text().splitlines()
    key = header.split(":")[0]
    number = next(i for i, line in enumerate(lines) if line.startswith(key))
    lines[number] = header
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    for verb in ("validate", "show"):
        assert main(["trace", verb, str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{number + 1}: {message}" in err and "Traceback" not in err


def test_a_fifo_is_refused_not_waited_on(tmp_path, capsys):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    assert main(["trace", "show", str(fifo)]) == 2
    assert capsys.readouterr().err == f"dynscale: error: {fifo}: cannot read the trace: not a regular file\n"
    assert validate_trace(fifo) == [f"{fifo}: cannot read the trace: not a regular file"]


def test_reading_a_big_trace_reports_progress(tmp_path):
    path = tmp_path / "big.csv"
    shutil.copy(SHIPPED, path)
    lines = path.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("time_s"))
    body = [f"{i * 0.005:g},1,1,0.5,50,," for i in range(10_000)]
    path.write_text("\n".join([*lines[: header + 1], *body]) + "\n")
    calls: list[tuple[int, int]] = []
    trace = load_trace(path, progress=lambda done, total: calls.append((done, total)))
    assert len(trace) == 10_000
    assert len(calls) >= 2 and all(total == len(lines[: header + 1]) + 10_001 for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
