"""The cost of one inference with k active groups: multiply-accumulates, parameter and activation bytes.

Pure arithmetic on the layer table (``dnn.arch.layer_plan``); no torch. The platform descriptors copy
these figures, and the tests check them against torch's own FLOP counter and the model's tensors.

* ``macs``: multiply-accumulates of the conv and FC layers for one image (BatchNorm, ReLU, pooling
  and additions not counted). torch's FlopCounterMode reports 2 x macs.
* ``param_bytes``: float32 bytes of everything the k-group network keeps: conv/FC weights and
  biases, BatchNorm scale, shift and running statistics.
* ``activation_bytes``: float32 bytes of every layer output for one image: conv maps before
  pooling, pooled maps, FC outputs and logits (a proxy of memory traffic, not a peak).
"""

from __future__ import annotations

from dataclasses import dataclass

from dnn.arch import LayerPlan, check_active, check_config, get_arch, layer_plan

FLOAT32_BYTES = 4
BN_VALUES_PER_CHANNEL = 4  # scale, shift, running mean, running variance


@dataclass(frozen=True)
class Cost:
    """Cost of one inference (batch 1) of the network with k active groups."""

    macs: int
    param_bytes: int
    activation_bytes: int


def _input_channels(plan: LayerPlan, group: int, connectivity: str) -> int:
    """Channels group ``group`` (1-based) of this layer reads."""
    if plan.reads_input or connectivity == "group":
        return plan.in_per_group
    return group * plan.in_per_group  # nested: groups 1..g of the layer before


def _layer_cost(plan: LayerPlan, k: int, connectivity: str) -> tuple[int, int, int]:
    kernel_area = plan.kernel[0] * plan.kernel[1]
    out_area = plan.out_hw[0] * plan.out_hw[1]
    if plan.kind == "head":
        weights = plan.out_per_group * k * plan.in_per_group
        return weights, weights + plan.out_per_group, plan.out_per_group
    in_channels = sum(_input_channels(plan, g, connectivity) for g in range(1, k + 1))
    weights = plan.out_per_group * in_channels * kernel_area
    out_channels = k * plan.out_per_group
    extra = BN_VALUES_PER_CHANNEL * out_channels if plan.kind == "conv" else out_channels  # BN or bias
    activations = out_channels * out_area
    if plan.pool:
        activations += out_channels * (plan.out_hw[0] // 2) * (plan.out_hw[1] // 2)
    return weights * out_area, weights + extra, activations


def count_cost(
    arch: str = "alexnet-cifar",
    groups: int = 4,
    connectivity: str = "group",
    k: int | None = None,
    widths: tuple[int, ...] | list[int] | None = None,
) -> Cost:
    """Cost of one image through ``arch`` with G = ``groups`` and k active groups (default k = G).

    Raises:
        DNNError: unknown arch or connectivity, bad widths, k outside 1..G.
    """
    spec = get_arch(arch)
    chosen = check_config(spec, groups, connectivity, widths)
    k = check_active(groups if k is None else k, groups)
    macs = param_values = activation_values = 0
    for plan in layer_plan(spec, groups, chosen):
        layer_macs, layer_params, layer_activations = _layer_cost(plan, k, connectivity)
        macs += layer_macs
        param_values += layer_params
        activation_values += layer_activations
    return Cost(macs, param_values * FLOAT32_BYTES, activation_values * FLOAT32_BYTES)
