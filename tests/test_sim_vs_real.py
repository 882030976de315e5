"""benchmarks/sim_vs_real.py runs end to end on this machine: live deploy, calibration, simulation.

Its figures are the benchmark's business (README); this checks only that a short run of each mode
completes and reports what the README quotes, on this machine's real /proc and /sys.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support import load_benchmark, n_lines, start_stoppable, wait_until

REPO = Path(__file__).resolve().parents[1]
TRACE = REPO / "traces" / "data" / "host" / "ramp-eval-s122.csv"


@pytest.mark.slow
def test_sim_vs_real_reports_the_shipped_and_the_calibrated_table_side_by_side(tmp_path: Path) -> None:
    from platform_models import load_platform

    result = subprocess.run(  # --watch-s with --calibrate: each run's calibration watched
        [sys.executable, str(REPO / "benchmarks" / "sim_vs_real.py"), "--duration", "1", "--calibrate",
         "--watch-s", "1", "--trace", str(TRACE), "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    shipped, calibrated = report["runs"]
    assert (shipped["table"], calibrated["table"]) == ("shipped", "calibrated")
    assert shipped["latency_factor"] is None and set(calibrated["latency_factor"]) == {"cpu"}
    for run in (shipped, calibrated):
        assert run["n_frames"] > 0
        for key in ("median_abs_err", "p90_abs_err", "noise_floor_median_abs_err", "table_drift"):
            assert math.isfinite(run[key]) and run[key] >= 0
    assert [(m["controller"], m["table"]) for m in report["medians"]] == [("lookup", "shipped"),
                                                                          ("lookup", "calibrated")]
    calibrated = load_platform(tmp_path / "pass1-ramp-eval-s122-lookup-platform" / "host.yaml")
    assert calibrated.descriptor["provenance"]["calibration"]["watched"]["rounds"] >= 2
    assert "watched" not in report  # nor a baseline of its own
    assert not any("baseline_median_abs_err" in run for run in report["runs"])


@pytest.mark.slow
def test_sim_vs_real_watch_s_runs_on_a_watched_table_against_its_first_round(tmp_path: Path) -> None:
    from platform_models import load_platform

    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "sim_vs_real.py"), "--duration", "1", "--watch-s", "1",
         "--controller", "lookup", "static:1:cpu", "--trace", str(TRACE), "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    # the policy-level comparison on both tables: the watched one, and its first round as the baseline
    for key in ("same_ranking", "baseline_same_ranking"):
        assert isinstance(report[key], bool)
    for key in ("max_controller_budget_met_diff", "baseline_max_controller_budget_met_diff",
                "baseline_median_excess_err"):
        assert math.isfinite(report[key]), key
    assert [m["table"] for m in report["medians"]] == ["watched", "watched"]
    run = report["runs"][0]
    assert report["watched"]["rounds"] >= 2
    watched = load_platform(tmp_path / "watched" / "host.yaml")
    first = load_platform(tmp_path / "first-round" / "host.yaml")
    by_round = report["watched"]["latency_factor_by_round"]["cpu"]  # JSON: the core counts as strings
    assert run["table"] == "watched" and report["watched"]["rounds"] == len(by_round["1"])
    factor = watched.descriptor["provenance"]["calibration"]["latency_factor"]["cpu"]
    assert run["latency_factor"] == {"cpu": {str(cores): f for cores, f in factor.items()}}
    assert run["baseline_latency_factor"] == {"cpu": {cores: fs[0] for cores, fs in by_round.items()}}
    assert first.descriptor["provenance"]["calibration"]["first_round"]["of"] == str(watched.path)
    for side in ("", "baseline_"):
        for key in ("median_abs_err", "sim_budget_met_rate", "sim_energy_mj"):
            assert math.isfinite(run[side + key]) and run[side + key] >= 0, side + key
    floor = run["noise_floor_median_abs_err"]  # the same live frames, both tables
    assert run["baseline_median_excess_err"] == pytest.approx(run["baseline_median_abs_err"] - floor)


def test_sim_vs_real_refuses_a_negative_watch_before_any_work(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "sim_vs_real.py"), "--watch-s", "-1",
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith("--watch-s: expected a number >= 0, got '-1'")
    assert not (tmp_path / "out").exists()


def test_sim_vs_real_on_a_bad_trace_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("# dynscale-trace: 1\n# platform: host\ntime_s,cpu\nsoon,1\n")
    benchmark = REPO / "benchmarks" / "sim_vs_real.py"
    result = subprocess.run([sys.executable, str(benchmark), "--trace", str(bad)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("sim_vs_real: error: ") and result.stderr.count("\n") == 1
    assert str(bad) in result.stderr


@pytest.mark.slow
def test_ctrl_c_mid_run_ends_the_benchmark_with_one_line_and_130(tmp_path: Path) -> None:
    import signal

    out = tmp_path / "out"
    run = start_stoppable(str(REPO / "benchmarks" / "sim_vs_real.py"), "--duration", "30",
                          "--trace", str(TRACE), "--out", str(out))
    log = out / "pass1-ramp-eval-s122-lookup" / "deploy-log.csv"
    wait_until(lambda: n_lines(log) >= 3)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGINT, err
    assert err == "sim_vs_real: interrupted\n"  # the deploy's summary of what ran stays in --out
    assert (log.parent / "summary.json").exists()


@pytest.mark.slow
def test_sim_vs_real_reports_the_policy_level_agreement_of_four_controllers(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "sim_vs_real.py"), "--agreement", "--duration", "0.5",
         "--trace", str(TRACE), "--baseline", "host", "--json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    controllers = ["lookup", "lookup-adaptive", "static:1:cpu", "static:4:cpu"]
    assert [r["controller"] for r in report["runs"]] == controllers
    assert set(report["agreement"]) == set(controllers)
    assert sorted(report["real_ranking"]) == sorted(report["sim_ranking"]) == sorted(controllers)
    if report["real_ranking"] == report["sim_ranking"]:
        assert report["same_ranking"]
    for a, b in report["sim_ties"]:
        assert report["agreement"][a]["sim_budget_met_rate"] == report["agreement"][b]["sim_budget_met_rate"]
    diffs = [abs(r["real_budget_met_rate"] - r["sim_budget_met_rate"]) for r in report["runs"]]
    assert report["max_budget_met_diff"] == pytest.approx(max(diffs))
    for run in report["runs"]:
        floor = run["noise_floor_median_abs_err"]
        assert run["median_excess_err"] == pytest.approx(run["median_abs_err"] - floor)
        assert run["real_energy_mj"] > 0 and run["sim_energy_mj"] > 0
    assert math.isfinite(report["median_excess_err"])
    for run in report["runs"]:  # every frame the two sides meet differently has one cause
        counts = run["disagreement"]
        assert set(counts) == {"config", "split", "latency"}
        assert run["free_latency_ratio"] > 0  # the ramp trace leaves one core free throughout
        net = sum(c["real_met"] - c["sim_met"] for c in counts.values())
        assert net == pytest.approx(run["n_frames"] * (run["real_budget_met_rate"]
                                                       - run["sim_noise_free_budget_met_rate"]), abs=1.01)
    # the baseline is the platform itself here: the same live frames simulated alike give the same figures
    for run in report["runs"]:
        assert run["baseline_median_excess_err"] == pytest.approx(run["median_excess_err"])
        assert run["baseline_sim_budget_met_rate"] == run["sim_budget_met_rate"]
    assert report["baseline_same_ranking"] == report["same_ranking"]
    assert report["baseline_max_budget_met_diff"] == report["max_budget_met_diff"]


def _runs(figures: dict[str, tuple[float, float, float, float]], trace: str = "t") -> list[dict]:
    return [{"table": "shipped", "controller": c, "trace": trace, "real_budget_met_rate": real,
             "real_energy_mj": real_mj, "sim_budget_met_rate": sim, "sim_energy_mj": sim_mj}
            for c, (real, real_mj, sim, sim_mj) in figures.items()]


def test_same_ranking_leaves_an_exact_tie_unordered_and_nothing_else():
    agreement = load_benchmark("sim_vs_real")._agreement
    # a and b choose alike in the simulator (same rate and energy): either live order agrees with it
    tied = _runs({"a": (0.90, 1.0, 1.0, 2.0), "b": (0.95, 1.0, 1.0, 2.0), "c": (0.5, 1.0, 0.4, 1.0)})
    report = agreement(tied, ["a", "b", "c"])
    assert report["sim_ties"] == [["a", "b"]] and report["same_ranking"]
    assert report["sim_ranking"] == ["a", "b", "c"] and report["real_ranking"] == ["b", "a", "c"]
    # a near tie is an order: b ahead live, a ahead simulated by 0.001 of a rate
    near = _runs({"a": (0.90, 1.0, 1.0, 2.0), "b": (0.95, 1.0, 0.999, 2.0), "c": (0.5, 1.0, 0.4, 1.0)})
    report = agreement(near, ["a", "b", "c"])
    assert report["sim_ties"] == [] and not report["same_ranking"]
    assert report["max_budget_met_diff"] == pytest.approx(0.1)
    assert report["max_controller_budget_met_diff"] == pytest.approx(0.1)  # one run each: the same


def test_two_live_passes_report_how_far_the_machine_moves_a_budget_met_rate():
    agreement = load_benchmark("sim_vs_real")._agreement
    one = _runs({"a": (0.90, 1.0, 1.0, 2.0), "b": (0.5, 1.0, 0.4, 1.0)})
    assert "max_real_budget_met_spread" not in agreement(one, ["a", "b"])  # one pass: nothing to compare
    again = _runs({"a": (0.75, 1.0, 1.0, 2.0), "b": (0.45, 1.0, 0.4, 1.0)})
    other_trace = _runs({"a": (0.1, 1.0, 1.0, 2.0), "b": (0.9, 1.0, 0.4, 1.0)}, trace="u")
    report = agreement(one + again + other_trace, ["a", "b"])
    assert report["max_real_budget_met_spread"] == pytest.approx(0.15)  # a on t: 0.90 and 0.75
    # a's runs are 0.10, 0.25 and 0.90 off the simulator's 1.0, its mean (0.583) 0.417
    assert report["max_budget_met_diff"] == pytest.approx(0.9)
    assert report["max_controller_budget_met_diff"] == pytest.approx(1.0 - (0.90 + 0.75 + 0.1) / 3)


def test_the_budget_met_excess_is_how_far_the_simulated_rates_lie_outside_the_live_passes_range():
    agreement = load_benchmark("sim_vs_real")._agreement
    one = _runs({"a": (0.90, 1.0, 1.0, 2.0), "b": (0.5, 1.0, 0.4, 1.0)})
    assert "max_budget_met_excess" not in agreement(one, ["a", "b"])  # one pass: no live range
    # a on t: live 0.90 and 0.60, simulated 1.0 and 0.95 -> 0.05 above the live range; b: live 0.5 and
    # 0.3, simulated 0.4 and 0.45 -> inside it, however far from either pass
    again = _runs({"a": (0.60, 1.0, 0.95, 2.0), "b": (0.3, 1.0, 0.45, 1.0)})
    report = agreement(one + again, ["a", "b"])
    assert report["max_budget_met_excess"] == pytest.approx(0.05)
    assert report["max_budget_met_diff"] == pytest.approx(0.35)  # a's second pass: 0.60 against 0.95
    below = _runs({"a": (0.90, 1.0, 0.2, 2.0), "b": (0.5, 1.0, 0.4, 1.0)}, trace="u")
    twice = below + _runs({"a": (0.70, 1.0, 0.1, 2.0), "b": (0.5, 1.0, 0.4, 1.0)}, trace="u")
    assert agreement(one + again + twice, ["a", "b"])["max_budget_met_excess"] == pytest.approx(0.5)


def test_a_live_runs_tick_phase_is_its_first_arrival_modulo_the_tick_where_the_window_is_known(tmp_path):
    from platform_models import load_platform
    from tests.support import TINY

    phase_ms = load_benchmark("sim_vs_real")._tick_phase_ms
    rows = [{"arrival_s": "12345.678901"}, {"arrival_s": "12345.698901"}]
    path = tmp_path / "tiny.yaml"
    (tmp_path / "tiny.csv").write_bytes(TINY.with_suffix(".csv").read_bytes())
    path.write_text(TINY.read_text() + "contention: fair\nscheduler_tick_ms: 4.0\n")
    assert phase_ms(load_platform(path), rows) is None  # no window: nothing to replay the phase against
    path.write_text(path.read_text() + "contention_split_window_end_ms: 3.4\n")
    assert phase_ms(load_platform(path), rows) == pytest.approx(12345678.901 % 4.0)  # 2.901
    assert phase_ms(load_platform(path), [{"arrival_s": ""}]) is None  # a log from before the column


def test_the_agreement_at_drawn_phases_is_reported_beside_the_replayed_one():
    agreement = load_benchmark("sim_vs_real")._agreement
    runs = _runs({"a": (0.90, 1.0, 0.88, 2.0), "b": (0.5, 1.0, 0.4, 1.0)})
    for run, drawn in zip(runs, (1.0, 0.3), strict=True):
        run.update(drawn_sim_budget_met_rate=drawn, drawn_sim_energy_mj=1.0)
    replayed, at_drawn = agreement(runs, ["a", "b"]), agreement(runs, ["a", "b"], sim="drawn_sim")
    assert replayed["max_budget_met_diff"] == pytest.approx(0.1)
    assert at_drawn["drawn_max_budget_met_diff"] == pytest.approx(0.2)  # b: 0.5 live, 0.3 drawn
    assert at_drawn["drawn_same_ranking"] and set(at_drawn["drawn_agreement"]) == {"a", "b"}
    assert "max_budget_met_diff" not in at_drawn  # each side under its own keys


def test_each_frame_the_two_sides_meet_differently_is_put_down_to_a_configuration_a_split_or_a_latency():
    from platform_models import load_platform
    from traces import load_trace

    benchmark = load_benchmark("sim_vs_real")
    platform = load_platform(REPO / "tests" / "data" / "host-epyc-tick.yaml")
    trace = load_trace(REPO / "traces" / "data" / "host" / "concurrent-dnn-eval-s121.csv", platform)
    sim = benchmark._simulate("static:1:cpu", platform, trace, 400, phase_ms=0.0)
    alone_ms = platform.latency_ms("cpu", 2000, 1, 1)

    def row(i: int, infer_ms: float, met: bool, groups: int = 1) -> dict[str, str]:
        return {"time_s": str(i * trace.frame_period_ms / 1000.0), "groups": str(groups), "pe": "cpu",
                "freq_mhz": "2000.0", "infer_ms": str(infer_ms), "budget_met": str(met)}

    # the live run as the simulation went: nothing to put down
    rows = [row(i, lat - agent - queue, met) for i, (lat, agent, queue, met) in enumerate(zip(
        sim["latency_ms"], sim["agent_ms"], sim["queue_ms"], sim["budget_met"], strict=True))]
    models = benchmark._frame_models(platform, trace, rows)
    assert benchmark._disagreement(rows, models, sim) == {
        cause: {"sim_met": 0, "real_met": 0} for cause in ("config", "split", "latency")}

    def load(r: dict[str, str]) -> float:
        return trace.load_at(float(r["time_s"]))["cpu"]

    met = [i for i in range(len(rows)) if sim["budget_met"][i]]
    held = [i for i in met if load(rows[i]) > 1.9 and float(rows[i]["infer_ms"]) < 1.2 * alone_ms]  # ahead
    free = [i for i in met if load(rows[i]) < 0.5]
    assert held and len(free) > 1
    rows[held[0]] = row(held[0], 3 * alone_ms, False)  # split live, ahead simulated
    rows[free[0]] = row(free[0], 50.0, False)  # on a free core: slower than the budget
    rows[free[1]] = row(free[1], 1.0, False, groups=4)  # another configuration
    assert benchmark._disagreement(rows, benchmark._frame_models(platform, trace, rows), sim) == {
        "config": {"sim_met": 1, "real_met": 0}, "split": {"sim_met": 1, "real_met": 0},
        "latency": {"sim_met": 1, "real_met": 0}}


def test_the_free_latency_ratio_is_the_live_frames_on_unshared_cores_over_the_model():
    from platform_models import load_platform
    from traces import load_trace

    benchmark = load_benchmark("sim_vs_real")
    platform = load_platform(REPO / "tests" / "data" / "host-epyc-tick.yaml")
    trace = load_trace(REPO / "traces" / "data" / "host" / "concurrent-dnn-eval-s121.csv", platform)
    times_s = [i * trace.frame_period_ms / 1000.0 for i in range(400)]
    held = [trace.load_at(t)["cpu"] > 1.9 for t in times_s]
    assert any(held) and not all(held)
    alone_ms = platform.latency_ms("cpu", 2000, 1, 1)
    # frames on the free core 1.3x the table, on the held core 5x (contention, left out)
    rows = [{"time_s": str(t), "groups": "1", "pe": "cpu", "freq_mhz": "2000.0",
             "infer_ms": str(alone_ms * (5.0 if h else 1.3))} for t, h in zip(times_s, held, strict=True)]
    models = benchmark._frame_models(platform, trace, rows)
    assert benchmark._free_latency_ratio(rows, models) == pytest.approx(1.3)
    held_only = [r for r, h in zip(rows, held, strict=True) if h]
    held_models = benchmark._frame_models(platform, trace, held_only)
    assert math.isnan(benchmark._free_latency_ratio(held_only, held_models))  # nothing to tell it by


def test_the_noise_floor_keeps_a_held_cores_two_outcomes_apart():
    from platform_models import load_platform
    from traces import load_trace

    benchmark = load_benchmark("sim_vs_real")
    platform = load_platform(REPO / "tests" / "data" / "host-epyc-tick.yaml")
    trace = load_trace(REPO / "traces" / "data" / "host" / "concurrent-dnn-eval-s121.csv", platform)
    times_s = [i * trace.frame_period_ms / 1000.0 for i in range(400)]
    rows = [{"time_s": str(t), "groups": "1", "pe": "cpu", "freq_mhz": "2000.0"} for t in times_s]
    models = benchmark._frame_models(platform, trace, rows)
    held = [i for i, m in enumerate(models) if m.split_share > 0.0]
    assert len(held) > 10
    # every held frame exactly at one of the model's two outcomes, alternately; free ones at the model
    for j, i in enumerate(held):
        rows[i]["infer_ms"] = str(models[i].split_ms if j % 2 else models[i].ahead_ms)
    for i, r in enumerate(rows):
        r.setdefault("infer_ms", str(models[i].ahead_ms))
    real_ms = np.array([float(r["infer_ms"]) for r in rows])
    # a model that knows each frame's outcome makes no error: the floor is 0, not the pooled mean's
    floor = benchmark._noise_floor(trace, rows, real_ms, models)
    assert floor == pytest.approx(np.zeros(len(rows)), abs=1e-12)
    # within one outcome the floor is each frame against its outcome's mean
    slow = held[0]
    real_ms[slow] *= 1.5
    floor = benchmark._noise_floor(trace, rows, real_ms, models)
    assert floor[slow] > 0.0 and floor[held[1]] == pytest.approx(0.0, abs=1e-12)
