"""The error a user can fix in a trace file.

One line, ``FILE:LINE: field 'NAME': what is wrong`` (``platform_models.errors.InputError``); the
command line prints it and exits 2.
"""

from platform_models.errors import InputError


class TraceError(InputError):
    """Bad input to ``traces``: a trace file, its arrays, or a trace that does not fit a platform."""
