"""One frame, one definition: the simulator and the live agent report a frame the same way, and the
live agent's stages choose what the agent chose before they were stages."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the environment)
from controllers import make_controller
from hw_agents import open_board
from hw_agents.agent import _Decision, _LiveRun, _Ran, _Sensed
from platform_models import load_platform
from platform_models.frame import CONTROLLER_INFO_KEYS, backlog, budget_met, frame_outcome, segment_at
from tests.support import load_benchmark
from traces import Trace

RECORDED = Path(__file__).parent / "data" / "agent-frames.json"
NAN, INF = math.nan, math.inf


def test_budget_met_has_one_rule_for_absent_budgets_and_unknown_figures() -> None:
    assert budget_met((10.0, NAN, INF), (10.0, 99.0, 99.0))  # NaN and inf budgets are absent
    assert not budget_met((10.0, NAN, INF), (10.5, 0.0, 0.0))
    assert not budget_met((10.0, NAN, NAN), (NAN, 0.0, 0.0))  # an unknown figure is not a success
    assert budget_met((NAN, NAN, NAN), (NAN, NAN, NAN))  # nothing in force, nothing to miss


def test_backlog_and_segment_lookup() -> None:
    assert backlog(now=45.0, arrival=10.0, period=10.0, frames_left=99) == 3
    assert backlog(now=40.0 - 1e-12, arrival=10.0, period=10.0, frames_left=99) == 3  # float rounding
    assert backlog(now=45.0, arrival=10.0, period=10.0, frames_left=1) == 1  # no frames past the end
    assert backlog(now=5.0, arrival=10.0, period=10.0, frames_left=9) == 0
    assert [segment_at([0.0, 2.5, 10.0], t) for t in (-1.0, 0.0, 2.4, 2.5, 99.0)] == [0, 0, 0, 1, 2]


@pytest.fixture
def host_run():
    """A live run on this machine's host board, driven stage by stage (no DNN: the tests feed the
    stages what an inference would give)."""
    platform = load_platform("host")
    trace = Trace(platform="host", kind="steady", split="eval", frame_period_ms=25.0, duration_s=2.0,
                  time_s=[0.0, 0.5, 1.0, 1.5], load={"cpu": [0.0, 0.6, 1.2, 0.3]},
                  latency_budget_ms=[40.0, 12.0, 20.0, 8.0], power_budget_w=[NAN, 20.0, 9.0, NAN],
                  energy_budget_mj=[NAN, NAN, 200.0, 90.0])
    runs = []

    def make(controller) -> _LiveRun:
        run = _LiveRun(open_board("host"), controller, trace, platform, None, "/proc",
                       platform.accuracy, {}, n_frames=80)
        runs.append(run)
        return run

    yield platform, trace, make
    for run in runs:
        run.close()


class _Spy:
    """A controller that remembers what it was shown and answers as ``inner`` does (or with the
    answers it is given)."""

    name = "spy"

    def __init__(self, inner=None, answers=None) -> None:
        self.inner, self.answers, self.seen, self.rehearsed = inner, list(answers or []), [], []

    def reset(self) -> None:
        if self.inner is not None:
            self.inner.reset()

    def act(self, obs, info=None) -> int:
        self.seen.append((obs, dict(info)))
        return self.inner.act(obs, info) if self.inner is not None else self.answers[len(self.seen) - 1]

    def rehearse(self, obs, info=None) -> None:
        self.rehearsed.append(obs)
        self.inner.rehearse(obs, info)


def test_the_same_frame_gives_the_same_observation_and_info_in_the_simulator_and_live(host_run) -> None:
    platform, trace, make = host_run
    env = gym.make("dynscale/DynamicDNN-v0", platform=platform, trace=trace, latency_noise=False).unwrapped
    env.reset(seed=0)
    sim_obs, sim_info = [], []
    for action in (3, 0, 2, 1) * 6:  # 24 frames: past the first budget change at 0.5 s
        obs, _, _, _, info = env.step(action)
        sim_obs.append(obs)
        sim_info.append(info)
    # The live agent meets the same frames: the simulator's times, load and figures, fed to its stages.
    spy = _Spy(answers=[3, 0, 2, 1] * 6)
    run = make(spy)
    period_s = trace.frame_period_ms / 1000.0
    for i, info in enumerate(sim_info):
        arrival_s = i * period_s
        start_s = arrival_s + info["queue_ms"] / 1000.0
        now_s = start_s
        budgets = trace.budgets_at(now_s)
        sensed = _Sensed(i, arrival_s, start_s, 0.0, now_s, budgets, trace.load_at(now_s),
                         backlog(now_s, arrival_s, period_s, 79 - i))
        decision = run.decide(sensed)
        run.groups, run.pe = decision.config.groups, decision.config.pe
        run_ms = info["latency_ms"] - info["queue_ms"] - info["agent_ms"]
        run.record(sensed, _Ran(1, run_ms, arrival_s + info["latency_ms"] / 1000.0, info["power_w"], "model"))
        outcome = run.last
        assert outcome.budget_met == info["budget_met"]
        for key in ("latency_ms", "power_w", "energy_mj"):
            assert getattr(outcome, key) == pytest.approx(info[key], rel=1e-12)
        live_info = outcome.controller_info()
        assert live_info.keys() == set(CONTROLLER_INFO_KEYS)
        assert live_info == pytest.approx({key: info[key] for key in CONTROLLER_INFO_KEYS}, rel=1e-12)
    # The observation each path builds for the next frame (the live one: at the next frame's start).
    for i, (obs, info) in enumerate(zip(sim_obs[:-1], sim_info[1:], strict=True)):
        live_obs, live_info = spy.seen[i + 1]
        np.testing.assert_array_equal(live_obs, obs)
        assert {k: v for k, v in live_info.items() if k != "action_mask"}.keys() == set(CONTROLLER_INFO_KEYS)
        assert info["backlog"] == round(float(obs[9]) * 10)


def _outcome_before(frame: dict):
    """The previous frame's outcome as the recording saw it: its figures and controller info."""
    latency_ms, power_w, energy_mj = frame["inputs"]["last"]
    info = frame["info"]
    return frame_outcome(latency_ms=latency_ms, queue_ms=info["queue_ms"], run_ms=energy_mj / power_w,
                         energy_mj=energy_mj, budgets=(info["latency_budget_ms"], NAN, NAN))


