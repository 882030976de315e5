"""The live agent's per-frame fast path gives what computing afresh gives: the contention rule in plain
floats, the predictions, observation fit blocks, lookup choices and action masks remembered across
frames, the policy's skipped identity normalisation, and the torch threads apply no longer re-reads."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest

from controllers import make_controller
from platform_models import Contention, ObservationSpec, load_platform
from platform_models.prediction import P95_Z, Prediction, worst_budget_ratio
from tests.support import NAN, TINY, load_benchmark

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
        forgetful._last_question = ()
        action = kept.act(obs, info)
        assert action == forgetful.act(obs, info), f"frame {i}"
        assert mask is None or not mask.any() or mask[action], f"frame {i}: a masked choice"
        chosen.add(action)
    assert len(chosen) > 1  # the frames were not all one decision


@pytest.mark.parametrize("name", ["lookup", "lookup-adaptive", "learned"])
def test_a_question_asked_again_is_answered_as_by_a_controller_that_keeps_no_last_answer(name):
    """Each observation asked again and again, as the live agent asks a frame's after rehearsing it,
    but with the mask changed between the askings (another array, none, the same array changed in
    place) and, for the adaptive lookup, its scale moved by the latency it is told: every answer is
    the one of a twin that forgets its last question before each."""
    platform = load_platform("odroid-xu3")
    kept, forgetful = make_controller(name, platform), make_controller(name, platform)
    spec = ObservationSpec(platform)
    rng = np.random.default_rng(13)
    n_actions = len(platform.configs())
    changing = np.ones(n_actions, dtype=bool)
    answers = set()
    for i, state in enumerate(_states(platform, seed=14, n=40)):
        obs = spec.build(**state)
        for asking in range(4):
            info = {"latency_ms": float(rng.uniform(0.2, 3.0) * spec.scales[0]), "queue_ms": 0.0,
                    "latency_budget_ms": state["budgets"][0]} if i or asking else {}
            if asking == 2:
                changing[rng.integers(n_actions)] = rng.random() < 0.5
            if asking:
                info["action_mask"] = (changing, changing, rng.random(n_actions) < 0.5)[asking - 1]
            forgetful._last_question = ()
            guess = forgetful.rehearse(obs, info)
            forgetful._last_question = ()
            expected = forgetful.act(obs, info)
            assert kept.rehearse(obs, info) == guess and kept.act(obs, info) == expected, (i, asking)
            answers.add(expected)
    assert len(answers) > 1


def test_the_policy_without_normalisation_scores_as_the_normalising_path(tmp_path):
    """An exported policy whose normalisation is the identity skips it: the same scores as the full
    path (mean 0, std 1, no clip, the float32 rounding) computed here."""
    seeded_policy = load_benchmark("agent_overhead").seeded_policy
    platform = load_platform("host")
    policy = make_controller(str(seeded_policy(platform, tmp_path / "policy.npz")), platform)
    assert policy._fast is None  # 64 x 64: too small for the float32 pass to pay (controllers._policy)
    spec = ObservationSpec(platform)
    for state in _states(platform, n=30):
        obs = spec.build(**state)
        x = np.clip((obs.astype(np.float64) - 0.0) / np.sqrt(1.0 + 0.0), -INF, INF).astype(np.float32)
        x = x.astype(np.float64)
        for i, (weight, bias) in enumerate(policy._layers):
            x = x @ weight.T + bias
            x = np.tanh(x) if i < len(policy._layers) - 1 else x
        np.testing.assert_array_equal(policy.scores(obs), x)


def _policy_file(path, platform, sizes, activation, seed, normalised=False):
    """An exported policy of seeded random layers ``sizes`` (input first) for ``platform``; normalised
    with seeded means and variances when asked (variances spread down to ``1e-6``, so that the clip
    acts), else not. float64 weights: the float32 pass rounds them too."""
    import json

    from controllers._policy import POLICY_FORMAT
    from platform_models import OBSERVATION_VERSION

    rng = np.random.default_rng(seed)
    size = sizes[0]
    meta = {"format": POLICY_FORMAT, "algo": "ppo", "platform": platform.name, "observation_version":
            OBSERVATION_VERSION, "n_actions": sizes[-1], "obs_size": size, "activation": activation,
            "output": "logits", "n_layers": len(sizes) - 1, "normalised": normalised}
    arrays = {"meta": np.array(json.dumps(meta)), "obs_mean": np.zeros(size), "obs_var": np.ones(size),
              "obs_clip": np.array(INF), "obs_eps": np.array(0.0)}
    if normalised:
        arrays.update(obs_mean=rng.uniform(0.0, 1.0, size), obs_var=10.0 ** rng.uniform(-6, 0, size),
                      obs_clip=np.array(10.0), obs_eps=np.array(1e-8))
    for i in range(len(sizes) - 1):
        arrays[f"w{i}"] = rng.standard_normal((sizes[i + 1], sizes[i])) / np.sqrt(sizes[i])
        arrays[f"b{i}"] = rng.standard_normal(sizes[i + 1]) * 0.1
    np.savez(path, **arrays)
    return str(path)


def _policies(tmp_path):
    """The shipped policies (float32 weights, normalised, tanh) and three made here (float64 weights):
    tanh without normalisation, relu normalised (as DQN exports), and one hidden layer; all large
    enough for the float32 pass."""
    for name in ("host", "odroid-xu3", "jetson-nano"):
        platform = load_platform(name)
        yield name, platform, make_controller("learned", platform)
    for label, name, hidden, activation, normalised in (("tanh", "host", [256, 256], "tanh", False),
                                                        ("relu", "host", [256, 256], "relu", True),
                                                        ("one-hidden", "odroid-xu3", [256], "tanh", True)):
        platform = load_platform(name)
        sizes = [ObservationSpec(platform).size, *hidden, len(platform.configs())]
        path = _policy_file(tmp_path / f"{label}.npz", platform, sizes, activation, seed=len(label),
                            normalised=normalised)
        yield label, platform, make_controller(path, platform)


def _observations(platform, rng, n_random: int = 300):
    """The builder's observations of ``_states`` and random vectors past its bounds (negative, past
    10: what ``act`` accepts besides)."""
    spec = ObservationSpec(platform)
    built = [spec.build(**state) for state in _states(platform, n=150)]
    return [*built, *rng.uniform(-2.0, 12.0, (n_random, spec.size)).astype(np.float32)]


def test_the_float32_pass_picks_what_the_float64_reference_picks(tmp_path):
    """A policy acts on its float32 pass where that certainly picks the float64 argmax: on the
    builder's observations and random ones, with and without masks, every choice is the reference's
    (the argmax of ``scores``, itself the formula computed here), and the float32 pass decided most
    of them (it is not dead weight)."""
    for label, platform, policy in _policies(tmp_path):
        rng = np.random.default_rng(7)
        observations = _observations(platform, rng)
        batch = np.array(observations)
        x = np.clip((batch.astype(np.float64) - policy._mean) / policy._std, -policy._clip, policy._clip)
        x = x.astype(np.float32).astype(np.float64)
        for i, (weight, bias) in enumerate(policy._layers):
            x = x @ weight.T + bias
            x = policy._activation(x) if i < len(policy._layers) - 1 else x
        np.testing.assert_array_equal(policy.scores(batch), x)
        n_actions = len(platform.configs())
        assert policy._fast is not None, label
        certain = 0
        for obs, scores in zip(observations, x, strict=True):
            mask = rng.random(n_actions) < 0.5 if rng.random() < 0.5 else None
            if mask is not None and (mask.all() or not mask.any()):
                mask = None  # a mask that rules out all or nothing is no mask
            expected = int(np.argmax(scores if mask is None else np.where(mask, scores, -INF)))
            assert policy.act(obs, {} if mask is None else {"action_mask": mask}) == expected, label
            policy._normalise(obs, policy._fast.input(), policy._work)
            certain += policy._fast.certain_argmax(mask) is not None
        assert certain >= 0.8 * len(observations), label  # 86-100 % of them today


def test_the_float32_scores_lie_within_their_bound(tmp_path):
    """Each float32 score is within its bound of the float64 one (the bound before its margin of 2):
    the certificate's premise, on the policies and observations above."""
    from controllers._float32 import _MARGIN

    for label, platform, policy in _policies(tmp_path):
        for obs in _observations(platform, np.random.default_rng(8)):
            policy._normalise(obs, policy._fast.input(), policy._work)
            scores, bound = policy._fast.scores()
            error = np.abs(scores.astype(np.float64) - policy.scores(obs))
            assert error.max() <= bound / _MARGIN, label


