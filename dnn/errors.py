"""The error a user can fix in the dynamic DNN (bad k, bad checkpoint, missing data).

The message is one line, naming the file, line and field where there is one
(``FILE:LINE: field 'NAME': what is wrong``); the command line prints it and exits 2.
"""


class DNNError(Exception):
    """Bad input to ``dnn``; the message says what and where, in one line."""
