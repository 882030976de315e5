"""The data sets the dynamic DNN learns from: scikit-learn's 8x8 digits and CIFAR-10.

* ``digits`` (default): ``sklearn.datasets.load_digits``, 1,797 images bundled with scikit-learn
  (imported here lazily: the board side has no scikit-learn). A stratified held-out split of
  ``holdout_fraction`` per class, drawn from ``seed``.
* ``cifar10``: the python-pickle batches of https://www.cs.toronto.edu/~kriz/cifar.html
  (``data_batch_1`` .. ``data_batch_5`` for training, ``test_batch`` held out), found in DIR or
  DIR/cifar-10-batches-py (the folder torchvision unpacks). Never downloaded. The pickles are read
  with an unpickler that accepts only numpy arrays, so a hostile file cannot run code.

Pixels are scaled to [0, 1] and standardised per channel with the training part's mean and std.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from dnn.errors import DNNError

DATASETS = ("digits", "cifar10")
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch"
CIFAR_SHAPE = (3, 32, 32)
DIGITS_MAX_PIXEL = 16.0  # load_digits pixels are counts 0..16 of a 4x4 block of a 32x32 bitmap


@dataclass(frozen=True)
class Dataset:
    """Standardised float32 images (N, C, H, W) and int64 labels, split into train and held-out."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_heldout: torch.Tensor
    y_heldout: torch.Tensor
    input_mean: tuple[float, ...]
    """Per-channel mean of the [0, 1] training pixels, subtracted from every image."""
    input_std: tuple[float, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


def load_dataset(
    name: str, data_dir: str | Path | None = None, seed: int = 0, holdout_fraction: float = 0.2
) -> Dataset:
    """Load ``digits`` or ``cifar10`` (which needs ``data_dir``).

    Raises:
        DNNError: unknown name, missing or unreadable CIFAR-10 files.
    """
    if name == "digits":
        return _load_digits(seed, holdout_fraction)
    if name == "cifar10":
        if data_dir is None:
            raise DNNError("dataset cifar10 needs --data-dir DIR holding the CIFAR-10 python batches")
        return _load_cifar10(Path(data_dir))
    raise DNNError(f"dataset {name!r} unknown; expected one of {', '.join(DATASETS)}")


def _load_digits(seed: int, holdout_fraction: float) -> Dataset:
    from sklearn.datasets import load_digits  # lazily: not installed on the boards

    bunch = load_digits()
    images = (bunch.images / DIGITS_MAX_PIXEL).astype(np.float32)[:, None]
    labels = bunch.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    heldout = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):  # stratified: every digit equally represented in both parts
        members = rng.permutation(np.flatnonzero(labels == label))
        heldout[members[: round(holdout_fraction * len(members))]] = True
    train_order = rng.permutation(np.flatnonzero(~heldout))
    return _standardised("digits", images[train_order], labels[train_order], images[heldout], labels[heldout])


def _find_cifar_folder(data_dir: Path) -> Path:
    if not data_dir.is_dir():
        raise DNNError(f"{data_dir}: data folder not found (expected the CIFAR-10 python batches there)")
    wanted = (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE)
    candidates = (data_dir, data_dir / "cifar-10-batches-py")
    for folder in candidates:
        if all((folder / name).is_file() for name in wanted):
            return folder
    best = max(candidates, key=lambda folder: sum((folder / name).is_file() for name in wanted))
    missing = [name for name in wanted if not (best / name).is_file()]
    raise DNNError(
        f"{best}: CIFAR-10 python batches missing: {', '.join(missing)} "
        f"(looked in {data_dir} and {data_dir / 'cifar-10-batches-py'}; nothing is downloaded)"
    )


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists, dicts and strings; refuses every other global (no code runs)."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at pickle protocol 2 (CIFAR's protocol)
    }

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as stream:
            batch = _ArrayUnpickler(stream, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise DNNError(f"{path}: not a CIFAR-10 python batch ({type(err).__name__}: {err})") from None
    if not isinstance(batch, dict):
        raise DNNError(f"{path}: not a CIFAR-10 python batch (expected a dict, got {type(batch).__name__})")
    for field in (b"data", b"labels"):
        if field not in batch:
            raise DNNError(f"{path}: field {field.decode()!r} missing")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    n_values = int(np.prod(CIFAR_SHAPE))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != n_values:
        found = f"{data.dtype} {data.shape}"
        raise DNNError(f"{path}: field 'data': expected uint8 rows of {n_values} values, got {found}")
    if labels.shape != (data.shape[0],) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise DNNError(f"{path}: field 'labels': expected {data.shape[0]} labels in 0..9")
    return data.reshape(-1, *CIFAR_SHAPE).astype(np.float32) / 255.0, labels


def _load_cifar10(data_dir: Path) -> Dataset:
    folder = _find_cifar_folder(data_dir)
    parts = [_read_cifar_batch(folder / name) for name in CIFAR_TRAIN_FILES]
    x_test, y_test = _read_cifar_batch(folder / CIFAR_TEST_FILE)
    x_train = np.concatenate([x for x, _ in parts])
    y_train = np.concatenate([y for _, y in parts])
    return _standardised("cifar10", x_train, y_train, x_test, y_test)


def _standardised(
    name: str, x_train: np.ndarray, y_train: np.ndarray, x_heldout: np.ndarray, y_heldout: np.ndarray
) -> Dataset:
    mean = x_train.mean(axis=(0, 2, 3), keepdims=True)
    std = x_train.std(axis=(0, 2, 3), keepdims=True) + 1e-8
    return Dataset(
        name=name,
        x_train=torch.from_numpy((x_train - mean) / std),
        y_train=torch.from_numpy(y_train),
        x_heldout=torch.from_numpy((x_heldout - mean) / std),
        y_heldout=torch.from_numpy(y_heldout),
        input_mean=tuple(float(v) for v in mean.ravel()),
        input_std=tuple(float(v) for v in std.ravel()),
    )
