"""What fuzzing found in platform files (issue 14): each refused by the one checker every verb uses,
as one line naming the file, the line and the field."""

from __future__ import annotations

import os
import shutil

import pytest

from platform_models import PlatformError, load_platform, validate_platform
from platform_models.store import DATA_DIR


@pytest.fixture
def xu3(tmp_path):
    for suffix in (".yaml", ".csv"):
        shutil.copy(DATA_DIR / f"odroid-xu3{suffix}", tmp_path / f"odroid-xu3{suffix}")
    return tmp_path / "odroid-xu3.yaml"


def _line_of(path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _problems(path) -> list[str]:
    problems = validate_platform(path)
    with pytest.raises(PlatformError) as info:  # what validate refuses, loading refuses first
        load_platform(path)
    assert str(info.value) == problems[0]
    return problems


def test_a_huge_spread_that_would_overflow_the_model_is_refused(xu3):
    table = xu3.with_suffix(".csv")
    lines = table.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("pe,"))
    cells = lines[header + 1].split(",")
    cells[5] = "1e308"  # latency_ms_std
    lines[header + 1] = ",".join(cells)
    table.write_text("\n".join(lines) + "\n")
    assert _problems(xu3) == [
        f"{table}:{header + 2}: field 'latency_ms_std': expected a number >= 0 and <= 6.048e+08, got '1e308'"
    ]


def test_a_model_constant_show_and_derive_need_is_checked_by_validate_with_its_line(xu3):
    text = xu3.read_text()
    xu3.write_text(text.replace("kind: threads", "kind: null", 1))
    line = _line_of(xu3, "kind: null")
    assert _problems(xu3)[0] == (
        f"{xu3}:{line}: field 'pes.0.model.latency_fit.kind': expected threads or two_nets, got None"
    )


def test_a_missing_table_is_reported_at_the_descriptors_table_line(xu3):
    xu3.with_suffix(".csv").unlink()
    line = _line_of(xu3, "table:")
    assert _problems(xu3) == [
        f"{xu3}:{line}: field 'table': {xu3.with_suffix('.csv')}: cannot read it (No such file or directory)"
    ]


def test_a_bad_utf8_byte_is_reported_as_a_line(xu3):
    lines = xu3.read_bytes().split(b"\n")
    lines[4] += b" \xff"
    xu3.write_bytes(b"\n".join(lines))
    assert _problems(xu3) == [f"{xu3}:5: not UTF-8 text (byte 0xff: invalid start byte)"]


def test_yaml_aliases_are_refused_before_they_expand(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10^9 leaves
    bomb.write_text("\n".join(levels) + "\n")
    assert _problems(bomb) == [f"{bomb}:2: a YAML alias (*name) is not accepted here: write the value out"]


def test_a_fifo_is_not_read(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert _problems(fifo) == [f"{fifo}: not a regular file; expected a descriptor .yaml"]


def test_a_table_that_is_a_fifo_is_refused_without_blocking(xu3):
    table = xu3.with_suffix(".csv")
    table.unlink()
    os.mkfifo(table)
    line = _line_of(xu3, "table:")
    assert _problems(xu3) == [f"{xu3}:{line}: field 'table': {table}: not a regular file"]
