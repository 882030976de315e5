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
The output is computed in float64 (:meth:`PolicyController.scores`); a large policy (the shipped
ones) first tries a pass mostly in float32 and takes its answer only where a bound on its rounding
shows the float64 argmax is the same (``_float32``), so both give the same actions.
"""

from __future__ import annotations

import json
import stat
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from controllers._base import Controller
from controllers._float32 import Float32Forward
from controllers._runs import MAX_ACTIONS, MAX_OBSERVATION_SIZE, normalisation_problem
from controllers.errors import ControllerError
from platform_models.observation import OBSERVATION_VERSION, ObservationSpec

POLICY_FORMAT = "dynscale-policy-1"
POLICIES_DIR = Path(__file__).resolve().parent / "policies"
"""Where the shipped policies live: ``<platform>.npz``, the default controller trained for each
shipped platform (``benchmarks/controller_quality.py --ship``), with its provenance in ``meta``."""
_ACTIVATIONS = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0)}
MAX_LAYERS = 64
_CORRUPT = "corrupt or not a dynscale policy file"
# About where a rehearsed decision costs the same in float32 and float64: two hidden layers of 128,
# 129 KiB past the first layer (on the EPYC VM, just after an inference, 4 actions: 64 x 64 0.0132 ms
# in float64 against 0.0140 in float32, 128 x 128 0.0148 against 0.0149, 256 x 256 0.0222 against
# 0.0192).
_FLOAT32_BYTES = 128 << 10
_FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_POLICY_BYTES = 256 << 20


def read_policy(path: str | Path) -> tuple[dict[str, Any], list[tuple[np.ndarray, np.ndarray]], dict]:
    """(header, [(W, b), ...], normalisation arrays) of an exported policy file, checked as a whole:
    the layers chain from ``obs_size`` inputs to ``n_actions`` outputs, every number is finite and the
    normalisation divides by no zero (ControllerError naming the file and field)."""
    path = Path(path)
    arrays = _read_arrays(path)
    try:
        meta = json.loads(str(arrays["meta"]))
    except (KeyError, ValueError):
        raise ControllerError(_CORRUPT + " (no readable header)", path=path) from None
    if not isinstance(meta, dict) or meta.get("format") != POLICY_FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else meta
        raise ControllerError(f"expected {POLICY_FORMAT}, got {got!r:.60}", path=path, field="format")
    if meta.get("activation") not in _ACTIVATIONS:
        what = f"expected tanh or relu, got {meta.get('activation')!r:.60}"
        raise ControllerError(what, path=path, field="activation")
    limits = (("n_layers", MAX_LAYERS), ("obs_size", MAX_OBSERVATION_SIZE), ("n_actions", MAX_ACTIONS))
    for field, high in limits:
        value = meta.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            what = f"expected an integer in 1..{high}, got {value!r:.60}"
            raise ControllerError(what, path=path, field=field)
    layers = []
    inputs = meta["obs_size"]
    for i in range(meta["n_layers"]):
        outputs = meta["n_actions"] if i == meta["n_layers"] - 1 else None
        weight = _array(path, arrays, f"w{i}", (outputs, inputs))
        layers.append((weight, _array(path, arrays, f"b{i}", (weight.shape[0],))))
        inputs = weight.shape[0]
    size = (meta["obs_size"],)
    shapes = {"mean": size, "var": size, "clip": (), "eps": ()}
    norm = {key: _array(path, arrays, f"obs_{key}", shape) for key, shape in shapes.items()}
    problem = normalisation_problem({k: v.tolist() for k, v in norm.items()}, meta["obs_size"])
    if problem is not None:
        raise ControllerError(problem[1], path=path, field="obs_" + ".".join(problem[0]))
    return meta, layers, {f"obs_{k}": v for k, v in norm.items()}


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, after checking it is a regular file whose arrays
    unpack to a bounded size (a zip can inflate a few kilobytes to gigabytes)."""
    try:
        info = path.stat()
    except OSError as err:
        raise ControllerError(f"cannot read it ({err.strerror or err})", path=path) from None
    if not stat.S_ISREG(info.st_mode):
        raise ControllerError("not a regular file; expected an exported policy .npz", path=path)
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
        if unpacked > MAX_POLICY_BYTES:
            what = f"{unpacked} bytes unpacked; a policy holds at most {MAX_POLICY_BYTES}"
            raise ControllerError(what, path=path)
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error):
        # numpy's own text would advise allow_pickle=True: never relayed.
        raise ControllerError(_CORRUPT + " (not a NumPy .npz archive)", path=path) from None


