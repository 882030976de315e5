"""A learned controller straight from a training run folder (needs stable-baselines3).

The board never takes this path: it runs the exported ``.npz`` (``_policy``). Here the run's
``config.yml`` is checked against the platform and observation layout first, then the evaluation
callback's best model is loaded with its algorithm's class and asked for deterministic actions.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from controllers._base import Controller
from controllers._normalise import ObservationNormaliser
from controllers._policy import check_compatible
from controllers._runs import check_model_file, model_path, read_run_config
from controllers.errors import ControllerError


def algo_class(algo: str) -> type:
    """The SB3 class of an algorithm name (ppo, maskable-ppo, dqn)."""
    if algo == "maskable-ppo":
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    from stable_baselines3 import DQN, PPO

    return {"ppo": PPO, "dqn": DQN}[algo]


def load_model(run_dir: str | Path, best: bool = True) -> tuple[Any, dict[str, Any]]:
    """(SB3 model, run config) of a run folder; ControllerError for a corrupt model file."""
    config = read_run_config(run_dir)
    path = model_path(run_dir, best)
    check_model_file(path, config)
    try:
        model = algo_class(config["algo"]).load(path, device="cpu")
    except (zipfile.BadZipFile, ValueError, KeyError, TypeError, RuntimeError, EOFError, OSError) as err:
        # The exception's own text may advise loading unsafely (torch's weights_only): not relayed.
        what = f"corrupt: cannot load the {config['algo']} model ({type(err).__name__})"
        raise ControllerError(what, path=path) from None
    return model, config


class LearnedController(Controller):
    """An SB3 policy from a run folder, deterministic, with the action mask for MaskablePPO."""

    def __init__(self, platform: Any, run_dir: str | Path) -> None:
        super().__init__(platform)
        config = read_run_config(run_dir)
        where = str(Path(run_dir) / "config.yml")
        check_compatible(where, config, platform, len(self.configs), "observation_size")
        self.model, self.config = load_model(run_dir)
        self.name = config.get("name") or Path(run_dir).name
        self._maskable = config["algo"] == "maskable-ppo"
        stats = config.get("normalization")
        self._normalise = ObservationNormaliser.from_dict(stats) if stats else None

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        mask = None if info is None else info.get("action_mask")
        if mask is not None:  # torch warns of a read-only array (the live agent's)
            mask = np.array(mask, dtype=bool)
        if self._normalise is not None:
            obs = self._normalise(obs)
        if self._maskable:
            action, _ = self.model.predict(obs, deterministic=True, action_masks=mask)
        else:
            action, _ = self.model.predict(obs, deterministic=True)
        return int(action)

    _rehearse = _act  # a forward pass of fixed weights changes nothing
