"""``trace validate`` on a column header that does not match its rows: one line about the header."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynscale.cli import main

SHIPPED = Path(__file__).resolve().parents[1] / "traces/data/odroid-xu3/bursty-eval-s103.csv"


@pytest.mark.parametrize(("old", "new", "what"), [
    ("time_s,load_a7,", "time_s,", "the header names 6 columns but every row has 7 cells: a column is "
     "missing from this header line"),
    ("time_s,load_a7,", "time_s,load_a7,load_x,", "a column is extra in this header line"),
])
def test_a_header_missing_a_column_is_reported_once(old, new, what, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(SHIPPED.read_text().replace(old, new, 1))
    assert main(["trace", "validate", str(bad)]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{bad}:9: ") and what in lines[0]
