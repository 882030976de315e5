"""The error a user can fix in a platform descriptor or table, or a query outside it.

The message is one line, naming the file, line and field where there is one
(``FILE:LINE: field 'NAME': what is wrong``); the command line prints it and exits 2.
"""


class PlatformError(Exception):
    """Bad input to ``platform_models``; the message says what and where, in one line."""
