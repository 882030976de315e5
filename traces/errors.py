"""The error a user can fix in a trace file.

The message is one line, naming the file, line and field where there is one
(``FILE:LINE: field 'NAME': what is wrong``); the command line prints it and exits 2.
"""


class TraceError(Exception):
    """Bad input to ``traces``; the message says what and where, in one line."""
