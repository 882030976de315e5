"""What the verbs write: files with the user's permissions, and bad output paths refused up front."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dynscale.cli import main


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_results_get_the_users_umask_not_0600(tmp_path: Path, umask_022) -> None:
    trace = tmp_path / "t.csv"
    assert main(["trace", "gen", "--kind", "steady", "--platform", "odroid-xu3", "--duration", "2",
                 "--out", str(trace)]) == 0
    assert main(["replay", "--trace", str(trace), "--controller", "performance",
                 "--out", str(tmp_path / "replay")]) == 0
    assert main(["platform", "show", "host", "--png", str(tmp_path / "host.png")]) == 0
    written = [trace, tmp_path / "host.png", *sorted((tmp_path / "replay").iterdir())]
    assert len(written) > 3
    assert {p.name: _mode(p) for p in written} == {p.name: 0o644 for p in written}
