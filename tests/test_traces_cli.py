"""The trace verbs as a user runs them: gen, show, validate, record; exit codes 0 and 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dynscale import _trace
from dynscale.cli import main
from tests.support import TINY
from traces import load_trace
from traces.synthetic import GENERATED_KINDS, NOVEL_KINDS


def _gen(out: Path, *extra: str) -> int:
    return main(
        ["trace", "gen", "--kind", "bursty", "--platform", str(TINY), "--seed", "4", "--out", str(out),
         *extra]
    )


def test_gen_writes_the_same_file_for_the_same_seed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _gen(tmp_path / "a.csv") == 0
    assert _gen(tmp_path / "b.csv", "--json") == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {tmp_path / 'a.csv'}: ")
    summary = json.loads(out[out.index("{") :])
    assert (summary["kind"], summary["seed"], summary["split"]) == ("bursty", 4, "train")
    assert summary["path"] == str(tmp_path / "b.csv")


def test_gen_options_reach_the_file(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "c.csv"
    assert _gen(out, "--duration", "12.5", "--split", "eval", "--frame-period-ms", "40") == 0
    t = load_trace(out)
    assert (t.duration_s, t.split, t.frame_period_ms) == (12.5, "eval", 40.0)


def test_gen_kinds_match_the_library() -> None:
    assert (*GENERATED_KINDS, *NOVEL_KINDS) == _trace.GEN_KINDS


def test_gen_bad_platform_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        main(
            [
                "trace",
                "gen",
                "--kind",
                "ramp",
                "--platform",
                "no-such-board",
                "--out",
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )
    assert capsys.readouterr().err.startswith("dynscale: error: ")
    assert not (tmp_path / "x.csv").exists()


def test_show_prints_summary_and_writes_png(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _gen(tmp_path / "a.csv")
    capsys.readouterr()
    assert main(["trace", "show", str(tmp_path / "a.csv"), "--png", str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out
    assert "platform tiny, kind bursty, split train, seed 4, 60 s" in out
    assert "latency_budget_ms" in out and "little" in out
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["trace", "show", str(tmp_path / "a.csv"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["load"]) == {"little", "big", "gpu"}
    assert 0.0 < summary["budgets"]["latency_budget_ms"]["present_share"] <= 1.0


def test_show_bad_file_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("# dynscale-trace: 1\ntime_s\n")
    assert main(["trace", "show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"dynscale: error: {bad}")


def _set_cell(line: str, index: int, value: str) -> str:
    cells = line.split(",")
    cells[index] = value
    return ",".join(cells)


def test_validate_reports_every_problem_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = tmp_path / "good.csv"
    _gen(good)
    lines = good.read_text().splitlines()
    lines[4] = "# split: later"
    lines[12] = _set_cell(lines[12], 1, "-1")  # a negative load on the fourth segment
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["trace", "validate", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: ok\n"
    assert main(["trace", "validate", str(good), str(bad), str(tmp_path / "missing.csv")]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{good}: ok"
    assert out[1].startswith(f"{bad}:5: field 'split': ")
    assert out[2].startswith(f"{bad}:13: field 'load_little': expected a number >= 0")
    assert out[3].startswith(f"{tmp_path / 'missing.csv'}: cannot read the trace")


def test_validate_checks_cores_against_a_platform(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "over.csv"
    _gen(path)
    lines = path.read_text().splitlines()
    lines[9] = _set_cell(lines[9], 1, "2.5")  # the first segment's little load: 2.5 of 2 cores
    path.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["trace", "validate", str(path)]) == 0  # 'tiny' is not a shipped platform: not checked
    assert main(["trace", "validate", str(path), "--platform", str(TINY), "--json"]) == 2
    report = json.loads(capsys.readouterr().out[len(f"{path}: ok\n") :])
    assert report["n_invalid"] == 1
    assert report["files"][str(path)][0].startswith(f"{path}:10: field 'load_little': expected at most 2")


def test_record_writes_a_host_trace_from_proc(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "rec.csv"
    args = [
        "trace",
        "record",
        "--duration",
        "0.4",
        "--period-s",
        "0.2",
        "--out",
        str(out),
        "--latency-budget-ms",
        "40",
    ]
    assert main(args) == 0
    t = load_trace(out)
    assert (t.platform, t.kind, t.pe_names) == ("host", "recorded", ("cpu",))
    assert set(t.latency_budget_ms.tolist()) == {40.0}
    assert capsys.readouterr().out.startswith(f"wrote {out}: ")
