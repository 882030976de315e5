"""Training produces an RL-Zoo-style run folder, resumes, and exports a policy the board runs with numpy."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from controllers import make_controller
from dynscale.cli import main
from tests.support import TINY, write_tiny_traces

SMALL = ["--hyperparams", "n_envs=1", "n_steps=64", "batch_size=64", "n_epochs=2", "pretrain_steps=0"]


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    """A MaskablePPO run of 256 timesteps on two 2-second traces of the tiny platform."""
    folder = tmp_path_factory.mktemp("train")
    traces = write_tiny_traces(tiny, folder)
    run = folder / "run"
    argv = [
        "train",
        "--platform",
        str(TINY),
        "--traces",
        *traces,
        "--algo",
        "maskable-ppo",
        "--timesteps",
        "256",
        "--out",
        str(run),
        "--eval-freq",
        "128",
        "--save-freq",
        "128",
        "--json",
        *SMALL,
    ]
    assert main(argv) == 0
    return run, traces, argv


def test_a_tiny_training_run_produces_a_complete_run_folder(trained):
    run, _, _ = trained
    for name in (
        "model.zip",
        "best_model.zip",
        "evaluations.npz",
        "config.yml",
        "checkpoints/ckpt_256_steps.zip",
    ):
        assert (run / name).is_file(), name
    config = yaml.safe_load((run / "config.yml").read_text())
    assert config["platform"] == "tiny" and config["algo"] == "maskable-ppo"
    assert config["observation_version"] == "dynscale-obs-2" and config["n_actions"] == 36
    assert config["trained_timesteps"] == 256 and config["hyperparams"]["n_steps"] == 64
    assert np.load(run / "evaluations.npz")["timesteps"].tolist() == [128, 256]
    assert list((run / "tb").rglob("events.out.tfevents.*"))


def test_resume_continues_the_timestep_count_after_an_interruption(trained, tmp_path, capsys):
    run, _, argv = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "model.zip").unlink()  # interrupted before the final save
    argv = [*argv[: argv.index("--out") + 1], str(copy), *argv[argv.index("--out") + 2 :]]
    argv[argv.index("--timesteps") + 1] = "384"
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["trained_timesteps"] == 384  # 256 from the checkpoint + 128
    assert (copy / "model.zip").is_file()


def test_a_second_train_into_the_same_folder_is_refused(trained, capsys):
    _, _, argv = trained
    assert main(argv) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("already holds a run (use --resume to continue it, or another --out)")
    )


def random_observations(size, n, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.2, size=(n, size)).astype(np.float32)


@pytest.mark.parametrize("algo", ["maskable-ppo", "ppo", "dqn"])
def test_exported_policy_picks_the_same_actions_as_sb3_on_1000_observations(algo, tiny, trained, tmp_path):
    from controllers._learned import LearnedController

    run, traces, _ = trained
    if algo != "maskable-ppo":  # untrained weights are as good as any for parity
        run = tmp_path / algo
        argv = [
            "train",
            "--platform",
            str(TINY),
            "--traces",
            traces[0],
            "--algo",
            algo,
            "--timesteps",
            "64",
            "--out",
            str(run),
            "--eval-freq",
            "1000",
            "--json",
            "--hyperparams",
            "n_envs=1",
        ]
        ppo_only = ["n_steps=64", "batch_size=64", "pretrain_steps=0"] if algo == "ppo" else []
        assert main([*argv, *ppo_only]) == 0
    assert main(["export", str(run), "--out", str(tmp_path / "policy.npz"), "--json"]) == 0
    policy = make_controller(str(tmp_path / "policy.npz"), tiny)
    sb3 = LearnedController(tiny, run)  # the SB3 model, behind the run's frozen normalisation
    assert sb3.config["normalization"] is not None
    rng = np.random.default_rng(1)
    masks = rng.uniform(size=(1000, 36)) < 0.6
    masks[:, 0] = True
    # only MaskablePPO masks in SB3; the exported PPO/DQN policy masks when given a mask, so none here
    infos = [{"action_mask": m} if algo == "maskable-ppo" else None for m in masks]
    observations = random_observations(policy.spec.size, 1000)
    picks = [
        (sb3.act(obs, info), policy.act(obs, info)) for obs, info in zip(observations, infos, strict=True)
    ]
    assert all(a == b for a, b in picks)
    if algo == "maskable-ppo":
        assert all(masks[i, a] for i, (a, _) in enumerate(picks))


def bad_input(argv, capsys) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err.strip()


def test_a_run_for_another_platform_or_layout_is_refused(trained, tmp_path, capsys):
    run, traces, _ = trained
    for field, value in (("platform", "odroid-xu3"), ("observation_version", "dynscale-obs-1")):
        copy = tmp_path / field
        shutil.copytree(run, copy)
        config = yaml.safe_load((copy / "config.yml").read_text())
        config[field] = value
        (copy / "config.yml").write_text(yaml.safe_dump(config))
        err = bad_input(
            ["evaluate", "--platform", str(TINY), "--traces", traces[0], "--controllers", str(copy)], capsys
        )
        assert f"config.yml: field '{field}': trained for '{value}'" in err


def test_a_corrupt_model_or_policy_file_is_refused(trained, tmp_path, capsys):
    run, traces, _ = trained
    copy = tmp_path / "corrupt"
    shutil.copytree(run, copy)
    (copy / "best_model.zip").write_bytes(b"not a zip")
    err = bad_input(
        ["evaluate", "--platform", str(TINY), "--traces", traces[0], "--controllers", str(copy)], capsys
    )
    assert err.endswith("corrupt/best_model.zip: corrupt or not a stable-baselines3 model file")
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    err = bad_input(
        ["replay", "--platform", str(TINY), "--trace", traces[0], "--controller", str(tmp_path / "bad.npz")],
        capsys,
    )
    assert err.endswith("bad.npz: corrupt or not a dynscale policy file (not a NumPy .npz archive)")
    assert "allow_pickle" not in err


def test_dagger_rounds_add_the_states_the_cloned_policy_visits(tiny, tmp_path):
    traces = write_tiny_traces(tiny, tmp_path)
    run = tmp_path / "dagger"
    argv = ["train", "--platform", str(TINY), "--traces", traces[0], "--out", str(run), "--json",
            "--hyperparams", "n_envs=1", "n_timesteps=0", "pretrain_steps=150", "pretrain_traces=0",
            "pretrain_epochs=2", "dagger_rounds=2", "dagger_steps=50", "dagger_epochs=1"]
    assert main(argv) == 0
    config = yaml.safe_load((run / "config.yml").read_text())
    # the oracle's path: at least the normaliser's 2,000 steps; then 2 rounds of 50 on the learner's
    assert config["pretrain"]["steps"] == 2000 + 2 * 50 and config["pretrain"]["dagger_rounds"] == 2
    assert config["trained_timesteps"] == 0 and config["train_wall_s"] > 0
    assert (run / "best_model.zip").is_file()


def test_the_shipped_policy_runs_as_learned_and_carries_its_provenance(trained, tiny, tmp_path, monkeypatch):
    import controllers._policy
    from controllers import ControllerError, evaluate, read_policy
    from controllers._export import export_policy

    run, traces, _ = trained
    with pytest.raises(ControllerError, match=r"^controller 'learned': no shipped policy for "
                       r"platform 'tiny' \(shipped: .*\); train one"):
        make_controller("learned", tiny)
    monkeypatch.setattr(controllers._policy, "POLICIES_DIR", tmp_path)
    export_policy(run, tmp_path / "tiny.npz", provenance={"seed": 0, "gap_closed": {"eval": 0.5}})
    assert read_policy(tmp_path / "tiny.npz")[0]["provenance"]["seed"] == 0
    rows = evaluate(tiny, ["learned"], traces[:1]).rows
    assert [r["controller"] for r in rows if r["trace"] == "all"] == ["learned", "schedutil", "oracle"]
