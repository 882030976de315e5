"""Export a trained run's policy to the numpy file the board runs (format in ``_policy``).

PPO and MaskablePPO: the actor's MLP (``mlp_extractor.policy_net``, tanh) then ``action_net``, whose
outputs are the action logits. DQN: the online Q-network (``q_net.q_net``, relu). Both use SB3's
default flatten feature extractor, which is the identity on our 1-D observation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from controllers._learned import load_model
from controllers._policy import POLICY_FORMAT
from controllers.errors import ControllerError
from platform_models.atomic import atomic_path


def _linear_layers(modules: list[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    import torch

    layers = [m for m in modules if isinstance(m, torch.nn.Linear)]
    return [(m.weight.detach().cpu().numpy(), m.bias.detach().cpu().numpy()) for m in layers]


def _network(model: Any, algo: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], str, str]:
    """(layers, activation, output kind) of the policy that picks actions."""
    import torch

    policy = model.policy
    if algo == "dqn":
        modules = list(policy.q_net.q_net)
        output = "q"
    else:
        modules = [*policy.mlp_extractor.policy_net, policy.action_net]
        output = "logits"
    activations = {type(m) for m in modules if not isinstance(m, torch.nn.Linear)}
    names = {torch.nn.Tanh: "tanh", torch.nn.ReLU: "relu"}
    if len(activations) > 1 or not activations.issubset(names):
        raise ControllerError(f"export: unsupported activation(s) {sorted(a.__name__ for a in activations)}")
    activation = names[activations.pop()] if activations else "relu"
    return _linear_layers(modules), activation, output


FORMATS = ("npz", "onnx")


def export_policy(
    run_dir: str | Path, out_path: str | Path, fmt: str = "npz", provenance: dict[str, Any] | None = None
) -> Path:
    """Write the run's best model as a numpy ``.npz`` policy file (``fmt`` "npz", the default) or an
    ONNX model with the mask inside (``fmt`` "onnx", see ``_onnx``); returns its path.
    ``provenance`` (JSON-able: how it was trained and scored) goes into its header."""
    if fmt not in FORMATS:
        raise ControllerError(f"expected one of {', '.join(FORMATS)}, got {fmt!r}", field="format")
    model, config = load_model(run_dir)
    layers, activation, output = _network(model, config["algo"])
    size = int(config["observation_size"])
    meta = {
        "format": POLICY_FORMAT,
        "name": f"{config['algo']}:{Path(run_dir).name}",
        "algo": config["algo"],
        "platform": config["platform"],
        "observation_version": config["observation_version"],
        "n_actions": int(config["n_actions"]),
        "obs_size": size,
        "activation": activation,
        "output": output,
        "n_layers": len(layers),
        "normalised": bool(config.get("normalization")),
        "source": str(run_dir),
    }
    if provenance is not None:
        meta["provenance"] = provenance
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    for i, (weight, bias) in enumerate(layers):
        arrays[f"w{i}"], arrays[f"b{i}"] = weight, bias
    stats = config.get("normalization") or {
        "mean": np.zeros(size),
        "var": np.ones(size),
        "clip": np.inf,
        "eps": 0.0,
    }
    arrays.update(
        obs_mean=np.asarray(stats["mean"], dtype=np.float64),
        obs_var=np.asarray(stats["var"], dtype=np.float64),
        obs_clip=np.array(float(stats["clip"])),
        obs_eps=np.array(float(stats["eps"])),
    )
    out_path = Path(out_path)
    if fmt == "onnx":
        from controllers._onnx import onnx_policy

        model = onnx_policy(meta, arrays, out_path)
    with atomic_path(out_path) as tmp, tmp.open("wb") as handle:
        if fmt == "onnx":
            handle.write(model)
        else:
            np.savez(handle, **arrays)  # to a handle: given a name, numpy would append ".npz" to it
    return out_path
