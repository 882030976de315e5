"""Every benchmark script ends as `dynscale` does (benchmarks/_entry.py): Ctrl-C or SIGTERM mid-run, or
while its modules still load, is one line and 128 + the signal's number, a user's bad input one line
and exit 2, never a traceback.

The live ones deploy on this machine's host board, as a user runs them."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import BENCHMARKS, REPO, n_lines, start_stoppable, wait_until


def _env(tmp: Path) -> dict[str, str]:
    """The environment with the benchmark's temporary folders in ``tmp``, where the test watches them."""
    tmp.mkdir()
    return {**os.environ, "TMPDIR": str(tmp)}


@pytest.mark.slow
def test_ctrl_c_mid_deploy_ends_agent_overhead_with_one_line_and_130(tmp_path: Path) -> None:
    # Before, it ended in DeployInterrupted's traceback (exit 1).
    tmp = tmp_path / "tmp"
    run = start_stoppable(str(BENCHMARKS / "agent_overhead.py"), "--frames", "2000", "--json", env=_env(tmp))
    wait_until(lambda: any(n_lines(log) >= 3 for log in tmp.glob("*/lookup/True/deploy-log.csv")))
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGINT, err
    assert (out, err) == ("", "agent_overhead: interrupted\n")
    assert not list(tmp.iterdir())  # its temporary folder went on the way out
    assert not list(tmp_path.glob("*journal*.json"))  # the board's session restored and closed


@pytest.mark.slow
def test_sigterm_mid_deploy_ends_contention_stretch_with_one_line_and_143(tmp_path: Path) -> None:
    # Before, the board session's handler restored, then the process died of the signal (exit -15).
    tmp = tmp_path / "tmp"
    run = start_stoppable(str(BENCHMARKS / "contention_stretch.py"), "--loads", "0", "--periods", "50",
                          "--groups", "1", "--seconds", "60", "--json", env=_env(tmp))
    wait_until(lambda: any(n_lines(log) >= 3 for log in tmp.glob("*/deploy-log.csv")))
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGTERM, err
    assert (out, err) == ("", "contention_stretch: terminated\n")
    assert not list(tmp.iterdir())
    assert not list(tmp_path.glob("*journal*.json"))


@pytest.mark.parametrize(("script", "flag"),
                         [("agent_overhead", "--policy"), ("contention_stretch", "--platform")])
def test_a_bad_file_given_to_a_benchmark_is_one_line_and_exit_2(tmp_path: Path, script: str,
                                                                 flag: str) -> None:
    bad = tmp_path / "absent.npz"
    tmp = tmp_path / "tmp"
    # hours of frames: a benchmark that deployed before reading the file would time out here
    run = start_stoppable(str(BENCHMARKS / f"{script}.py"), flag, str(bad), "--json", "--seconds" if
                          script == "contention_stretch" else "--frames", "100000", env=_env(tmp))
    try:
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 2, err
    assert err.startswith(f"{script}: error: {bad}: ") and err.count("\n") == 1, err
    assert out == "" and not list(tmp.iterdir())  # refused before any deploy


