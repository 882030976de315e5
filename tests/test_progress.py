"""Progress bars: on a terminal's stderr (what, how far, time left), never in a pipe or under --json."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import open_terminal, read_terminal

REPO = Path(__file__).resolve().parents[1]


def _evaluate(tmp_path: Path, stderr_is_tty: bool, *extra: str) -> tuple[str, str]:
    """``dynscale evaluate`` over one short trace in a child; (stdout, stderr)."""
    trace = tmp_path / "t.csv"
    subprocess.run([sys.executable, "-m", "dynscale", "trace", "gen", "--kind", "bursty", "--platform",
                    "odroid-xu3", "--split", "eval", "--duration", "3", "--out", str(trace)],
                   cwd=REPO, check=True, capture_output=True)
    argv = [sys.executable, "-m", "dynscale", "evaluate", "--controllers", "lookup", "--traces", str(trace),
            *extra]
    if not stderr_is_tty:
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
        return done.stdout, done.stderr
    leader, follower = open_terminal()
    with subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=follower, text=True) as child:
        os.close(follower)
        chunks: list[bytes] = []
        read_terminal(leader, chunks)
        out = child.stdout.read()
    os.close(leader)
    return out, b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_evaluate_shows_a_bar_on_a_terminal_only(tmp_path: Path) -> None:
    _, err = _evaluate(tmp_path, stderr_is_tty=True)
    assert "evaluate: 100%" in err and "3/3 [" in err  # lookup, oracle, schedutil: one episode each
    assert "<" in err  # elapsed<remaining: the time left
    assert _evaluate(tmp_path, stderr_is_tty=False)[1] == ""
    out, err = _evaluate(tmp_path, True, "--json")
    assert "evaluate:" not in err and out.startswith("{")
