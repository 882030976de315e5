"""The error a user can fix in the dynamic DNN (bad k, bad checkpoint, missing data).

One line, ``FILE:LINE: field 'NAME': what is wrong`` (``platform_models.errors.InputError``); the
command line prints it and exits 2.
"""

from platform_models.errors import InputError


class DNNError(InputError):
    """Bad input to ``dnn``: a bad k, checkpoint or data folder."""
