"""Incremental training on the digits: the accuracy target, frozen groups, and the checkpoint folder.

One training run with the defaults of ``dynscale dnn train`` is shared by every test here.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from dnn.checkpoint import load_checkpoint
from dnn.data import load_dataset
from dnn.train import train_checkpoint

# one worker trains once for the whole module
pytestmark = [pytest.mark.xdist_group("dnn_train"), pytest.mark.usefixtures("one_torch_thread")]


class _Trained:
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.probe = load_dataset("digits", seed=0).x_heldout[:64]
        self.outputs_after_stage: dict[int, list[torch.Tensor]] = {}
        self.groups_after_stage: dict[int, list[torch.Tensor]] = {}
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as `dynscale dnn train` does on digits (module fixtures run first)
        try:
            self.rows = train_checkpoint(out_dir, progress=False, on_stage=self._snapshot)
        finally:
            torch.set_num_threads(previous_threads)
        self.model, _ = load_checkpoint(out_dir)

    def _snapshot(self, stage: int, model) -> None:
        with torch.no_grad():
            outputs = []
            for k in range(1, stage + 1):
                model.set_active_groups(k)
                outputs.append(model(self.probe))
            self.outputs_after_stage[stage] = outputs
            # every value groups 1..stage use: weights, biases, BatchNorm scale, shift and statistics
            self.groups_after_stage[stage] = [
                tensor.clone()
                for layer in model.layers
                for field in layer.params_for(0, stage)
                if field is not None
                for tensor in (field if isinstance(field, tuple) else (field,))
            ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> _Trained:
    return _Trained(tmp_path_factory.mktemp("dnn") / "checkpoint")


def test_defaults_reach_90_percent_and_accuracy_grows_with_k(trained: _Trained) -> None:
    top1 = [row.top1 for row in trained.rows]
    assert [row.groups for row in trained.rows] == [1, 2, 3, 4]
    assert top1[-1] >= 0.90
    assert top1 == sorted(top1)


def test_later_stages_leave_earlier_groups_bit_identical(trained: _Trained) -> None:
    model = trained.model
    for stage in range(1, model.groups):
        values = [
            tensor
            for layer in model.layers
            for field in layer.params_for(0, stage)
            if field is not None
            for tensor in (field if isinstance(field, tuple) else (field,))
        ]
        assert all(torch.equal(a, b) for a, b in zip(values, trained.groups_after_stage[stage], strict=True))
        with torch.no_grad():
            for k, before in enumerate(trained.outputs_after_stage[stage], start=1):
                model.set_active_groups(k)
                assert torch.equal(model(trained.probe), before)


def test_checkpoint_folder_round_trips(trained: _Trained) -> None:
    with (trained.out_dir / "accuracy.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["groups", "top1", "confidence"]
    assert [int(row["groups"]) for row in rows] == [1, 2, 3, 4]
    model, info = load_checkpoint(trained.out_dir)
    assert (info.arch, info.groups, info.connectivity, info.dataset) == (
        "alexnet-digits",
        4,
        "group",
        "digits",
    )
    assert info.accuracy == pytest.approx([row.top1 for row in trained.rows], abs=1e-6)
    assert info.confidence == pytest.approx([row.confidence for row in trained.rows], abs=1e-6)
    assert not model.training and model.active_groups == 4
    with torch.no_grad():
        assert torch.equal(model(trained.probe), trained.outputs_after_stage[4][3])
