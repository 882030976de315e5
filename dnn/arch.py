"""The architectures of the dynamic DNN: layer tables of a group-convolution AlexNet.

An architecture is a stack of five convolution layers and three fully connected ones, as in
AlexNet. Every layer but the last splits its output channels into G equal groups; group g is one
slice of the layer's width. The classifier (the last layer) reads the features of every active
group, so its logits are the sum of one head per group. The shapes below are this project's choice:
the paper (Xun et al., MLCAD 2019, arXiv 2105.03600) does not publish its AlexNet-for-CIFAR-10
layer shapes.

Connectivity says which groups of the layer before a group reads:

* ``group`` (the paper's group convolution): group g reads only group g. The G paths are
  independent networks that meet only in the summed logits.
* ``nested``: group g reads groups 1..g, so later groups reuse earlier features (more MACs).

Either way group g never feeds an earlier group, so dropping trailing groups leaves the output of
the remaining ones exactly as trained (the prefix property).
"""

from __future__ import annotations

from dataclasses import dataclass

from dnn.errors import DNNError

CONNECTIVITIES = ("group", "nested")


@dataclass(frozen=True)
class ConvSpec:
    """One convolution layer: square kernel, stride 1, then BatchNorm, ReLU, optional 2x2 max-pool."""

    kernel: int
    padding: int
    pool: bool


@dataclass(frozen=True)
class ArchSpec:
    """An architecture: input shape, five conv layers, two hidden FC layers and the classifier."""

    name: str
    input_shape: tuple[int, int, int]
    """(channels, height, width) of one input image."""
    convs: tuple[ConvSpec, ...]
    default_widths: tuple[int, ...]
    """Output channels of conv1..conv5, then output features of fc1 and fc2, over all G groups."""
    n_classes: int = 10

    def feature_hw(self) -> tuple[int, int]:
        """Height and width of the last conv layer's (pooled) output, which fc1 reads whole."""
        _, height, width = self.input_shape
        for conv in self.convs:
            height = height + 2 * conv.padding - conv.kernel + 1
            width = width + 2 * conv.padding - conv.kernel + 1
            if conv.pool:
                height, width = height // 2, width // 2
        return height, width


ARCHS: dict[str, ArchSpec] = {
    # CIFAR-10 (3x32x32): 5x5 kernels while the maps are large, 3x3 after; pools 32 -> 16 -> 8 -> 4.
    # Widths follow the classic CIFAR AlexNet (64, 192, 384, 256, 256) with a narrower classifier
    # (1024, 512) so that one image costs ~60 M MACs: seconds on a Cortex-A7, not minutes.
    "alexnet-cifar": ArchSpec(
        name="alexnet-cifar",
        input_shape=(3, 32, 32),
        convs=(
            ConvSpec(5, 2, True),
            ConvSpec(5, 2, True),
            ConvSpec(3, 1, False),
            ConvSpec(3, 1, False),
            ConvSpec(3, 1, True),
        ),
        default_widths=(64, 192, 384, 256, 256, 1024, 512),
    ),
    # The 8x8 handwritten digits of scikit-learn (1x8x8): 3x3 kernels, pools 8 -> 4 and 4 -> 2.
    # Narrow on purpose: with twice these widths one group alone already reached 96 % and the
    # held-out top-1 of k = 3 and 4 differed by single images (not always increasing); with these,
    # group 1 alone gets ~86-90 % and every added group helps (seeds 0-2: 0.86/0.95/0.97/0.97+).
    "alexnet-digits": ArchSpec(
        name="alexnet-digits",
        input_shape=(1, 8, 8),
        convs=(
            ConvSpec(3, 1, True),
            ConvSpec(3, 1, False),
            ConvSpec(3, 1, False),
            ConvSpec(3, 1, False),
            ConvSpec(3, 1, True),
        ),
        default_widths=(16, 32, 48, 32, 32, 64, 32),
    ),
}


