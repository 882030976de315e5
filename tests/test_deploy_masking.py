"""Action masking: controllers pick among the configurations ``info["action_mask"]`` allows, and the
live agent masks the PEs it cannot run the DNN on (a GPU without a torch backend), falling back to
the nearest allowed configuration when a controller insists."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from controllers import Controller, make_controller, nearest_allowed
from dynscale.cli import main
from hw_agents import agent as agent_module
from hw_agents import open_board
from hw_agents.agent import deploy, masked_pes
from hw_agents.errors import BoardError
from platform_models import load_platform
from tests.fake_sysfs import make_nano_tree, make_xu3_tree
from tests.support import observation
from traces import Trace, save_trace


def no_gpu(platform) -> np.ndarray:
    return np.array([c.pe != "gpu" for c in platform.configs()])


def picked(platform, controller, obs, mask):
    return platform.configs()[controller.act(obs, {"action_mask": mask})]


def test_nearest_allowed_keeps_the_groups_and_the_share_of_the_top_frequency(tiny):
    mask = no_gpu(tiny)
    top, low = (make_controller("lookup", tiny).action(2, "gpu", freq) for freq in (600.0, 200.0))
    # big is the fastest CPU PE; 600 of 600 MHz -> 2000 of 2000; 200/600 of 2000 = 667 -> 800 (closest)
    assert tiny.configs()[nearest_allowed(tiny, top, mask)] == (2, "big", 2000.0)
    assert tiny.configs()[nearest_allowed(tiny, low, mask)] == (2, "big", 800.0)
    assert nearest_allowed(tiny, top, ~mask) == top  # allowed: unchanged


@pytest.mark.parametrize("name", ["performance", "powersave", "ondemand", "schedutil", "static:4:gpu:600"])
def test_governors_and_static_leave_a_masked_pe(tiny, name):
    obs = observation(tiny, pe="gpu")
    assert picked(tiny, make_controller(name, tiny), obs, np.ones(len(tiny.configs()), bool)).pe == "gpu"
    chosen = picked(tiny, make_controller(name, tiny), obs, no_gpu(tiny))
    assert chosen.pe == "big" and chosen.groups == 4


def test_lookup_picks_among_allowed_configurations_only(tiny):
    lookup = make_controller("lookup", tiny)
    obs = observation(tiny, latency_budget_ms=12.0)
    assert picked(tiny, lookup, obs, None).pe == "gpu"
    assert picked(tiny, lookup, obs, no_gpu(tiny)).pe != "gpu"
    only_little = np.array([c.pe == "little" for c in tiny.configs()])
    assert picked(tiny, lookup, observation(tiny, latency_budget_ms=0.5), only_little).pe == "little"


def test_reactive_never_runs_a_masked_level(tiny):
    reactive = make_controller("reactive", tiny)
    assert any(tiny.configs()[level].pe == "gpu" for level in reactive.levels)
    mask = no_gpu(tiny)
    for last_ms in [1.0] * 30 + [50.0] * 30:  # slack climbs every level, misses walk back down
        obs = observation(tiny, latency_budget_ms=10.0, last=(last_ms, np.nan, np.nan))
        assert mask[reactive.act(obs, {"action_mask": mask})]


def test_the_xu3_mali_is_masked_for_want_of_a_torch_backend(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(agent_module, "gpu_unavailable", lambda: "no torch backend for this GPU")
    board = open_board("odroid-xu3", sysfs_root=make_xu3_tree(tmp_path / "fs"), monitor_only=True)
    assert masked_pes(board, load_platform("odroid-xu3")) == {"gpu": "no torch backend for this GPU"}


# --- deploy on a fake Jetson Nano --------------------------------------------------------------


@pytest.fixture
def nano(tmp_path: Path) -> Path:
    """A fake Nano tree with this machine's /proc/stat copied in (a snapshot: its load reads idle)."""
    root = make_nano_tree(tmp_path / "fs")
    (root / "proc").mkdir(exist_ok=True)
    shutil.copy("/proc/stat", root / "proc" / "stat")
    return root


@pytest.fixture
def nano_trace(tmp_path: Path) -> Path:
    trace = Trace(platform="jetson-nano", kind="steady", split="eval", frame_period_ms=100.0, duration_s=2.0,
                  time_s=[0.0], load={"a57": [0.0], "gpu": [0.0]}, latency_budget_ms=[200.0])
    return save_trace(trace, tmp_path / "nano-trace.csv")