@pytest.mark.parametrize(("name", "rehearsed"),
                         [(name, False) for name in ("lookup", "lookup-adaptive", "policy")]
                         + [(name, True) for name in ("lookup", "lookup-adaptive")])
def test_the_stages_choose_what_the_agent_chose_before_them(host_run, name: str, rehearsed: bool) -> None:
    """``agent-frames.json``: frames the agent decided with the code before the stages (its inputs,
    the info it gave the controller, the choice). Replayed through ``decide``, each frame shows the
    controller the same observation and info, and the heuristics choose the same, also when each
    frame is rehearsed first, as the agent rehearses it. (The exported
    policy of the recording, seeded random weights, is not kept: a deterministic controller shown the
    same observation chooses the same.)"""
    platform, trace, make = host_run
    frames = json.loads(RECORDED.read_text())["controllers"][name]
    inner = make_controller(name, platform) if name != "policy" else None
    spy = _Spy(inner=inner, answers=[f["action"] for f in frames])
    run = make(spy)
    spy.reset()
    for i, frame in enumerate(frames):
        inputs = frame["inputs"]
        run.freq_mhz, run.groups, run.pe = dict(inputs["freq_mhz"]), inputs["groups"], inputs["pe"]
        run.last = _outcome_before(frame) if frame["info"] else None
        if rehearsed:
            run.rehearse(i, 0.0, 0.0, inputs["load"])
        budgets = type(trace.budgets_at(0.0))(*inputs["budgets"])
        sensed = _Sensed(i, 0.0, 0.0, 0.0, 0.0, budgets, inputs["load"], inputs["backlog"])
        decision: _Decision = run.decide(sensed)
        assert decision.action == frame["action"], f"frame {i}"
        obs, info = spy.seen[-1]
        expected = run.spec.build(**{**inputs, "budgets": tuple(inputs["budgets"]),
                                     "last": tuple(inputs["last"])})
        np.testing.assert_array_equal(obs, expected)
        for key, value in frame["info"].items():  # an absent budget was NaN before, inf now
            assert info[key] == pytest.approx(value, rel=1e-12) or not (math.isfinite(info[key])
                                                                    or math.isfinite(value))


