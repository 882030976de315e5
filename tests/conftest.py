"""Fixtures shared by the test modules (helpers that are not fixtures: ``tests/support.py``)."""

from __future__ import annotations

import pytest

from tests.support import TINY


@pytest.fixture(scope="module")
def tiny():
    """The test platform, loaded once per module."""
    from platform_models import load_platform

    return load_platform(TINY)


@pytest.fixture
def one_torch_thread():
    """One torch thread: on the shared 2-core machine a second one made small convolutions 15x slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def own_board_lock(tmp_path, monkeypatch):
    """A run locks its board (hw_agents._restore); this machine's lock and journal lie in
    $XDG_RUNTIME_DIR. Each test gets its own, inherited by the processes it starts, so that tests
    (and suites) running at once on this machine never refuse each other's runs."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
