"""The DynamicDNN environment: Gymnasium/SB3 conformance, determinism and the SoC model's behaviour."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import envs
from envs import DynamicDNNEnv, EnvError, MultiDiscreteAction
from platform_models import load_platform
from tests.support import TINY, tiny_with_agent
from traces import Trace, TraceError, save_trace


@pytest.fixture(scope="module")
def tiny_agent(tmp_path_factory):
    return tiny_with_agent(tmp_path_factory.mktemp("tiny-agent"))


def make_trace(time_s, *, little=0.0, big=0.0, gpu=0.0, latency=None, power=None, energy=None,
               duration_s=5.0, period_ms=100.0, seed=None) -> Trace:
    """A trace on the tiny platform; scalars are repeated over the segments."""
    n = len(time_s)

    def column(value):
        return None if value is None else np.broadcast_to(np.asarray(value, dtype=float), (n,))

    return Trace(
        platform="tiny", kind="steady", split="train", frame_period_ms=period_ms, duration_s=duration_s,
        time_s=time_s, load={"little": column(little), "big": column(big), "gpu": column(gpu)},
        latency_budget_ms=column(latency), power_budget_w=column(power), energy_budget_mj=column(energy),
        seed=seed,
    )


@pytest.fixture(scope="module")
def busy_trace():
    """Load and budgets changing every second; one budget absent in places."""
    return make_trace(
        [0.0, 1.0, 2.0, 3.0, 4.0],
        little=[0.0, 1.5, 2.0, 0.5, 1.0], big=[0.0, 0.5, 1.0, 2.0, 0.0], gpu=[0.0, 0.3, 0.99, 0.5, 0.0],
        latency=[50, 30, 80, 40, 20], power=[np.nan, 2.0, np.nan, 3.0, 1.0],
    )


def action_of(platform, pe: str, freq_mhz: float, groups: int) -> int:
    return platform.configs().index((groups, pe, freq_mhz))


def run(env, actions):
    """(obs, reward, terminated, truncated, info) of every step."""
    return [env.step(a) for a in actions]


# --- conformance -------------------------------------------------------------------------------


# The checkers report most of what they find as warnings: here every warning fails the test.


@pytest.mark.filterwarnings("error")
def test_gymnasium_check_env_passes(tiny, busy_trace):
    from gymnasium.utils.env_checker import check_env

    env = gym.make("dynscale/DynamicDNN-v0", platform=tiny, trace=busy_trace, render_mode="ansi")
    check_env(env.unwrapped)


@pytest.mark.filterwarnings("error")
def test_sb3_check_env_passes(tiny, busy_trace):
    from stable_baselines3.common.env_checker import check_env

    check_env(DynamicDNNEnv(tiny, busy_trace), warn=True)


def test_register_is_idempotent_and_make_accepts_paths(tmp_path, busy_trace):
    envs.register_envs()
    envs.register_envs()
    path = save_trace(busy_trace, tmp_path / "busy.csv")
    env = gym.make(envs.ENV_ID, platform=str(TINY), trace=str(path))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.unwrapped.configs == env.unwrapped.platform.configs()


def test_same_seed_same_trajectory(tiny, busy_trace):
    def rollout(seed):
        env = DynamicDNNEnv(tiny, [busy_trace, make_trace([0.0], little=1.0, latency=40)])
        obs, info = env.reset(seed=seed)
        rng = np.random.default_rng(5)
        steps = [(obs, 0.0, info)]
        for _ in range(60):
            obs, reward, terminated, truncated, info = env.step(rng.integers(env.action_space.n))
            steps.append((obs, reward, info))
            if terminated or truncated:
                break
        return steps

    first, second, other = rollout(11), rollout(11), rollout(12)
    for (o1, r1, i1), (o2, r2, i2) in zip(first, second, strict=True):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2 and i1 == i2
    assert [s[2] for s in first] != [s[2] for s in other]


def test_runs_under_sb3_subproc_vec_env(tiny, busy_trace):
    from stable_baselines3.common.vec_env import SubprocVecEnv

    # fork: the workers inherit the imported modules instead of importing torch again (seconds each)
    vec = SubprocVecEnv([lambda: DynamicDNNEnv(tiny, busy_trace) for _ in range(2)], start_method="fork")
    try:
        vec.seed(3)
        obs = vec.reset()
        assert obs.shape == (2, *vec.observation_space.shape)
        for _ in range(5):
            obs, _, _, infos = vec.step(np.array([0, 1]))
        assert len(infos) == 2 and all("latency_ms" in i for i in infos)
        masks = vec.env_method("action_masks")
        assert all(m.dtype == bool and m.any() for m in masks)
    finally:
        vec.close()


def test_render_ansi_describes_the_last_step(tiny, busy_trace):
    env = DynamicDNNEnv(tiny, busy_trace, render_mode="ansi")
    env.reset(seed=0)
    env.step(action_of(tiny, "big", 2000.0, 3))
    text = env.render()
    assert "k=3" in text and "pe=big" in text and "f=2000MHz" in text and "lat=" in text


# --- the SoC model -------------------------------------------------------------------------------


def test_mean_latency_without_load_matches_the_table(tiny):
    trace = make_trace([0.0], duration_s=40.0, period_ms=100.0)
    env = DynamicDNNEnv(tiny, trace)
    env.reset(seed=1)
    action = action_of(tiny, "big", 1400.0, 3)
    latencies = [info["latency_ms"] for *_, info in run(env, [action] * 400)]
    table_ms = tiny.latency_ms("big", 1400.0, 2, 3)
    assert np.std(latencies) > 0  # the noise is on
    assert abs(np.mean(latencies[1:]) / table_ms - 1.0) < 0.02


def test_load_appearing_mid_inference_lengthens_it(tiny):
    change_ms = 10.0
    trace = make_trace([0.0, change_ms / 1000.0], little=[0.0, 1.0])
    env = DynamicDNNEnv(tiny, trace, latency_noise=False)
    env.reset(seed=0)
    action = action_of(tiny, "little", 1500.0, 4)  # the start state: no migration or DVFS cost
    alone_ms = tiny.latency_ms("little", 1500.0, 2, 4)
    shared_ms = tiny.latency_ms("little", 1500.0, 1, 4)
    assert change_ms < alone_ms
    expected_ms = change_ms + (1.0 - change_ms / alone_ms) * shared_ms  # remaining work re-rated
    predicted = env.lookahead(action)
    _, _, _, _, info = env.step(action)
    assert info["latency_ms"] == pytest.approx(expected_ms, rel=1e-9)
    assert info["latency_ms"] > alone_ms
    assert predicted["latency_ms"] == pytest.approx(expected_ms, rel=1e-9)


def test_queueing_turns_a_feasible_budget_into_misses(tiny):
    action = action_of(tiny, "little", 1500.0, 4)
    alone_ms = tiny.latency_ms("little", 1500.0, 2, 4)
    trace = make_trace([0.0], latency=1.5 * alone_ms, period_ms=0.7 * alone_ms, duration_s=1.0)
    env = DynamicDNNEnv(tiny, trace, latency_noise=False)
    env.reset(seed=0)
    infos = [info for *_, info in run(env, [action] * 10)]
    assert infos[0]["budget_met"] and infos[0]["queue_ms"] == 0.0
    assert not infos[-1]["budget_met"] and infos[-1]["queue_ms"] > 0.0
    assert infos[-1]["latency_ms"] == pytest.approx(infos[-1]["queue_ms"] + alone_ms)
    assert infos[-1]["missed"] == sum(not i["budget_met"] for i in infos) > 0
    assert infos[-1]["backlog"] > 0


def test_impossible_budget_misses_every_frame(tiny):
    trace = make_trace([0.0], latency=0.5, duration_s=1.0)
    env = DynamicDNNEnv(tiny, trace)
    env.reset(seed=0)
    rewards, infos = [], []
    terminated = False
    while not terminated:
        _, reward, terminated, _, info = env.step(action_of(tiny, "big", 2000.0, 1))
        rewards.append(reward)
        infos.append(info)
    assert len(infos) == 10 and infos[-1]["missed"] == 10
    assert max(rewards) < 0


def test_dvfs_change_and_migration_add_the_descriptor_costs(tiny):
    trace = make_trace([0.0], duration_s=2.0, period_ms=200.0)
    env = DynamicDNNEnv(tiny, trace, latency_noise=False)
    env.reset(seed=0)  # starts on the first PE (little), every PE at its highest frequency
    little, big, gpu = (tiny.pe(n) for n in ("little", "big", "gpu"))
    plan = [  # (pe, freq, k, expected overhead)
        ("little", 1500.0, 2, 0.0),
        ("little", 1000.0, 2, little.dvfs_transition_ms),
        ("big", 2000.0, 2, big.migration_ms),
        ("big", 800.0, 2, big.dvfs_transition_ms),
        ("gpu", 200.0, 2, gpu.migration_ms + gpu.dvfs_transition_ms),
        ("big", 800.0, 2, big.migration_ms),  # big kept its 800 MHz while the DNN was away
    ]
    for pe, freq, k, overhead_ms in plan:
        *_, info = env.step(action_of(tiny, pe, freq, k))
        cores = tiny.pe(pe).n_cores
        assert info["overhead_ms"] == pytest.approx(overhead_ms)
        assert info["latency_ms"] == pytest.approx(tiny.latency_ms(pe, freq, cores, k) + overhead_ms)
        assert (info["pe"], info["freq_mhz"], info["groups"]) == (pe, freq, k)


def test_agent_work_comes_first_from_the_pe_it_runs_on(tiny_agent):
    """The agent's own work is paid before every inference, on the PE the DNN ran on last (at that
    PE's current frequency), and draws none of the DNN's power."""
    platform = tiny_agent
    trace = make_trace([0.0], duration_s=2.0, period_ms=200.0)
    env = DynamicDNNEnv(platform, trace, latency_noise=False)
    env.reset(seed=0)  # starts on little at 1500 MHz
    plan = [  # (pe, freq, k, expected agent ms, expected migration/DVFS ms)
        ("little", 1500.0, 2, 1.5, 0.0),
        ("little", 500.0, 2, 1.5, 0.1),
        ("big", 2000.0, 2, 1.5 * 1500 / 500, 1.0),  # decided on little, still at 500 MHz
        ("gpu", 600.0, 2, 0.75, 2.0),
        ("gpu", 200.0, 2, 0.5, 0.5),
        ("big", 2000.0, 2, 0.5, 1.0),  # a GPU's clock does not pace the agent
    ]
    for pe, freq, k, agent_ms, overhead_ms in plan:
        *_, info = env.step(action_of(platform, pe, freq, k))
        cores = platform.pe(pe).n_cores
        infer_ms = platform.latency_ms(pe, freq, cores, k)
        assert info["agent_ms"] == pytest.approx(agent_ms)
        assert info["latency_ms"] == pytest.approx(agent_ms + overhead_ms + infer_ms)
        power_w = platform.power_w(pe, freq, cores, k)
        assert info["power_w"] == pytest.approx(power_w)
        assert info["energy_mj"] == pytest.approx(power_w * (overhead_ms + infer_ms))


def test_gpu_share_slows_the_inference(tiny):
    trace = make_trace([0.0], gpu=0.75, duration_s=1.0)
    env = DynamicDNNEnv(tiny, trace, latency_noise=False)
    env.reset(seed=0)
    env.step(action_of(tiny, "gpu", 600.0, 2))  # pays the migration
    *_, info = env.step(action_of(tiny, "gpu", 600.0, 2))
    assert info["latency_ms"] == pytest.approx(tiny.latency_ms("gpu", 600.0, 1, 2) / 0.25)


def test_masks_block_a_taken_pe_but_never_everything(tiny):
    trace = make_trace([0.0, 1.0], little=[2.0, 2.0], big=[0.0, 2.0], gpu=[0.1, 1.0], duration_s=2.0)
    env = DynamicDNNEnv(tiny, trace)
    env.reset(seed=0)
    pe_of = tiny.config_pe_index
    mask = env.action_masks()
    assert not mask[pe_of == 0].any() and mask[pe_of == 1].all() and mask[pe_of == 2].all()
    while env.unwrapped._sim.now_ms < 1000.0:
        env.step(np.flatnonzero(mask)[0])
    mask = env.action_masks()
    assert mask.any()  # all three PEs fully taken: one PE stays allowed
    assert len({int(pe_of[a]) for a in np.flatnonzero(mask)}) == 1


def test_lookahead_predicts_the_noise_free_step_and_changes_nothing(tiny, busy_trace):
    env = DynamicDNNEnv(tiny, busy_trace, latency_noise=False)
    twin = DynamicDNNEnv(tiny, busy_trace, latency_noise=False)  # never asked for a lookahead
    env.reset(seed=4)
    twin.reset(seed=4)
    rng = np.random.default_rng(0)
    for _ in range(40):
        action = int(rng.integers(env.action_space.n))
        every = env.lookahead_all()
        predicted = env.lookahead(action)
        assert predicted["latency_ms"] == every["latency_ms"][action]
        assert set(predicted) == {"latency_ms", "energy_mj", "power_w", "accuracy", "budget_met", "reward",
                                  "busy_ms"}
        obs, reward, _, _, info = env.step(action)
        twin_obs, _, _, _, twin_info = twin.step(action)
        np.testing.assert_array_equal(obs, twin_obs)
        assert info == twin_info
        assert info["latency_ms"] == pytest.approx(predicted["latency_ms"], rel=1e-9)
        assert info["energy_mj"] == pytest.approx(predicted["energy_mj"], rel=1e-9)
        assert info["budget_met"] == predicted["budget_met"]
        assert reward == pytest.approx(predicted["reward"], rel=1e-9)


# --- episodes, arguments, wrapper, reward ---------------------------------------------------------


def test_episode_is_one_pass_or_max_frames(tiny):
    trace = make_trace([0.0], duration_s=1.0, period_ms=100.0)
    env = DynamicDNNEnv(tiny, trace)
    env.reset(seed=0)
    steps = run(env, [0] * 10)
    assert [s[2] for s in steps] == [False] * 9 + [True]
    assert steps[-1][4]["frame"] == 9
    with pytest.raises(EnvError, match="call reset"):
        env.step(0)
    env = DynamicDNNEnv(tiny, trace, max_frames=4)
    env.reset(seed=0)
    assert [s[3] for s in run(env, [0] * 4)] == [False, False, False, True]


def test_trace_list_draws_one_per_reset(tiny):
    traces = [make_trace([0.0], little=i * 0.5, seed=i) for i in range(4)]
    env = DynamicDNNEnv(tiny, traces)
    drawn = {env.reset(seed=s)[1]["trace_index"] for s in range(20)}
    assert len(drawn) > 1
    assert env.reset(seed=3)[1] == env.reset(seed=3)[1]
    assert [env.reset(options={"trace_index": i})[1]["trace_index"] for i in range(4)] == [0, 1, 2, 3]
    assert env.unwrapped.trace is traces[3]
    with pytest.raises(EnvError, match=r"^field 'trace_index': expected an integer in 0\.\.3, got 4$"):
        env.reset(options={"trace_index": 4})


def test_accuracy_override_feeds_info_and_reward(tiny):
    trace = make_trace([0.0], latency=1000.0, duration_s=1.0)
    env = DynamicDNNEnv(tiny, trace, accuracy=[0.1, 0.2, 0.3, 0.4], w_energy=0.0)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(action_of(tiny, "little", 1500.0, 3))
    assert info["accuracy"] == 0.3 and reward == pytest.approx(0.3)


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped version:UserWarning")  # checking a wrapper
@pytest.mark.filterwarnings("error")
def test_multidiscrete_wrapper_maps_triples_to_configs(tiny, busy_trace):
    from gymnasium.utils.env_checker import check_env

    env = MultiDiscreteAction(DynamicDNNEnv(tiny, busy_trace))
    assert list(env.action_space.nvec) == [4, 3, 3]
    env.reset(seed=0)
    *_, info = env.step(np.array([2, 1, 0]))
    assert (info["groups"], info["pe"], info["freq_mhz"]) == (3, "big", 800.0)
    assert env.action_masks().shape == (10,)
    check_env(env, skip_render_check=True)  # no render mode here: rendering is checked unwrapped


def test_reward_function():
    kwargs = {"energy_scale_mj": 100.0, "w_energy": 0.1}
    met = envs.reward(0.8, 10.0, 1.0, 20.0, 20.0, math.inf, math.inf, **kwargs)
    assert met == pytest.approx(0.8 - 0.1 * 0.2)
    small_miss = envs.reward(0.8, 21.0, 1.0, 20.0, 20.0, math.inf, math.inf, **kwargs)
    big_miss = envs.reward(0.8, 60.0, 1.0, 20.0, 20.0, math.inf, math.inf, **kwargs)
    assert big_miss < small_miss < 0 < met
    power_miss = envs.reward(0.8, 10.0, 3.0, 20.0, 20.0, 2.0, math.inf, **kwargs)
    assert power_miss < 0
    arrays = envs.reward(np.array([0.8, 0.8]), np.array([10.0, 60.0]), 1.0, 20.0, 20.0, math.inf, math.inf,
                         **kwargs)
    np.testing.assert_allclose(arrays, [met, big_miss])


def test_bad_arguments_raise_one_line_errors(tiny, busy_trace):
    with pytest.raises(EnvError, match=r"^field 'max_frames': expected an integer >= 1"):
        DynamicDNNEnv(tiny, busy_trace, max_frames=0)
    with pytest.raises(EnvError, match=r"^field 'trace'"):
        DynamicDNNEnv(tiny, 42)
    other = Trace(platform="x", kind="steady", split="train", frame_period_ms=100.0, duration_s=1.0,
                  time_s=[0.0], load={"cpu": [0.0]})
    with pytest.raises(TraceError, match="load"):
        DynamicDNNEnv(tiny, other)


def test_maskable_ppo_learns_a_few_steps_from_the_masks(tiny):
    from sb3_contrib import MaskablePPO

    trace = make_trace([0.0], little=2.0, latency=100.0, duration_s=2.0)  # little is taken: masked
    env = DynamicDNNEnv(tiny, trace, max_frames=16)
    model = MaskablePPO("MlpPolicy", env, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")
    model.learn(16)
    obs, _ = env.reset(seed=0)
    masks = env.action_masks()
    assert not masks.all()
    for _ in range(5):
        action, _ = model.predict(obs, action_masks=masks)
        assert masks[int(action)]
        obs, *_ = env.step(action)


@settings(max_examples=25, deadline=None)
@given(
    gaps_ms=st.lists(st.floats(0.2, 20.0), min_size=1, max_size=40),
    loads=st.lists(st.tuples(st.floats(0.0, 2.0), st.floats(0.0, 2.0), st.floats(0.0, 1.0)), min_size=41,
                   max_size=41),
    actions=st.lists(st.integers(0, 35), min_size=1, max_size=25),
    period_ms=st.sampled_from([5.0, 20.0, 60.0]),
)
def test_simulation_agrees_with_the_lookahead_on_any_trace(tiny_agent, gaps_ms, loads, actions, period_ms):
    """Two implementations of the model: SimPy with interrupts, and the vectorised walk over segments.

    Segments a few ms long put load changes in the middle of inferences, of the agent's work and of
    DVFS/migration costs.
    """
    tiny = tiny_agent
    starts_s = np.cumsum([0.0, *gaps_ms]) / 1000.0
    rows = loads[: len(starts_s)]
    little, big, gpu = ([r[i] for r in rows] for i in range(3))
    trace = make_trace(starts_s, little=little, big=big, gpu=gpu, latency=30.0,
                       duration_s=float(starts_s[-1]) + 0.2, period_ms=period_ms)
    env = DynamicDNNEnv(tiny, trace, latency_noise=False)
    env.reset(seed=0)
    for action in actions:
        predicted = env.lookahead(action)
        _, reward, terminated, truncated, info = env.step(action)
        assert info["latency_ms"] == pytest.approx(predicted["latency_ms"], rel=1e-9, abs=1e-9)
        assert info["energy_mj"] == pytest.approx(predicted["energy_mj"], rel=1e-9, abs=1e-9)
        assert reward == pytest.approx(predicted["reward"], rel=1e-9, abs=1e-9)
        busy_ms = info["latency_ms"] - info["queue_ms"]
        assert busy_ms == pytest.approx(predicted["busy_ms"], rel=1e-9, abs=1e-9)
        assert info["latency_ms"] >= info["queue_ms"] + info["agent_ms"] + info["overhead_ms"]
        if terminated or truncated:
            break


def test_multidiscrete_frequency_past_a_short_list_means_the_top_one():
    from traces import shipped_traces

    nano = load_platform("jetson-nano")
    n_freqs = [len(pe.freqs_mhz) for pe in nano.pes]
    short = int(np.argmin(n_freqs))
    assert min(n_freqs) < max(n_freqs)
    env = MultiDiscreteAction(DynamicDNNEnv(nano, shipped_traces("jetson-nano", split="train")[0]))
    env.reset(seed=0)
    *_, info = env.step(np.array([0, short, max(n_freqs) - 1]))
    assert (info["pe"], info["freq_mhz"]) == (nano.pes[short].name, nano.pes[short].freqs_mhz[-1])
