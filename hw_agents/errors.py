"""The error a user can fix in a board: absent, not permitted, or a bad sysfs tree.

The message is one line, naming the file, line and field where there is one
(``FILE:LINE: field 'NAME': what is wrong``); the command line prints it and exits 2.
"""


class BoardError(Exception):
    """Bad input to ``hw_agents``; the message says what and where, in one line."""
