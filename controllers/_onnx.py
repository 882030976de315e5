"""The exported policy as an ONNX graph, for a board with onnxruntime.

``dynscale export RUN --format onnx`` writes the same network as the numpy ``.npz`` (see
``_policy``), as one graph that does everything the numpy runner does, the action mask included:

    obs (float32, n x obs_size) -> (obs - mean) / sqrt(var + eps) -> clip -> [Gemm, tanh|relu]... Gemm
    -> scores; Where(mask, scores, -inf) -> ArgMax -> action (int64, n)

Opset ``ONNX_OPSET`` and IR version ``ONNX_IR_VERSION`` are what onnxruntime 1.16 (the newest wheel
for JetPack 4's aarch64 Python) loads. The header the ``.npz`` keeps in ``meta`` is the model's
metadata entry ``dynscale`` (JSON), checked against the platform as for the ``.npz``. The numpy export
stays the default: there is no onnxruntime wheel for the XU3's 32-bit ARM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from controllers._base import Controller
from controllers._policy import check_compatible
from controllers.errors import ControllerError

ONNX_OPSET = 17
ONNX_IR_VERSION = 8
METADATA_KEY = "dynscale"
INSTALL_HINT = ("pip install 'dynscale[onnx]' (onnx and onnxruntime; onnxruntime alone to run a policy on "
                "a board), or export the default numpy .npz, which needs numpy only")


def onnx_policy(meta: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> bytes:
    """The policy of ``arrays`` (the ``.npz`` arrays: w{i}, b{i}, obs_*) as a serialised ONNX model, to
    be written to ``path``."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise ControllerError(f"writing ONNX needs the onnx package: {INSTALL_HINT}", path=path) from None

    size, n_actions = int(meta["obs_size"]), int(meta["n_actions"])
    scale = 1.0 / np.sqrt(arrays["obs_var"] + float(arrays["obs_eps"]))
    constants = {"mean": arrays["obs_mean"], "scale": scale, "neg_inf": np.array(-np.inf)}
    nodes = [helper.make_node("Sub", ["obs", "mean"], ["centred"]),
             helper.make_node("Mul", ["centred", "scale"], ["x_norm"])]
    x = "x_norm"
    clip = float(arrays["obs_clip"])
    if np.isfinite(clip):
        constants.update(clip_low=np.array(-clip), clip_high=np.array(clip))
        nodes.append(helper.make_node("Clip", [x, "clip_low", "clip_high"], ["x_clipped"]))
        x = "x_clipped"
    activation = {"tanh": "Tanh", "relu": "Relu"}[meta["activation"]]
    n_layers = int(meta["n_layers"])
    for i in range(n_layers):
        constants[f"w{i}"], constants[f"b{i}"] = arrays[f"w{i}"], arrays[f"b{i}"]
        out = "scores" if i == n_layers - 1 else f"h{i}"
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [out], transB=1))
        if i < n_layers - 1:
            nodes.append(helper.make_node(activation, [out], [f"a{i}"]))
            out = f"a{i}"
        x = out
    nodes += [helper.make_node("Where", ["mask", "scores", "neg_inf"], ["allowed_scores"]),
              helper.make_node("ArgMax", ["allowed_scores"], ["action"], axis=1, keepdims=0)]
    graph = helper.make_graph(
        nodes, "dynscale_policy",
        inputs=[helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["n", size]),
                helper.make_tensor_value_info("mask", TensorProto.BOOL, ["n", n_actions])],
        outputs=[helper.make_tensor_value_info("action", TensorProto.INT64, ["n"]),
                 helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", n_actions])],
        initializer=[numpy_helper.from_array(np.asarray(v, dtype=np.float32), name) for name, v in
                     constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
                              producer_name="dynscale")
    model.ir_version = ONNX_IR_VERSION
    helper.set_model_props(model, {METADATA_KEY: json.dumps(meta)})
    onnx.checker.check_model(model)
    return model.SerializeToString()


class OnnxPolicyController(Controller):
    """Runs an exported ``.onnx`` policy with onnxruntime (the mask is applied inside the graph)."""

    def __init__(self, platform: Any, path: str | Path) -> None:
        super().__init__(platform)
        try:
            import onnxruntime
        except ImportError:
            raise ControllerError(f"running an .onnx policy needs onnxruntime: {INSTALL_HINT}",
                                  path=path) from None
        if not Path(path).is_file():
            raise ControllerError("no such policy file", path=path)
        try:
            self._session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            meta = json.loads(self._session.get_modelmeta().custom_metadata_map[METADATA_KEY])
        except (KeyError, ValueError) as err:
            raise ControllerError(f"not a dynscale ONNX policy ({type(err).__name__})", path=path) from None
        except Exception as err:  # onnxruntime's own errors (InvalidProtobuf, Fail...) have no common base
            raise ControllerError(f"corrupt ONNX file ({type(err).__name__})", path=path) from None
        check_compatible(str(path), meta, platform, len(self.configs), "obs_size")
        self.name = meta.get("name") or Path(path).stem

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        mask = self.mask(info)
        if mask is None:
            mask = np.ones(len(self.configs), dtype=bool)
        feed = {"obs": obs[None, :].astype(np.float32), "mask": mask[None, :]}
        (action,) = self._session.run(["action"], feed)
        return int(action[0])
