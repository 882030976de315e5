"""Heuristic controllers do what their definitions say, on hand-made observations."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import controllers
from controllers import ControllerError, make_controller
from platform_models import load_platform
from platform_models.prediction import Predictor
from tests.support import AGENT_MS, NAN, TINY, observation, tiny_with_agent

FREQS = (200.0, 400.0, 600.0, 800.0, 1000.0)


def config(platform, action):
    return platform.configs()[action]


@pytest.mark.parametrize(
    ("util", "expected"),
    [(0.0, 200.0), (0.3, 400.0), (0.5, 800.0), (0.64, 800.0), (0.65, 1000.0), (1.0, 1000.0)],
)
def test_schedutil_is_1_25_fmax_util_rounded_up(util, expected):
    # 1.25 * 1000 * 0.5 = 625 -> 800; 0.64 -> 800 exactly; 0.65 -> 812.5 -> 1000
    assert controllers.schedutil(FREQS, util) == expected


@pytest.mark.parametrize(("util", "expected"), [(0.81, 1000.0), (0.8, 1000.0), (0.5, 600.0), (0.0, 200.0)])
def test_ondemand_jumps_to_max_above_80_percent_else_proportional(util, expected):
    # 0.8 is not above the threshold: 200 + 0.8 * 800 = 840 -> 1000; 0.5 -> 600
    assert controllers.ondemand(FREQS, util) == expected


def test_performance_and_powersave_ignore_the_load():
    assert [controllers.performance(FREQS, u) for u in (0.0, 1.0)] == [1000.0, 1000.0]
    assert [controllers.powersave(FREQS, u) for u in (0.0, 1.0)] == [200.0, 200.0]


def test_utilisation_counts_competing_load_and_the_dnn_busy_share():
    assert controllers.utilisation(load=1.0, n_cores=2.0, duty=0.5) == pytest.approx(0.75)
    assert controllers.utilisation(load=0.0, n_cores=4.0, duty=0.0) == 0.0
    assert controllers.utilisation(load=9.0, n_cores=4.0, duty=0.0) == 1.0


def test_governors_run_the_full_network_on_the_fastest_pe(tiny):
    assert controllers.fastest_pe(tiny) == "gpu"
    idle = observation(tiny, pe="gpu")
    for name, freq in (
        ("performance", 600.0),
        ("powersave", 200.0),
        ("schedutil", 200.0),
        ("ondemand", 200.0),
    ):
        chosen = config(tiny, make_controller(name, tiny).act(idle))
        assert (chosen.groups, chosen.pe, chosen.freq_mhz) == (4, "gpu", freq), name


def test_schedutil_raises_the_clock_when_the_dnn_keeps_the_pe_busy(tiny):
    governor = make_controller("schedutil", tiny)
    # no frame period known on a board: the latency budget stands in; 9 ms of a 10 ms budget -> util 0.9
    busy = observation(tiny, latency_budget_ms=10.0, last=(9.0, NAN, NAN), pe="gpu")
    assert config(tiny, governor.act(busy)).freq_mhz == 600.0
    light = observation(tiny, latency_budget_ms=10.0, last=(3.0, NAN, NAN), pe="gpu")  # util 0.3 -> 225
    assert config(tiny, governor.act(light)).freq_mhz == 400.0
    queued = observation(tiny, latency_budget_ms=10.0, last=(3.0, NAN, NAN), pe="gpu", backlog=2)
    assert config(tiny, governor.act(queued)).freq_mhz == 600.0


def test_static_parses_groups_pe_and_frequency(tiny):
    static = make_controller("static:2:big:1400", tiny)
    assert config(tiny, static.act(observation(tiny))) == (2, "big", 1400.0)
    with pytest.raises(ControllerError, match=r"^static: pe 'huge': not a PE of tiny"):
        make_controller("static:2:huge", tiny)


def planned_latency_ms(tiny, config, gpu_busy: float = 0.0) -> float:
    """The latency the lookup manager plans for, computed here from the table and the documented
    rules, not with the manager's own code: the row with every core of the PE free, the one-sided 95 %
    point of a normal (mean + 1.645 std), and the GPU's time-slicing under the ``priority``
    contention rule (latency / the share left)."""
    pe, freq, k = config.pe, config.freq_mhz, config.groups
    cores = tiny.pe(pe).n_cores
    stretch = 1.0 / (1.0 - gpu_busy) if pe == "gpu" else 1.0
    return (tiny.latency_ms(pe, freq, cores, k) + 1.645 * tiny.latency_std_ms(pe, freq, cores, k)) * stretch


def feasible_best(tiny, latency_budget_ms, power_budget_w, gpu_busy):
    """Brute force over the platform table: the definition of the lookup manager's choice."""
    fits = []
    for i, c in enumerate(tiny.configs()):
        power_w = tiny.power_w(c.pe, c.freq_mhz, tiny.pe(c.pe).n_cores, c.groups)
        if planned_latency_ms(tiny, c, gpu_busy) <= latency_budget_ms and power_w <= power_budget_w:
            fits.append(i)
    accuracy = [tiny.accuracy[c.groups - 1] for c in tiny.configs()]
    top = max(accuracy[i] for i in fits)

    def energy_mj(i):
        c = tiny.configs()[i]
        stretch = 1.0 / (1.0 - gpu_busy) if c.pe == "gpu" else 1.0
        return tiny.energy_mj(c.pe, c.freq_mhz, tiny.pe(c.pe).n_cores, c.groups) * stretch

    return min((i for i in fits if accuracy[i] == top), key=energy_mj)


