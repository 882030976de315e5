"""Train's inputs checked before anything is built, and the number of timesteps it promises."""

from __future__ import annotations

import json

import pytest

from dynscale.cli import main
from tests.support import TINY, write_tiny_traces


@pytest.mark.parametrize(("override", "expected"), [
    ("n_steps=abc", "hyperparameter 'n_steps': expected an integer, got 'abc'"),
    ("bogus_key=1", "hyperparameter 'bogus_key': not one maskable-ppo takes"),
    ("n_stpes=64", "did you mean 'n_steps'?"),
    ("normalize=3", "hyperparameter 'normalize': expected true or false, got 3"),
    ("seed=3", "hyperparameter 'seed': not one maskable-ppo takes"),  # --seed says it
])
def test_bad_hyperparameters_fail_before_anything_is_built(override, expected, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--hyperparams", override]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err
    assert not run.exists()  # no folder left to block a rerun


def test_training_ends_at_the_number_it_promised(tiny, tmp_path, capsys):
    traces = write_tiny_traces(tiny, tmp_path)
    run = tmp_path / "run"
    # 100 asked, rollouts of 64: SB3 trains 128, so 128 is what the bar and the run folder promise.
    assert main(["train", "--platform", str(TINY), "--traces", *traces, "--algo", "ppo", "--timesteps", "100",
                 "--eval-freq", "1000", "--out", str(run), "--json", "--hyperparams", "n_envs=1",
                 "n_steps=64", "batch_size=64", "n_epochs=1", "pretrain_steps=0"]) == 0
    assert json.loads(capsys.readouterr().out)["trained_timesteps"] == 128
    assert "timesteps: 128" in (run / "config.yml").read_text()
