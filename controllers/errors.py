"""The errors a user can fix in a controller name, run folder, policy file or sweep SPEC.

One line, ``FILE:LINE: field 'NAME': what is wrong`` (``platform_models.errors.InputError``); the
command line prints it and exits 2.
"""

from platform_models.errors import InputError


class ControllerError(InputError):
    """Bad input to ``controllers``: a controller name, run folder or policy file."""


class SweepError(ControllerError):
    """Bad input to ``dynscale sweep`` (a SPEC file, a sweep folder) or a Ray cluster out of reach."""
