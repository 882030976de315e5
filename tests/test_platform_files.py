"""Platform files: save/load round trip, every problem reported with file and line, and broken files
giving one clear PlatformError, never another exception."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_models import COLUMNS, PlatformError, load_platform, save_platform, validate_platform
from tests.support import DATA, TINY


@pytest.fixture
def tiny_copy(tmp_path):
    shutil.copy(TINY, tmp_path / "tiny.yaml")
    shutil.copy(DATA / "tiny.csv", tmp_path / "tiny.csv")
    return tmp_path / "tiny.yaml"


def _rows_of(platform) -> list[dict]:
    return [{c: getattr(r, c) for c in COLUMNS} for r in platform.rows]


def _measured_descriptor() -> dict:
    descriptor = yaml.safe_load(TINY.read_text())
    descriptor["name"] = "bench"
    del descriptor["table"]
    descriptor["provenance"] = {
        "kind": "measured",
        "host": "testhost",
        "date": "2026-11-22T04:00:00Z",
        "tool": "dynscale 0.1.0",
        "method": "30 timed runs after 5 warm-up runs",
    }
    return descriptor


def _edit_table(path: Path, line: int, column: str, value: str) -> None:
    """Set one cell of the table (line = 1-based line number in the file)."""
    lines = path.read_text().splitlines()
    header_index = next(i for i, text in enumerate(lines) if not text.startswith("#"))
    header = lines[header_index].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def test_save_then_load_gives_the_same_platform(tmp_path):
    tiny = load_platform(TINY)
    rows = _rows_of(tiny)
    table = save_platform(_measured_descriptor(), rows, tmp_path / "bench.yaml")
    assert table == tmp_path / "bench.csv"
    loaded = load_platform(tmp_path / "bench.yaml")
    assert loaded.name == "bench" and loaded.provenance_kind == "measured"
    assert _rows_of(loaded) == rows
    for c in tiny.configs():
        assert loaded.energy_mj(c.pe, c.freq_mhz, 1, c.groups) == tiny.energy_mj(
            c.pe, c.freq_mhz, 1, c.groups
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.csv", "bench.yaml"]  # no temp files left


def test_save_refuses_bad_rows_and_writes_nothing(tmp_path):
    rows = _rows_of(load_platform(TINY))
    rows[3]["latency_ms_mean"] = -1.0
    with pytest.raises(
        PlatformError,
        match=r"bench\.csv:6: field 'latency_ms_mean': expected a number >= 1e-06 and <= 6\.048e\+08",
    ):
        save_platform(_measured_descriptor(), rows, tmp_path / "bench.yaml")
    rows[3]["latency_ms_mean"] = 1.0
    rows[4]["extra"] = 1
    with pytest.raises(PlatformError, match=r"row 4: expected exactly the columns"):
        save_platform(_measured_descriptor(), rows, tmp_path / "bench.yaml")
    descriptor = _measured_descriptor()
    del descriptor["provenance"]["host"]
    with pytest.raises(
        PlatformError, match=r"field 'provenance\.host': missing \(a measured platform states"
    ):
        save_platform(descriptor, rows[:4], tmp_path / "bench.yaml")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_row_is_interpolated(tiny_copy):
    full = load_platform(tiny_copy)
    table = tiny_copy.with_name("tiny.csv")
    lines = table.read_text().splitlines()
    kept = [t for t in lines if not t.startswith(("big,1400,", "little,1000,2,"))]
    table.write_text("\n".join(kept) + "\n")
    assert validate_platform(tiny_copy) == []
    gappy = load_platform(tiny_copy)
    # The tiny table is exactly 1/f and 1/cores shaped, so the interpolation recovers it.
    assert gappy.latency_ms("big", 1400, 2, 3) == pytest.approx(full.latency_ms("big", 1400, 2, 3), rel=1e-3)
    assert gappy.latency_ms("little", 1000, 2, 1) == pytest.approx(
        full.latency_ms("little", 1000, 2, 1), rel=1e-3
    )


def test_validate_lists_every_problem_with_file_and_line(tiny_copy):
    table = tiny_copy.with_name("tiny.csv")
    _edit_table(table, 3, "latency_ms_mean", "nan")
    _edit_table(table, 4, "latency_ms_std", "-0.5")
    _edit_table(table, 5, "freq_mhz", "700")
    _edit_table(table, 7, "power_w_mean", "inf")
    _edit_table(table, 6, "pe", "npu")
    lines = table.read_text().splitlines()
    lines.append(lines[8])  # a duplicate of line 9
    lines = [t for t in lines if not t.startswith("gpu,600,")]  # the top GPU frequency's rows
    table.write_text("\n".join(lines) + "\n")
    problems = validate_platform(tiny_copy)
    t = str(table)
    expected = "expected a number >= {} and <= {}, got '{}'"
    assert f"{t}:3: field 'latency_ms_mean': " + expected.format("1e-06", "6.048e+08", "nan") in problems
    assert f"{t}:4: field 'latency_ms_std': " + expected.format(0, "6.048e+08", "-0.5") in problems
    assert f"{t}:7: field 'power_w_mean': " + expected.format("1e-06", "1e+06", "inf") in problems
    assert f"{t}:5: field 'freq_mhz': 700 MHz is not in PE 'little' freqs_mhz of the descriptor" in problems
    assert f"{t}:6: field 'pe': unknown PE 'npu' (descriptor lists little, big, gpu)" in problems
    assert any(p.startswith(f"{t}:{len(lines)}: duplicate of line 9 ") for p in problems)
    assert (
        f"{t}: field 'freq_mhz': missing grid point: no row for PE 'gpu' at 600 MHz, 1 core(s), 1 groups "
        "(the lowest and highest frequency are needed to interpolate)"
    ) in problems
    assert all("\n" not in p for p in problems)


def test_validate_reports_a_missing_column_and_descriptor_fields_with_their_line(tiny_copy):
    table = tiny_copy.with_name("tiny.csv")
    text = table.read_text().replace(",power_w_std", "", 1)
    table.write_text(text)
    assert validate_platform(tiny_copy) == [f"{table}:2: field 'power_w_std': missing column"]
    text = (
        tiny_copy.read_text()
        .replace("kind: gpu", "kind: npu")
        .replace("migration_ms: 2.0", "migration_ms: -2\n    agent_overhead_ms: soon")
    )
    tiny_copy.write_text(text)
    lines = text.splitlines()
    kind_line = next(i for i, t in enumerate(lines, 1) if "kind: npu" in t)
    migration_line = next(i for i, t in enumerate(lines, 1) if "migration_ms: -2" in t)
    assert validate_platform(tiny_copy) == [
        f"{tiny_copy}:{kind_line}: field 'pes.2.kind': expected one of cpu, gpu, got 'npu'",
        f"{tiny_copy}:{migration_line}: field 'pes.2.migration_ms': "
        "expected a number >= 0 and <= 1e+06, got -2",
        f"{tiny_copy}:{migration_line + 1}: field 'pes.2.agent_overhead_ms': "
        "expected a number >= 0 and <= 1e+06, got 'soon'",
    ]


def test_load_raises_the_first_problem_and_names_shipped_platforms_for_an_unknown_name(tiny_copy):
    _edit_table(tiny_copy.with_name("tiny.csv"), 3, "power_w_mean", "x")
    with pytest.raises(
        PlatformError,
        match=r"tiny\.csv:3: field 'power_w_mean': expected a number >= 1e-06 and <= 1e\+06, got 'x'$",
    ):
        load_platform(tiny_copy)
    with pytest.raises(
        PlatformError, match=r"^no-such-board: no such platform \(shipped: odroid-xu3, jetson-nano"
    ):
        load_platform("no-such-board")


_GOOD_YAML = TINY.read_text()
_GOOD_CSV = (DATA / "tiny.csv").read_text()


def _mutate(text: str, data: st.DataObject) -> str:
    """Delete, replace or insert a slice of ``text``, or cut it short."""
    n = len(text)
    start = data.draw(st.integers(0, n))
    end = data.draw(st.integers(start, min(n, start + 40)))
    junk = data.draw(
        st.text(alphabet=st.sampled_from(list("-:,#[]{}&*!|>'\"\n 0123456789.enaxk\t\\\x00é")), max_size=12)
    )
    return text[:start] + junk + text[end:]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), which=st.sampled_from(["yaml", "csv", "both"]))
def test_broken_files_give_one_clear_platform_error(tmp_path, data, which):
    descriptor, table = tmp_path / "tiny.yaml", tmp_path / "tiny.csv"
    descriptor.write_text(_mutate(_GOOD_YAML, data) if which in ("yaml", "both") else _GOOD_YAML)
    table.write_text(_mutate(_GOOD_CSV, data) if which in ("csv", "both") else _GOOD_CSV)
    try:
        platform = load_platform(descriptor)
    except PlatformError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(str(tmp_path))
        assert validate_platform(descriptor)  # what load refuses, validate lists
        return
    # A mutation that keeps the files valid must still give a working model.
    assert validate_platform(descriptor) == []
    config = platform.configs()[0]
    assert platform.latency_ms(config.pe, config.freq_mhz, 1, config.groups) > 0


@settings(max_examples=60, deadline=None)
@given(
    value=st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.booleans(),
    ),
    key=st.sampled_from(
        [
            "name",
            "table",
            "provenance",
            "dnn",
            "pes",
            "groups",
            "kind",
            "cpus",
            "freqs_mhz",
            "idle_power_w",
            "accuracy_top1",
            "input_shape",
        ]
    ),
)
def test_any_wrong_value_in_the_descriptor_gives_a_platform_error(tmp_path_factory, value, key):
    folder = tmp_path_factory.mktemp("bad")
    data = yaml.safe_load(_GOOD_YAML)
    targets = {
        "groups": data["dnn"],
        "accuracy_top1": data["dnn"],
        "input_shape": data["dnn"],
        "kind": data["pes"][1],
        "cpus": data["pes"][1],
        "freqs_mhz": data["pes"][1],
        "idle_power_w": data["pes"][1],
    }
    targets.get(key, data)[key] = value
    (folder / "tiny.yaml").write_text(yaml.safe_dump(data))
    (folder / "tiny.csv").write_text(_GOOD_CSV)
    try:
        load_platform(folder / "tiny.yaml")
    except PlatformError as exc:
        assert "\n" not in str(exc)
