"""Sweeps on a real Ray: embedded, a two-node cluster started here, a killed driver resumed, failing trials.

Every sweep runs ``python -m dynscale sweep`` as a user does, in a process of its own, with a
temp dir, HOME and working directory of its own and a marker in its environment that every Ray
process it starts inherits: the tests then look for any such process left behind, and for any file
written outside DIR and the temp dir. Trials are tiny (256 timesteps, 2-second traces, the tiny
platform); the cluster is as small as Ray allows (one CPU per node). Slow: each Ray start takes
5-15 s on the 2-vCPU VM.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

from controllers import evaluate
from controllers._reaper import marked_pids, reap
from dynscale.cli import main
from platform_models import load_platform
from tests.support import TINY, open_terminal, read_terminal, write_tiny_traces

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

ROOT = Path(__file__).resolve().parent.parent
MARKER = "DYNSCALE_TEST_SWEEP"
SMALL = "  n_envs: 1\n  n_steps: 64\n  n_epochs: 2\n  pretrain_steps: 0\n  normalize: false\n"
SMALL += "  policy_kwargs: {net_arch: [16]}\n"


class Sandbox:
    """A temp dir (short: Ray's socket paths must fit 107 bytes), HOME and cwd, and the marker."""

    def __init__(self, root: Path) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="dsw", dir="/tmp"))
        self.home, self.cwd = root / "home", root / "cwd"
        self.home.mkdir()
        self.cwd.mkdir()
        self.marker = f"{MARKER}={uuid.uuid4().hex}"
        self.env = {
            **os.environ,
            "TMPDIR": str(self.tmp),
            "HOME": str(self.home),
            "PYTHONPATH": str(ROOT),
            MARKER: self.marker.split("=")[1],
        }
        self.env.pop("RAY_ADDRESS", None)

    def dynscale(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "dynscale", *args], cwd=self.cwd, env=self.env, text=True, **kwargs
        )

    def sweep(self, spec: Path, out: Path, *flags: str, **kwargs) -> subprocess.Popen:
        return self.dynscale("sweep", str(spec), "--out", str(out), *flags, **kwargs)

    def leftovers(self, wait_s: float = 20.0) -> list[str]:
        """Processes still carrying the marker, naming this temp dir or holding a file in it (every Ray
        process holds its log files in the session folder there), after up to ``wait_s``."""
        deadline = time.monotonic() + wait_s
        while True:
            found = [f"pid {p} (marked)" for p in marked_pids(self.marker)]
            found += [f"pid {p} (files in {self.tmp})" for p in _holding_files_under(self.tmp)]
            ps = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True).stdout
            found += [line for line in ps.splitlines() if str(self.tmp) in line and " Z" not in line]
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    def close(self) -> None:
        reap(self.marker)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _holding_files_under(folder: Path) -> list[int]:
    """Processes with a file under ``folder`` open: found even when a process title overwrote the
    environment that ``marked_pids`` reads."""
    found = []
    for fds in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd).startswith(f"{folder}/") for fd in fds.iterdir()):
                found.append(int(fds.parent.name))
        except OSError:  # gone meanwhile, or another user's
            continue
    return found


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep-files")
    tiny = load_platform(TINY)
    train = write_tiny_traces(tiny, folder)[:1]
    import traces

    held_out = folder / "held-out.csv"
    traces.save_trace(traces.generate("bursty", tiny, seed=7, duration_s=2.0, split="eval"), held_out)
    return {"train": train[0], "eval": str(held_out), "folder": folder}


def grid_spec(files, folder: Path, batch_sizes: str) -> Path:
    """2 seeds x 2 batch sizes of MaskablePPO, 256 timesteps each, on the tiny platform."""
    path = folder / "spec.yml"
    path.write_text(
        f"platforms: [{TINY}]\nseeds: [0, 1]\ntimesteps: 256\ntraces: [{files['train']}]\n"
        f"eval_traces: [{files['eval']}]\nhyperparams:\n{SMALL}  batch_size: {batch_sizes}\n"
    )
    return path


def evaluate_argv(traces: list[str], controllers: str, *flags: str) -> list[str]:
    """`dynscale evaluate` of ``controllers`` on the tiny platform, 2 episodes per trace."""
    return [
        "evaluate",
        "--platform",
        str(TINY),
        "--traces",
        *traces,
        "--controllers",
        controllers,
        "--episodes",
        "2",
        *flags,
    ]


