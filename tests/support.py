"""Shared helpers of the tests (no tests here; fixtures are in ``conftest.py``): the test platform's
path, defined once, and hand-made platforms, traces and observations."""

from __future__ import annotations

import fcntl
import importlib.util
import math
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny.yaml"
"""The test platform: three PEs (little, big, gpu), G = 4, a hand-written table."""
NAN = math.nan


def open_terminal() -> tuple[int, int]:
    """A pseudo-terminal (leader, follower) of a terminal's size, 24 x 100: at the size of a bare
    pty, 0 x 0, tqdm draws no bar."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    return leader, follower


def read_terminal(leader: int, chunks: list[bytes]) -> None:
    """Append what is written to the terminal whose leader side is ``leader`` to ``chunks``, until
    every writer has closed its side (EIO or end of file)."""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the writers closed the terminal
            return
        if not chunk:
            return
        chunks.append(chunk)


@contextmanager
def stderr_on_a_terminal() -> Iterator[list[bytes]]:
    """``sys.stderr`` on a pseudo-terminal (:func:`open_terminal`) for the block, in this process;
    yields the list that collects what was written to it (read by a thread, so the terminal never
    fills and blocks the writer)."""
    leader, follower = open_terminal()
    written: list[bytes] = []
    reader = threading.Thread(target=read_terminal, args=(leader, written), daemon=True)
    reader.start()
    saved, sys.stderr = sys.stderr, open(follower, "w", buffering=1)  # noqa: SIM115  (closed below)
    try:
        yield written
    finally:
        terminal, sys.stderr = sys.stderr, saved
        terminal.close()
        reader.join(timeout=10)
        os.close(leader)


AGENT_MS = {"little": 1.5, "big": 0.75, "gpu": 0.5}


def tiny_with_agent(folder: Path):
    """The tiny platform with the live agent's per-frame work (``AGENT_MS``) measured on every PE."""
    from platform_models import load_platform

    text = TINY.read_text()
    for name, agent_ms in AGENT_MS.items():
        text = text.replace(f"  - name: {name}\n", f"  - name: {name}\n    agent_overhead_ms: {agent_ms}\n")
    (folder / "tiny.yaml").write_text(text)
    (folder / "tiny.csv").write_text(TINY.with_suffix(".csv").read_text())
    return load_platform(folder / "tiny.yaml")


def fair_tiny(folder: Path, contention_yaml: str):
    """The tiny platform with ``contention: fair`` and ``contention_yaml`` (the rule's other keys)."""
    from platform_models import load_platform

    folder.mkdir(exist_ok=True)
    (folder / "tiny.yaml").write_text(TINY.read_text() + "contention: fair\n" + contention_yaml)
    (folder / "tiny.csv").write_bytes(TINY.with_suffix(".csv").read_bytes())
    return load_platform(folder / "tiny.yaml")


def scaled_copy(platform, factor: float, folder: Path) -> Path:
    """``platform`` with every latency multiplied by ``factor`` (a table from a machine that much slower),
    written to ``folder`` under the same name; returns the descriptor's path."""
    from platform_models import save_platform
    from platform_models.table import scaled_rows

    path = folder / f"{platform.name}.yaml"
    save_platform({**platform.descriptor, "table": f"{platform.name}.csv"},
                  scaled_rows(platform.rows, lambda row: factor), path)
    return path


def write_tiny_traces(platform, folder: Path, duration_s: float = 2.0) -> list[str]:
    """Two short generated traces of the tiny platform (train split), written as files."""
    import traces

    paths = []
    for seed, kind in enumerate(("bursty", "steady")):
        path = folder / f"{kind}.csv"
        traces.save_trace(traces.generate(kind, platform, seed=seed, duration_s=duration_s), path)
        paths.append(str(path))
    return paths