def _array(path: Path, arrays: dict[str, np.ndarray], name: str, shape: tuple) -> np.ndarray:
    """``arrays[name]`` as float64 of ``shape`` (None: any size there), every number finite."""
    value = arrays.get(name)
    if value is None:
        raise ControllerError("missing", path=path, field=name)
    if value.dtype.kind not in "fiu" or value.ndim != len(shape) or any(
        want is not None and want != got for want, got in zip(shape, value.shape, strict=True)
    ):
        expected = "x".join("N" if n is None else str(n) for n in shape) or "a scalar"
        what = f"expected numbers of shape {expected}, got {value.dtype} {value.shape}"
        raise ControllerError(what, path=path, field=name)
    value = value.astype(np.float64)
    if name != "obs_clip" and not np.isfinite(value).all():  # clip is inf when training did not normalise
        raise ControllerError("expected finite numbers", path=path, field=name)
    return value


def check_compatible(
    where: str, meta: dict[str, Any], platform: Any, n_actions: int, size_field: str
) -> None:
    """ControllerError unless a policy was trained for this platform, observation layout and actions
    (``size_field`` names the observation size in ``meta``: ``obs_size`` or ``observation_size``)."""
    expected = (
        ("platform", platform.name),
        ("observation_version", OBSERVATION_VERSION),
        (size_field, ObservationSpec(platform).size),
        ("n_actions", n_actions),
    )
    for field, value in expected:
        if meta.get(field) != value:
            what = f"trained for {meta.get(field)!r}, this run needs {value!r}"
            raise ControllerError(what, path=where, field=field)


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
        check_compatible(str(path), meta, platform, len(self.configs), "obs_size")
        self.name = meta.get("name") or Path(path).stem
        self._activation = _ACTIVATIONS[meta["activation"]]
        self._mean, self._var = norm["obs_mean"], norm["obs_var"]
        self._clip, self._eps = float(norm["obs_clip"]), float(norm["obs_eps"])
        self._std = np.sqrt(self._var + self._eps)
        # Without normalisation the observation goes in as it is (mean 0, std 1, no clip): each step
        # of it would return its input unchanged, and they were half of the forward pass's time.
        self._identity = (not self._mean.any() and bool(np.all(self._std == 1.0))
                          and self._clip == np.inf)
        # The float32 pass where its weights past the first layer would take more than _FLOAT32_BYTES
        # in float64 (below, its extra steps cost more than the bytes it saves) and every weight fits
        # in a float32.
        past_first_bytes = sum(w.nbytes + b.nbytes for w, b in self._layers[1:])
        largest = max(float(np.abs(array).max()) for layer in self._layers for array in layer)
        self._fast = None if past_first_bytes <= _FLOAT32_BYTES or largest > _FLOAT32_MAX else (
            Float32Forward(self._layers, meta["activation"], None if self._clip == np.inf else self._clip))
        self._work = np.empty(meta["obs_size"])

    def scores(self, obs: np.ndarray) -> np.ndarray:
        """The network's output (logits or Q-values) for a batch (n, obs_size) or one observation,
        computed in float64: the reference whose argmax is the policy's choice."""
        x = np.asarray(obs)
        if not (self._identity and x.dtype == np.float32):  # else float32 as it is
            x = self._normalise(x, np.empty(x.shape, dtype=np.float32), np.empty(x.shape))
        x = x.astype(np.float64)
        for i, (weight, bias) in enumerate(self._layers):
            x = x @ weight.T + bias
            if i < len(self._layers) - 1:
                x = self._activation(x)
        return x

    def _normalise(self, obs: np.ndarray, out: np.ndarray, work: np.ndarray) -> np.ndarray:
        """``obs`` as training normalised it, ``(obs - mean) / std`` within +-clip in float64 (in
        ``work``), rounded to float32 as the trained network saw it (SB3 feeds float32, so both pick
        the same argmax) into ``out``; returns ``out``."""
        if self._identity:  # the rounding alone
            np.copyto(out, obs, casting="same_kind")
            return out
        np.subtract(obs, self._mean, out=work)
        np.divide(work, self._std, out=work)
        np.maximum(work, -self._clip, out=work)
        return np.minimum(work, self._clip, out=out)

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        mask, mask_key = self._checked_mask(info)
        return self._answer((obs.tobytes(), mask_key), lambda: self._choose(obs, mask))

    _rehearse = _act  # a forward pass of fixed weights changes nothing

    def _choose(self, obs: np.ndarray, mask: np.ndarray | None) -> int:
        if self._fast is not None:
            # The float32 pass, where it certainly picks what the float64 reference picks (``_float32``):
            # on the shipped host policy, 20,000 random observations out of 20,000.
            self._normalise(obs, self._fast.input(), self._work)
            action = self._fast.certain_argmax(mask)
            if action is not None:
                return action
        scores = self.scores(obs)
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        return int(np.argmax(scores))
