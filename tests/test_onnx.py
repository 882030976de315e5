"""ONNX export: the mask inside the graph, loadable by onnxruntime 1.16, the same picks as SB3."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from controllers import make_controller
from dynscale.cli import main
from tests.support import TINY, write_tiny_traces

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    """A MaskablePPO run on the tiny platform (untrained weights are as good as any for parity),
    normalised as training does, exported as .onnx."""
    folder = tmp_path_factory.mktemp("onnx")
    traces = write_tiny_traces(tiny, folder)
    run = folder / "run"
    assert main(["train", "--platform", str(TINY), "--traces", *traces, "--algo", "maskable-ppo",
                 "--timesteps", "64", "--eval-freq", "1000", "--out", str(run), "--json", "--hyperparams",
                 "n_envs=1", "n_steps=64", "batch_size=64", "pretrain_steps=0"]) == 0
    path = folder / "policy.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(path), "--json"]) == 0
    return run, path


def test_the_graph_is_what_onnxruntime_1_16_loads(exported):
    model = onnx.load(exported[1])
    assert model.ir_version <= 8
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    assert [i.name for i in model.graph.input] == ["obs", "mask"]
    assert {n.op_type for n in model.graph.node} >= {"Where", "ArgMax"}  # the mask is applied inside


def test_onnx_policy_picks_the_same_actions_as_sb3_on_1000_observations(tiny, exported):
    from controllers._learned import LearnedController

    run, path = exported
    policy = make_controller(str(path), tiny)
    sb3 = LearnedController(tiny, run)
    assert sb3.config["normalization"] is not None
    rng = np.random.default_rng(1)
    masks = rng.uniform(size=(1000, 36)) < 0.6
    masks[:, 0] = True
    observations = rng.uniform(0.0, 1.2, size=(1000, policy.spec.size)).astype(np.float32)
    picks = [(sb3.act(obs, {"action_mask": m}), policy.act(obs, {"action_mask": m}))
             for obs, m in zip(observations, masks, strict=True)]
    assert all(a == b for a, b in picks)
    assert all(masks[i, a] for i, (a, _) in enumerate(picks))


def test_without_onnxruntime_the_error_says_how_to_install_it(tiny, exported, tmp_path):
    trace = write_tiny_traces(tiny, tmp_path)[0]
    script = ("import sys; sys.modules['onnxruntime'] = None  # as on a board without the wheel\n"
              "from dynscale.cli import main\n"
              f"sys.exit(main(['replay', '--platform', {str(TINY)!r}, '--trace', {trace!r}, "
              f"'--controller', {str(exported[1])!r}]))")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "pip install 'dynscale[onnx]'" in done.stderr
