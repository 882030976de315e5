"""The live agent on this machine: a few seconds of deploy with a heuristic controller, and the rule
that hw_agents never imports the simulator or the learning libraries."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dynscale.cli import main
from tests.support import TINY
from traces import Trace, save_trace

REPO = Path(__file__).resolve().parents[1]
FRAMES = 8


def _children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


@pytest.fixture
def trace_path(tmp_path: Path) -> Path:
    trace = Trace(platform="host", kind="steady", split="eval", frame_period_ms=100.0, duration_s=0.5,
                  time_s=[0.0, 0.3], load={"cpu": [0.5, 0.0]}, latency_budget_ms=[200.0, 200.0])
    return save_trace(trace, tmp_path / "trace.csv")


@pytest.mark.parametrize(("controller", "extra"), [("lookup", []), ("lookup", ["--monitor-only"]),
                                                  ("lookup-adaptive", []), ("lookup", ["--no-rehearse"])])
def test_deploy_logs_every_inference_and_reports_the_evaluate_metrics(
    tmp_path: Path, trace_path: Path, capsys: pytest.CaptureFixture[str], controller: str, extra: list[str]
) -> None:
    out = tmp_path / "run"
    affinity = os.sched_getaffinity(0)
    code = main(["deploy", "--board", "host", "--controller", controller, "--trace", str(trace_path),
                 "--duration", str(FRAMES * 0.1), "--out", str(out), "--json", "--no-calibrate", *extra])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_inferences"] == FRAMES  # the 0.5 s trace started over to fill 0.8 s
    for key in ("budget_met_rate", "accuracy", "energy_mj", "latency_ms", "latency_p95_ms"):
        assert summary[key] is not None and summary[key] >= 0
    with (out / "deploy-log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == FRAMES
    assert [int(r["frame"]) for r in rows] == list(range(FRAMES))
    # arrivals on the monotonic clock (the kernel's tick follows it), a frame period apart, before now
    arrivals_s = np.array([float(r["arrival_s"]) for r in rows])
    assert np.diff(arrivals_s) == pytest.approx(0.1, abs=2e-6) and arrivals_s[-1] < time.monotonic()
    # frames rehearsed in the idle time before them (all of them on a quiet machine), unless asked not to
    rehearsed = [float(r["prepare_ms"]) > 0 for r in rows]
    assert any(rehearsed) if "--no-rehearse" not in extra else not any(rehearsed)
    for row in rows:
        # frames 100 ms apart never queue: a frame's latency is the wake-up, the agent's stages up to the
        # inference, then the inference; the agent's time is its four stages
        stages = [float(row[column]) for column in ("sense_ms", "decide_ms", "apply_ms", "record_ms")]
        assert float(row["latency_ms"]) >= float(row["wake_ms"]) + sum(stages[:3]) + float(row["infer_ms"])
        assert float(row["agent_ms"]) == pytest.approx(sum(stages), abs=3e-4)
        assert float(row["infer_ms"]) > 0 and min(stages) > 0
        assert 1 <= int(row["groups"]) <= 4 and row["pe"] == "cpu"
        assert row["budget_met"] == str(float(row["latency_ms"]) <= 200.0)
        assert abs(float(row["energy_mj"]) - float(row["power_w"]) * float(row["infer_ms"])) < 0.01
    assert json.loads((out / "summary.json").read_text())["n_inferences"] == FRAMES
    assert os.sched_getaffinity(0) == affinity  # pinning undone
    assert _children_of(os.getpid()) == []  # every burner stopped


def test_deploy_tells_the_controller_of_the_last_frame_as_the_simulator_does(tmp_path: Path,
                                                                           trace_path: Path) -> None:
    from controllers._lookup import LAST_FRAME_KEYS, LookupController
    from hw_agents import open_board
    from hw_agents.agent import deploy
    from platform_models import load_platform
    from traces import load_trace

    platform = load_platform("host")
    seen: list[dict] = []

    class Recording(LookupController):
        def _act(self, obs, info):
            seen.append(dict(info))
            return super()._act(obs, info)

    deploy(open_board("host"), Recording(platform), load_trace(trace_path, platform), tmp_path / "run",
           duration_s=FRAMES * 0.1, platform=platform, replay_load=False)
    with (tmp_path / "run" / "deploy-log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert not set(LAST_FRAME_KEYS) & set(seen[0])  # nothing before the first frame
    for info, last in zip(seen[1:], rows, strict=False):
        assert info["latency_ms"] == pytest.approx(float(last["latency_ms"]), abs=1e-3)
        assert info["latency_budget_ms"] == 200.0
        # frames 100 ms apart: the wait behind the one before is at most the agent's sleep jitter
        assert 0.0 <= info["queue_ms"] < float(last["latency_ms"])


def test_deploy_on_an_absent_board_is_a_clear_error(tmp_path: Path, trace_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["deploy", "--board", "jetson-nano", "--controller", "lookup", "--trace", str(trace_path),
                 "--out", str(tmp_path / "run")])
    assert code == 2
    assert "jetson" in capsys.readouterr().err.lower()
    assert not (tmp_path / "run" / "deploy-log.csv").exists()


def test_deploy_refuses_a_platform_the_board_cannot_run(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    idle = {"little": [0.0], "big": [0.0], "gpu": [0.0]}
    tiny_trace = save_trace(Trace(platform="tiny", kind="steady", split="eval", frame_period_ms=100.0,
                                  duration_s=1.0, time_s=[0.0], load=idle), tmp_path / "tiny-trace.csv")
    code = main(["deploy", "--board", "host", "--platform", str(TINY),
                 "--controller", "lookup", "--trace", str(tiny_trace), "--out", str(tmp_path / "run")])
    assert code == 2
    assert "tiny.yaml" in capsys.readouterr().err


def test_hw_agents_never_imports_the_simulator_or_learning_libraries() -> None:
    code = (
        "import sys\n"
        "import hw_agents, hw_agents.agent, hw_agents.profiler, hw_agents.agent_timing, hw_agents.loadgen\n"
        "import hw_agents.recorder, hw_agents.calibrate\n"
        "import controllers\n"
        "heavy = ('gymnasium', 'simpy', 'stable_baselines3', 'envs', 'dynscale')\n"
        "bad = sorted(m for m in heavy if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""
