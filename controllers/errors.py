"""The error a user can fix in a controller name, run folder or policy file.

The message is one line, naming the file, line and field where there is one
(``FILE:LINE: field 'NAME': what is wrong``); the command line prints it and exits 2.
"""


class ControllerError(Exception):
    """Bad input to ``controllers``; the message says what and where, in one line."""
