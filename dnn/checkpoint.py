"""A trained dynamic DNN on disk: one folder with the weights, what they are, and how good each k is.

    DIR/model.pt       torch state dict (loaded with ``weights_only=True``: tensors only, no code)
    DIR/meta.json      arch, G, connectivity, widths, input shape, data set, input normalisation
    DIR/accuracy.csv   groups,top1,confidence: held-out top-1 and mean max-softmax per k = 1..G

The folder is written whole or not at all: the files go into a temporary sibling folder which is
then renamed into place (a previous checkpoint there is replaced only once the new one is complete).
Loading checks everything against everything else and names the file and field that is wrong.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dnn.errors import DNNError
from dnn.model import DynamicNet, build_model

FORMAT = "dynscale-dnn-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.pt"
META_FILE = "meta.json"
ACCURACY_FILE = "accuracy.csv"
ACCURACY_COLUMNS = ("groups", "top1", "confidence")


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint folder says about its model."""

    path: Path
    arch: str
    groups: int
    connectivity: str
    widths: tuple[int, ...]
    input_shape: tuple[int, int, int]
    dataset: str
    accuracy: tuple[float, ...]
    """Held-out top-1 per k (index k-1), fractions in [0, 1]."""
    confidence: tuple[float, ...]
    """Held-out mean max-softmax probability per k (index k-1)."""
    input_mean: tuple[float, ...]
    """Per-channel mean subtracted from [0, 1] pixels before the model sees them."""
    input_std: tuple[float, ...]
    """Per-channel std the centred pixels are divided by."""