def test_contention_stretch_on_a_platform_without_a_cpu_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # Before, it ended in StopIteration's traceback.
    tiny = yaml.safe_load((REPO / "tests" / "data" / "tiny.yaml").read_text())
    tiny.update(name="gpu-only", table="gpu-only.csv", pes=[pe for pe in tiny["pes"] if pe["kind"] == "gpu"])
    descriptor = tmp_path / "gpu-only.yaml"
    descriptor.write_text(yaml.safe_dump(tiny))
    rows = (REPO / "tests" / "data" / "tiny.csv").read_text().splitlines(keepends=True)
    (tmp_path / "gpu-only.csv").write_text("".join(r for r in rows if r.startswith(("pe,", "gpu,"))))
    result = subprocess.run([sys.executable, str(BENCHMARKS / "contention_stretch.py"), "--platform",
                             str(descriptor), "--json"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"contention_stretch: error: {descriptor}: field 'pes': platform gpu-only has "
                             f"no CPU PE: the stretch is measured on a CPU's held cores\n")
    assert result.stdout == ""


def test_contention_stretch_by_phase_needs_the_platforms_tick_and_says_so_before_any_deploy() -> None:
    shipped = REPO / "platform_models" / "data" / "host.yaml"  # no scheduler_tick_ms: not calibrated
    result = subprocess.run([sys.executable, str(BENCHMARKS / "contention_stretch.py"), "--by-phase",
                             "--platform", str(shipped), "--seconds", "100000", "--json"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"contention_stretch: error: {shipped}: field 'scheduler_tick_ms': ")
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def _maps_numpy(pid: int) -> bool:
    """Whether process ``pid`` has numpy's compiled core mapped (it is importing numpy, or past it), or
    has ended."""
    try:
        return "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.mark.parametrize(("script", "sig", "args"), [
    ("agent_overhead", signal.SIGINT, ("--frames", "100000", "--json")),
    ("agent_overhead", signal.SIGTERM, ("--frames", "100000", "--json")),
    ("env_bench", signal.SIGTERM, ("--json",)),
    ("stale_table", signal.SIGINT, ("--json",)),
])
def test_a_stop_while_a_benchmark_loads_its_modules_is_one_line_and_128_plus_the_signal(
        tmp_path: Path, script: str, sig: signal.Signals, args: tuple[str, ...]) -> None:
    # Before, SIGINT there was KeyboardInterrupt's traceback from inside an import, SIGTERM a death by
    # the signal (exit -15, nothing on stderr). The signal is sent once numpy's core is mapped: numpy
    # still loading, the project's packages and `run` still to come (0.1 s or more on the 2-vCPU VM).
    tmp = tmp_path / "tmp"
    run = start_stoppable(str(BENCHMARKS / f"{script}.py"), *args, env=_env(tmp))
    try:
        wait_until(lambda: _maps_numpy(run.pid), timeout_s=60)
        run.send_signal(sig)
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()
    word = "interrupted" if sig == signal.SIGINT else "terminated"
    assert "Traceback" not in err, err
    assert (run.returncode, out, err) == (128 + sig, "", f"{script}: {word}\n")
    assert not list(tmp.iterdir())


def test_ctrl_c_while_python_m_dynscale_loads_its_modules_is_one_line_and_130(tmp_path: Path) -> None:
    # Before, it ended with exit 130 and not a word. Started without compiled bytecode (a first run
    # after installing, or a read-only install): every module is compiled as it loads, into
    # PYTHONPYCACHEPREFIX, and the signal is sent once dynscale/cli.py's is written, the command
    # line's modules still loading.
    prefix = tmp_path / "bytecode"
    cli_pyc = prefix / (REPO / "dynscale").relative_to("/") / f"cli.{sys.implementation.cache_tag}.pyc"
    out_csv = tmp_path / "load.csv"
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    run = start_stoppable("-m", "dynscale", "trace", "record", "--duration", "600", "--out", str(out_csv),
                          env={**env, "PYTHONPYCACHEPREFIX": str(prefix)})
    try:
        wait_until(lambda: cli_pyc.exists() or run.poll() is not None, timeout_s=60)
        assert cli_pyc.exists(), "dynscale/cli.py not compiled: the signal would not come while it loads"
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert "Traceback" not in err, err
    assert (run.returncode, out, err) == (130, "", "dynscale: interrupted\n")
    assert not out_csv.exists()


@pytest.mark.parametrize("script", [path.stem for path in sorted(BENCHMARKS.glob("[!_]*.py"))])
def test_every_benchmark_script_imports_the_entry_before_its_other_modules(script: str) -> None:
    # Python runs a script's imports before its last line can reach `run`: only the entry, imported
    # first, holds a stop that comes while they load (see the test above).
    module = ast.parse((BENCHMARKS / f"{script}.py").read_text())
    assert ast.get_docstring(module), script
    first = next(node for node in module.body[1:]
                 if not (isinstance(node, ast.ImportFrom) and node.module == "__future__"))
    assert isinstance(first, ast.Import) and [alias.name for alias in first.names] == ["_entry"], script
