"""The one exception type every stage raises for bad input or a bad environment."""


class SemspaceError(Exception):
    """A problem the user can fix: the message names the input and what is wrong with it.

    Command-line entry points print the message without a traceback and exit non-zero.
    """
