"""Labelled clips for training: VidHarm's folder layout or a CSV, split by trailer (group) only.

VidHarm layout (what the published annotation repository and its clip archive give, and what the
Video tab exports):

- ``train.json``, ``val.json``, ``test.json`` (or ``vidharm_train.json`` ...): JSON lists of
  ``{"filename": "<clip id>", "label": ["11", "11"], "total_frames": 250}``; labels ``bt``/``Btl``,
  ``7``, ``11``, ``15``, as a two-rater list or a plain string;
- ``clips/<clip id>.mp4`` or ``clips/<clip id>/<clip id>.mp4``;
- optionally ``clips_to_trailers.json`` (clip id -> trailer id): then no trailer may appear in two
  splits, since clips of one trailer share actors, sets and soundtrack.

CSV: a header ``path,label`` or ``path,label,group`` (paths relative to the CSV's folder). The
clips are split into train, validation and test by *group* (e.g. the film), never by clip; without
a group column every clip is its own group, which leaks between splits when clips share a source.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import InputError
from engine.video.labels import LEVELS, level_index
from engine.video.synthetic import is_synthetic

SPLITS: tuple[str, ...] = ("train", "val", "test")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v")


@dataclass(frozen=True)
class LabelledClip:
    """A clip file, its level index 0..3, its group (trailer) and an optional tag (e.g. a synthetic cue)."""

    path: Path
    level: int
    group: str
    clip_id: str
    tag: str = ""


@dataclass
class ClipSet:
    """Clips per split, where they came from, and what the reader noticed."""

    splits: dict[str, list[LabelledClip]]
    source: str
    synthetic: bool = False
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Clips per level in each split, e.g. ``{"train": {"Btl": 1691, "7": 173, ...}, ...}``."""
        return {split: {LEVELS[level]: Counter(c.level for c in clips)[level] for level in range(len(LEVELS))}
                for split, clips in self.splits.items()}

    def statistics(self) -> dict[str, Any]:
        """Per split: clips, groups and clips per level."""
        return {split: {"clips": len(clips), "groups": len({c.group for c in clips}), "levels": self.counts()[split]}
                for split, clips in self.splits.items()}


def _split_file(folder: Path, split: str) -> Path | None:
    for name in (f"{split}.json", f"vidharm_{split}.json"):
        if (folder / name).is_file():
            return folder / name
    return None


def _clip_path(folder: Path, clip_id: str) -> Path | None:
    name = Path(clip_id).name
    candidates = [folder / "clips" / name] if Path(name).suffix.lower() in VIDEO_SUFFIXES else []
    for suffix in VIDEO_SUFFIXES:
        candidates += [folder / "clips" / f"{name}{suffix}", folder / "clips" / name / f"{name}{suffix}"]
    return next((path for path in candidates if path.is_file()), None)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path.name} is not readable JSON: {error}") from error


def read_vidharm_folder(folder: str | Path) -> ClipSet:
    """Read a folder in VidHarm's layout (see the module docstring).

    Raises:
        InputError: a split file is missing or malformed, a clip file is missing, a label is unknown,
            or a trailer appears in two splits.
    """
    folder = Path(folder)
    trailers_path = folder / "clips_to_trailers.json"
    trailers = _read_json(trailers_path) if trailers_path.is_file() else {}
    if not isinstance(trailers, dict):
        raise InputError("clips_to_trailers.json must map clip ids to trailer ids.")
    splits: dict[str, list[LabelledClip]] = {}
    missing: list[str] = []
    for split in SPLITS:
        path = _split_file(folder, split)
        if path is None:
            raise InputError(f"{folder.name} has no {split}.json (VidHarm's layout: train.json, val.json, test.json "
                             "and clips/<filename>.mp4).")
        entries = _read_json(path)
        if not isinstance(entries, list):
            raise InputError(f"{path.name} must be a JSON list of {{\"filename\", \"label\"}} objects.")
        clips = []
        for number, entry in enumerate(entries, 1):
            if not isinstance(entry, dict) or "filename" not in entry or "label" not in entry:
                raise InputError(f"{path.name}, entry {number}: expected {{\"filename\", \"label\"}}, "
                                 f"got {entry!r:.80}.")
            clip_id = str(entry["filename"])
            try:
                level = level_index(entry["label"])
            except InputError as error:
                raise InputError(f"{path.name}, entry {number} ({clip_id}): {error}") from error
            clip_path = _clip_path(folder, clip_id)
            if clip_path is None:
                missing.append(clip_id)
                continue
            clips.append(LabelledClip(clip_path, level, str(trailers.get(clip_id, clip_id)), clip_id,
                                      str(entry.get("cue", ""))))
        splits[split] = clips
    if missing:
        raise InputError(f"{len(missing)} clips listed in the split files are not in {folder.name}/clips "
                         f"(e.g. {missing[0]}): expected clips/<filename>.mp4 or clips/<filename>/<filename>.mp4.")
    _check_groups_disjoint(splits)
    data = ClipSet(splits, str(folder), synthetic=is_synthetic(folder))
    if not trailers:
        data.notes.append("No clips_to_trailers.json: clips are assumed to come from different trailers.")
    return data


