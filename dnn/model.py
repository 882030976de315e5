"""The dynamic DNN: one set of weights, k of its G channel groups active, switched in O(1).

Every layer stores all G groups of a kind in one tensor (``group`` connectivity: a grouped
convolution's weight, group g at rows g*c..(g+1)*c) or one tensor per group (``nested``: group g
reads more input channels than group g-1, so the shapes differ). For every k the model keeps, built
once, the views of the first k groups' slices (no copies: they share the parameters' storage), so
``set_active_groups(k)`` only stores k, and a forward pass runs the first k groups' work and nothing
else: one grouped convolution per layer (``group``) or k small ones (``nested``).

Training mode is incremental training (see ``dnn.train``): with k groups active, groups 1..k-1
are frozen (no gradient, BatchNorm with its running statistics, untouched) and only group k learns.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from dnn.arch import LayerPlan, check_active, check_config, get_arch, layer_plan

BN_MOMENTUM = 0.1
BN_EPS = 1e-5


class LayerParams(NamedTuple):
    """The tensors one layer uses for a range of groups (views of its parameters, never copies).

    ``weight`` and ``bias`` are tuples with one entry per group for nested layers.
    """

    weight: torch.Tensor | tuple[torch.Tensor, ...]
    bias: torch.Tensor | tuple[torch.Tensor, ...] | None
    bn_weight: torch.Tensor | None
    bn_bias: torch.Tensor | None
    running_mean: torch.Tensor | None
    running_var: torch.Tensor | None


class GroupLayer(nn.Module):
    """One layer of the dynamic DNN holding all G groups (conv, fc or the classifier head)."""

    def __init__(self, plan: LayerPlan, groups: int, connectivity: str) -> None:
        super().__init__()
        self.plan = plan
        self.groups = groups
        self.is_nested = connectivity == "nested" and not plan.reads_input and plan.kind != "head"
        out_g, in_g = plan.out_per_group, plan.in_per_group
        if plan.kind == "head":
            self.weight = nn.Parameter(torch.empty(out_g, groups * in_g))
            self.bias = nn.Parameter(torch.zeros(out_g))  # belongs to group 1: trained at stage 1 only
            nn.init.normal_(self.weight, std=0.01)
            return
        if self.is_nested:
            self.weights = nn.ParameterList(
                nn.Parameter(torch.empty(out_g, (g + 1) * in_g, *plan.kernel)) for g in range(groups)
            )
            for weight in self.weights:
                nn.init.kaiming_normal_(weight, nonlinearity="relu")
        else:
            self.weight = nn.Parameter(torch.empty(groups * out_g, in_g, *plan.kernel))
            for g in range(groups):  # fan-in of one group, as a stand-alone layer would have
                nn.init.kaiming_normal_(self.weight[g * out_g : (g + 1) * out_g], nonlinearity="relu")
        if plan.kind == "fc":
            self.bias = nn.Parameter(torch.zeros(groups * out_g))
        else:
            self.bn_weight = nn.Parameter(torch.ones(groups * out_g))
            self.bn_bias = nn.Parameter(torch.zeros(groups * out_g))
            self.register_buffer("running_mean", torch.zeros(groups * out_g))
            self.register_buffer("running_var", torch.ones(groups * out_g))

    def params_for(self, lo: int, hi: int) -> LayerParams:
        """Views of the parameters of groups lo..hi-1 (0-based)."""
        plan = self.plan
        if plan.kind == "head":
            span = slice(lo * plan.in_per_group, hi * plan.in_per_group)
            return LayerParams(self.weight[:, span], self.bias if lo == 0 else None, None, None, None, None)
        out_g = plan.out_per_group
        rows = slice(lo * out_g, hi * out_g)
        if self.is_nested:
            weight = tuple(self.weights[g] for g in range(lo, hi))
            bias = None
            if plan.kind == "fc":
                bias = tuple(self.bias[g * out_g : (g + 1) * out_g] for g in range(lo, hi))
        else:
            weight, bias = self.weight[rows], None if plan.kind == "conv" else self.bias[rows]
        if plan.kind == "fc":
            return LayerParams(weight, bias, None, None, None, None)
        bn_stats = self.running_mean[rows], self.running_var[rows]
        return LayerParams(weight, bias, self.bn_weight[rows], self.bn_bias[rows], *bn_stats)

    def run(self, x: torch.Tensor, params: LayerParams, lo: int, hi: int, bn_training: bool) -> torch.Tensor:
        """Output of groups lo..hi-1.

        ``x`` holds what those groups read: the image (conv1), groups lo..hi-1 of the layer before
        (``group``) or groups 0..hi-1 of it (``nested``); the head reads the features of lo..hi-1.
        """
        plan = self.plan
        if plan.kind == "head":
            return F.linear(x.flatten(1), params.weight, params.bias)
        if self.is_nested:
            in_g = plan.in_per_group
            biases = params.bias or (None,) * (hi - lo)
            y = torch.cat(
                [
                    F.conv2d(x[:, : (g + 1) * in_g], w, b, padding=plan.padding)
                    for g, w, b in zip(range(lo, hi), params.weight, biases, strict=True)
                ],
                1,
            )
        else:
            n_conv_groups = 1 if plan.reads_input else hi - lo
            y = F.conv2d(x, params.weight, params.bias, padding=plan.padding, groups=n_conv_groups)
        if plan.kind == "conv":
            y = F.batch_norm(
                y,
                params.running_mean,
                params.running_var,
                params.bn_weight,
                params.bn_bias,
                bn_training,
                BN_MOMENTUM,
                BN_EPS,
            )
        y = F.relu(y)
        return F.max_pool2d(y, 2) if plan.pool else y


class DynamicNet(nn.Module):
    """A group-convolution AlexNet whose trailing groups can be dropped or added back at run time.

    Build it with ``dnn.build_model``. ``set_active_groups(k)`` picks how many groups (1..G) the
    next forward passes use; in eval mode the output is exactly that of the network trained at
    stage k, and the work is that of k groups only (``dnn.count_cost``). In training mode only
    group k learns; groups 1..k-1 stay frozen (incremental training, ``dnn.train``).
    """

    def __init__(self, arch: str, groups: int, connectivity: str, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.arch = arch
        self.groups = groups
        self.connectivity = connectivity
        self.widths = widths
        self.input_shape = get_arch(arch).input_shape
        self.layers = nn.ModuleList(
            GroupLayer(plan, groups, connectivity) for plan in layer_plan(get_arch(arch), groups, widths)
        )
        self._active_groups = groups
        self._views: list[tuple[LayerParams, ...]] = []
        self._build_views()

    @property
    def active_groups(self) -> int:
        """k, the number of groups the forward pass uses."""
        return self._active_groups

    def set_active_groups(self, k: int) -> None:
        """Use the first k groups from the next forward pass on; O(1), touches no tensor.

        Raises:
            DNNError: k is not an integer in 1..G.
        """
        # Straight into __dict__: nn.Module.__setattr__ (which looks for parameters, buffers and
        # submodules first) took 5.3 us of the 8.4 us a switch cost, measured with timeit.
        self.__dict__["_active_groups"] = check_active(k, self.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, classes) computed with the active groups only."""
        k = self._active_groups
        if self.training:
            return self._forward_incremental(x, k - 1, k)
        if torch.is_grad_enabled():  # the prebuilt views carry no autograd history: slice afresh
            views = tuple(layer.params_for(0, k) for layer in self.layers)
        else:
            views = self._views[k - 1]
        for layer, params in zip(self.layers, views, strict=True):
            x = layer.run(x, params, 0, k, bn_training=False)
        return x

    def _forward_incremental(self, x: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """Groups 0..lo-1 frozen (eval statistics, no gradient), groups lo..hi-1 learning."""
        frozen = live = x
        *body, head = self.layers
        for index, layer in enumerate(body):
            if lo and not layer.plan.reads_input and self.connectivity == "nested":
                live_in = torch.cat([frozen, live], 1)  # nested groups read every earlier group
            else:
                live_in = live
            if lo:
                with torch.no_grad():
                    frozen = layer.run(frozen, self._views[lo - 1][index], 0, lo, bn_training=False)
            live = layer.run(live_in, layer.params_for(lo, hi), lo, hi, bn_training=True)
        logits = head.run(live, head.params_for(lo, hi), lo, hi, bn_training=True)
        if lo:
            with torch.no_grad():
                frozen_logits = head.run(frozen, self._views[lo - 1][-1], 0, lo, bn_training=False)
            logits = logits + frozen_logits
        return logits

    def _build_views(self) -> None:
        # Built once per storage; views of a Parameter made under no_grad share its storage, so
        # in-place updates (optimizer steps, load_state_dict) show through without a rebuild.
        with torch.no_grad():
            self._views = [
                tuple(layer.params_for(0, k) for layer in self.layers) for k in range(1, self.groups + 1)
            ]

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        # .to(), .double(), ... may give the parameters new storage: the views must follow.
        result = super()._apply(fn, recurse)
        self._build_views()
        return result


def build_model(
    arch: str = "alexnet-cifar",
    groups: int = 4,
    connectivity: str = "group",
    widths: tuple[int, ...] | list[int] | None = None,
) -> DynamicNet:
    """A freshly initialised dynamic DNN (all G groups active, in training mode as nn.Modules start).

    Args:
        arch: ``alexnet-cifar`` (3x32x32 inputs) or ``alexnet-digits`` (1x8x8).
        groups: G, the number of channel groups (>= 1).
        connectivity: ``group`` (group g reads group g) or ``nested`` (group g reads groups 1..g).
        widths: total channels of conv1..conv5 and features of fc1, fc2; each a multiple of G.

    Raises:
        DNNError: unknown arch or connectivity, bad G or widths.
    """
    chosen = check_config(get_arch(arch), groups, connectivity, widths)
    return DynamicNet(arch, groups, connectivity, chosen)
