"""Sweep SPECs are checked before any Ray or training work; the summary's interval; hyperparameter files.

No Ray cluster starts here (``test_sweep.py`` runs the sweeps themselves).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from controllers._hyperparams_file import read_hyperparams_file
from controllers._sweep_report import _interval
from controllers._sweep_spec import read_spec
from controllers.errors import ControllerError
from dynscale.cli import main
from platform_models import load_platform
from platform_models.store import shipped_platforms
from tests.support import TINY, write_tiny_traces

ROOT = Path(__file__).resolve().parent.parent


def _write(folder: Path, text: str) -> Path:
    path = folder / "spec.yml"
    path.write_text(text)
    return path


def test_the_shipped_specs_are_valid_and_say_what_their_names_say():
    seeds = read_spec(ROOT / "sweeps" / "seeds.yml")
    assert seeds.platforms == list(shipped_platforms()) and seeds.seeds == [0, 1, 2]
    assert seeds.n_trials == 3 * len(shipped_platforms()) and seeds.samples is None
    assert not (seeds.fixed or seeds.grid or seeds.space or seeds.traces or seeds.eval_traces)
    tune = read_spec(ROOT / "sweeps" / "tune-xu3.yml")
    assert tune.platforms == ["odroid-xu3"] and tune.samples == 8 and tune.asha
    assert tune.space["learning_rate"] == ("loguniform", [3.0e-5, 1.0e-3])
    assert tune.grid == {"n_steps": [128, 256]} and tune.fixed["pretrain_steps"] == 20000


def test_a_grid_is_every_combination_and_traces_go_to_their_platform(tmp_path):
    traces = write_tiny_traces(load_platform(TINY), tmp_path)
    spec = read_spec(
        _write(
            tmp_path,
            f"platforms: [{TINY}, odroid-xu3]\nalgos: [ppo, maskable-ppo]\nseeds: [0, 1, 2]\n"
            f"timesteps: [256, 512]\ntraces: [{traces[0]}, traces/data/odroid-xu3/ramp-train-s4.csv]\n"
            "hyperparams:\n  n_steps: 64\n  learning_rate: [1.0e-4, 3.0e-4]\n",
        )
    )
    assert spec.n_trials == 2 * 2 * 3 * 2 * 2
    assert spec.fixed == {"n_steps": 64} and spec.grid == {"learning_rate": [1.0e-4, 3.0e-4]}
    assert spec.traces["tiny"] == [str(Path(traces[0]).resolve())]
    assert spec.traces["odroid-xu3"] == [str((ROOT / "traces/data/odroid-xu3/ramp-train-s4.csv").resolve())]
    assert spec.eval_traces == {}  # the shipped eval split, as `dynscale train` / `evaluate` default


BAD_SPECS = [
    ("platforms: [nosuch]\n", "1: field 'platforms': nosuch: no such platform"),
    ("seeds: [0]\n", "1: field 'platforms': missing: at least one platform"),
    ("platforms: [odroid-xu3]\nseed: 3\n", "2: field 'seed': unknown key (expected one of platforms, "),
    ("platforms: [odroid-xu3]\nseeds: [0, -1]\n", "2: field 'seeds': expected an integer >= 0, got -1"),
    (
        "platforms: [odroid-xu3]\nalgos: [a2c]\n",
        "2: field 'algos': expected one of ppo, maskable-ppo, dqn, got 'a2c'",
    ),
    ("platforms: [odroid-xu3]\ntimesteps: 0\n", "2: field 'timesteps': expected an integer >= 1, got 0"),
    (
        "platforms: [odroid-xu3]\nhyperparams:\n  n_steps: 64\n  bogus_key: 1\n",
        "4: field 'hyperparams.bogus_key': not a hyperparameter of maskable-ppo",
    ),
    (
        "platforms: [odroid-xu3]\nhyperparams:\n  gamma: {uniform: [0.8, 0.99]}\n",
        "3: field 'hyperparams.gamma': a distribution needs a 'search' block",
    ),
    (
        "platforms: [odroid-xu3]\nhyperparams:\n  learning_rate: {loguniform: [0, 0.1]}\n"
        "search: {samples: 2}\n",
        "3: field 'hyperparams.learning_rate': loguniform: "
        "expected [low, high] with 0 < low < high, got [0, 0.1]",
    ),
    (
        "platforms: [odroid-xu3]\nseeds: [0, 1]\nsearch: {samples: 4}\n",
        "2: field 'seeds': a search tunes one value, got 2",
    ),
    (
        "platforms: [odroid-xu3]\nsearch: {samples: 0}\n",
        "2: field 'search.samples': expected an integer >= 1, got 0",
    ),
    ("platforms: [odroid-xu3]\ntraces: [nope.csv]\n", "2: field 'traces': no such trace file: 'nope.csv'"),
    (
        "platforms: [odroid-xu3]\neval_traces: [traces/data/jetson-nano/ramp-eval-s114.csv]\n",
        "2: field 'eval_traces': none of the listed traces is for platform 'odroid-xu3'",
    ),
    ("platforms: [odroid-xu3\n", "2: not valid YAML"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_SPECS)
def test_a_bad_spec_is_one_line_naming_file_line_and_field_and_leaves_nothing(
    text, expected, tmp_path, capsys
):
    spec = _write(tmp_path, text)
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dynscale: error: {spec}:{expected}")
    assert err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            ["--address", "127.0.0.1:1"],
            "--address 127.0.0.1:1: cannot reach 127.0.0.1:1 (Connection refused); "
            "is `ray start --head` running there, and the port open?",
        ),
        (
            ["--address", "somewhere"],
            "--address: expected auto, HOST:PORT or ray://HOST:PORT, got 'somewhere'",
        ),
    ],
)
def test_a_bad_flag_fails_before_any_work_and_leaves_no_dir(flags, expected, tmp_path, capsys):
    spec = _write(tmp_path, f"platforms: [{TINY}]\n")
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), *flags]) == 2
    assert capsys.readouterr().err == f"dynscale: error: {expected}\n"
    assert not out.exists()


def test_resume_needs_a_sweep_to_resume(tmp_path, capsys):
    spec = _write(tmp_path, f"platforms: [{TINY}]\n")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "holds no sweep to resume (start it without --resume)" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["evaluate", "--platform", str(TINY), "--workers", "0"],
                                  ["sweep", "spec.yml", "--out", "x", "--max-concurrent", "0"]])
def test_zero_workers_or_trials_at_once_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse checks the range, before any work
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(": expected an integer >= 1, got '0'")


def test_the_95_percent_interval_is_students_t_across_seeds():
    mean, half = _interval([1.0, 2.0, 3.0, math.nan])  # NaN: a seed that did not finish
    assert mean == 2.0 and half == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert math.isnan(_interval([5.0])[1]) and math.isnan(_interval([])[0])


def test_a_hyperparams_file_is_a_mapping_and_a_bad_one_is_one_line(tmp_path, capsys):
    good = tmp_path / "best.yml"
    good.write_text("# a comment\nn_steps: 64\npolicy_kwargs:\n  net_arch: [16]\n")
    assert read_hyperparams_file(good) == {"n_steps": 64, "policy_kwargs": {"net_arch": [16]}}
    bad = tmp_path / "bad.yml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ControllerError, match=r"^.*bad\.yml:1: expected a mapping of hyperparameter names"):
        read_hyperparams_file(bad)
    argv = ["train", "--platform", str(TINY), "--out", str(tmp_path / "run"), "--hyperparams-file", str(bad)]
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "run").exists()
