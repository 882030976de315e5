"""The error a user can fix in an environment's arguments.

The message is one line, naming the file, line and field where there is one
(``FILE:LINE: field 'NAME': what is wrong``); the command line prints it and exits 2.
"""


class EnvError(Exception):
    """Bad input to ``envs``; the message says what and where, in one line."""
