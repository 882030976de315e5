"""The error a user can fix in a platform descriptor or table, or a query outside it.

The message is one line, naming the file, line and field where there is one
(``FILE:LINE: field 'NAME': what is wrong``); the command line prints it and exits 2.
"""

from __future__ import annotations


class PlatformError(Exception):
    """Bad input to ``platform_models``; the message says what and where, in one line.

    ``path``, ``line`` and ``field`` carry the location (``None`` where there is none), so callers
    never have to parse the message text.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.field = field
