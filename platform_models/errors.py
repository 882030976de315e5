"""The errors a user can fix, for every package: one base class, one format.

``InputError`` formats its location and reason as one line, ``FILE:LINE: field 'NAME': what is
wrong`` (each part only where there is one); the command line prints it and exits 2. Every
package's error (``PlatformError`` here, ``TraceError``, ``BoardError``, ``ControllerError``,
``DNNError``, ``EnvError``) derives from it. This module imports nothing, so the lowest package
holds it and any package, the board side included, may import it.
"""

from __future__ import annotations

import os


def locate(what: str, path: str | None = None, line: int | None = None, field: str | None = None) -> str:
    """``what`` prefixed by its location, as one line (a quoted value may hold a newline)."""
    where = ""
    if path is not None:
        where = path if line is None else f"{path}:{line}"
    elif line is not None:
        where = f"line {line}"
    parts = [p for p in (where, f"field '{field}'" if field else "", what) if p]
    return ": ".join(parts).replace("\r", "\\r").replace("\n", "\\n")


class InputError(Exception):
    """Bad input a user can fix; the message says what and where, in one line.

    Attributes:
        what: the reason, without its location.
        path: the file concerned, or None.
        line: 1-based line in that file, or None.
        field: the field (column, key, attribute, option) concerned, or None.
    """

    def __init__(
        self,
        what: str,
        *,
        path: str | os.PathLike | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.what = what
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.field = field
        super().__init__(locate(what, self.path, line, field))

    @property
    def reason(self) -> str:
        """The reason without its location (``what``)."""
        return self.what


class PlatformError(InputError):
    """Bad input to ``platform_models``: a descriptor, a table, or a query outside the platform."""
