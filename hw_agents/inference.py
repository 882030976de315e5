"""The DNN a board runs: built or loaded from a checkpoint, described for a platform descriptor,
checked against the platform it was profiled with, and the seeded input it is timed on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hw_agents.errors import BoardError
from platform_models.signals import stop_signals_held

__all__ = ["DEFAULT_ARCH", "DEFAULT_GAP_MS", "load_dnn", "platform_dnn"]

DEFAULT_ARCH = "alexnet-cifar"
DEFAULT_GAP_MS = 20.0
"""Idle time before each timed inference, as between the frames of a stream (see the profiler)."""


def load_dnn(checkpoint: str | Path | None, arch: str = DEFAULT_ARCH, accuracy_from: str | Path | None = None,
             *, groups: int = 4, connectivity: str = "group") -> tuple[Any, dict[str, Any]]:
    """The dynamic DNN (eval mode) and the descriptor's ``dnn`` section describing it.

    With a checkpoint, its trained weights and accuracy per k; without, freshly initialised weights of
    ``arch`` with ``groups`` and ``connectivity`` (latency does not depend on the weights' values) and
    the accuracy per k that platform ``accuracy_from`` (default: a shipped platform) records for the
    same architecture.
    """
    # Building and loading run torch's C++ code: SIGINT and SIGTERM wait, as in deploy's start-up, so
    # that no signal's exception is raised inside it (platform_models.signals).
    with stop_signals_held():
        import dnn
        from dnn.checkpoint import load_checkpoint

        if checkpoint is not None:
            model, info = load_checkpoint(checkpoint)
            accuracy, source = list(info.accuracy), f"checkpoint {checkpoint} (accuracy.csv)"
            weights = f"checkpoint {checkpoint}"
        else:
            model = dnn.build_model(arch, groups=groups, connectivity=connectivity)
            accuracy, source = _platform_accuracy(arch, model.groups, accuracy_from)
            weights = "freshly initialised (latency does not depend on the weights' values)"
        model.eval()
    section = {
        "arch": model.arch,
        "groups": int(model.groups),
        "input_shape": [int(s) for s in model.input_shape],
        "connectivity": model.connectivity,
        "accuracy_top1": [round(float(a), 4) for a in accuracy],
        "accuracy_source": source,
        "weights": weights,
    }
    return model, section


def platform_dnn(platform: Any, checkpoint: str | Path | None = None) -> tuple[Any, dict[str, Any], Any]:
    """The DNN a platform was profiled with (its architecture, G and connectivity; a checkpoint's
    weights if given), its ``dnn`` section, and the input it is timed on (seeded).

    Raises:
        BoardError: a checkpoint of another DNN (the platform's table would not be its).
    """
    import torch

    section = platform.descriptor["dnn"]
    connectivity = section.get("connectivity", "group")
    model, loaded = load_dnn(checkpoint, section["arch"], accuracy_from=platform.path,
                             groups=int(section["groups"]), connectivity=connectivity)
    ours = [section["arch"], int(section["groups"]), list(section["input_shape"]), connectivity]
    theirs = [loaded["arch"], loaded["groups"], list(loaded["input_shape"]), loaded["connectivity"]]
    if ours != theirs:
        raise BoardError(f"checkpoint {checkpoint}: arch, G, input, connectivity {theirs}; platform "
                         f"{platform.name} was profiled with {ours}", path=checkpoint, field="checkpoint")
    x = torch.randn(1, *loaded["input_shape"], generator=torch.Generator().manual_seed(0))
    return model, loaded, x


def _platform_accuracy(arch: str, groups: int, accuracy_from: str | Path | None) -> tuple[list[float], str]:
    """Accuracy per k of platform ``accuracy_from`` (default: the first shipped platform) profiled with
    the same DNN (``arch``, G)."""
    from platform_models import PlatformError, load_platform, shipped_platforms

    for name in [accuracy_from] if accuracy_from is not None else shipped_platforms():
        try:
            section = load_platform(name).descriptor["dnn"]
        except PlatformError:
            if accuracy_from is not None:
                raise
            continue  # a shipped platform being rewritten; the next may do
        if section["arch"] == arch and int(section["groups"]) == groups:
            source = f"copied from platform {name}, whose source is: {section['accuracy_source']}"
            return list(section["accuracy_top1"]), source
    raise BoardError(f"no checkpoint given and no platform with the accuracy of {arch} G={groups} "
                     f"({accuracy_from or 'shipped'}); pass --checkpoint DIR", field="checkpoint")
