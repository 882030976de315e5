"""Progress on a terminal: what is being done, how far, and the time left, on stderr.

Every step that can take more than about two seconds (profiling, calibrating, collecting and cloning
demonstrations, evaluating) shows one bar; the command line decides whether bars show at all (on a
terminal, not under ``--json``). It sits in the lowest package because ``hw_agents`` and
``controllers`` both draw bars and may import only what lies below them; tqdm (a dependency of the
board side too) is imported only when a bar is drawn, so the package stays numpy-only otherwise.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["progress_bar", "show_progress"]


def show_progress(wanted: bool = True, stream: TextIO | None = None) -> bool:
    """Whether a bar should show: ``wanted`` (not ``--json``, not ``--no-progress``) and ``stream``
    (stderr by default) is a terminal, so logs and pipes get no bar lines."""
    stream = sys.stderr if stream is None else stream
    return wanted and hasattr(stream, "isatty") and stream.isatty()


class _NoBar:
    """What ``progress_bar`` returns when no bar shows: updates cost nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(what: str, total: int, unit: str, *, enabled: bool, initial: int = 0) -> Any:
    """A bar labelled ``what`` over ``total`` ``unit``s (tqdm: count, rate, elapsed < time left) on
    stderr, or a no-op when not ``enabled``. Use as a context manager, or ``close()`` it."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=what, unit=unit, file=sys.stderr, dynamic_ncols=True)
