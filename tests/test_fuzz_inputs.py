"""Fuzzing the files a user hands in (issue 14): broken variants of a shipped trace, a shipped platform
(descriptor and table), a run folder, an exported policy and a shipped sweep spec, fed to every verb
that reads them.

Every verb answers a broken file with exit 2 and one line naming the file, no traceback, nothing
written, within seconds; what ``validate`` accepts, the other verbs can use. CI runs a short,
derandomised budget; ``make fuzz`` (``DYNSCALE_FUZZ=long``) a long random one. The figures are in
docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynscale.cli import main
from platform_models.store import DATA_DIR
from tests.support import TINY, write_tiny_traces

LONG = os.environ.get("DYNSCALE_FUZZ") == "long"
# Per test: examples in CI (the whole file adds well under a minute on 2 cores) and under `make fuzz`.
EXAMPLES = int(os.environ.get("DYNSCALE_FUZZ_EXAMPLES", 400 if LONG else 12))
# A verb that takes longer than this on one input counts as hung (generous in CI: a shared machine).
SECONDS = 10 if LONG else 60
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REPO = Path(__file__).resolve().parents[1]

def _observation_size() -> int:
    from platform_models import ObservationSpec, load_platform

    return ObservationSpec(load_platform(TINY)).size


OBS_SIZE = _observation_size()  # the tiny platform's: a run's observation_size, a policy's obs_size
SHIPPED_TRACE = REPO / "traces" / "data" / "odroid-xu3" / "bursty-eval-s103.csv"
BAD_VALUES = (b"nan", b"inf", b"-inf", b"1e308", b"-1e308", b"-1", b"0", b"", b"1e-300", b"x", b"1e999",
              b"0x10", b"99999999999999999999", b"null", b"[]", b"*a", b"&a 1")
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE]-?\d+)?")


@st.composite
def broken(draw: st.DrawFn, data: bytes) -> bytes:
    """A damaged copy of ``data``: cut, a byte changed, lines dropped, repeated or swapped, a number
    replaced by a bad value, another encoding, or nothing at all."""
    lines = data.split(b"\n")
    kind = draw(st.sampled_from(("truncate", "byte", "drop", "repeat", "swap", "value", "value", "value",
                                 "utf-16", "latin-1", "empty", "garbage")))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "byte":
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    if kind == "drop":
        return b"\n".join(lines[:i] + lines[i + 1 :])
    if kind == "repeat":
        return b"\n".join(lines[: i + 1] + [lines[i]] * draw(st.integers(1, 3)) + lines[i + 1 :])
    if kind == "swap":
        lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    if kind == "value":
        numbers = list(_NUMBER.finditer(data))
        match = numbers[draw(st.integers(0, len(numbers) - 1))]
        return data[: match.start()] + draw(st.sampled_from(BAD_VALUES)) + data[match.end() :]
    if kind == "utf-16":
        return data.decode("utf-8", "replace").encode("utf-16")
    if kind == "latin-1":
        return data + "é".encode("latin-1")
    if kind == "empty":
        return b""
    return draw(st.binary(max_size=300))


class Hung(BaseException):
    """A verb kept busy too long. Not an Exception, so that no ``except OSError`` in the code under
    test (a TimeoutError is one) can turn it into an answer."""


@contextlib.contextmanager
def _within(seconds: float) -> Iterator[None]:
    """Fail an input that keeps a verb busy longer than ``seconds`` (a hang: a FIFO, a YAML bomb)."""

    def hung(signum: int, frame: object) -> None:
        raise Hung(f"more than {seconds} s on one input")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def run(argv: Sequence[str], seconds: float = SECONDS) -> tuple[int, str, str]:
    """``dynscale ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _within(seconds):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def refused(argv: Sequence[str], folder: Path, named: Sequence[Path]) -> str:
    """Assert ``dynscale ARGV`` refuses: exit 2, one line naming one of ``named``, no traceback, and
    nothing new or changed in ``folder``; returns the line."""
    before = _files(folder)
    code, _, err = run(argv)
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("dynscale: error: "), (argv, err)
    message = lines[0].removeprefix("dynscale: error: ")
    assert any(message.startswith(str(path)) for path in named), (argv, err)
    assert _files(folder) == before, argv
    return message