@dataclass(frozen=True)
class LayerPlan:
    """One layer with its sizes fixed for a given G and widths (shared by the model and the cost model).

    ``kind`` is ``conv`` (conv, BatchNorm, ReLU, optional pool), ``fc`` (a grouped fully connected
    layer, run as a convolution whose kernel covers the whole input map, then ReLU) or ``head``
    (the classifier: one linear map over the features of all active groups, i.e. one head per group
    whose logits add up).
    """

    kind: str
    in_per_group: int
    """Channels one group reads from one group of the layer before (the image's channels for conv1)."""
    out_per_group: int
    """Output channels of one group (the class count for the head, which is not split)."""
    kernel: tuple[int, int]
    padding: int
    pool: bool
    out_hw: tuple[int, int]
    """Output map size before pooling."""
    reads_input: bool = False
    """True for conv1: every group reads the whole input image."""


def layer_plan(arch: ArchSpec, groups: int, widths: tuple[int, ...]) -> tuple[LayerPlan, ...]:
    """The layers of ``arch`` with G groups and the given (checked) widths, input to output."""
    plans = []
    channels, height, width = arch.input_shape
    in_per_group = channels
    for index, conv in enumerate(arch.convs):
        height = height + 2 * conv.padding - conv.kernel + 1
        width = width + 2 * conv.padding - conv.kernel + 1
        out_per_group = widths[index] // groups
        plans.append(
            LayerPlan(
                "conv",
                in_per_group,
                out_per_group,
                (conv.kernel, conv.kernel),
                conv.padding,
                conv.pool,
                (height, width),
                reads_input=index == 0,
            )
        )
        if conv.pool:
            height, width = height // 2, width // 2
        in_per_group = out_per_group
    fc_kernel = (height, width)  # fc1 reads a group's whole feature map, as a flatten + linear would
    for fc_width in widths[len(arch.convs) :]:
        plans.append(LayerPlan("fc", in_per_group, fc_width // groups, fc_kernel, 0, False, (1, 1)))
        in_per_group, fc_kernel = fc_width // groups, (1, 1)
    plans.append(LayerPlan("head", in_per_group, arch.n_classes, (1, 1), 0, False, (1, 1)))
    return tuple(plans)


def get_arch(name: str) -> ArchSpec:
    """The architecture called ``name``.

    Raises:
        DNNError: unknown name.
    """
    if name not in ARCHS:
        raise DNNError(f"arch {name!r} unknown; expected one of {', '.join(ARCHS)}")
    return ARCHS[name]


def check_config(
    arch: ArchSpec, groups: int, connectivity: str, widths: tuple[int, ...] | list[int] | None
) -> tuple[int, ...]:
    """Check G, connectivity and widths together; return the widths to use.

    Raises:
        DNNError: G < 1, unknown connectivity, or widths of the wrong count or not divisible by G.
    """
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise DNNError(f"groups G={groups!r} must be an integer >= 1")
    if connectivity not in CONNECTIVITIES:
        raise DNNError(f"connectivity {connectivity!r} unknown; expected one of {', '.join(CONNECTIVITIES)}")
    chosen = tuple(arch.default_widths if widths is None else widths)
    n_widths = len(arch.default_widths)
    if len(chosen) != n_widths:
        raise DNNError(f"widths has {len(chosen)} values; {arch.name} needs {n_widths} (5 conv, 2 fc)")
    for index, width in enumerate(chosen):
        if isinstance(width, bool) or not isinstance(width, int) or width < groups or width % groups:
            raise DNNError(f"widths[{index}]={width!r} must be a positive multiple of groups G={groups}")
    return chosen


def check_active(k: object, groups: int) -> int:
    """Return k if it is a valid number of active groups (1..G).

    Raises:
        DNNError: k is not an integer in 1..G.
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= groups:
        raise DNNError(f"active groups k={k!r} outside 1..{groups}")
    return k