@pytest.mark.parametrize("budgets", [(30.0, 5.0), (12.0, 5.0), (12.0, 0.3), (8.0, 1.0), (5.7, 5.0)])
def test_lookup_picks_the_most_accurate_feasible_config_least_energy_on_ties(tiny, budgets):
    obs = observation(tiny, latency_budget_ms=budgets[0], power_budget_w=budgets[1], load={"gpu": 0.5})
    assert make_controller("lookup", tiny).act(obs) == feasible_best(tiny, *budgets, gpu_busy=0.5)


def test_lookup_moves_off_a_busy_pe(tiny):
    lookup = make_controller("lookup", tiny)
    assert config(tiny, lookup.act(observation(tiny, latency_budget_ms=12.0))).pe == "gpu"
    assert config(tiny, lookup.act(observation(tiny, latency_budget_ms=12.0, load={"gpu": 0.95}))).pe != "gpu"


@pytest.mark.parametrize(("pe", "freq_mhz", "agent_ms"), [("big", 2000.0, AGENT_MS["big"]),
                                                       ("little", 500.0, AGENT_MS["little"] * 1500 / 500)])
def test_lookup_leaves_room_for_the_agents_own_work(tiny, tmp_path, pe, freq_mhz, agent_ms):
    """Where the platform measured the agent's per-frame work, the latency budget left to the
    inference is that much smaller: the work of the PE and frequency in force when deciding."""
    measured = tiny_with_agent(tmp_path)
    for budget_ms in (6.0, 9.0, 12.0, 30.0):
        state = {"pe": pe, "freq_mhz": {pe: freq_mhz}}
        with_agent = observation(measured, latency_budget_ms=budget_ms, **state)
        without = observation(tiny, latency_budget_ms=budget_ms - agent_ms, **state)
        lookup_measured, lookup = make_controller("lookup", measured), make_controller("lookup", tiny)
        assert lookup_measured.act(with_agent) == lookup.act(without)


def test_lookup_without_a_feasible_config_misses_by_the_least(tiny):
    # A latency budget nothing meets: the least miss is the configuration planned fastest.
    planned = [planned_latency_ms(tiny, c) for c in tiny.configs()]
    assert min(planned) > 0.5
    obs = observation(tiny, latency_budget_ms=0.5)
    assert make_controller("lookup", tiny).act(obs) == int(np.argmin(planned))


def test_reactive_levels_are_pareto_ordered(tiny):
    reactive = make_controller("reactive", tiny)
    prediction = Predictor(tiny).predict({})
    latency = [prediction.latency_ms[a] for a in reactive.levels]
    accuracy = [prediction.accuracy[a] for a in reactive.levels]
    assert latency == sorted(latency) and accuracy == sorted(accuracy)


def run_reactive(reactive, tiny, level_ratios):
    """Feed one measured latency / budget ratio per inference; return the level after each."""
    levels = []
    for ratio in level_ratios:
        reactive.act(observation(tiny, latency_budget_ms=10.0, last=(10.0 * ratio, NAN, NAN)))
        levels.append(reactive.level)
    return levels


def test_reactive_steps_down_one_level_per_window_of_misses(tiny):
    reactive = make_controller("reactive", tiny)
    start = reactive.level
    levels = run_reactive(reactive, tiny, [1.5] * 10)
    assert levels == [start] * 4 + [start - 1] * 5 + [start - 2]


def test_reactive_steps_up_on_slack_and_holds_in_between(tiny):
    reactive = make_controller("reactive", tiny)
    start = reactive.level
    assert run_reactive(reactive, tiny, [0.5] * 5)[-1] == start + 1
    assert run_reactive(reactive, tiny, [0.95] * 20)[-1] == start + 1  # neither miss nor slack


def test_reactive_does_not_oscillate_between_two_levels(tiny):
    reactive = make_controller("reactive", tiny)
    start = reactive.level
    # slack at `start`, a miss right after stepping up, then slack again for a long while
    levels = run_reactive(reactive, tiny, [0.5] * 5 + [1.5] * 5 + [0.5] * 40)
    assert levels[4] == start + 1 and levels[9] == start
    assert max(levels[10:]) == start  # the failed level is not retried within the hold


def test_unknown_controller_is_one_clear_error(tiny):
    with pytest.raises(ControllerError, match=r"^controller 'fastest': unknown; expected one of static, "):
        make_controller("fastest", tiny)


