"""Cloning the oracle: what the actor is fitted to when the oracle's choice depends on what it alone sees."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support import write_tiny_traces


@pytest.fixture
def model_and_obs(tiny, tmp_path):
    """A fresh MaskablePPO on the tiny platform and one of its observations."""
    from sb3_contrib import MaskablePPO

    from controllers._train import make_env

    env = make_env(tiny, write_tiny_traces(tiny, tmp_path)[:1])
    obs, _ = env.reset(seed=0)
    model = MaskablePPO("MlpPolicy", env, seed=0, device="cpu", policy_kwargs={"net_arch": [32, 32]})
    yield model, obs
    env.close()


def _clairvoyant_demos(obs: np.ndarray, n_actions: int) -> dict[str, np.ndarray]:
    """One observation, two futures the policy cannot tell apart: half the time action 0 is best and
    action 2 misses a budget, half the time the other way round; action 1 is nearly best in both."""
    n = 512
    scores = np.full((n, n_actions), -3.0, dtype=np.float32)
    scores[:, 1] = 0.9
    scores[: n // 2, 0] = scores[n // 2 :, 2] = 1.0
    return {
        "obs": np.repeat(obs[None], n, axis=0),
        "masks": np.ones((n, n_actions), dtype=bool),
        "actions": scores.argmax(axis=1),
        "scores": scores,
        "returns": np.zeros(n, dtype=np.float32),
    }


def _choice(model, obs: np.ndarray) -> int:
    from controllers._pretrain import policy_learner

    return policy_learner(model, None)(obs, np.ones(model.action_space.n, dtype=bool))


def test_the_regret_loss_takes_the_action_best_in_expectation(model_and_obs):
    from controllers._pretrain import clone_policy

    model, obs = model_and_obs
    demos = _clairvoyant_demos(obs, model.action_space.n)
    clone_policy(model, demos, masked=True, epochs=20, temperature=0.02, regret_weight=1.0)
    # expected reward: 0.9 for action 1, -1.0 for either clairvoyant label
    assert _choice(model, obs) == 1


def test_cross_entropy_to_the_oracles_action_takes_one_of_its_labels(model_and_obs):
    from controllers._pretrain import clone_policy

    model, obs = model_and_obs
    demos = _clairvoyant_demos(obs, model.action_space.n)
    agreement = clone_policy(model, demos, masked=True, epochs=20)
    assert _choice(model, obs) in (0, 2) and agreement == pytest.approx(0.5)
