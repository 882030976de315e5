"""The exported policy: a learned controller the board runs with numpy alone.

``dynscale export`` writes a NumPy ``.npz`` file holding the policy network's layers and a JSON
header; :class:`PolicyController` runs its forward pass (``x @ W.T + b`` and the activation per
hidden layer, as torch's ``nn.Linear`` computes) and takes the best allowed action:

=================  ==============================================================================
array              meaning
=================  ==============================================================================
``meta``           JSON: format, algo, platform, observation_version, n_actions, obs_size,
                   activation (tanh|relu), output (logits|q), n_layers, normalised (bool),
                   provenance (shipped policies: seeds, traces, scores, date; else absent)
``w{i}``, ``b{i}`` weight (out, in) and bias (out,) of linear layer i, input first
``obs_mean``       observation normalisation (VecNormalize): (obs - mean) / sqrt(var + eps),
``obs_var``        clipped to +-clip_obs; identity (0, 1, inf) when training did not normalise
``obs_clip``, ``obs_eps``
=================  ==============================================================================

The action is the argmax of the output over the allowed actions (``info["action_mask"]`` when
given): for PPO the most likely action, for DQN the greedy one, as ``predict(deterministic=True)``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from controllers._base import Controller
from controllers.errors import ControllerError
from platform_models.observation import OBSERVATION_VERSION

POLICY_FORMAT = "dynscale-policy-1"
POLICIES_DIR = Path(__file__).resolve().parent / "policies"
"""Where the shipped policies live: ``<platform>.npz``, the default controller trained for each
shipped platform (``benchmarks/controller_quality.py --ship``), with its provenance in ``meta``."""
_ACTIVATIONS = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0)}


def read_policy(path: str | Path) -> tuple[dict[str, Any], list[tuple[np.ndarray, np.ndarray]], dict]:
    """(header, [(W, b), ...], normalisation arrays) of an exported policy file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            layers = [
                (data[f"w{i}"].astype(np.float64), data[f"b{i}"].astype(np.float64))
                for i in range(int(meta["n_layers"]))
            ]
            norm = {k: data[k].astype(np.float64) for k in ("obs_mean", "obs_var", "obs_clip", "obs_eps")}
    except FileNotFoundError:
        raise ControllerError(f"{path}: no such policy file") from None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        raise ControllerError(f"{path}: not a dynscale policy file ({type(err).__name__}: {err})") from None
    if meta.get("format") != POLICY_FORMAT:
        raise ControllerError(f"{path}: field 'format': expected {POLICY_FORMAT}, got {meta.get('format')!r}")
    if meta.get("activation") not in _ACTIVATIONS:
        raise ControllerError(
            f"{path}: field 'activation': expected tanh or relu, got {meta.get('activation')!r}"
        )
    return meta, layers, norm


def check_compatible(where: str, meta: dict[str, Any], platform: Any, n_actions: int) -> None:
    """ControllerError unless a policy was trained for this platform, observation layout and actions."""
    expected = (
        ("platform", platform.name),
        ("observation_version", OBSERVATION_VERSION),
        ("n_actions", n_actions),
    )
    for field, value in expected:
        if meta.get(field) != value:
            raise ControllerError(
                f"{where}: field '{field}': trained for {meta.get(field)!r}, this run needs {value!r}"
            )


def shipped_policy(platform_name: str) -> Path:
    """The shipped policy file of a platform (``dynscale ... --controller learned``)."""
    path = POLICIES_DIR / f"{platform_name}.npz"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in POLICIES_DIR.glob("*.npz"))) or "none"
        raise ControllerError(
            f"controller 'learned': no shipped policy for platform {platform_name!r} (shipped: {shipped}); "
            "train one with 'dynscale train' and pass its run folder or exported .npz"
        )
    return path


class PolicyController(Controller):
    """Runs an exported policy file with numpy."""

    def __init__(self, platform: Any, path: str | Path) -> None:
        super().__init__(platform)
        meta, self._layers, norm = read_policy(path)
        check_compatible(str(path), meta, platform, len(self.configs))
        self.name = meta.get("name") or Path(path).stem
        self._activation = _ACTIVATIONS[meta["activation"]]
        self._mean, self._var = norm["obs_mean"], norm["obs_var"]
        self._clip, self._eps = float(norm["obs_clip"]), float(norm["obs_eps"])

    def scores(self, obs: np.ndarray) -> np.ndarray:
        """The network's output (logits or Q-values) for a batch (n, obs_size) or one observation."""
        x = (np.asarray(obs, dtype=np.float64) - self._mean) / np.sqrt(self._var + self._eps)
        # float32 as the trained network saw it (SB3 feeds float32), so both pick the same argmax
        x = np.clip(x, -self._clip, self._clip).astype(np.float32).astype(np.float64)
        for i, (weight, bias) in enumerate(self._layers):
            x = x @ weight.T + bias
            if i < len(self._layers) - 1:
                x = self._activation(x)
        return x

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        scores = self.scores(obs)
        mask = None if info is None else info.get("action_mask")
        if mask is not None:
            scores = np.where(np.asarray(mask, dtype=bool), scores, -np.inf)
        return int(np.argmax(scores))
