"""Exceptions whose message is meant for the person using the app or the CLI."""


class WorkbenchError(Exception):
    """An error the user can fix: the message says what went wrong and how to fix it.

    The UI shows the message as it is, the CLIs print it and exit with status 2.
    """


class WeightsError(WorkbenchError):
    """Pretrained weights are missing, corrupt or do not fit the architecture."""


class InputError(WorkbenchError):
    """An uploaded file or typed input cannot be used (corrupt, empty, wrong type, too large)."""
