"""Exceptions whose message is meant for the person using the app or the CLI."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec

P = ParamSpec("P")


class WorkbenchError(Exception):
    """An error the user can fix: the message says what went wrong and how to fix it.

    The UI shows the message as it is, the CLIs print it and exit with status 2.
    """


class WeightsError(WorkbenchError):
    """Pretrained weights are missing, corrupt or do not fit the architecture."""


class InputError(WorkbenchError):
    """An uploaded file or typed input cannot be used (corrupt, empty, wrong type, too large)."""


def command_line(main: Callable[P, int]) -> Callable[P, int]:
    """Decorate a command-line ``main``: a :class:`WorkbenchError` raised in it is printed as one
    ``error: ...`` line on stderr and becomes exit status 2 (no traceback for a user's mistake)."""

    @functools.wraps(main)
    def run(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except WorkbenchError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2

    return run


class Cancelled(Exception):
    """Long work was asked to stop (a job's cancel button); not an error, so not a WorkbenchError."""