def log_rows(out: Path) -> list[dict[str, str]]:
    with (out / "deploy-log.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("json_flag", [False, True])
def test_lookup_on_a_nano_without_cuda_runs_every_frame_on_the_a57(
    tmp_path: Path, nano: Path, nano_trace: Path, monkeypatch, capsys: pytest.CaptureFixture[str],
    json_flag: bool,
) -> None:
    monkeypatch.setattr(agent_module, "gpu_unavailable", lambda: "no torch backend for this GPU (test)")
    platform = load_platform("jetson-nano")
    # unmasked, the lookup would put this budget on the GPU: the mask is what keeps it off
    lookup = make_controller("lookup", platform)
    assert platform.configs()[lookup.act(observation(platform, latency_budget_ms=200.0))].pe == "gpu"
    out = tmp_path / "run"
    code = main(["deploy", "--board", "jetson-nano", "--sysfs-root", str(nano), "--controller", "lookup",
                 "--trace", str(nano_trace), "--duration", "2", "--no-load", "--out", str(out),
                 *(["--json"] if json_flag else [])])
    assert code == 0
    printed = capsys.readouterr()
    line = "gpu: no torch backend for this GPU (test); its configurations are masked"
    if json_flag:  # the notice goes to stderr, stdout stays one JSON document
        assert line in printed.err and json.loads(printed.out)["fallbacks"] == 0
    else:
        assert line in printed.out
    rows = log_rows(out)
    assert len(rows) == 20
    assert {r["pe"] for r in rows} == {"a57"}
    assert {r["fallback"] for r in rows} == {""}  # lookup honoured the mask by itself


class GpuOnly:
    """A controller that ignores the mask: always the full network on the GPU flat out."""

    name = "gpu-only"

    def __init__(self, platform) -> None:
        self.action = Controller(platform).action(4, "gpu", max(platform.pe("gpu").freqs_mhz))

    def reset(self) -> None:
        pass

    def act(self, obs, info=None) -> int:
        assert not info["action_mask"][self.action]
        return self.action


def test_a_controller_insisting_on_the_gpu_gets_the_fallback(tmp_path: Path, nano: Path, nano_trace: Path,
                                                              monkeypatch) -> None:
    monkeypatch.setattr(agent_module, "gpu_unavailable", lambda: "no torch backend (test)")
    from traces import load_trace

    platform = load_platform("jetson-nano")
    board = open_board("jetson-nano", sysfs_root=nano)
    summary = deploy(board, GpuOnly(platform), load_trace(nano_trace, platform), tmp_path / "run",
                     duration_s=1.0, platform=platform, replay_load=False, proc_root=nano / "proc")
    rows = log_rows(tmp_path / "run")
    assert summary.fallbacks == len(rows) == 10
    for row in rows:
        assert row["fallback"] == "4:gpu:921.6"
        # same groups, the only allowed PE, the same share (all) of its top frequency
        assert (row["groups"], row["pe"], float(row["freq_mhz"])) == ("4", "a57", 1479.0)


def test_a_runnable_gpu_is_unmasked_and_without_cuda_deploy_says_so(tmp_path: Path, nano: Path,
                                                                      nano_trace: Path, monkeypatch) -> None:
    import torch

    monkeypatch.setattr(agent_module, "gpu_unavailable", lambda: None)
    platform = load_platform("jetson-nano")
    board = open_board("jetson-nano", sysfs_root=nano)
    assert masked_pes(board, platform) == {}
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the GPU path would run")
    from traces import load_trace

    with pytest.raises(BoardError, match="cannot put the DNN on the GPU"):
        deploy(board, make_controller("lookup", platform), load_trace(nano_trace, platform), tmp_path / "run",
               duration_s=1.0, platform=platform, replay_load=False, proc_root=nano / "proc")
    assert not (tmp_path / "run" / "deploy-log.csv").exists()


def test_deploy_pes_keeps_the_dnn_on_the_named_cluster_and_refuses_an_unknown_pe(
    tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(agent_module, "gpu_unavailable", lambda: "no torch backend for this GPU (test)")
    root = make_xu3_tree(tmp_path / "fs")
    (root / "proc").mkdir(exist_ok=True)
    shutil.copy("/proc/stat", root / "proc" / "stat")
    trace = Trace(platform="odroid-xu3", kind="steady", split="eval", frame_period_ms=100.0, duration_s=1.0,
                  time_s=[0.0], load={"a7": [0.0], "a15": [0.0], "gpu": [0.0]}, latency_budget_ms=[500.0])
    trace_path = save_trace(trace, tmp_path / "xu3-trace.csv")
    common = ["deploy", "--board", "odroid-xu3", "--sysfs-root", str(root), "--controller", "lookup",
              "--trace", str(trace_path), "--duration", "1", "--no-load", "--monitor-only"]
    platform = load_platform("odroid-xu3")
    unrestricted = make_controller("lookup", platform).act(observation(platform, latency_budget_ms=500.0),
                                                           {"action_mask": no_gpu(platform)})
    assert platform.configs()[unrestricted].pe == "a15"  # --pes a7 is what keeps the DNN off it
    assert main([*common, "--pes", "a7", "--out", str(tmp_path / "run")]) == 0
    rows = log_rows(tmp_path / "run")
    assert len(rows) == 10 and {r["pe"] for r in rows} == {"a7"}
    capsys.readouterr()
    assert main([*common, "--pes", "a7,npu", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "odroid-xu3.yaml: field 'pes': platform odroid-xu3 has no PE npu" in err
    assert not (tmp_path / "bad").exists()
