"""Command-line options every trainer shares."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import WorkbenchError


def add_checkpoint_options(parser: argparse.ArgumentParser, what: str = "a resumable checkpoint") -> None:
    """``--checkpoint-dir DIR`` (where ``what`` is kept) and ``--resume`` (continue from it)."""
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help=f"keep {what} in this folder")
    parser.add_argument("--resume", action="store_true", help="continue from what --checkpoint-dir holds")


def require_checkpoint_dir(args: argparse.Namespace) -> None:
    """Refuse ``--resume`` without ``--checkpoint-dir`` (there would be nothing to continue from)."""
    if getattr(args, "resume", False) and args.checkpoint_dir is None:
        raise WorkbenchError("--resume needs --checkpoint-dir (where the checkpoint was kept).")
