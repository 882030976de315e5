"""The error a user can fix in an environment's arguments.

One line, ``FILE:LINE: field 'NAME': what is wrong`` (``platform_models.errors.InputError``); the
command line prints it and exits 2.
"""

from platform_models.errors import InputError


class EnvError(InputError):
    """Bad input to ``envs``: an environment's arguments."""
