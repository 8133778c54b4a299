"""engine.errors.command_line: user errors become one stderr line and exit status 2."""

from __future__ import annotations

import pytest

from engine.errors import InputError, command_line


@command_line
def main(value: int) -> int:
    """A stand-in entry point."""
    if value < 0:
        raise InputError(f"{value} is negative.")
    if value == 0:
        raise ValueError("a bug, not a user error")
    return value


def test_user_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(-3) == 2
    assert capsys.readouterr().err == "error: -3 is negative.\n"


def test_results_pass_through_and_bugs_still_raise() -> None:
    assert main(5) == 5
    assert main.__doc__ == "A stand-in entry point."
    with pytest.raises(ValueError):
        main(0)
