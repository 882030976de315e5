"""Atomic file writes: a temporary file beside the target, renamed over it once complete.

A reader never sees half a file, a failed write leaves nothing behind, and the file gets the usual
permissions (0666 less the user's umask), not mkstemp's 0600. Every result dynscale writes (tables,
traces, reports, policies, run folders) goes through here; it sits in the lowest package so that
every other one may use it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_text_atomic"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success it replaces ``path`` with the
    user's permissions, on error it is removed. The folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        f.write(text)


def _umask() -> int:
    # The only way to read the umask is to set it; set it straight back.
    umask = os.umask(0)
    os.umask(umask)
    return umask
