"""Behaviour-cloning warm start: the policy first imitates the clairvoyant oracle, then RL fine-tunes.

PPO from scratch needs far more than the few minutes ``make run`` has to find, among 156 actions,
the few that meet a budget under a load it sees for the first time. So training starts (hyper-
parameter ``pretrain_steps`` > 0, PPO and MaskablePPO only) by rolling the oracle over the train
traces and fitting the policy to it, as DAgger-style behaviour cloning does:

* demonstrations: at each step the oracle's action is the label; the action *taken* is a random
  allowed one with probability ``pretrain_epsilon``, so the states off the oracle's path (a queue
  that built up after a mistake) are in the data too;
* the actor is fitted with cross-entropy to the oracle's action (MaskablePPO: over the allowed
  actions only), the critic to the discounted return observed, so the first PPO updates start
  from a policy and a value function that agree, instead of a random critic undoing the actor;
* or (``pretrain_temperature`` > 0, ``pretrain_regret_weight`` > 0, the default) the actor is fitted
  to the oracle's expected reward of *every* action: cross-entropy to ``softmax(-regret /
  temperature)`` plus the policy's expected regret. The oracle's one action depends on the future
  load, which the policy cannot see; cloned as a label, a choice a frequency step short of a budget
  (a miss) counts as much of an error as one a step too fast (a little energy), and the policy
  learnt to cut it fine where the oracle could. With the regret in the loss it learns the action
  best in expectation over what it cannot see.

The oracle sees the future load; the cloned policy sees only the observation, so it learns what
the observation allows and RL fine-tuning continues from there on the same reward.

Cloning the oracle on its own path leaves the cloned policy lost in the states its own mistakes lead
to (a queue the oracle never builds, a PE the oracle would have left). So DAgger follows
(``dagger_rounds`` > 0): the cloned policy drives ``dagger_steps`` more inferences per round, the
oracle labels every state it visits, and the policy is fitted again to everything gathered so far.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from controllers._oracle import OracleController
from platform_models.progress import progress_bar

# What an action the mask rules out is recorded to lose against the oracle's choice (it is never
# taken: the masked softmax gives it no weight, the number only has to be finite).
_MASKED_REGRET = 10.0


def collect_demonstrations(
    env: Any,
    platform: Any,
    n_steps: int,
    seed: int,
    epsilon: float,
    gamma: float,
    learner: Callable[[np.ndarray, np.ndarray], int] | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """(obs, masks, actions, returns) from oracle-labelled rollouts in ``env`` (a list of traces).

    The action taken is the oracle's (a random allowed one with probability ``epsilon``), or, with a
    ``learner`` (observation, mask -> action), the learner's: DAgger's states are the ones the
    learner's own mistakes lead to, the labels still the oracle's. ``progress``: a bar on a
    terminal's stderr.
    """
    oracle = OracleController(platform, env)
    title = "demonstrations (oracle)" if learner is None else "DAgger (policy drives, oracle labels)"
    bar = progress_bar(title, n_steps, "step", enabled=progress)
    rng = np.random.default_rng(seed)
    obs_list, mask_list, action_list, score_list, returns = [], [], [], [], []
    episode = 0
    while len(obs_list) < n_steps:
        obs, _ = env.reset(seed=seed + episode)
        oracle.reset()
        rewards: list[float] = []
        done = False
        while not done and len(obs_list) < n_steps:
            mask = np.asarray(env.unwrapped.action_masks(), dtype=bool)
            scores = oracle.scores(obs)
            label = int(np.argmax(scores))
            if rng.random() < epsilon:
                taken = int(rng.choice(np.flatnonzero(mask)))
            else:
                taken = label if learner is None else learner(obs, mask)
            obs_list.append(obs)
            mask_list.append(mask)
            score_list.append(np.where(np.isfinite(scores), scores, scores[label] - _MASKED_REGRET))
            action_list.append(label)
            obs, reward, terminated, truncated, _ = env.step(taken)
            rewards.append(float(reward))
            done = terminated or truncated
            bar.update()
        running, episode_returns = 0.0, []
        for reward in reversed(rewards):
            running = reward + gamma * running
            episode_returns.append(running)
        returns += episode_returns[::-1]
        episode += 1
    bar.close()
    return {
        "obs": np.array(obs_list, dtype=np.float32),
        "masks": np.array(mask_list),
        "actions": np.array(action_list),
        "scores": np.array(score_list, dtype=np.float32),
        "returns": np.array(returns, dtype=np.float32),
    }


def policy_learner(model: Any, normalise: Callable[[np.ndarray], np.ndarray] | None) -> Callable:
    """The SB3 policy's deterministic choice among the allowed actions, as a DAgger learner."""
    import torch

    policy = model.policy

    def act(obs: np.ndarray, mask: np.ndarray) -> int:
        x = obs if normalise is None else normalise(obs)
        with torch.no_grad():
            latent_pi, _ = policy.mlp_extractor(policy.extract_features(torch.as_tensor(x[None])))
            logits = policy.action_net(latent_pi)[0].numpy()
        return int(np.argmax(np.where(mask, logits, -np.inf)))

    return act


def merge(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Two demonstration sets as one (DAgger's aggregate)."""
    return {key: np.concatenate([first[key], second[key]]) for key in first}


def clone_policy(
    model: Any,
    demos: dict[str, np.ndarray],
    masked: bool,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
    temperature: float = 0.0,
    regret_weight: float = 0.0,
) -> float:
    """Fit an SB3 actor-critic policy to the demonstrations; returns the final action agreement.
    ``progress``: a bar over the batches on a terminal's stderr.

    The actor's loss is the cross-entropy to the oracle's action, or with ``temperature`` > 0 to
    ``softmax(scores / temperature)`` over the allowed actions (actions nearly as good as the
    oracle's share its weight), plus ``regret_weight`` x the policy's expected regret, the reward it
    gives up on average against the oracle's choice (a miss weighs more than a step of frequency)."""
    import torch
    from torch.nn import functional

    policy = model.policy
    policy.set_training_mode(True)
    obs = torch.as_tensor(demos["obs"])
    masks = torch.as_tensor(demos["masks"])
    actions = torch.as_tensor(demos["actions"], dtype=torch.long)
    returns = torch.as_tensor(demos["returns"])
    regret = torch.as_tensor(demos["scores"].max(axis=1, keepdims=True) - demos["scores"])
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)

    def forward(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latent_pi, latent_vf = policy.mlp_extractor(policy.extract_features(obs[batch]))
        logits = policy.action_net(latent_pi)
        if masked:
            logits = logits.masked_fill(~masks[batch], -1e8)
        return logits, policy.value_net(latent_vf).flatten()

    n_batches = -(-len(obs) // batch_size)
    bar = progress_bar("cloning the oracle", epochs * n_batches, "batch", enabled=progress)
    for _ in range(epochs):
        for batch in torch.randperm(len(obs), generator=generator).split(batch_size):
            bar.update()
            logits, values = forward(batch)
            target = actions[batch]
            if temperature > 0:
                near_best = (-regret[batch] / temperature).masked_fill(~masks[batch], -1e8)
                target = functional.softmax(near_best, dim=1)
            loss = functional.cross_entropy(logits, target) + 0.5 * functional.mse_loss(
                values, returns[batch]
            )
            if regret_weight > 0:
                chosen = functional.softmax(logits, dim=1)
                loss = loss + regret_weight * (chosen * regret[batch]).sum(dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    bar.close()
    policy.set_training_mode(False)
    with torch.no_grad():
        logits, _ = forward(torch.arange(len(obs)))
        return float((logits.argmax(dim=1) == actions).float().mean())
