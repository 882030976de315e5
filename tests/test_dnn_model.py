"""The dynamic DNN's run-time contract: k groups cost k groups, switching is free, prefixes are exact."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from dnn import DNNError, build_model, count_cost
from dnn.static import build_static, static_from_dynamic
from dynscale.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")



CONFIGS = [
    ("alexnet-digits", "group"),
    ("alexnet-digits", "nested"),
    ("alexnet-cifar", "group"),
    ("alexnet-cifar", "nested"),
]


def _randomised(arch: str, connectivity: str, groups: int = 4):
    """A model in eval mode whose BatchNorm statistics and biases are not the trivial initial ones."""
    torch.manual_seed(0)
    model = build_model(arch, groups, connectivity)
    with torch.no_grad():
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            if "running_var" in name:
                tensor.uniform_(0.5, 2.0)
            elif "weight" not in name or "bn_" in name:
                tensor.normal_()
    return model.eval()


class _OpLog(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize(("arch", "connectivity"), CONFIGS)
def test_forward_costs_the_macs_of_k_groups_only(arch: str, connectivity: str) -> None:
    model = build_model(arch, 4, connectivity).eval()
    x = torch.randn(1, *model.input_shape)
    for k in range(1, 5):
        model.set_active_groups(k)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        assert counter.get_total_flops() == 2 * count_cost(arch, 4, connectivity, k).macs


@pytest.mark.parametrize(("arch", "connectivity"), CONFIGS)
def test_k_group_output_equals_a_static_network_with_k_groups(arch: str, connectivity: str) -> None:
    model = _randomised(arch, connectivity)
    x = torch.randn(3, *model.input_shape)
    for k in range(1, 5):
        model.set_active_groups(k)
        static = static_from_dynamic(model, k).eval()
        with torch.no_grad():
            assert torch.equal(model(x), static(x))
        static_values = sum(t.numel() for t in static.state_dict().values() if t.is_floating_point())
        assert static_values * 4 == count_cost(arch, 4, connectivity, k).param_bytes


@pytest.mark.parametrize("connectivity", ["group", "nested"])
def test_trailing_groups_do_not_change_the_output_of_earlier_ones(connectivity: str) -> None:
    model = _randomised("alexnet-digits", connectivity)
    x = torch.randn(5, *model.input_shape)
    with torch.no_grad():
        before = []
        for k in range(1, 5):
            model.set_active_groups(k)
            before.append(model(x))
        model.set_active_groups(2)
        for layer in model.layers:  # scramble groups 3 and 4 everywhere
            params = layer.params_for(2, 4)
            for tensor in params.weight if isinstance(params.weight, tuple) else (params.weight,):
                tensor.normal_()
        assert torch.equal(model(x), before[1])
        model.set_active_groups(1)
        assert torch.equal(model(x), before[0])
        model.set_active_groups(4)
        assert not torch.equal(model(x), before[3])


def test_switching_touches_no_tensor() -> None:
    model = build_model("alexnet-digits").eval()
    pointers = {name: t.data_ptr() for name, t in [*model.named_parameters(), *model.named_buffers()]}
    with _OpLog() as log:
        for k in (1, 4, 2, 3, 1):
            model.set_active_groups(k)
    assert log.ops == []
    assert model.active_groups == 1
    x = torch.randn(1, *model.input_shape)
    with torch.no_grad(), _OpLog() as log:
        model(x)
    assert not any("copy" in op or "clone" in op or "contiguous" in op for op in log.ops)
    after = {name: t.data_ptr() for name, t in [*model.named_parameters(), *model.named_buffers()]}
    assert after == pointers


def test_dynamic_model_is_smaller_than_one_static_model_per_k() -> None:
    model = build_model("alexnet-cifar")
    dynamic_bytes = sum(t.numel() * 4 for t in model.state_dict().values())
    static_bytes = sum(
        sum(
            t.numel() * 4
            for t in build_static("alexnet-cifar", 4, k).state_dict().values()
            if t.is_floating_point()
        )
        for k in range(1, 5)
    )
    assert dynamic_bytes == count_cost("alexnet-cifar", 4, "group", 4).param_bytes
    assert static_bytes / dynamic_bytes >= 2.4


@pytest.mark.parametrize("k", [0, 5, -1, 2.0, True])
def test_k_outside_1_to_g_is_refused(k: object) -> None:
    model = build_model("alexnet-digits")
    with pytest.raises(DNNError, match=r"^active groups k=.* outside 1\.\.4$"):
        model.set_active_groups(k)  # type: ignore[arg-type]
    assert model.active_groups == 4


def test_bad_widths_are_refused() -> None:
    with pytest.raises(DNNError, match=r"^widths\[1\]=6 must be a positive multiple of groups G=4$"):
        build_model("alexnet-digits", widths=(8, 6, 8, 8, 8, 8, 8))


def test_cost_verb_prints_every_k(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dnn", "cost", "--arch", "alexnet-digits", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [row["groups"] for row in rows] == [1, 2, 3, 4]
    assert rows[3]["macs"] == count_cost("alexnet-digits", 4).macs


def test_cost_verb_refuses_k_outside_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dnn", "cost", "--k", "5"]) == 2
    assert capsys.readouterr().err == "dynscale: error: active groups k=5 outside 1..4\n"


def test_views_follow_the_parameters_to_a_new_dtype() -> None:
    model = _randomised("alexnet-digits", "group").double()
    x = torch.randn(2, *model.input_shape, dtype=torch.float64)
    model.set_active_groups(3)
    with torch.no_grad():
        assert torch.equal(model(x), static_from_dynamic(model, 3).double().eval()(x))


def test_the_board_side_imports_without_scikit_learn() -> None:
    code = "import sys, dnn; dnn.load_checkpoint; sys.exit('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
