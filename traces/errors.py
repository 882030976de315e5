"""The error a user can fix in a trace file.

The message is one line, naming the file, line and field where there is one
(``FILE:LINE: field 'NAME': what is wrong``); the command line prints it and exits 2.
"""

from __future__ import annotations

from pathlib import Path


class TraceError(Exception):
    """Bad input to ``traces``; the message says what and where, in one line.

    Raised by :func:`traces.load_trace` for a bad file, by :class:`traces.Trace` for bad arrays, by
    :meth:`traces.Trace.check_platform` for a trace that does not fit a platform and by
    :func:`traces.generate` for bad arguments. ``path``, ``line`` and ``field`` are kept apart so
    that callers never parse the text.
    """

    def __init__(
        self,
        what: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.what = what
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}:{line}"
        elif line is not None:
            where = f"line {line}"
        parts = [p for p in (where, f"field '{field}'" if field else "", what) if p]
        # One line, whatever the file held: a value quoted in ``what`` may contain a newline.
        super().__init__(": ".join(parts).replace("\n", "\\n").replace("\r", "\\r"))