def observation(
    platform,
    *,
    latency_budget_ms=NAN,
    power_budget_w=NAN,
    energy_budget_mj=NAN,
    last=(NAN, NAN, NAN),
    load=None,
    freq_mhz=None,
    groups=None,
    pe=None,
    backlog=0,
):
    """A hand-made observation of ``platform`` (defaults: no load, top frequencies, full net on PE 0)."""
    from platform_models import ObservationSpec

    pes = platform.pes
    return ObservationSpec(platform).build(
        budgets=(latency_budget_ms, power_budget_w, energy_budget_mj),
        last=last,
        load={p.name: 0.0 for p in pes} | (load or {}),
        freq_mhz={p.name: max(p.freqs_mhz) for p in pes} | (freq_mhz or {}),
        groups=groups or platform.groups,
        pe=pe or pes[0].name,
        backlog=backlog,
    )


REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/NAME.py`` loaded as a module (its ``main`` not run), its folder on ``sys.path``
    while it loads, as when it runs: a script's first import is that folder's ``_entry``."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module
# start_child's program: a session that changes the board, then waits to be signalled.
CHILD = """
import signal, sys, time
from hw_agents import open_board
if len(sys.argv) > 4:  # the program had its own SIGTERM handler before the session
    def on_term(signum, frame):
        print("own handler ran", flush=True)
        sys.exit(3)
    signal.signal(signal.SIGTERM, on_term)
board = open_board(sys.argv[1], sysfs_root=sys.argv[2], journal_path=sys.argv[3])
with board.session():
    for pe in board.pes:
        board.set_frequency(pe.name, pe.freqs_mhz[len(pe.freqs_mhz) // 2])
    print("changed", flush=True)
    time.sleep(60)
"""


def start_child(board: str, root: Path, journal: Path, *extra: str) -> subprocess.Popen:
    """A process holding a board session with every PE's frequency changed (``extra``: it had its own
    SIGTERM handler first); returns once the change is made."""
    child = start_stoppable("-c", CHILD, board, str(root), str(journal), *extra)
    line = child.stdout.readline()
    assert line == "changed\n", line + child.stderr.read()
    return child


def held_latencies(platform, frame_period_ms: float, noise: bool, seed: int, n_frames: int = 600,
                   phase_ms: float | None = None) -> np.ndarray:
    """Inference latency (no agent) of ``static:1:big:2000`` frames in the simulator on a TINY-based
    ``platform`` with both big cores held, the episode at the scheduler tick's phase ``phase_ms``
    (None: drawn)."""
    import gymnasium

    import envs  # noqa: F401  (registers the env id)
    from controllers import make_controller
    from traces import Trace

    trace = Trace(platform="tiny", kind="steady", split="eval", frame_period_ms=frame_period_ms,
                  duration_s=n_frames * frame_period_ms / 1000.0, time_s=[0.0],
                  load={"little": [0.0], "big": [2.0], "gpu": [0.0]})
    env = gymnasium.make("dynscale/DynamicDNN-v0", platform=platform, trace=trace, latency_noise=noise)
    controller = make_controller("static:1:big:2000", platform, env)
    obs, info = env.reset(seed=seed, options={"tick_phase_ms": phase_ms})
    out = []
    for _ in range(n_frames):
        obs, _, _, _, info = env.step(controller.act(obs, info))
        out.append(info["latency_ms"] - info["agent_ms"])
    return np.array(out)


# Runs argv[1:] with SIGINT at its default action. A process started with SIGINT ignored (pytest run as
# a background job of a non-interactive shell) keeps it ignored across exec, and Python turns SIGINT
# into KeyboardInterrupt only where it found it at its default.
_WITH_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                "os.execv(sys.argv[1], sys.argv[1:])")


def start_stoppable(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python ARGV`` in the repository, stdout and stderr piped: a run a test stops with SIGINT
    (as Ctrl-C at a terminal would) or SIGTERM."""
    return subprocess.Popen([sys.executable, "-c", _WITH_SIGINT, sys.executable, *argv], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(ready: Callable[[], bool], timeout_s: float = 120.0) -> None:
    """Poll ``ready`` until it holds or ``timeout_s`` has passed (the caller's asserts say which)."""
    deadline = time.monotonic() + timeout_s
    while not ready() and time.monotonic() < deadline:
        time.sleep(0.05)


def n_lines(path: Path) -> int:
    """Lines written so far to ``path`` (a run's log or journal; 0 before it exists or once gone)."""
    try:
        return path.read_text().count("\n")
    except FileNotFoundError:
        return 0
