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

import pytest

REPO = Path(__file__).resolve().parents[1]
TRACE = REPO / "traces" / "data" / "host" / "ramp-eval-s122.csv"


@pytest.mark.slow
def test_sim_vs_real_reports_the_shipped_and_the_calibrated_table_side_by_side(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "sim_vs_real.py"), "--duration", "1", "--calibrate",
         "--trace", str(TRACE), "--out", str(tmp_path), "--json"],
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
    assert (tmp_path / "pass1-ramp-eval-s122-lookup-platform" / "host.yaml").exists()


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
def test_sim_vs_real_reports_the_policy_level_agreement_of_four_controllers(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "sim_vs_real.py"), "--agreement", "--duration", "0.5",
         "--trace", str(TRACE), "--json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    controllers = ["lookup", "lookup-adaptive", "static:1:cpu", "static:4:cpu"]
    assert [r["controller"] for r in report["runs"]] == controllers
    assert set(report["agreement"]) == set(controllers)
    assert sorted(report["real_ranking"]) == sorted(report["sim_ranking"]) == sorted(controllers)
    assert report["same_ranking"] == (report["real_ranking"] == report["sim_ranking"])
    diffs = [abs(r["real_budget_met_rate"] - r["sim_budget_met_rate"]) for r in report["runs"]]
    assert report["max_budget_met_diff"] == pytest.approx(max(diffs))
    for run in report["runs"]:
        floor = run["noise_floor_median_abs_err"]
        assert run["median_excess_err"] == pytest.approx(run["median_abs_err"] - floor)
        assert run["real_energy_mj"] > 0 and run["sim_energy_mj"] > 0
    assert math.isfinite(report["median_excess_err"])
