"""Process-wide settings: where data lives, which device to use, whether downloads are allowed.

Values come from environment variables so that the app, the CLIs and the tests agree without
passing a settings object through every call:

- ``WORKBENCH_DATA_DIR``: folder for the annotation database, user models and exports
  (default ``./data`` next to the current working directory).
- ``WORKBENCH_DEVICE``: ``cpu`` or ``cuda`` (default: ``cuda`` when available, else ``cpu``).
- ``WORKBENCH_ALLOW_DOWNLOADS``: ``1`` lets ``engine.weights`` download missing pretrained
  weights from their official address; anything else (the default) keeps everything offline.
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


@dataclass(frozen=True)
class Settings:
    """A snapshot of the process-wide settings."""

    data_dir: Path
    device: str
    allow_downloads: bool


def current() -> Settings:
    """Read the settings from the environment (cheap; call it where a value is needed)."""
    data_dir = Path(os.environ.get(DATA_DIR_ENV) or Path.cwd() / "data")
    return Settings(
        data_dir=data_dir,
        device=resolve_device(os.environ.get(DEVICE_ENV)),
        allow_downloads=os.environ.get(ALLOW_DOWNLOADS_ENV, "0") == "1",
    )


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


def apply(data_dir: Path | None = None, device: str | None = None, allow_downloads: bool | None = None) -> Settings:
    """Set the given values for this process (and its children) and return the new settings."""
    if data_dir is not None:
        os.environ[DATA_DIR_ENV] = str(Path(data_dir).resolve())
    if device is not None:
        os.environ[DEVICE_ENV] = resolve_device(device)
    if allow_downloads is not None:
        os.environ[ALLOW_DOWNLOADS_ENV] = "1" if allow_downloads else "0"
    return current()
