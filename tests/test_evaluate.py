"""Evaluation: rows per controller and trace, the oracle as upper bound, reports, one-line errors."""

from __future__ import annotations

import json

import pytest

from dynscale.cli import main
from tests.support import TINY, write_tiny_traces

HEURISTICS = ["static", "performance", "powersave", "ondemand", "schedutil", "reactive", "lookup"]


@pytest.fixture(scope="module")
def evaluated(tiny, tmp_path_factory):
    """JSON of an evaluation of every heuristic on two short traces, two episodes each."""
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("eval")
    traces = write_tiny_traces(tiny, folder)
    out = io.StringIO()
    argv = [
        "evaluate",
        "--platform",
        str(TINY),
        "--traces",
        *traces,
        "--controllers",
        ",".join(HEURISTICS),
        "--episodes",
        "2",
        "--out",
        str(folder / "report"),
        "--json",
    ]
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return json.loads(out.getvalue()), folder, traces


def test_every_controller_gets_a_row_per_trace_and_over_all(evaluated):
    payload, _, _ = evaluated
    rows = payload["rows"]
    assert {(r["controller"], r["trace"]) for r in rows} == {
        (c, t) for c in [*HEURISTICS, "oracle"] for t in ("bursty", "steady", "all")
    }
    for row in rows:
        assert {
            "controller",
            "trace",
            "budget_met_rate",
            "accuracy",
            "energy_mj",
            "reward",
            "reward_vs_oracle",
            "gap_closed",
            "latency_ms",
            "latency_p95_ms",
            "reward_std",
        } <= row.keys()
        assert 0.0 <= row["budget_met_rate"] <= 1.0 and row["episodes"] in (2, 4)


def test_the_oracle_is_ahead_of_every_heuristic(evaluated):
    rows = [r for r in evaluated[0]["rows"] if r["trace"] == "all"]
    oracle = next(r for r in rows if r["controller"] == "oracle")
    assert oracle["reward_vs_oracle"] == 1.0
    for row in rows:
        assert row["reward"] <= oracle["reward"], row["controller"]


def test_gap_closed_runs_from_the_schedutil_floor_to_the_oracle(evaluated):
    rows = evaluated[0]["rows"]
    for trace in ("bursty", "steady", "all"):
        by_name = {r["controller"]: r for r in rows if r["trace"] == trace}
        top, bottom = by_name["oracle"]["reward"], by_name["schedutil"]["reward"]
        assert top > bottom
        assert by_name["oracle"]["gap_closed"] == pytest.approx(1.0)
        assert by_name["schedutil"]["gap_closed"] == pytest.approx(0.0)
        lookup = by_name["lookup"]
        assert lookup["gap_closed"] == pytest.approx((lookup["reward"] - bottom) / (top - bottom))


def test_the_floor_and_the_oracle_run_unasked(tiny, tmp_path):
    from controllers import evaluate

    traces = write_tiny_traces(tiny, tmp_path)
    rows = evaluate(tiny, ["lookup"], traces[:1]).rows
    assert [r["controller"] for r in rows if r["trace"] == "all"] == ["lookup", "schedutil", "oracle"]
    assert all(r["gap_closed"] == r["gap_closed"] for r in rows)  # never NaN here


def test_governors_run_the_full_network(evaluated):
    for row in evaluated[0]["rows"]:
        if row["controller"] in ("performance", "powersave", "ondemand", "schedutil", "static"):
            assert row["accuracy"] == pytest.approx(0.90)  # tiny's top-1 with k = G = 4


def test_the_report_has_tables_and_plots(evaluated):
    _, folder, _ = evaluated
    report = folder / "report"
    names = sorted(p.name for p in report.iterdir())
    assert names == [
        "accuracy_energy.png",
        "results.csv",
        "results.md",
        "timeline_bursty.png",
        "timeline_steady.png",
    ]
    assert "| lookup | all |" in (report / "results.md").read_text()


def test_replay_runs_one_controller_over_one_trace(evaluated, tmp_path, capsys):
    _, _, traces = evaluated
    capsys.readouterr()
    assert (
        main(
            [
                "replay",
                "--platform",
                str(TINY),
                "--trace",
                traces[0],
                "--controller",
                "lookup",
                "--out",
                str(tmp_path),
                "--json",
            ]
        )
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert [r["controller"] for r in payload["rows"]] == ["lookup"]
    assert (tmp_path / "timeline_bursty.png").is_file()


def test_bad_controller_name_and_foreign_trace_exit_2_with_one_line(evaluated, tmp_path, capsys):
    import traces

    _, _, paths = evaluated
    capsys.readouterr()
    assert (
        main(["evaluate", "--platform", str(TINY), "--traces", paths[0], "--controllers", "lookup,fastest"])
        == 2
    )
    assert capsys.readouterr().err.startswith(
        "dynscale: error: controller 'fastest': unknown; expected one of"
    )
    foreign = traces.shipped_traces("odroid-xu3", "eval")[0]
    assert (
        main(["evaluate", "--platform", str(TINY), "--traces", str(foreign), "--controllers", "lookup"]) == 2
    )
    assert f"{foreign}: field 'platform': trace is for 'odroid-xu3', not 'tiny'" in capsys.readouterr().err
