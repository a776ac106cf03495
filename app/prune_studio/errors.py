"""The base of every error Prune Studio shows to a user.

Its message is one sentence a non-programmer can act on; the window shows it as is and the
CLI prints it on one line. Subclasses live beside the code that raises them.
"""


class PruneStudioError(Exception):
    """An expected failure with a readable, one-sentence message."""