def test_oracle_needs_the_simulator(tiny):
    with pytest.raises(ControllerError, match=r"^oracle: needs the simulated environment"):
        make_controller("oracle", tiny)


def test_observation_of_another_platform_is_refused(tiny):
    lookup = make_controller("lookup", tiny)
    expected = r"^lookup: observation: expected shape \(56,\) for platform 'tiny', got \(5,\)$"
    with pytest.raises(ControllerError, match=expected):
        lookup.act(np.zeros(5, dtype=np.float32))


def test_board_side_imports_without_gymnasium_simpy_or_sb3():
    code = (
        "import sys, controllers\n"
        "for name in ('lookup', 'reactive', 'schedutil', 'static'):\n"
        f"    controllers.make_controller(name, {str(TINY)!r})\n"
        "heavy = ('gymnasium', 'simpy', 'stable_baselines3', 'sb3_contrib', 'torch')\n"
        "assert not [m for m in heavy if m in sys.modules], sys.modules.keys()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def met_rate(env, controller) -> float:
    """Budget-met rate of one simulated episode (seed 0)."""
    from controllers._evaluate import run_episode

    return float(np.mean(run_episode(env, controller, controller.name, "trace", 0).columns["budget_met"]))


def test_lookup_adaptive_learns_how_far_the_table_is_off_and_meets_the_budgets_again(tmp_path):
    import gymnasium

    import envs  # noqa: F401  (registers the env id)
    from tests.support import scaled_copy
    from traces import load_trace

    board = load_platform("odroid-xu3")  # the simulated board, as it really runs
    optimistic = load_platform(scaled_copy(board, 0.5, tmp_path))  # a table that says twice as fast
    trace = load_trace("traces/data/odroid-xu3/ramp-eval-s104.csv", board)
    env = gymnasium.make("dynscale/DynamicDNN-v0", platform=board, trace=trace, max_frames=1500)

    fooled, adaptive = make_controller("lookup", optimistic), make_controller("lookup-adaptive", optimistic)
    assert met_rate(env, adaptive) > met_rate(env, fooled) + 0.1
    assert 1.5 < adaptive.scale < 2.7  # about 2: the board is twice as slow as the table says
    # On a right table it decides as lookup does.
    right, adaptive_right = make_controller("lookup", board), make_controller("lookup-adaptive", board)
    assert met_rate(env, adaptive_right) >= met_rate(env, right) - 0.02
    assert 0.7 < adaptive_right.scale < 1.4


def test_lookup_adaptive_does_not_take_a_queue_it_chose_for_a_slow_board():
    # The trace ends in a phase with no latency budget, where the manager runs a configuration slower
    # than the frame period and frames queue up: that is not the table's error.
    import gymnasium

    import envs  # noqa: F401  (registers the env id)
    from traces import load_trace

    board = load_platform("odroid-xu3")
    trace = load_trace("traces/data/odroid-xu3/concurrent-dnn-eval-s105.csv", board)
    env = gymnasium.make("dynscale/DynamicDNN-v0", platform=board, trace=trace)
    from controllers._evaluate import run_episode

    adaptive = make_controller("lookup-adaptive", board)
    columns = run_episode(env, adaptive, "lookup-adaptive", "concurrent-dnn", 0).columns
    latency_ms, budget_ms = np.array(columns["latency_ms"]), np.array(columns["latency_budget_ms"])
    unbudgeted_ms = latency_ms[~np.isfinite(budget_ms)]
    assert max(unbudgeted_ms) > 100.0  # the queue is there (frames come every 20 ms)
    assert 0.8 < adaptive.scale < 1.25


def test_lookup_adaptive_scales_by_the_running_ratio_of_observed_to_predicted_latency(tiny):
    from controllers._lookup import ADAPT_WEIGHT, SCALE_LIMITS

    adaptive = make_controller("lookup-adaptive", tiny)
    obs = observation(tiny, latency_budget_ms=50.0)
    adaptive.act(obs, {})  # the first frame: nothing to learn from
    assert adaptive.scale == 1.0
    predicted_ms = adaptive._predicted_ms
    adaptive.act(obs, {"latency_ms": 2 * predicted_ms, "queue_ms": 5.0, "latency_budget_ms": 50.0})
    assert adaptive.scale == pytest.approx(2 ** ADAPT_WEIGHT)  # the wait counts under a latency budget
    adaptive.reset()
    adaptive.act(obs, {})
    predicted_ms = adaptive._predicted_ms
    adaptive.act(obs, {"latency_ms": predicted_ms + 30.0, "queue_ms": 30.0, "latency_budget_ms": math.inf})
    assert adaptive.scale == pytest.approx(1.0)  # without one, the wait is not the table's error
    for _ in range(500):
        adaptive.act(obs, {"latency_ms": 100 * adaptive._predicted_ms, "queue_ms": 0.0,
                           "latency_budget_ms": 50.0})
    assert adaptive.scale == pytest.approx(SCALE_LIMITS[1])
