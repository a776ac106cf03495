"""The error a fine-tune run raises when it cannot finish."""

from prune_studio.errors import PruneStudioError


class TrainingError(PruneStudioError):
    """A run failed in a way the user can act on: NaN loss, out of memory, bad data, bad settings.

    Attributes:
        field: the settings field at fault (e.g. ``"learning_rate"``), or ``None``.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