def _check_groups_disjoint(splits: dict[str, list[LabelledClip]]) -> None:
    seen: dict[str, str] = {}
    for split, clips in splits.items():
        for clip in clips:
            other = seen.setdefault(clip.group, split)
            if other != split:
                raise InputError(f"Trailer {clip.group!r} has clips in both {other} and {split}: splits must be "
                                 "disjoint by trailer, or test scores are inflated by near-duplicates.")


def split_by_group(groups: list[str], fractions: tuple[float, float] = (0.15, 0.2), seed: int = 0) -> list[str]:
    """The split (``train``, ``val`` or ``test``) of each item, keeping every group in one split.

    Groups are shuffled with ``seed``; whole groups go to test until it holds ``fractions[1]`` of the
    items, then to validation until it holds ``fractions[0]``; the rest (at least one group) to train.
    """
    counts = Counter(groups)
    order = sorted(counts)
    np.random.default_rng(seed).shuffle(order)
    assignment, position = {}, 0
    for split, fraction in (("test", fractions[1]), ("val", fractions[0])):
        filled = 0
        while position < len(order) - 1 and filled < fraction * len(groups):
            assignment[order[position]] = split
            filled += counts[order[position]]
            position += 1
    assignment.update({group: "train" for group in order[position:]})
    return [assignment[group] for group in groups]


def read_clip_rows(path: str | Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str], Path]]:
    """The rows of a CSV listing clips: ``(line number, row, clip path)``, the ``path`` column resolved
    relative to the CSV's folder.

    Raises:
        InputError: unreadable, missing one of ``columns`` in its header, no rows, or a missing clip file.
    """
    path = Path(path)
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{path.name} is not a readable CSV: {error}") from error
    if not rows or not set(columns) <= set(rows[0]):
        raise InputError(f"{path.name} needs a header with the columns {','.join(columns)} and one row per clip.")
    found = []
    for number, row in enumerate(rows, 2):
        clip = (path.parent / (row["path"] or "").strip()).resolve()
        if not clip.is_file():
            raise InputError(f"{path.name}, line {number}: no clip file {row['path']!r}.")
        found.append((number, row, clip))
    return found


def read_csv(path: str | Path, fractions: tuple[float, float] = (0.15, 0.2), seed: int = 0) -> ClipSet:
    """Read ``path,label[,group]`` rows and split them by group (see the module docstring).

    Raises:
        InputError: no header, an unknown label, a missing clip file, or no rows.
    """
    path = Path(path)
    rows = read_clip_rows(path, ("path", "label"))
    clips = []
    for number, row, clip_path in rows:
        try:
            level = level_index(row["label"])
        except InputError as error:
            raise InputError(f"{path.name}, line {number}: {error}") from error
        group = (row.get("group") or "").strip() or clip_path.stem
        clips.append(LabelledClip(clip_path, level, group, clip_path.stem))
    assignment = split_by_group([clip.group for clip in clips], fractions, seed)
    splits = {split: [clip for clip, where in zip(clips, assignment) if where == split] for split in SPLITS}
    data = ClipSet(splits, str(path))
    if "group" not in rows[0][1]:
        data.notes.append("No group column: each clip is its own group; clips cut from one film may leak between "
                          "train and test.")
    return data


def load_clips(source: str | Path) -> ClipSet:
    """A VidHarm-layout folder or a CSV file, read and checked; train must not be empty.

    Raises:
        InputError: anything :func:`read_vidharm_folder` or :func:`read_csv` refuses, or no training clips.
    """
    source = Path(source)
    if source.is_dir():
        data = read_vidharm_folder(source)
    elif source.is_file() and source.suffix.lower() == ".csv":
        data = read_csv(source)
    else:
        raise InputError(f"{source} is neither a folder in VidHarm's layout nor a .csv file.")
    if not data.splits["train"]:
        raise InputError(f"{source.name} has no training clips.")
    return data


def balanced_order(levels: list[int], count: int, generator: torch.Generator) -> list[int]:
    """VidHarm's class-balanced sampling: ``count`` draws, each picking a level uniformly among the levels
    present, then a clip of that level uniformly. Returns indices into ``levels``."""
    by_level: dict[int, list[int]] = {}
    for index, level in enumerate(levels):
        by_level.setdefault(level, []).append(index)
    present = sorted(by_level)
    picks = torch.randint(len(present), (count,), generator=generator).tolist()
    draws = torch.rand(count, generator=generator).tolist()
    return [by_level[present[p]][int(u * len(by_level[present[p]]))] for p, u in zip(picks, draws)]
