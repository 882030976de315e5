"""Plain Gymnasium and SB3 clients: the env id with its defaults, rgb_array frames, SB3 helpers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs
from envs import EnvError
from envs._timeline import TIMELINE_HEIGHT, TIMELINE_WIDTH
from tests.support import TINY
from traces import shipped_traces

ROOT = Path(__file__).resolve().parent.parent


def test_make_without_arguments_is_odroid_xu3_on_its_train_traces():
    env = gym.make(envs.ENV_ID)
    assert env.unwrapped.platform.name == "odroid-xu3"
    assert [t.path for t in env.unwrapped._traces] == shipped_traces("odroid-xu3", "train")
    env.reset(seed=0)
    env.step(env.action_space.sample())


def test_a_platform_alone_gets_its_own_train_traces():
    env = gym.make(envs.ENV_ID, platform="jetson-nano")
    assert [t.path for t in env.unwrapped._traces] == shipped_traces("jetson-nano", "train")


def test_a_platform_without_shipped_traces_asks_for_one():
    with pytest.raises(EnvError, match="ships no train traces; pass trace="):
        gym.make(envs.ENV_ID, platform=str(TINY))


def test_rgb_array_draws_one_column_per_frame():
    env = gym.make(envs.ENV_ID, render_mode="rgb_array", max_frames=40)
    env.reset(seed=0)
    blank = env.render()
    assert blank.shape == (TIMELINE_HEIGHT, TIMELINE_WIDTH, 3) and blank.dtype == np.uint8
    for _ in range(40):
        env.step(0)
    frame = env.render()
    drawn = np.flatnonzero((frame != blank).any(axis=(0, 2)))
    assert list(drawn) == list(range(TIMELINE_WIDTH - 40, TIMELINE_WIDTH))  # newest on the right
    env.reset(seed=1)
    assert (env.render() == blank).all()


# What a user writes after `pip install dynscale[train]`: the env id, SB3's make_vec_env with worker
# processes, each algorithm briefly, SB3's evaluation helper and the workers' frames.
USER_SCRIPT = """
import gymnasium as gym
import envs  # registers dynscale/DynamicDNN-v0
from sb3_contrib import MaskablePPO
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import SubprocVecEnv

if __name__ == "__main__":
    venv = make_vec_env("dynscale/DynamicDNN-v0", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv,
                        env_kwargs={"max_frames": 32})
    PPO("MlpPolicy", venv, n_steps=16, batch_size=16, n_epochs=1, seed=0).learn(32)
    MaskablePPO("MlpPolicy", venv, n_steps=16, batch_size=16, n_epochs=1, seed=0).learn(32)
    model = DQN("MlpPolicy", venv, learning_starts=8, buffer_size=64, seed=0).learn(32)
    mean_reward, _ = evaluate_policy(model, venv, n_eval_episodes=2)
    images = venv.get_images()
    venv.close()
    print("ok", mean_reward, [image.shape for image in images])
"""


@pytest.mark.slow
def test_sb3_user_script_with_subprocess_workers(tmp_path):
    script = tmp_path / "user.py"
    script.write_text(textwrap.dedent(USER_SCRIPT))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok ")
    assert f"({TIMELINE_HEIGHT}, {TIMELINE_WIDTH}, 3)" in done.stdout
