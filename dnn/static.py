"""The static network: the same architecture built with exactly k groups, from plain torch modules.

It has no switching machinery (nn.Conv2d with ``groups=k``, nn.BatchNorm2d, nn.Linear), so it is
the reference the dynamic DNN is measured against: same outputs (tests), same latency (benchmark),
and G of them, one per k, are what the dynamic DNN's single set of weights replaces (footprint).
"""

from __future__ import annotations

import torch
from torch import nn

from dnn.arch import LayerPlan, check_active, check_config, get_arch, layer_plan
from dnn.model import BN_EPS, BN_MOMENTUM, DynamicNet


class _NestedConv2d(nn.Module):
    """k convolutions, the g-th reading the first g groups of its input; outputs concatenated."""

    def __init__(self, plan: LayerPlan, k: int, bias: bool) -> None:
        super().__init__()
        self.in_per_group = plan.in_per_group
        self.convs = nn.ModuleList(
            nn.Conv2d(g * plan.in_per_group, plan.out_per_group, plan.kernel, padding=plan.padding, bias=bias)
            for g in range(1, k + 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x[:, : (g + 1) * self.in_per_group]) for g, conv in enumerate(self.convs)], 1)


def _static_layer(plan: LayerPlan, k: int, connectivity: str) -> list[nn.Module]:
    if plan.kind == "head":
        return [nn.Flatten(), nn.Linear(k * plan.in_per_group, plan.out_per_group)]
    bias = plan.kind == "fc"
    out_channels = k * plan.out_per_group
    if plan.reads_input:
        conv: nn.Module = nn.Conv2d(
            plan.in_per_group, out_channels, plan.kernel, padding=plan.padding, bias=bias
        )
    elif connectivity == "nested":
        conv = _NestedConv2d(plan, k, bias)
    else:
        conv = nn.Conv2d(
            k * plan.in_per_group, out_channels, plan.kernel, padding=plan.padding, groups=k, bias=bias
        )
    modules = [conv]
    if plan.kind == "conv":
        modules.append(nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM))
    modules.append(nn.ReLU())
    if plan.pool:
        modules.append(nn.MaxPool2d(2))
    return modules


def build_static(
    arch: str, groups: int, k: int, connectivity: str = "group", widths: tuple[int, ...] | None = None
) -> nn.Sequential:
    """A plain network with k of the G groups' channels (per-group widths = widths / G).

    Raises:
        DNNError: unknown arch or connectivity, bad widths, k outside 1..G.
    """
    spec = get_arch(arch)
    chosen = check_config(spec, groups, connectivity, widths)
    check_active(k, groups)
    return nn.Sequential(
        *(
            module
            for plan in layer_plan(spec, groups, chosen)
            for module in _static_layer(plan, k, connectivity)
        )
    )


def static_from_dynamic(model: DynamicNet, k: int) -> nn.Sequential:
    """A stand-alone static network with k groups holding copies of the dynamic model's weights."""
    static = build_static(model.arch, model.groups, k, model.connectivity, model.widths)
    static.train(model.training)
    layer_modules = _split_per_layer(static)
    with torch.no_grad():
        for layer, modules in zip(model.layers, layer_modules, strict=True):
            params = layer.params_for(0, k)
            linear, *rest = modules
            if isinstance(linear, _NestedConv2d):
                for conv, weight, bias in zip(
                    linear.convs, params.weight, params.bias or [None] * k, strict=True
                ):
                    _copy_into(conv, weight, bias)
            else:
                _copy_into(linear, params.weight, params.bias)
            for norm in rest:
                if isinstance(norm, nn.BatchNorm2d):
                    norm.weight.copy_(params.bn_weight)
                    norm.bias.copy_(params.bn_bias)
                    norm.running_mean.copy_(params.running_mean)
                    norm.running_var.copy_(params.running_var)
    return static


def _copy_into(module: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    module.weight.copy_(weight)
    if bias is not None:
        module.bias.copy_(bias)


def _split_per_layer(static: nn.Sequential) -> list[list[nn.Module]]:
    """The static modules grouped by dynamic layer: each layer starts at its conv/linear module."""
    layers: list[list[nn.Module]] = []
    for module in static:
        if isinstance(module, nn.Flatten):
            continue
        if isinstance(module, (nn.Conv2d, nn.Linear, _NestedConv2d)):
            layers.append([])
        layers[-1].append(module)
    return layers