def save_checkpoint(
    model: DynamicNet,
    out_dir: str | Path,
    accuracy_rows: Sequence[Any],
    dataset: str = "unknown",
    input_mean: Sequence[float] = (0.0,),
    input_std: Sequence[float] = (1.0,),
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` and its accuracy per k to the folder ``out_dir``, atomically.

    Args:
        model: the trained dynamic DNN.
        out_dir: the checkpoint folder; replaced if it is a checkpoint already.
        accuracy_rows: G rows with ``groups``, ``top1``, ``confidence`` (attributes or keys).
        dataset: name of the data set it was trained on.
        input_mean: per-channel normalisation of the inputs (see ``CheckpointInfo``).
        input_std: per-channel normalisation of the inputs.
        training: how it was trained (epochs, seed, ...), kept in meta.json.

    Raises:
        DNNError: rows do not cover k = 1..G, or ``out_dir`` exists and is not a checkpoint folder.
    """
    out_dir = Path(out_dir)
    rows = [_row_values(row) for row in accuracy_rows]
    if [row[0] for row in rows] != list(range(1, model.groups + 1)):
        raise DNNError(f"accuracy rows cover groups {[row[0] for row in rows]}, expected 1..{model.groups}")
    check_replaceable(out_dir)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "arch": model.arch,
        "groups": model.groups,
        "connectivity": model.connectivity,
        "widths": list(model.widths),
        "input_shape": list(model.input_shape),
        "dataset": dataset,
        "input_mean": list(input_mean),
        "input_std": list(input_std),
        "training": dict(training or {}),
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling_folder(out_dir, "new")
    try:
        torch.save(model.state_dict(), staging / WEIGHTS_FILE)
        (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        with (staging / ACCURACY_FILE).open("w", newline="") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(ACCURACY_COLUMNS)
            writer.writerows((k, f"{top1:.6f}", f"{confidence:.6f}") for k, top1, confidence in rows)
        _swap_into_place(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def check_replaceable(out_dir: str | Path) -> None:
    """Raise unless ``out_dir`` is absent, empty, or a checkpoint folder (which saving replaces).

    Raises:
        DNNError: ``out_dir`` is a file, or a folder holding something else.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DNNError(f"{out_dir}: exists and is not a folder")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / META_FILE).is_file():
        raise DNNError(f"{out_dir}: exists and is not a dnn checkpoint folder; refusing to replace it")


def _row_values(row: Any) -> tuple[int, float, float]:
    if isinstance(row, Mapping):
        return int(row["groups"]), float(row["top1"]), float(row["confidence"])
    return int(row.groups), float(row.top1), float(row.confidence)


def _sibling_folder(out_dir: Path, role: str) -> Path:
    # os.mkdir rather than tempfile.mkdtemp: the checkpoint keeps the user's umask, not mode 0700.
    folder = out_dir.parent / f".{out_dir.name}.{role}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    # A non-empty folder cannot be renamed over: move the old one aside first, then drop it.
    retired = _sibling_folder(out_dir, "old")
    os.replace(out_dir, retired / "checkpoint")
    os.replace(staging, out_dir)
    shutil.rmtree(retired, ignore_errors=True)


def load_checkpoint(
    path: str | Path, arch: str | None = None, groups: int | None = None
) -> tuple[DynamicNet, CheckpointInfo]:
    """Load a checkpoint folder (or its meta.json) into a DynamicNet in eval mode with k = G.

    Args:
        path: the checkpoint folder.
        arch: if given, the architecture the caller expects.
        groups: if given, the G the caller expects.

    Raises:
        DNNError: a file is missing or unreadable, a field is wrong, the weights do not fit the
            architecture meta.json describes, or the checkpoint is not the expected arch or G.
    """
    folder = Path(path)
    if folder.name in (META_FILE, WEIGHTS_FILE, ACCURACY_FILE):
        folder = folder.parent
    if not folder.is_dir():
        raise DNNError(f"{folder}: checkpoint folder not found")
    meta_path = folder / META_FILE
    meta = _read_meta(meta_path)
    for field, expected in (("arch", arch), ("groups", groups)):
        if expected is not None and meta[field] != expected:
            found = meta[field]
            raise DNNError(f"{meta_path}: field {field!r}: checkpoint has {found!r}, expected {expected!r}")
    try:
        model = build_model(meta["arch"], meta["groups"], meta["connectivity"], meta["widths"])
    except DNNError as err:
        raise DNNError(f"{meta_path}: {err}") from None
    _load_weights(model, folder / WEIGHTS_FILE)
    model.eval()
    top1, confidence = _read_accuracy(folder / ACCURACY_FILE, model.groups)
    info = CheckpointInfo(
        path=folder,
        arch=model.arch,
        groups=model.groups,
        connectivity=model.connectivity,
        widths=model.widths,
        input_shape=model.input_shape,
        dataset=str(meta.get("dataset", "unknown")),
        accuracy=top1,
        confidence=confidence,
        input_mean=tuple(float(v) for v in meta.get("input_mean", (0.0,))),
        input_std=tuple(float(v) for v in meta.get("input_std", (1.0,))),
    )
    return model, info


def _read_meta(meta_path: Path) -> dict[str, Any]:
    if not meta_path.is_file():
        raise DNNError(f"{meta_path}: missing; not a dnn checkpoint folder")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise DNNError(f"{meta_path}:{err.lineno}: not valid JSON ({err.msg})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DNNError(f"{meta_path}: unreadable ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DNNError(f"{meta_path}: field 'format': expected {FORMAT!r}; not a dnn checkpoint")
    if meta.get("version") != FORMAT_VERSION:
        version = meta.get("version")
        raise DNNError(f"{meta_path}: field 'version': {version!r}, this dynscale reads {FORMAT_VERSION}")
    for field, kind in (("arch", str), ("groups", int), ("connectivity", str), ("widths", list)):
        if not isinstance(meta.get(field), kind) or isinstance(meta.get(field), bool):
            raise DNNError(f"{meta_path}: field {field!r}: expected {kind.__name__}, got {meta.get(field)!r}")
    return meta


def _load_weights(model: DynamicNet, weights_path: Path) -> None:
    if not weights_path.is_file():
        raise DNNError(f"{weights_path}: missing")
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of a foreign file
            warnings.simplefilter("ignore")
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types (pickle, zip, runtime) for a damaged file
        # torch's text advises weights_only=False, i.e. running the file's code: never relayed.
        what = f"corrupt or not torch weights saved by dynscale ({type(err).__name__})"
        raise DNNError(what, path=weights_path) from None
    if not isinstance(state, dict):
        raise DNNError(f"{weights_path}: expected a state dict, got {type(state).__name__}")
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise DNNError(f"{weights_path}: field {key!r} missing (does meta.json describe these weights?)")
        found = state[key]
        if not isinstance(found, torch.Tensor) or found.shape != tensor.shape:
            shape = tuple(found.shape) if isinstance(found, torch.Tensor) else type(found).__name__
            raise DNNError(
                f"{weights_path}: field {key!r}: shape {shape} does not fit meta.json "
                f"({model.arch}, G={model.groups}, {model.connectivity}), which needs {tuple(tensor.shape)}"
            )
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        where = f"{model.arch}, G={model.groups}"
        raise DNNError(f"{weights_path}: field {unexpected[0]!r} unexpected for {where}")
    model.load_state_dict(state)


def _read_accuracy(accuracy_path: Path, groups: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if not accuracy_path.is_file():
        raise DNNError(f"{accuracy_path}: missing")
    top1: list[float] = []
    confidence: list[float] = []
    with accuracy_path.open(newline="") as stream:
        reader = csv.DictReader(stream)
        if tuple(reader.fieldnames or ()) != ACCURACY_COLUMNS:
            expected = ",".join(ACCURACY_COLUMNS)
            raise DNNError(f"{accuracy_path}:1: header {reader.fieldnames}, expected {expected}")
        for line, row in enumerate(reader, start=2):
            where = f"{accuracy_path}:{line}"
            if row["groups"] != str(len(top1) + 1):
                raise DNNError(f"{where}: field 'groups': {row['groups']!r}, expected {len(top1) + 1}")
            for field, values in (("top1", top1), ("confidence", confidence)):
                try:
                    value = float(row[field])
                except (TypeError, ValueError):
                    value = math.nan
                if not 0.0 <= value <= 1.0:
                    raise DNNError(f"{where}: field {field!r}: {row[field]!r} is not in [0, 1]")
                values.append(value)
    if len(top1) != groups:
        raise DNNError(f"{accuracy_path}: {len(top1)} rows, expected one per k = 1..{groups}")
    return tuple(top1), tuple(confidence)
