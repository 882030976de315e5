"""Incremental training: stage g teaches group g alone while groups 1..g-1 stay exactly as they were.

At stage g the model runs with k = g groups in training mode (``DynamicNet`` then computes groups
1..g-1 with no gradient and frozen BatchNorm statistics) and the loss is that of the summed logits
of all g groups, so group g learns what the earlier groups still get wrong. A fresh Adam optimiser
without weight decay per stage keeps every frozen value bit-identical: their gradients are zero
(or absent), so Adam's moments stay zero and its steps add exactly 0.

Held-out evaluation gives, per k, top-1 accuracy and the mean confidence (max softmax probability).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from dnn.data import Dataset
from dnn.errors import DNNError
from dnn.model import DynamicNet

DEFAULT_ARCH = {"digits": "alexnet-digits", "cifar10": "alexnet-cifar"}


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one incremental training run (every stage gets the same)."""

    epochs: int = 8
    """Passes over the training set per stage (G stages)."""
    batch_size: int = 64
    lr: float = 3e-3
    """Adam's initial learning rate, annealed to 0 over each stage (cosine)."""
    seed: int = 0
    """Seeds the batch order (and the initial weights where the model is built under ``deterministic``)."""


@dataclass(frozen=True)
class AccuracyRow:
    """Held-out quality with k groups active."""

    groups: int
    top1: float
    """Fraction of held-out images classified correctly, in [0, 1]."""
    confidence: float
    """Mean over held-out images of the largest softmax probability, in [0, 1]."""


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed torch's global generator and force deterministic kernels; restore the flag afterwards."""
    settings = torch.utils.deterministic
    previous = torch.are_deterministic_algorithms_enabled(), settings.fill_uninitialized_memory
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    # Filling every new tensor with NaN (the deterministic mode's default) doubled the step time of
    # alexnet-digits; our kernels never read uninitialised memory, so the fill buys nothing.
    settings.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        settings.fill_uninitialized_memory = previous[1]


def train_incremental(
    model: DynamicNet,
    data: Dataset,
    config: TrainConfig,
    progress: bool = True,
    on_stage: Callable[[int, DynamicNet], None] | None = None,
) -> None:
    """Train ``model`` stage by stage, groups 1..G; leaves it in eval mode with k = G.

    Args:
        model: a dynamic DNN whose input shape matches the data.
        data: training and held-out images.
        config: epochs per stage, batch size, learning rate, seed of the batch order.
        progress: show one tqdm progress bar per stage on stderr.
        on_stage: called as ``on_stage(g, model)`` after stage g (model in eval mode, k = g).

    Raises:
        DNNError: the model's input shape differs from the data's, or epochs < 1.
    """
    from tqdm import tqdm

    if tuple(model.input_shape) != tuple(data.input_shape):
        raise DNNError(
            f"arch {model.arch} takes inputs {model.input_shape}, dataset {data.name} has {data.input_shape}"
        )
    if config.epochs < 1 or config.batch_size < 1 or not config.lr > 0:
        settings = f"epochs={config.epochs}, batch_size={config.batch_size}, lr={config.lr}"
        raise DNNError(f"{settings}: epochs and batch_size must be >= 1, lr > 0")
    order_rng = torch.Generator().manual_seed(config.seed)
    n_train = len(data.y_train)
    n_batches = -(-n_train // config.batch_size)
    for stage in range(1, model.groups + 1):
        model.set_active_groups(stage)
        model.train()
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * n_batches)
        bar = tqdm(
            total=config.epochs * n_batches,
            desc=f"stage {stage}/{model.groups}",
            unit="batch",
            file=sys.stderr,
            disable=not progress,
            leave=True,
        )
        with bar:
            for _ in range(config.epochs):
                order = torch.randperm(n_train, generator=order_rng)
                for start in range(0, n_train, config.batch_size):
                    batch = order[start : start + config.batch_size]
                    loss = F.cross_entropy(model(data.x_train[batch]), data.y_train[batch])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}")
        model.eval()
        if on_stage is not None:
            on_stage(stage, model)
    model.set_active_groups(model.groups)


@torch.no_grad()
def evaluate(
    model: DynamicNet, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
) -> list[AccuracyRow]:
    """Top-1 accuracy and mean confidence on (x, y) for every k = 1..G; restores the model's k and mode."""
    was_training, was_k = model.training, model.active_groups
    model.eval()
    rows = []
    for k in range(1, model.groups + 1):
        model.set_active_groups(k)
        correct = confidence = 0.0
        for start in range(0, len(y), batch_size):
            probs = F.softmax(model(x[start : start + batch_size]), dim=1)
            top_prob, top_class = probs.max(dim=1)
            correct += (top_class == y[start : start + batch_size]).sum().item()
            confidence += top_prob.sum().item()
        rows.append(AccuracyRow(k, correct / len(y), confidence / len(y)))
    model.set_active_groups(was_k)
    model.train(was_training)
    return rows


def train_checkpoint(
    out_dir: str | Path,
    dataset: str = "digits",
    data_dir: str | Path | None = None,
    arch: str | None = None,
    groups: int = 4,
    connectivity: str = "group",
    config: TrainConfig | None = None,
    progress: bool = True,
    on_stage: Callable[[int, DynamicNet], None] | None = None,
) -> list[AccuracyRow]:
    """Load the data, build and train a dynamic DNN, evaluate every k, save the checkpoint folder.

    Args:
        out_dir: the checkpoint folder to write (see ``dnn.checkpoint``); written only on success.
        dataset: ``digits`` or ``cifar10``.
        data_dir: the CIFAR-10 folder (cifar10 only).
        arch: default ``alexnet-digits`` for digits, ``alexnet-cifar`` for cifar10.
        groups: G.
        connectivity: ``group`` or ``nested``.
        config: epochs per stage, batch size, learning rate, seed (default ``TrainConfig()``).
        progress: a progress bar per stage on stderr.
        on_stage: called as ``on_stage(g, model)`` after stage g (see ``train_incremental``).

    Returns:
        Held-out top-1 and confidence per k = 1..G.

    Raises:
        DNNError: bad settings, missing data, arch and data of different shapes.
    """
    from dnn.checkpoint import check_replaceable, save_checkpoint
    from dnn.data import load_dataset
    from dnn.model import build_model

    config = config or TrainConfig()
    check_replaceable(out_dir)  # before minutes of training, not after
    data = load_dataset(dataset, data_dir, seed=config.seed)
    arch = arch or DEFAULT_ARCH[dataset]
    with deterministic(config.seed):
        model = build_model(arch, groups, connectivity)
        train_incremental(model, data, config, progress=progress, on_stage=on_stage)
    rows = evaluate(model, data.x_heldout, data.y_heldout)
    training = {**dataclasses.asdict(config), "n_train": len(data.y_train), "n_heldout": len(data.y_heldout)}
    save_checkpoint(model, out_dir, rows, data.name, data.input_mean, data.input_std, training)
    return rows
