"""The dnn verbs as a user runs them: CIFAR-10 batches on disk, checkpoints, and the one-line errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from dnn import build_model
from dnn.checkpoint import load_checkpoint, save_checkpoint
from dnn.data import load_dataset
from dynscale.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROWS = [{"groups": k, "top1": 0.5 + 0.1 * k, "confidence": 0.6} for k in range(1, 5)]
CIFAR_FILES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]


def _write_fake_cifar(folder: Path, n_images: int = 6) -> None:
    """Batches in the layout of the CIFAR-10 python version: a dict of uint8 rows and int labels."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in CIFAR_FILES:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, n_images)],
            b"data": rng.integers(0, 256, (n_images, 3072), dtype=np.uint8),
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


def _checkpoint(folder: Path, arch: str = "alexnet-digits", groups: int = 4) -> Path:
    rows = [{"groups": k, "top1": 0.5, "confidence": 0.5} for k in range(1, groups + 1)]
    return save_checkpoint(build_model(arch, groups), folder, rows, dataset="digits")


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    return err.strip().splitlines()[-1]


def test_cifar_batches_load_from_the_torchvision_folder(tmp_path: Path) -> None:
    _write_fake_cifar(tmp_path / "cifar-10-batches-py")
    data = load_dataset("cifar10", tmp_path)
    assert tuple(data.x_train.shape) == (30, 3, 32, 32)
    assert tuple(data.x_heldout.shape) == (6, 3, 32, 32)
    assert float(data.x_train.mean()) == pytest.approx(0.0, abs=1e-5)


def test_train_on_cifar_writes_a_checkpoint_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_fake_cifar(tmp_path / "data")
    out = tmp_path / "run"
    argv = ["dnn", "train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "data"), "--epochs", "1"]
    assert main([*argv, "--threads", "1", "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [row["groups"] for row in printed["rows"]] == [1, 2, 3, 4]
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.csv", "meta.json", "model.pt"]
    assert (out / "accuracy.csv").read_text().splitlines()[0] == "groups,top1,confidence"
    model, info = load_checkpoint(out)
    assert (info.arch, info.dataset, model.input_shape) == ("alexnet-cifar", "cifar10", (3, 32, 32))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left


def test_missing_data_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    code = main(
        ["dnn", "train", "--dataset", "cifar10", "--data-dir", str(missing), "--out", str(tmp_path / "o")]
    )
    assert code == 2
    assert (
        _error(capsys)
        == f"dynscale: error: {missing}: data folder not found (expected the CIFAR-10 python batches there)"
    )
    assert not (tmp_path / "o").exists()


def test_missing_batches_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_fake_cifar(tmp_path / "data")
    (tmp_path / "data" / "data_batch_3").unlink()
    (tmp_path / "data" / "test_batch").unlink()
    assert (
        main(["dnn", "train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "data"), "--out", "x"])
        == 2
    )
    assert _error(capsys).startswith(
        f"dynscale: error: {tmp_path / 'data'}: CIFAR-10 python batches missing: data_batch_3, test_batch"
    )


def test_a_batch_that_would_run_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_fake_cifar(tmp_path)
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": print}))
    assert main(["dnn", "train", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--out", "x"]) == 2
    assert "data_batch_1: not a CIFAR-10 python batch (UnpicklingError: global builtins.print" in _error(
        capsys
    )


def test_train_refuses_to_replace_a_folder_that_is_not_a_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_fake_cifar(tmp_path / "data")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    argv = ["dnn", "train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "data"), "--epochs", "1"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert _error(capsys).endswith("out: exists and is not a dnn checkpoint folder; refusing to replace it")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]


def test_checkpoint_of_another_arch_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _checkpoint(tmp_path / "ckpt")
    assert main(["dnn", "bench", "--arch", "alexnet-cifar", "--checkpoint", str(folder)]) == 2
    assert _error(capsys) == (
        f"dynscale: error: {folder / 'meta.json'}: field 'arch': checkpoint has 'alexnet-digits', "
        "expected 'alexnet-cifar'"
    )


def test_checkpoint_of_another_g_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _checkpoint(tmp_path / "ckpt")
    assert main(["dnn", "bench", "--groups", "2", "--checkpoint", str(folder)]) == 2
    assert (
        _error(capsys)
        == f"dynscale: error: {folder / 'meta.json'}: field 'groups': checkpoint has 4, expected 2"
    )


def test_weights_of_another_g_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _checkpoint(tmp_path / "ckpt", groups=2)
    meta = json.loads((folder / "meta.json").read_text())
    meta["groups"] = 4  # meta.json and weights now disagree
    (folder / "meta.json").write_text(json.dumps(meta))
    assert main(["dnn", "bench", "--checkpoint", str(folder)]) == 2
    assert _error(capsys) == (
        f"dynscale: error: {folder / 'model.pt'}: field 'layers.1.weight': shape (32, 8, 3, 3) does not fit "
        "meta.json (alexnet-digits, G=4, group), which needs (32, 4, 3, 3)"
    )


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "model.pt").write_bytes(b"\x00garbage"), "model.pt: corrupt or not torch weights"),
        (lambda f: (f / "meta.json").write_text('{"format": \n  oops}'), "meta.json:2: not valid JSON ("),
        (lambda f: (f / "model.pt").unlink(), "model.pt: missing"),
        (
            lambda f: (f / "accuracy.csv").write_text("groups,top1,confidence\n1,1.5,0.2\n"),
            "accuracy.csv:2: field 'top1': '1.5' is not in [0, 1]",
        ),
    ],
)
def test_damaged_checkpoint_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage, message
) -> None:
    folder = _checkpoint(tmp_path / "ckpt")
    damage(folder)
    assert main(["dnn", "bench", "--checkpoint", str(folder)]) == 2
    line = _error(capsys)
    assert line.startswith(f"dynscale: error: {folder}/") and message in line
    assert "weights_only" not in line  # torch's advice to load unsafely is never relayed


def test_missing_checkpoint_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dnn", "bench", "--checkpoint", str(tmp_path / "none")]) == 2
    assert _error(capsys) == f"dynscale: error: {tmp_path / 'none'}: checkpoint folder not found"


def test_bench_reports_ratios_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _checkpoint(tmp_path / "ckpt")
    assert main(["dnn", "bench", "--checkpoint", str(folder), "--runs", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["latency_ratio_vs_static"]) == 4
    assert result["switch_us"] > 0
    assert result["footprint_ratio"] == pytest.approx(
        result["static_param_bytes"] / result["dynamic_param_bytes"]
    )
    assert result["footprint_ratio"] >= 2.4
