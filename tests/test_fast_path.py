"""The live agent's per-frame fast path gives what computing afresh gives: the contention rule in plain
floats, the predictions, observation fit blocks, lookup choices and action masks remembered across
frames, the policy's skipped identity normalisation, and the torch threads apply no longer re-reads."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from controllers import make_controller
from platform_models import Contention, ObservationSpec, load_platform
from platform_models.prediction import P95_Z, Prediction, worst_budget_ratio
from tests.support import NAN, TINY

INF = math.inf


def _platforms():
    """Every shipped platform and the test one, each under both contention rules."""
    for name in ("host", "odroid-xu3", "jetson-nano", TINY):
        platform = load_platform(name)
        for rule in ("fair", "priority"):
            variant = copy.copy(platform)
            variant.contention = rule
            yield pytest.param(variant, id=f"{getattr(name, 'stem', name)}-{rule}")


PLATFORMS = list(_platforms())


def _loads(platform, rng, n: int) -> list[dict[str, float]]:
    """``n`` loads as a board reads them: idle, repeated, whole and half cores, and anything between
    (up to past every core busy)."""
    n_cores = np.array([pe.n_cores for pe in platform.pes], dtype=np.float64)
    pool = [np.zeros_like(n_cores), n_cores, np.round(rng.uniform(0, 1, n_cores.shape) * n_cores * 2) / 2]
    loads = []
    for _ in range(n):
        drawn = rng.uniform(0, 1.2, n_cores.shape) * n_cores
        busy = pool[rng.integers(len(pool))] if rng.random() < 0.5 else drawn
        loads.append({pe.name: float(b) for pe, b in zip(platform.pes, busy, strict=True)})
    return loads


def _states(platform, seed: int = 5, n: int = 120):
    """Observation inputs: loads as above, budgets repeating or not (NaN and inf absent), every PE
    and frequency, first frames included."""
    rng = np.random.default_rng(seed)
    spec = ObservationSpec(platform)
    latency, power, energy = spec.scales.tolist()
    budgets_pool = [(NAN, NAN, NAN), (latency * 0.5, NAN, NAN), (latency * 0.2, power * 0.6, INF),
                    (INF, NAN, energy * 0.3)]
    configs = platform.configs()
    for load in _loads(platform, rng, n):
        budgets = budgets_pool[rng.integers(len(budgets_pool))] if rng.random() < 0.7 else tuple(
            float(b) for b in rng.uniform(0.05, 2.0, 3) * spec.scales)
        config = configs[rng.integers(len(configs))]
        freq_mhz = {pe.name: float(rng.choice(pe.freqs_mhz)) for pe in platform.pes}
        freq_mhz[config.pe] = float(config.freq_mhz)
        figures = tuple(float(v) for v in rng.uniform(0, 2, 3) * spec.scales)
        last = (NAN, NAN, NAN) if rng.random() < 0.1 else figures
        yield {"budgets": budgets, "last": last, "load": load, "freq_mhz": freq_mhz, "groups": config.groups,
               "pe": config.pe, "backlog": int(rng.integers(0, 12))}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_contention_rule_in_plain_floats_is_the_arrays_rule(platform):
    contention = Contention(platform)
    rng = np.random.default_rng(1)
    for load in _loads(platform, rng, 200):
        busy = list(load.values())
        cores, stretch = contention.allocation_of(busy)
        loaded = Contention(platform).config_metrics(np.array(busy))  # a fresh one: nothing remembered
        assert list(cores) == loaded.allocation.cores.tolist()
        assert list(stretch) == loaded.allocation.stretch.tolist()
        for remembered, afresh in zip(contention.metrics_of((cores, stretch)), loaded.metrics, strict=True):
            np.testing.assert_array_equal(remembered, afresh)
        assert contention.rows_read(busy) == (loaded.threads.tolist(), loaded.metrics.power_w.tolist())


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_remembered_observation_is_the_one_built_afresh_and_its_fit_block_the_tables(platform):
    """One builder kept over many frames (its predictions and fit blocks remembered) against a new
    one per frame, and the fit block against the table's prediction computed here, in float64 from
    ``Contention.config_metrics``, rounded to float32 once: identical."""
    spec = ObservationSpec(platform)
    fit_start = spec.size - len(platform.configs())
    for state in _states(platform):
        obs = spec.build(**state)
        np.testing.assert_array_equal(obs, ObservationSpec(platform).build(**state))
        metrics = Contention(platform).config_metrics(np.array(list(state["load"].values()))).metrics
        prediction = Prediction(metrics.latency_ms, metrics.latency_ms + P95_Z * metrics.latency_std_ms,
                                metrics.power_w, metrics.energy_mj, np.zeros(len(platform.configs())))
        agent_ms = platform.pe(state["pe"]).agent_ms(state["freq_mhz"][state["pe"]])
        with np.errstate(divide="ignore"):
            ratio = worst_budget_ratio(prediction, state["budgets"], agent_ms)
            fit = np.clip(np.log2(ratio) / 3.0, -1.0, 1.0)
        np.testing.assert_array_equal(obs[fit_start:], fit.astype(np.float32))


@pytest.mark.parametrize("platform", PLATFORMS[::2])  # the fair rule: allocations repeat across loads
@pytest.mark.parametrize("name", ["lookup", "lookup-adaptive"])
def test_a_lookup_remembering_its_choices_chooses_as_one_that_remembers_nothing(platform, name):
    """Two controllers shown the same frames, masks included (read-only and reused as the live agent
    gives it, a fresh array, one changed in place), one forgetting every remembered choice and mask
    before each frame."""
    kept, forgetful = make_controller(name, platform), make_controller(name, platform)
    spec = ObservationSpec(platform)
    rng = np.random.default_rng(2)
    n_actions = len(platform.configs())
    shared = rng.random(n_actions) < 0.7
    shared.flags.writeable = False
    changing = np.ones(n_actions, dtype=bool)
    chosen = set()
    for i, state in enumerate(_states(platform, seed=3)):
        changing[rng.integers(n_actions)] = rng.random() < 0.5  # in place: the same object, new values
        mask = (None, shared, shared, changing, changing, changing, rng.random(n_actions) < 0.5)[i % 7]
        info = {"latency_ms": 3.0, "queue_ms": 0.0, "latency_budget_ms": state["budgets"][0]} if i else {}
        if mask is not None:
            info["action_mask"] = mask
        obs = spec.build(**state)
        forgetful._choices.clear()
        forgetful._masks.clear()
        forgetful._mask_given = None
        action = kept.act(obs, info)
        assert action == forgetful.act(obs, info), f"frame {i}"
        assert mask is None or not mask.any() or mask[action], f"frame {i}: a masked choice"
        chosen.add(action)
    assert len(chosen) > 1  # the frames were not all one decision


def test_the_policy_without_normalisation_scores_as_the_normalising_path(tmp_path):
    """An exported policy whose normalisation is the identity skips it: the same scores as the full
    path (mean 0, std 1, no clip, the float32 rounding) computed here."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        from agent_overhead import seeded_policy
    finally:
        sys.path.pop(0)
    platform = load_platform("host")
    policy = make_controller(str(seeded_policy(platform, tmp_path / "policy.npz")), platform)
    spec = ObservationSpec(platform)
    for state in _states(platform, n=30):
        obs = spec.build(**state)
        x = np.clip((obs.astype(np.float64) - 0.0) / np.sqrt(1.0 + 0.0), -INF, INF).astype(np.float32)
        x = x.astype(np.float64)
        for i, (weight, bias) in enumerate(policy._layers):
            x = x @ weight.T + bias
            x = np.tanh(x) if i < len(policy._layers) - 1 else x
        np.testing.assert_array_equal(policy.scores(obs), x)


