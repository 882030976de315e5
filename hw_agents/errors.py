"""The error a user can fix in a board: absent, not permitted, or a bad sysfs tree.

One line, ``FILE:LINE: field 'NAME': what is wrong`` (``platform_models.errors.InputError``); the
command line prints it and exits 2.
"""

from platform_models.errors import InputError


class BoardError(InputError):
    """Bad input to ``hw_agents``: a board, its sysfs tree, or a run already holding it."""


class BoardAbsentError(BoardError):
    """Raised when the named board is not the machine (or the tree) under the sysfs root."""


class BoardPermissionError(BoardError):
    """Raised when a file the board must read or write is not permitted to this user."""


class SysfsFormatError(BoardError):
    """Raised when a sysfs file holds text the kernel never writes there."""