def read_trials(out: Path) -> list[dict[str, str]]:
    with open(out / "trials.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def embedded(files, tmp_path_factory):
    """A 4-trial sweep on the embedded Ray: batch size 1 makes the policy's logits NaN, so 2 trials fail."""
    root = tmp_path_factory.mktemp("embedded")
    box = Sandbox(root)
    spec = grid_spec(files, root, "[64, 1]")
    out = box.cwd / "sweep"
    proc = box.sweep(spec, out, "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = proc.communicate(timeout=600)
    left = box.leftovers()
    yield {"rc": proc.returncode, "json": stdout, "stderr": stderr, "out": out, "box": box, "left": left}
    box.close()


def test_a_four_trial_sweep_records_every_trial_and_goes_on_after_failures(embedded):
    assert embedded["rc"] == 0, embedded["stderr"]
    report = json.loads(embedded["json"])
    assert (report["done"], report["failed"]) == (2, 2)
    rows = read_trials(embedded["out"])
    assert [(r["seed"], r["batch_size"]) for r in rows] == [("0", "64"), ("0", "1"), ("1", "64"), ("1", "1")]
    for row in rows:
        run = Path(row["run_dir"])
        assert run.parent == embedded["out"] / "runs" and (run / "config.yml").is_file()
        if row["batch_size"] == "1":  # retried once, then recorded with its one error line
            assert row["status"] == "failed" and row["attempts"] == "2"
            assert row["error"].startswith("ValueError: Expected parameter logits")
            assert math.isnan(float(row["reward"]))
        else:
            assert row["status"] == "done" and row["attempts"] == "1" and row["error"] == ""
            assert (run / "model.zip").is_file() and (run / "evaluations.npz").is_file()
            assert math.isfinite(float(row["reward"])) and math.isfinite(float(row["gap_closed"]))
            assert 0 <= float(row["budget_met_rate"]) <= 1 and float(row["train_time_s"]) > 0


def test_the_trial_is_the_train_and_evaluate_verbs(embedded, tmp_path):
    """A trial's figures are what `dynscale evaluate` prints for its run folder on the held-out trace."""
    row = read_trials(embedded["out"])[0]
    config = yaml.safe_load((Path(row["run_dir"]) / "config.yml").read_text())
    assert config["hyperparams"]["batch_size"] == 64 and config["trained_timesteps"] == 256
    spec = yaml.safe_load((embedded["out"] / "spec.yml").read_text())
    evaluation = evaluate(str(TINY), [row["run_dir"]], spec["eval_traces"], seed=0)
    mine = next(r for r in evaluation.rows if r["controller"] == "maskable-ppo" and r["trace"] == "all")
    assert float(row["reward"]) == mine["reward"] and float(row["gap_closed"]) == mine["gap_closed"]


def test_summary_plots_and_best_file(embedded, tmp_path):
    out = embedded["out"]
    rows = [r for r in read_trials(out) if r["status"] == "done"]
    mean = sum(float(r["reward"]) for r in rows) / 2
    summary = (out / "summary.md").read_text()
    assert "4 trials: 2 done, 0 stopped early, 2 failed" in summary
    line = next(x for x in summary.splitlines() if x.startswith("| maskable-ppo | 256 | 64 |"))
    assert line.split(" | ")[3:5] == ["2", "0"] and f"{mean:.3g} ± " in line
    assert "| maskable-ppo | 256 | 1 | 0 | 2 |" in summary
    for png in ("learning_curves.png", "scores.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = out / "best" / "tiny.yml"
    assert "--hyperparams-file" in best.read_text().splitlines()[1]
    run = tmp_path / "from-best"
    argv = ["train", "--platform", str(TINY), "--out", str(run), "--hyperparams-file", str(best)]
    spec = yaml.safe_load((out / "spec.yml").read_text())
    assert main([*argv, "--traces", *spec["traces"], "--json", "--hyperparams", "n_epochs=1"]) == 0
    trained = yaml.safe_load((run / "config.yml").read_text())["hyperparams"]
    assert trained == {**yaml.safe_load(best.read_text()), "n_epochs": 1}


def test_quiet_and_clean_no_tables_no_ray_process_no_file_outside_dir(embedded):
    assert embedded["stderr"] == ""  # not a terminal: no progress line, and never Tune's tables
    assert embedded["left"] == []
    box = embedded["box"]
    # No ~/.ray/auth_token, no ~/ray_results; matplotlib's font cache is the plots' (evaluate --out's too).
    written = {str(p.relative_to(box.home)) for p in box.home.rglob("*") if p.is_file()}
    assert written <= {".cache/matplotlib/fontlist-v3.11.0.json"}
    assert [p.name for p in box.cwd.iterdir()] == ["sweep"]


def _wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def _finished(out: Path) -> dict[str, tuple[str, int]]:
    """The finished trials of the sweep in ``out``: run folder name -> (trial.yml, model.zip's mtime)."""
    return {
        p.parent.name: (p.read_text(), (p.parent / "model.zip").stat().st_mtime_ns)
        for p in out.glob("runs/*/trial.yml")
    }


def _stop_after_a_trial(box: Sandbox, spec: Path, out: Path, stop) -> tuple[int, str, dict]:
    """Start the sweep one trial at a time (the driver in a process group of its own, as a shell
    starts a command) and ``stop(driver)`` once a trial has finished and the next one runs: the
    driver's exit status, its stderr, and the trials finished by then."""
    with open(box.tmp / "driver.err", "w+") as err:
        driver = box.sweep(
            spec, out, "--max-concurrent", "1", stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
        assert _wait_for(lambda: len(_finished(out)) >= 1, 400)
        stop(driver)
        driver.wait(timeout=120)
        err.seek(0)
        stderr = err.read()
    before = _finished(out)
    assert 1 <= len(before) < 4
    assert box.leftovers() == []
    assert not (out / "trials.csv").exists()
    return driver.returncode, stderr, before


def _resume_keeps_the_finished_trials(box: Sandbox, spec: Path, out: Path, before: dict) -> None:
    """``--resume`` with stderr on a terminal (the one progress line) runs the 4 trials' rest: the
    ``before`` ones are not trained again and keep their figures; no Ray process is left."""
    rc, stdout, terminal = _on_a_terminal(box, "sweep", str(spec), "--out", str(out), "--resume")
    assert rc == 0, terminal
    assert "sweep: 4/4 done, 0 running, 0 failed" in terminal and "Trial" not in terminal
    assert stdout.startswith("4 trials: 4 done, 0 stopped early, 0 failed")

    rows = read_trials(out)
    assert sorted((r["seed"], r["batch_size"]) for r in rows) == [
        ("0", "32"),
        ("0", "64"),
        ("1", "32"),
        ("1", "64"),
    ]
    assert all(r["status"] == "done" and r["attempts"] == "1" for r in rows)
    after = _finished(out)
    for name, (text, mtime_ns) in before.items():  # not trained again, same figures
        assert after[name] == (text, mtime_ns)
        row = next(r for r in rows if Path(r["run_dir"]).name == name)
        assert float(row["reward"]) == yaml.safe_load(text)["reward"]
    assert len(list((out / "runs").iterdir())) == 4
    assert box.leftovers() == []


def test_a_killed_driver_leaves_a_sweep_that_resume_finishes_without_redoing_trials(files, tmp_path):
    box = Sandbox(tmp_path)
    try:
        spec, out = grid_spec(files, tmp_path, "[64, 32]"), box.cwd / "sweep"
        rc, _, before = _stop_after_a_trial(box, spec, out, lambda driver: driver.kill())
        assert rc == -signal.SIGKILL
        _resume_keeps_the_finished_trials(box, spec, out, before)
    finally:
        box.close()


def test_ctrl_c_stops_a_sweep_in_one_line_and_resume_finishes_it(files, tmp_path):
    """Ctrl-C as a terminal sends it: SIGINT to the driver's process group."""
    box = Sandbox(tmp_path)
    try:
        spec, out = grid_spec(files, tmp_path, "[64, 32]"), box.cwd / "sweep"
        rc, stderr, before = _stop_after_a_trial(
            box, spec, out, lambda driver: os.killpg(driver.pid, signal.SIGINT)
        )
        assert (rc, stderr) == (
            130,
            f"dynscale: sweep stopped; finish it with: dynscale sweep {spec} --out {out} --resume\n",
        )
        _resume_keeps_the_finished_trials(box, spec, out, before)
    finally:
        box.close()


def _on_a_terminal(box: Sandbox, *args: str) -> tuple[int, str, str]:
    """``dynscale ARGS`` with stderr on a terminal: exit status, stdout, what the terminal showed."""
    master, slave = open_terminal()
    proc = box.dynscale(*args, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []
    reader = threading.Thread(target=read_terminal, args=(master, chunks), daemon=True)
    reader.start()
    stdout, _ = proc.communicate(timeout=600)
    reader.join(timeout=10)
    os.close(master)
    return proc.returncode, stdout, b"".join(chunks).decode()


def _ray(box: Sandbox, *args: str) -> None:
    ray = Path(sys.executable).parent / "ray"
    env = {**box.env, "SPT_NOENV": "1"}  # keeps the marker readable for close(), as the sweep does its own
    subprocess.run([str(ray), *args], env=env, cwd=box.cwd, check=True, capture_output=True, timeout=180)


def test_a_two_node_cluster_runs_a_search_and_a_parallel_evaluation(files, tmp_path, capsys):
    """`ray start --head` + a second `ray start --address` on this machine, one CPU each, then stopped."""
    box = Sandbox(tmp_path)
    box.env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=uuid.uuid4().hex * 2, RAY_USAGE_STATS_ENABLED="0")
    port = 20000 + os.getpid() % 20000
    address = f"127.0.0.1:{port}"
    try:
        _ray(
            box,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=1",
            '--resources={"head_node": 1}',
            "--include-dashboard=false",
            "--disable-usage-stats",
        )
        _ray(box, "start", f"--address={address}", "--num-cpus=1", '--resources={"second_node": 1}')
        spec = tmp_path / "search.yml"
        spec.write_text(
            f"platforms: [{TINY}]\ntimesteps: 256\ntraces: [{files['train']}]\n"
            f"eval_traces: [{files['eval']}]\n"
            f"hyperparams:\n{SMALL}  batch_size: 64\n  learning_rate: {{loguniform: [1.0e-4, 1.0e-2]}}\n"
            "search: {samples: 2, asha: true}\n"
        )
        out = box.cwd / "search"
        proc = box.sweep(
            spec,
            out,
            "--address",
            address,
            "--json",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
        rows = read_trials(out)
        statuses = sorted(r["status"] for r in rows)  # ASHA may stop the weaker one at a rung
        assert statuses in (["done", "done"], ["done", "stopped early"])
        assert len({r["learning_rate"] for r in rows}) == 2  # sampled by TPE, not a grid
        assert len({r["node_id"] for r in rows}) == 2  # one trial on each node
        assert "TPE search of 2 samples" in (out / "summary.md").read_text()

        run = next(r["run_dir"] for r in rows if r["status"] == "done")
        argv = evaluate_argv([files["eval"]], f"{run},lookup,reactive", "--json")
        parallel = box.dynscale(
            *argv, "--workers", "2", "--address", address, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        parallel_out, parallel_err = parallel.communicate(timeout=300)
        assert parallel_err == ""  # --json: no progress bar
        assert main(argv) == 0
        assert json.loads(parallel_out) == json.loads(capsys.readouterr().out)
    finally:
        box.close()  # not `ray stop`: it stops every Ray on the machine; the reaper stops ours only
    assert box.leftovers(wait_s=10) == []


def test_evaluate_with_workers_on_embedded_ray_prints_the_serial_table(files, tmp_path):
    box = Sandbox(tmp_path)
    try:
        argv = evaluate_argv([files["eval"], files["train"]], "lookup,reactive,performance")
        serial = box.dynscale(*argv, stdout=subprocess.PIPE)
        serial_out, _ = serial.communicate(timeout=300)
        rc, parallel_out, terminal = _on_a_terminal(box, *argv, "--workers", "2")
        assert rc == 0, terminal
        assert parallel_out == serial_out and "lookup" in serial_out
        # The bar, as serial evaluate's: 2 traces x 5 controllers (3 + oracle, schedutil) x 2 episodes.
        assert "evaluate: 100%" in terminal and "20/20 [" in terminal
        assert box.leftovers() == []
    finally:
        box.close()