def test_a_tie_or_a_nan_goes_to_the_float64_reference(tmp_path):
    """Where two actions score alike (the same output weights) and lead, the float32 pass cannot tell
    them apart: the reference picks, the first of them, as argmax does. A NaN in the observation
    makes every score NaN: the reference's choice (argmax's first NaN), not the float32 pass's."""
    platform = load_platform("host")
    size, n_actions = ObservationSpec(platform).size, len(platform.configs())
    path = Path(_policy_file(tmp_path / "tie.npz", platform, [size, 256, 256, n_actions], "tanh", seed=3))
    arrays = dict(np.load(path))
    for action, shift in ((1, 1.0), (2, 1.0), (3, -1.0)):  # 1 and 2 tie, 1.0 over 0, 2.0 over 3
        arrays["w2"][action], arrays["b2"][action] = arrays["w2"][0], arrays["b2"][0] + shift
    np.savez(path, **arrays)
    policy = make_controller(str(path), platform)
    obs = ObservationSpec(platform).build(**next(_states(platform)))
    for mask, certain, chosen in ((None, None, 1), ([False, True, True, False], None, 1),
                                  ([True, False, True, True], 2, 2), ([True, True, False, False], 1, 1)):
        mask = None if mask is None else np.array(mask)
        policy._normalise(obs, policy._fast.input(), policy._work)
        assert policy._fast.certain_argmax(mask) == certain
        assert policy.act(obs, {} if mask is None else {"action_mask": mask}) == chosen
    obs[3] = np.nan
    assert policy.act(obs) == int(np.argmax(policy.scores(obs))) == 0


