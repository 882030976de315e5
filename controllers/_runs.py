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

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from controllers.errors import ControllerError
from platform_models.user_text import TextProblem, index_lines, line_of, load_yaml_file

CONFIG_NAME = "config.yml"
FINAL_MODEL = "model.zip"
BEST_MODEL = "best_model.zip"
ALGOS = ("ppo", "maskable-ppo", "dqn")
# The module of the policy class each algorithm saves (SB3's zip records it as text).
_POLICY_MODULES = {
    "ppo": "stable_baselines3.common.policies",
    "maskable-ppo": "sb3_contrib.common.maskable.policies",
    "dqn": "stable_baselines3.dqn.policies",
}
MAX_CONFIG_BYTES = 1 << 20
MAX_OBSERVATION_SIZE = 4096
MAX_ACTIONS = 1 << 20


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved settings of a run folder, checked as a whole (ControllerError naming the file,
    line and field): the algorithm, the sizes, and the normalisation's numbers."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.exists():
        raise ControllerError(f"no such file (is {run_dir} a 'dynscale train' run folder?)", path=path)
    try:
        config, root = load_yaml_file(path, MAX_CONFIG_BYTES)
    except TextProblem as problem:
        raise ControllerError(problem.reason, path=path, line=problem.line) from None
    lines = index_lines(root)

    def refuse(keys: tuple, what: str) -> ControllerError:
        field = ".".join(str(k) for k in keys)
        return ControllerError(what, path=path, line=line_of(lines, keys), field=field or None)

    if not isinstance(config, dict):
        raise refuse((), "expected a mapping of settings")
    for field in ("algo", "platform", "observation_version", "observation_size", "n_actions"):
        if config.get(field) is None:
            raise refuse((field,), "missing")
    if config["algo"] not in ALGOS:
        raise refuse(("algo",), f"expected one of {', '.join(ALGOS)}, got {config['algo']!r}")
    for field, high in (("observation_size", MAX_OBSERVATION_SIZE), ("n_actions", MAX_ACTIONS)):
        value = config[field]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise refuse((field,), f"expected an integer in 1..{high}, got {value!r}")
    stats = config.get("normalization")
    if stats is not None:
        problem = normalisation_problem(stats, config["observation_size"])
        if problem is not None:
            raise refuse(("normalization", *problem[0]), problem[1])
    return config


def normalisation_problem(stats: Any, size: int) -> tuple[tuple, str] | None:
    """(key path under the normalisation, what) for statistics a policy of ``size`` inputs cannot
    use (wrong lengths, numbers that are not finite, variances that divide by zero); else None."""
    if not isinstance(stats, dict):
        return (), f"expected a mapping (mean, var, clip, eps), got {type(stats).__name__}"
    numbers = {}
    for key, shape in (("mean", (size,)), ("var", (size,)), ("clip", ()), ("eps", ())):
        try:
            numbers[key] = np.asarray(stats.get(key), dtype=np.float64)
        except (TypeError, ValueError):
            return (key,), f"expected {_shape_text(shape)}, got {stats.get(key)!r:.60}"
        if numbers[key].shape != shape:
            return (key,), f"expected {_shape_text(shape)}, got shape {numbers[key].shape}"
    if not np.isfinite(numbers["mean"]).all():
        return ("mean",), "expected finite numbers"
    if not (np.isfinite(numbers["var"]).all() and (numbers["var"] >= 0).all()):
        return ("var",), "expected finite numbers >= 0"
    if not numbers["clip"] > 0:  # inf means no clipping
        return ("clip",), f"expected a number > 0, got {float(numbers['clip'])!r}"
    eps = float(numbers["eps"])
    if not (math.isfinite(eps) and eps >= 0 and (numbers["var"] + eps > 0).all()):
        return ("eps",), f"expected a finite number >= 0 that keeps var + eps > 0, got {eps!r}"
    return None


def _shape_text(shape: tuple) -> str:
    return f"a list of {shape[0]} numbers (one per observation entry)" if shape else "a number"


def check_model_file(path: Path, config: dict[str, Any]) -> None:
    """ControllerError unless the SB3 zip at ``path`` holds a model of the run's algorithm, with its
    observation size and number of actions; read from the zip's JSON, before SB3 unpickles anything."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
        module = data["policy_class"]["__module__"]
        obs_shape = list(data["observation_space"]["_shape"])
        n_actions = int(data["action_space"]["n"])
    except (OSError, zipfile.BadZipFile, KeyError, TypeError, ValueError):
        # ValueError covers bad JSON; nothing of the file's own text is relayed.
        raise ControllerError("corrupt or not a stable-baselines3 model file", path=path) from None
    config_path = path.parent / CONFIG_NAME
    if module != _POLICY_MODULES[config["algo"]]:
        raise ControllerError(
            f"says algo {config['algo']!r}, but {path.name} holds a policy of {module}",
            path=config_path,
            field="algo",
        )
    for field, theirs, ours in (
        ("observation_size", obs_shape, [config["observation_size"]]),
        ("n_actions", n_actions, config["n_actions"]),
    ):
        if theirs != ours:
            what = f"says {ours!r}, but {path.name} has {theirs!r}"
            raise ControllerError(what, path=config_path, field=field)


def model_path(run_dir: str | Path, best: bool = True) -> Path:
    """The model to run: the evaluation callback's best if there is one, else the final model."""
    run_dir = Path(run_dir)
    for name in (BEST_MODEL, FINAL_MODEL) if best else (FINAL_MODEL,):
        if (run_dir / name).is_file():
            return run_dir / name
    raise ControllerError("no such file (training did not finish?)", path=run_dir / FINAL_MODEL)


def is_run_dir(spec: str) -> bool:
    """True for a path to a folder holding a run config."""
    return (Path(spec) / CONFIG_NAME).is_file()
