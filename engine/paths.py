"""Names a user types that become file paths: validated against a strict pattern and kept inside their folder."""

from __future__ import annotations

import re
from pathlib import Path

from engine.errors import InputError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def validate_name(name: str | None, what: str = "name") -> str:
    """``name`` itself if it is a plain name (letters, digits, ``_ . -``, 1 to 80 characters, no leading
    dot or ``..``); otherwise an :class:`InputError` saying what is allowed."""
    if not name or not NAME_PATTERN.match(name) or ".." in name:
        shown = repr(name)[:60]
        raise InputError(f"{what.capitalize()} {shown} is not allowed: use 1 to 80 letters, digits, '_', '.' or '-', "
                         "starting with a letter or digit (no folders, no '..').")
    return name


def inside(folder: str | Path, name: str, suffix: str = "", what: str = "name") -> Path:
    """``folder/<name><suffix>`` after validating ``name``; refuses any result that resolves outside ``folder``."""
    root = Path(folder).resolve()
    path = (root / f"{validate_name(name, what)}{suffix}").resolve()
    if not path.is_relative_to(root) or path == root:
        raise InputError(f"{what.capitalize()} {name!r} points outside its folder.")
    return path


def safe_file_name(name: str, default: str = "file") -> str:
    """A file name made of safe characters only (for copies of uploads; keeps the extension)."""
    cleaned = _UNSAFE.sub("_", Path(name).name).strip("._")[:80]
    return cleaned or default


def user_path(text: str | None, what: str = "folder") -> Path:
    """A folder or file on this machine that a user of the app typed (a dataset, a slide).

    It must exist and, when the app is shared (``settings.folder_roots`` set), lie inside one of the
    allowed folders; links are resolved first, so they cannot lead outside.

    Raises:
        InputError: empty, missing, or outside the allowed folders.
    """
    from engine import settings

    if not text or not text.strip():
        raise InputError(f"Type the {what} on this machine.")
    path = Path(text.strip()).expanduser().resolve()
    roots = settings.current().folder_roots
    if roots is not None and not any(path == root or path.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots) or "none (upload files instead)"
        raise InputError(f"{text.strip()!r} is outside the folders this app may read ({allowed}).")
    if not path.exists():
        raise InputError(f"There is no {what} {text.strip()!r} on this machine.")
    return path