def accepted(argv: Sequence[str], seconds: float = SECONDS) -> None:
    code, _, err = run(argv, seconds)
    assert code == 0, (argv, err)


# --- traces ----------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_a_broken_trace(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("trace")
    path = folder / "trace.csv"
    path.write_bytes(data.draw(broken(SHIPPED_TRACE.read_bytes())))
    code, out, _ = run(["trace", "validate", str(path)])
    if code == 0:  # still a valid trace: the verbs that read one can use it
        accepted(["trace", "show", str(path)])
        return
    assert code == 2 and out.splitlines() and all(line.startswith(str(path)) for line in out.splitlines())
    out_dir = folder / "evaluation"
    refused(["evaluate", "--platform", "odroid-xu3", "--traces", str(path), "--controllers", "lookup",
             "--out", str(out_dir)], folder, [path])
    if run(["trace", "show", str(path)])[0] != 0:  # show checks the file, not the platform's cores
        refused(["trace", "show", str(path)], folder, [path])


# --- platforms: descriptor and table ---------------------------------------------------------------


@FUZZ
@given(data=st.data(), name=st.sampled_from(("odroid-xu3", "jetson-nano", "host")),
       which=st.sampled_from((".yaml", ".csv")))
def test_a_broken_platform(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, name: str,
                           which: str) -> None:
    folder = tmp_path_factory.mktemp("platform")
    for suffix in (".yaml", ".csv"):
        shutil.copy(DATA_DIR / f"{name}{suffix}", folder / f"{name}{suffix}")
    descriptor, damaged = folder / f"{name}.yaml", folder / f"{name}{which}"
    damaged.write_bytes(data.draw(broken(damaged.read_bytes())))
    code, out, _ = run(["platform", "validate", str(descriptor)])
    if code == 0:  # what validate accepts, every verb can use
        accepted(["platform", "show", str(descriptor), "--json"])
        return
    first = out.splitlines()[0]
    assert code == 2 and first.startswith((str(descriptor), str(folder / f"{name}.csv"))), out
    named = [descriptor, folder / f"{name}.csv"]
    assert refused(["platform", "show", str(descriptor)], folder, named) == first
    refused(["evaluate", "--platform", str(descriptor), "--traces", str(SHIPPED_TRACE), "--controllers",
             "lookup", "--out", str(folder / "evaluation")], folder, named)


# --- run folders and exported policies -------------------------------------------------------------


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """A real (tiny) training run of the tiny platform, and its exported policy."""
    from platform_models import load_platform

    folder = tmp_path_factory.mktemp("run")
    traces = write_tiny_traces(load_platform(TINY), folder)
    run_dir = folder / "run"
    accepted(["train", "--platform", str(TINY), "--traces", *traces, "--algo", "maskable-ppo",
              "--timesteps", "64", "--eval-freq", "64", "--save-freq", "64", "--out", str(run_dir), "--json",
              "--hyperparams", "n_envs=1", "n_steps=64", "batch_size=64", "n_epochs=1", "pretrain_steps=0",
              "dagger_rounds=0"],
             seconds=600)  # building the inputs: no hang guard beyond a train's
    accepted(["export", str(run_dir), "--out", str(folder / "policy.npz")], seconds=600)
    return run_dir, folder / "policy.npz", traces


