"""engine.paths: typed names stay inside their folder; typed folders stay inside the allowed roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import settings
from engine.errors import InputError
from engine.paths import inside, safe_file_name, user_path, validate_name


@pytest.mark.parametrize("name", ["../x", "..", "a/b", "/etc/passwd", ".hidden", "", "x" * 81, "a\x00b", "a..b"])
def test_names_that_could_leave_their_folder_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not allowed"):
        inside(tmp_path, name, ".csv")


def test_plain_names_resolve_inside_their_folder(tmp_path: Path) -> None:
    assert inside(tmp_path, "run-1.v2", ".json") == (tmp_path / "run-1.v2.json").resolve()
    assert validate_name("explain-rating") == "explain-rating"
    assert safe_file_name("../../my photo (1).PNG") == "my_photo_1_.PNG" and safe_file_name("...") == "file"


def test_typed_folders_must_lie_inside_the_allowed_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    allowed, other = tmp_path / "datasets", tmp_path / "private"
    (allowed / "breakhis").mkdir(parents=True)
    other.mkdir()
    (allowed / "escape").symlink_to(other)
    monkeypatch.delenv(settings.FOLDER_ROOTS_ENV, raising=False)
    assert user_path(str(other)) == other.resolve()  # a local app: anywhere
    monkeypatch.setenv(settings.FOLDER_ROOTS_ENV, str(allowed))
    assert user_path(f" {allowed / 'breakhis'} ") == (allowed / "breakhis").resolve()
    for outside in (str(other), str(allowed / "escape"), str(allowed / ".." / "private")):
        with pytest.raises(InputError, match="outside the folders"):
            user_path(outside)
    with pytest.raises(InputError, match="no folder"):
        user_path(str(allowed / "missing"))
    with pytest.raises(InputError, match="Type the folder"):
        user_path("  ")
