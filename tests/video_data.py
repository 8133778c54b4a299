"""Synthetic video data shared by the video tests of every xdist worker (made once per test run, under a lock)."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from engine.video.synthetic import VERSION, make_dataset

SET_COUNTS = {"train": 3, "val": 1, "test": 2}


def shared_synthetic_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic VidHarm-layout set (72 clips of 2 s, 64 x 48) in the run's shared temp folder."""
    root = tmp_path_factory.getbasetemp().parent  # shared by all xdist workers of this run
    folder = root / f"vidharm-synthetic-set-v{VERSION}"
    with open(root / "vidharm-synthetic-set.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "dataset.json").is_file():
            make_dataset(folder, SET_COUNTS)
    return folder