def test_numpy_float32_tanh_is_well_within_the_error_the_bound_assumes():
    """numpy's float32 tanh against float64's on a dense grid over where tanh is not yet +-1 and on
    random float32 numbers: within 4 ulp of 1 (2**-22), 16 times under what the bound assumes."""
    from controllers._float32 import _TANH_ERROR

    rng = np.random.default_rng(9)
    x = np.concatenate([np.linspace(-10.0, 10.0, 2_000_001, dtype=np.float32),
                        rng.standard_normal(1_000_000).astype(np.float32) * 3.0])
    error = np.abs(np.tanh(x).astype(np.float64) - np.tanh(x.astype(np.float64)))
    assert error.max() <= 2.0**-22 <= _TANH_ERROR[np.float32] / 16


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


RECORDED_CHOICES = Path(__file__).parent / "data" / "frame-choices.json"


def _recorded_sequence(platform):
    """The frames of ``frame-choices.json`` for a shipped platform: the builder's inputs of
    ``_states`` (seed 11), each with the info the live agent gives (none on the first frame) and an
    action mask as the agent gives it (one read-only array, reused) or none, then 200 random vectors
    past the builder's bounds with random masks (the learned policy only: they exercise its float32
    pass and its float64 fallback)."""
    rng = np.random.default_rng(12)
    spec = ObservationSpec(platform)
    n_actions = len(platform.configs())
    shared = rng.random(n_actions) < 0.7
    shared.flags.writeable = False
    frames = []
    for i, state in enumerate(_states(platform, seed=11, n=150)):
        info = {"latency_ms": float(rng.uniform(0.5, 3.0) * spec.scales[0]),
                "queue_ms": float(rng.uniform(0, 2)), "latency_budget_ms": state["budgets"][0]} if i else {}
        if i % 3:
            info["action_mask"] = shared
        frames.append((state, info))
    randoms = [(obs, {"action_mask": rng.random(n_actions) < 0.5} if rng.random() < 0.5 else {})
               for obs in rng.uniform(-2.0, 12.0, (200, spec.size)).astype(np.float32)]
    return frames, randoms


def _choices(platform, name, frames, rehearse):
    controller = make_controller(name, platform)
    spec = ObservationSpec(platform)
    chosen = []
    for state, info in frames:
        obs = spec.build(**state) if isinstance(state, dict) else state
        if rehearse:
            controller.rehearse(obs, info)
        chosen.append(controller.act(obs, info))
    return chosen


@pytest.mark.parametrize("name", ["host", "odroid-xu3", "jetson-nano"])
def test_the_observations_and_choices_are_those_recorded_before_the_frame_was_cut(name):
    """``frame-choices.json``, recorded with the code before the agent's frame was made cheaper
    (docs/live-agent.md): the builder's observations of a sequence of frames (their bytes' SHA-256)
    and what lookup, lookup-adaptive and the shipped learned policy chose on them, acting alone and
    rehearsing each frame first, as the live agent does. Today's code builds the same bytes and
    chooses the same."""
    import hashlib
    import json

    platform = load_platform(name)
    recorded = json.loads(RECORDED_CHOICES.read_text())["platforms"][name]
    frames, randoms = _recorded_sequence(platform)
    spec = ObservationSpec(platform)
    digest = hashlib.sha256(b"".join(spec.build(**state).tobytes() for state, _ in frames)).hexdigest()
    assert digest == recorded["observations_sha256"]
    for controller in ("lookup", "lookup-adaptive", "learned"):
        for rehearse in (False, True):
            chosen = _choices(platform, controller, frames, rehearse)
            assert chosen == recorded[controller], (controller, rehearse)
    for rehearse in (False, True):
        assert _choices(platform, "learned", randoms, rehearse) == recorded["learned-random"]
