"""Where the inference runs: every thread of this process pinned to a PE's cores, torch's thread
count to match, and both given back afterwards."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

__all__ = ["inference_state_restored", "pin_inference", "set_all_threads_affinity"]


def pin_inference(board: Any, pe: str, cores: int | None = None) -> set[int]:
    """Pin the inference to ``cores`` cores of ``pe`` (all when None) with one torch thread per core.

    ``board.pin`` pins the calling thread; torch's worker threads may already exist (they keep the
    affinity they were started with), so every thread of the process is pinned the same way.
    """
    import torch

    cpus = board.pin(pe, cores)
    set_all_threads_affinity(cpus)
    torch.set_num_threads(len(cpus))
    return cpus


@contextlib.contextmanager
def inference_state_restored() -> Iterator[None]:
    """Give every thread of this process back its CPU affinity, and torch its thread count."""
    import torch

    affinity, threads = os.sched_getaffinity(0), torch.get_num_threads()
    try:
        yield
    finally:
        set_all_threads_affinity(affinity)
        torch.set_num_threads(threads)


def set_all_threads_affinity(cpus: set[int]) -> None:
    """Pin every thread of this process to ``cpus``."""
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(tid), cpus)
