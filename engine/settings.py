"""Process-wide settings: where data lives, which device to use, whether downloads are allowed.

Values come from environment variables so that the app, the CLIs and the tests agree without
passing a settings object through every call:

- ``WORKBENCH_DATA_DIR``: folder for the annotation database, user models and exports
  (default ``./data`` next to the current working directory).
- ``WORKBENCH_DEVICE``: ``cpu`` or ``cuda`` (default: ``cuda`` when available, else ``cpu``).
- ``WORKBENCH_ALLOW_DOWNLOADS``: ``1`` lets ``engine.weights`` download missing pretrained
  weights from their official address; anything else (the default) keeps everything offline.
- ``WORKBENCH_FOLDER_ROOTS``: folders (separated by ``os.pathsep``) under which a user of the app may
  name a folder or file on this machine (a dataset to index or train on, a slide); unset: anywhere,
  which suits a local app; ``app.py`` sets it when the app is shared (see ``--folders``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import WorkbenchError

DATA_DIR_ENV = "WORKBENCH_DATA_DIR"
DEVICE_ENV = "WORKBENCH_DEVICE"
ALLOW_DOWNLOADS_ENV = "WORKBENCH_ALLOW_DOWNLOADS"
FOLDER_ROOTS_ENV = "WORKBENCH_FOLDER_ROOTS"


@dataclass(frozen=True)
class Settings:
    """A snapshot of the process-wide settings."""

    data_dir: Path
    device: str
    allow_downloads: bool
    folder_roots: tuple[Path, ...] | None  # None: any folder of this machine may be named


def current() -> Settings:
    """Read the settings from the environment (cheap; call it where a value is needed)."""
    data_dir = Path(os.environ.get(DATA_DIR_ENV) or Path.cwd() / "data")
    return Settings(
        data_dir=data_dir,
        device=resolve_device(os.environ.get(DEVICE_ENV)),
        allow_downloads=os.environ.get(ALLOW_DOWNLOADS_ENV, "0") == "1",
        folder_roots=_folder_roots(os.environ.get(FOLDER_ROOTS_ENV)),
    )


def _folder_roots(value: str | None) -> tuple[Path, ...] | None:
    if value is None:
        return None
    return tuple(Path(part).resolve() for part in value.split(os.pathsep) if part)


def resolve_device(requested: str | None) -> str:
    """Return ``requested`` if usable, else the best available device.

    Raises:
        WorkbenchError: ``cuda`` was asked for explicitly but no GPU is visible.
    """
    if not requested:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested not in ("cpu", "cuda"):
        raise WorkbenchError(f"Unknown device {requested!r}: use 'cpu' or 'cuda'.")
    if requested == "cuda" and not torch.cuda.is_available():
        raise WorkbenchError("Device 'cuda' was requested but no GPU is visible; use --device cpu.")
    return requested


def apply(data_dir: Path | None = None, device: str | None = None, allow_downloads: bool | None = None,
          folder_roots: list[Path] | None = None) -> Settings:
    """Set the given values for this process (and its children) and return the new settings."""
    if folder_roots is not None:
        os.environ[FOLDER_ROOTS_ENV] = os.pathsep.join(str(Path(root).resolve()) for root in folder_roots)
    if data_dir is not None:
        os.environ[DATA_DIR_ENV] = str(Path(data_dir).resolve())
    if device is not None:
        os.environ[DEVICE_ENV] = resolve_device(device)
    if allow_downloads is not None:
        os.environ[ALLOW_DOWNLOADS_ENV] = "1" if allow_downloads else "0"
    return current()