@FUZZ
@given(data=st.data(), which=st.sampled_from(("config.yml", "config.yml", "best_model.zip")))
def test_a_broken_run_folder(tmp_path_factory: pytest.TempPathFactory, run_folder, data: st.DataObject,
                             which: str) -> None:
    source, _, traces = run_folder
    folder = tmp_path_factory.mktemp("broken-run")
    run_dir = folder / "run"
    shutil.copytree(source, run_dir, ignore=shutil.ignore_patterns("tb", "checkpoints"))
    damaged = run_dir / which if (run_dir / which).exists() else run_dir / "model.zip"
    damaged.write_bytes(data.draw(broken(damaged.read_bytes())))
    before = _files(folder)
    if run(["export", str(run_dir), "--out", str(folder / "policy.npz")])[0] == 0:
        return  # the damage left a usable run (a comment, a value in range)
    assert _files(folder) == before  # no policy, no temporary file
    named = [run_dir / "config.yml", run_dir / "best_model.zip", run_dir / "model.zip"]
    refused(["export", str(run_dir), "--out", str(folder / "policy.npz")], folder, named)
    refused(["evaluate", "--platform", str(TINY), "--traces", traces[0], "--controllers", str(run_dir),
             "--out", str(folder / "evaluation")], folder, named)


@st.composite
def broken_policy(draw: st.DrawFn, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The policy's arrays with one damaged: another shape, a NaN, a negative variance, a header
    field changed, an array gone."""
    arrays = dict(arrays)
    name = draw(st.sampled_from(sorted(arrays)))
    value = arrays[name]
    kind = draw(st.sampled_from(("shape", "nan", "negative", "drop", "header", "dtype")))
    if name == "meta" and kind != "drop":
        meta = json.loads(str(value))
        key = draw(st.sampled_from(sorted(meta)))
        meta[key] = draw(st.sampled_from((None, -1, 0, 13, "x", 1e308, [], {}, True)))
        arrays[name] = np.array(json.dumps(meta))
    elif kind == "shape":
        arrays[name] = np.zeros(tuple(draw(st.lists(st.integers(0, 40), max_size=3))))
    elif kind == "nan":
        arrays[name] = np.full(value.shape, np.nan)
    elif kind == "negative":
        arrays[name] = -np.abs(value) - 1.0
    elif kind == "drop":
        del arrays[name]
    elif kind == "dtype":
        arrays[name] = np.full(value.shape, "x")
    else:
        arrays[name] = np.full(value.shape, draw(st.sampled_from((np.inf, -np.inf, 1e308))))
    return arrays


@FUZZ
@given(data=st.data(), damage=st.sampled_from(("arrays", "arrays", "bytes")))
def test_a_broken_exported_policy(tmp_path_factory: pytest.TempPathFactory, run_folder, data: st.DataObject,
                                  damage: str) -> None:
    _, policy, traces = run_folder
    folder = tmp_path_factory.mktemp("broken-policy")
    path = folder / "policy.npz"
    if damage == "bytes":
        path.write_bytes(data.draw(broken(policy.read_bytes())))
    else:
        with np.load(policy) as loaded:
            arrays = data.draw(broken_policy({name: loaded[name] for name in loaded.files}))
        np.savez(path, **arrays)
    argv = ["replay", "--platform", str(TINY), "--trace", traces[0], "--controller", str(path),
            "--out", str(folder / "replay")]
    before = _files(folder)
    if run(argv)[0] != 0:
        assert _files(folder) == before
        refused(argv, folder, [path])


# --- sweep specs --------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data(), name=st.sampled_from(("seeds.yml", "tune-xu3.yml")))
def test_a_broken_sweep_spec(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
                             name: str) -> None:
    from controllers._sweep_spec import read_spec
    from controllers.errors import SweepError

    folder = tmp_path_factory.mktemp("sweep")
    spec = folder / name
    spec.write_bytes(data.draw(broken((REPO / "sweeps" / name).read_bytes())))
    try:
        with _within(SECONDS):
            read_spec(spec)
    except SweepError:
        # refused before Ray starts or any trial runs; a valid spec would start the sweep: not run here
        refused(["sweep", str(spec), "--out", str(folder / "out")], folder, [spec])


# --- what no file may be -----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["directory", "fifo", "huge"])
def test_special_files_are_refused_without_waiting(tmp_path: Path, form: str) -> None:
    def make(path: Path) -> Path:
        if form == "directory":
            path.mkdir()
        elif form == "fifo":
            os.mkfifo(path)
        else:
            with path.open("wb") as f:  # sparse: costs no disk
                f.truncate(1 << 30)
        return path

    trace = make(tmp_path / "t.csv")
    refused(["trace", "show", str(trace)], tmp_path, [trace])
    descriptor = make(tmp_path / "p.yaml")
    refused(["platform", "show", str(descriptor)], tmp_path, [descriptor])
    policy = make(tmp_path / "p.npz")
    from platform_models import load_platform

    (tiny_trace, _) = write_tiny_traces(load_platform(TINY), tmp_path)
    refused(["replay", "--platform", str(TINY), "--trace", tiny_trace, "--controller", str(policy)],
            tmp_path, [policy])


# --- the faults issue 14 names, as fixed examples ---------------------------------------------------



def _normalisation(mean: object) -> Callable[[str], str]:
    """An edit of config.yml's text that sets ``normalization.mean``."""

    def edit(text: str) -> str:
        config = yaml.safe_load(text)
        identity = {"var": [1.0] * OBS_SIZE, "clip": 10, "eps": 0}
        config["normalization"] = {**(config["normalization"] or identity), "mean": mean}
        return yaml.safe_dump(config, sort_keys=False)

    return edit


def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_replace("algo: maskable-ppo", "algo: ppo"),
         r"config\.yml: field 'algo': says algo 'ppo', but best_model\.zip holds a policy of sb3_contrib"),
        (_replace(f"observation_size: {OBS_SIZE}", "observation_size: 13"),  # the normalisation has more
         r"config\.yml:\d+: field 'normalization\.mean': expected a list of 13 numbers"),
        (_replace(f"observation_size: {OBS_SIZE}", "observation_size: -1"),
         r"config\.yml:\d+: field 'observation_size': expected an integer in 1\.\.4096, got -1"),
        (_replace(f"observation_size: {OBS_SIZE}", "observation_size: x"),
         r"config\.yml:\d+: field 'observation_size': expected an integer in 1\.\.4096, got 'x'"),
        (_normalisation([1, 2]),
         rf"config\.yml:\d+: field 'normalization\.mean': expected a list of {OBS_SIZE}"),
        (_normalisation("x"),
         rf"config\.yml:\d+: field 'normalization\.mean': expected a list of {OBS_SIZE}"),
        (_replace("platform: tiny", "platform: tiny\udcff"), r"config\.yml:2: not UTF-8 text \(byte 0xff"),
    ],
)
def test_a_run_folder_is_checked_as_a_whole(tmp_path: Path, run_folder, edit, message: str) -> None:
    source, _, traces = run_folder
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir, ignore=shutil.ignore_patterns("tb", "checkpoints"))
    config = run_dir / "config.yml"
    config.write_bytes(edit(config.read_text()).encode("utf-8", "surrogateescape"))
    line = refused(["evaluate", "--platform", str(TINY), "--traces", traces[0], "--controllers", str(run_dir),
                    "--out", str(tmp_path / "evaluation")], tmp_path, [config])
    assert re.match(re.escape(f"{run_dir}/") + message, line), line


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (None, "corrupt or not a dynscale policy file (not a NumPy .npz archive)"),
        ({"w0": np.zeros((3, 7))}, f"field 'w0': expected numbers of shape Nx{OBS_SIZE}, got float64 (3, 7)"),
        ({"w0": lambda w: np.full(w.shape, np.nan)}, "field 'w0': expected finite numbers"),
        ({"obs_var": lambda v: -np.ones(v.shape)}, "field 'obs_var': expected finite numbers >= 0"),
    ],
)
def test_a_policy_file_is_checked_as_a_whole(tmp_path: Path, run_folder, arrays, message: str) -> None:
    _, policy, traces = run_folder
    path = tmp_path / "policy.npz"
    if arrays is None:
        path.write_bytes(b"")  # numpy raised EOFError on it
    else:
        with np.load(policy) as loaded:
            originals = {name: loaded[name] for name in loaded.files}
        changed = {name: change(originals[name]) if callable(change) else change
                   for name, change in arrays.items()}
        np.savez(path, **{**originals, **changed})
    line = refused(["replay", "--platform", str(TINY), "--trace", traces[0], "--controller", str(path)],
                   tmp_path, [path])
    assert line == f"{path}: {message}", line