def test_apply_keeps_torch_at_the_threads_it_reports():
    """apply sets torch's thread count only when the threads change, and pinning (which sets them
    too) is followed by setting them again."""
    import torch

    from hw_agents import open_board
    from hw_agents.affinity import inference_state_restored
    from hw_agents.agent import _Decision, _LiveRun, _Runner
    from hw_agents.inference import platform_dnn
    from traces import Trace

    platform = load_platform("host")
    model, _, x = platform_dnn(platform)
    trace = Trace(platform="host", kind="steady", split="eval", frame_period_ms=20.0, duration_s=1.0,
                  time_s=[0.0], load={"cpu": [0.0]}, latency_budget_ms=[40.0])
    run = _LiveRun(open_board("host"), make_controller("lookup", platform), trace, platform,
                   _Runner(model, x, platform, {}), "/proc", platform.accuracy, {}, n_frames=10)
    n_cores = platform.pes[0].n_cores
    try:
        with inference_state_restored():
            for i, busy in enumerate([0.0, 0.0, n_cores - 0.5, n_cores - 0.5, 0.0]):
                action = i % len(platform.configs())
                if i == 3:
                    run._pinned_pe = None  # as after a move to another PE: pinning again
                threads = run.apply(_Decision(action, platform.configs()[action], ""), {"cpu": busy})
                assert torch.get_num_threads() == threads
                assert model._active_groups == platform.configs()[action].groups
    finally:
        run.close()


