"""The error a user can fix in a board: absent, not permitted, or a bad sysfs tree.

The message is one line, naming the file, line and field where there is one
(``FILE:LINE: field 'NAME': what is wrong``); the command line prints it and exits 2.
"""

from __future__ import annotations

from pathlib import Path


class BoardError(Exception):
    """Bad input to ``hw_agents``; the message says what and where, in one line.

    Attributes:
        path: the file concerned, or None.
        line: 1-based line in that file, or None.
        field: the field (sysfs attribute, argument) concerned, or None.
        reason: the message without its location.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        self.reason = message
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(where + message)


class BoardAbsentError(BoardError):
    """Raised when the named board is not the machine (or the tree) under the sysfs root."""


class BoardPermissionError(BoardError):
    """Raised when a file the board must read or write is not permitted to this user."""


class SysfsFormatError(BoardError):
    """Raised when a sysfs file holds text the kernel never writes there."""
