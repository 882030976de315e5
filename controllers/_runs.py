"""A training run folder (RL-Zoo style) and what it promises: read and checked without SB3.

::

    RUN_DIR/
      config.yml        every resolved setting: algo, platform, observation_version, n_actions,
                        traces, seed, timesteps, hyperparameters, normalisation, versions
      model.zip         the final model (SB3 save format)
      best_model.zip    the best model of the evaluation callback
      evaluations.npz   the evaluation callback's log (timesteps, results, ep_lengths)
      checkpoints/      CheckpointCallback's periodic saves (``--resume`` starts from the last)
      tb/               TensorBoard scalars (reward, budget-met rate, energy, accuracy)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from controllers.errors import ControllerError

CONFIG_NAME = "config.yml"
FINAL_MODEL = "model.zip"
BEST_MODEL = "best_model.zip"
ALGOS = ("ppo", "maskable-ppo", "dqn")


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved settings of a run folder (ControllerError naming the file if unreadable)."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise ControllerError(f"{path}: no such file (is {run_dir} a 'dynscale train' run folder?)")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ControllerError(f"{path}{line}: not valid YAML") from None
    if not isinstance(config, dict):
        raise ControllerError(f"{path}: expected a mapping of settings")
    for field in ("algo", "platform", "observation_version", "n_actions"):
        if field not in config:
            raise ControllerError(f"{path}: field '{field}': missing")
    if config["algo"] not in ALGOS:
        raise ControllerError(
            f"{path}: field 'algo': expected one of {', '.join(ALGOS)}, got {config['algo']!r}"
        )
    return config


def model_path(run_dir: str | Path, best: bool = True) -> Path:
    """The model to run: the evaluation callback's best if there is one, else the final model."""
    run_dir = Path(run_dir)
    for name in (BEST_MODEL, FINAL_MODEL) if best else (FINAL_MODEL,):
        if (run_dir / name).is_file():
            return run_dir / name
    raise ControllerError(f"{run_dir / FINAL_MODEL}: no such file (training did not finish?)")


def is_run_dir(spec: str) -> bool:
    """True for a path to a folder holding a run config."""
    return (Path(spec) / CONFIG_NAME).is_file()