def test_the_overhead_benchmark_times_every_stage_of_every_controller(capsys) -> None:
    module = load_benchmark("agent_overhead")
    assert module.main(["--frames", "10", "--period-ms", "10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["controllers"]) == {"lookup", "lookup-adaptive", "learned", "policy"}
    for figures in report["controllers"].values():
        assert figures["frames"] == 10
        stages = figures["stages"]
        assert set(stages) == {"sense", "decide", "apply", "record"}
        assert 0 < figures["median_ms"] <= figures["p99_ms"]
        assert figures["median_ms"] == figures["deploy_agent_ms"]  # deploy's summary reports the same figure
        assert figures["prepare"]["p99_ms"] > 0 and figures["not_rehearsed"]["prepare"]["p99_ms"] == 0
        speedup = figures["not_rehearsed"]["median_ms"] / figures["median_ms"]
        assert figures["rehearsal_speedup"] == pytest.approx(speedup)
        assert all(0 < s["median_ms"] <= s["p99_ms"] for s in stages.values())
        assert set(figures["warm"]["stages"]) == set(stages) and figures["warm"]["median_ms"] > 0
        ratio = figures["median_ms"] / report["k1_inference_ms"]
        assert figures["ratio_to_k1_inference"] == pytest.approx(ratio)


def test_a_frame_rehearsed_on_other_inputs_is_observed_afresh(host_run) -> None:
    """The frame's observation and info are the rehearsal's again only where they are made of the same
    (budgets, load, backlog, last outcome, configuration in force): rehearsed, then a frame whose load,
    backlog or budgets differ, or whose frequency (changed in place, as apply does) or groups differ,
    or after another frame's outcome, shows the controller what is built afresh for it."""
    platform, trace, make = host_run
    spy = _Spy(inner=make_controller("lookup", platform))
    run = make(spy)
    pe = platform.pes[0].name
    budgets, other = trace.budgets_at(0.0), trace.budgets_at(1.0)
    load = {pe: 0.5}
    changes = [("nothing", lambda s: s), ("load", lambda s: s._replace(load={pe: 1.5})),
               ("backlog", lambda s: s._replace(backlog=3)), ("budgets", lambda s: s._replace(budgets=other)),
               ("frequency", lambda s: run.freq_mhz.update({pe: run.freq_mhz[pe] / 2.0}) or s),
               ("groups", lambda s: setattr(run, "groups", 1) or s),
               ("outcome", lambda s: run.record(s, _Ran(1, 5.0, 0.01, 10.0, "model")) and s)]
    for i, (what, change) in enumerate(changes):
        arrival_s = time.monotonic() + 60.0  # rehearsed before it arrives: trace time 0, no backlog
        run.rehearse(i, arrival_s, arrival_s, load)
        sensed = change(_Sensed(i, arrival_s, arrival_s, 0.0, 0.0, budgets, load, 0))
        run.decide(sensed)
        obs, info = spy.seen[-1]
        assert (obs is spy.rehearsed[-1]) == (what == "nothing"), what  # the rehearsal's again, or not
        last = run.last.last if run.last else (NAN, NAN, NAN)
        expected = run.spec.build(budgets=sensed.budgets, last=last, load=sensed.load, freq_mhz=run.freq_mhz,
                                  groups=run.groups, pe=run.pe, backlog=sensed.backlog)
        np.testing.assert_array_equal(obs, expected, err_msg=what)
        assert info == ({**run.last.controller_info(), "action_mask": run.action_mask} if run.last
                        else {"action_mask": run.action_mask}), what