def test_the_start_up_objects_sit_out_the_garbage_collections_of_the_frames(tmp_path):
    """During the frames every object of the start-up is frozen out of the collector (a full
    collection would walk them all inside a frame); afterwards they are back."""
    import gc

    from hw_agents import open_board
    from hw_agents.agent import deploy
    from traces import Trace

    class Spy:
        name = "spy"

        def __init__(self) -> None:
            self.frozen: list[int] = []

        def reset(self) -> None:
            pass

        def act(self, obs, info=None) -> int:
            self.frozen.append(gc.get_freeze_count())
            return 0

    platform = load_platform("host")
    trace = Trace(platform="host", kind="steady", split="eval", frame_period_ms=20.0, duration_s=0.1,
                  time_s=[0.0], load={"cpu": [0.0]}, latency_budget_ms=[40.0])
    spy = Spy()
    assert gc.get_freeze_count() == 0
    deploy(open_board("host"), spy, trace, tmp_path / "run", duration_s=0.1, platform=platform,
           replay_load=False)
    # Five frames, fewer where a loaded machine holds the run past its 1 s grace (the frame count is not
    # what this test is about).
    assert 1 <= len(spy.frozen) <= 5 and min(spy.frozen) > 10_000
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("platform", PLATFORMS[:6:2])  # the shipped platforms (each has a learned policy)
@pytest.mark.parametrize("name", ["lookup", "lookup-adaptive", "learned", "static", "reactive", "schedutil"])
def test_a_rehearsed_controller_decides_as_one_never_rehearsed(platform, name):
    """The live agent rehearses each frame before it arrives (``Controller.rehearse``), on the load
    read so far: two controllers shown the same frames, one rehearsing each twice before acting (on
    the frame before's observation and on its own), choose alike, and the adaptive lookup learns
    alike (it learns from every frame's latency here). A rehearsal on the frame's own observation
    answers what act then picks (the agent sets the DNN up for it before the frame arrives)."""
    if name == "learned":
        platform = load_platform(platform.name)  # the shipped policy was trained on the shipped rule
    plain, rehearsed = make_controller(name, platform), make_controller(name, platform)
    spec = ObservationSpec(platform)
    rng = np.random.default_rng(4)
    previous = None
    chosen = set()
    for i, state in enumerate(_states(platform, seed=6)):
        obs = spec.build(**state)
        info = {"latency_ms": float(rng.uniform(0.5, 3.0) * spec.scales[0]), "queue_ms": 0.0,
                "latency_budget_ms": state["budgets"][0]} if i else {}
        if previous is not None:
            rehearsed.rehearse(previous, info)
        guess = rehearsed.rehearse(obs, info)
        action = plain.act(obs, info)
        assert rehearsed.act(obs, info) == action, f"frame {i}"
        assert guess in (action, None)  # what act then picks, where the controller rehearses at all
        if name == "lookup-adaptive":
            assert rehearsed.scale == plain.scale
        chosen.add(action)
        previous = obs
    # The frames were not all one decision (a governor on the host's one clock has one to make).
    assert len(chosen) > 1 or name == "static" or (name == "schedutil" and platform.name == "host")
    if name == "lookup-adaptive":
        assert plain.scale != 1.0  # it did learn
