"""People's ratings of clips and windows, kept in the annotation store and exported in VidHarm's layout.

Two tasks: ``vidharm-clip`` (a whole file's level) and ``vidharm-window`` (one window's level). A rated
file is kept once in ``<data dir>/video/clips`` under its sha256, so ratings outlive the browser
session and the export can cut the windows later.

:func:`export_vidharm` writes a zip that :mod:`trainers.vidharm` reads back: ``train.json``,
``val.json``, ``test.json`` (entries ``{"filename", "label", "total_frames"}``, the label a two-rater
list like VidHarm's, ``bt`` for Btl), ``clips/<filename>.mp4`` (whole files, or each rated window cut
out and re-encoded) and ``clips_to_trailers.json`` (every window and the whole file of one source
share a group, so a source never spans two splits).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from engine import settings
from engine.annotations import Annotation, AnnotationStore, content_hash
from engine.errors import InputError
from engine.video.dataset import SPLITS, split_by_group
from engine.video.labels import LEVELS, VIDHARM_CODES, level_index
from engine.video.media import cut_clip, probe

CLIP_TASK = "vidharm-clip"
WINDOW_TASK = "vidharm-window"
MAX_ARCHIVE_BYTES = 50 * 2**30  # refuse archives that would unpack to more than this
MAX_EXPANSION = 10  # ... or to more than this many times their own size (plus 100 MB): a zip bomb


def clips_folder() -> Path:
    """Where rated files are kept (``<data dir>/video/clips``)."""
    return settings.current().data_dir / "video" / "clips"


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks (hours-long files included)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def keep_clip(path: str | Path) -> tuple[str, Path]:
    """The file's sha256 and its kept copy (made on first use; later calls reuse it)."""
    path = Path(path)
    probe(path)  # refuse unreadable files before keeping anything
    digest = file_hash(path)
    kept = clips_folder() / f"{digest[:16]}{path.suffix.lower() or '.mp4'}"
    if not kept.is_file():
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial = kept.with_suffix(kept.suffix + ".partial")
        shutil.copyfile(path, partial)
        partial.replace(kept)
    return digest, kept


def rate_clip(store: AnnotationStore, path: str | Path, level: str, annotator: str, name: str = "",
              lead_time_s: float | None = None) -> Annotation:
    """Store a person's level (``Btl``, ``7``, ``11`` or ``15``) for a whole file."""
    index = level_index(level)
    digest, kept = keep_clip(path)
    return store.add(CLIP_TASK, digest, LEVELS[index], annotator, source=name or Path(path).name,
                     payload={"clip": digest, "file": kept.name}, lead_time_s=lead_time_s)


def rate_window(store: AnnotationStore, path: str | Path, start_s: float, end_s: float, level: str,
                annotator: str, name: str = "", lead_time_s: float | None = None) -> Annotation:
    """Store a person's level (``Btl``, ``7``, ``11`` or ``15``) for the window ``[start_s, end_s)`` of a file."""
    if not 0 <= start_s < end_s:
        raise InputError(f"A window must start at 0 s or later and end after it starts ({start_s}-{end_s} s).")
    index = level_index(level)
    digest, kept = keep_clip(path)
    window_hash = content_hash(f"{digest}:{start_s:.3f}-{end_s:.3f}")
    return store.add(WINDOW_TASK, window_hash, LEVELS[index], annotator, source=name or Path(path).name,
                     payload={"clip": digest, "file": kept.name, "start_s": round(start_s, 3),
                              "end_s": round(end_s, 3)}, lead_time_s=lead_time_s)


@dataclass(frozen=True)
class ExportSummary:
    """What an export holds: clips per split and where the zip is."""

    path: Path
    counts: dict[str, int]
    items: int


def _labelled_items(store: AnnotationStore) -> list[tuple[str, list[Annotation]]]:
    """Every rated item (clip or window) with each annotator's standing decision, in a stable order."""
    items: dict[str, list[Annotation]] = {}
    for task in (CLIP_TASK, WINDOW_TASK):
        for annotation in store.current_labels(task):
            items.setdefault(f"{task}:{annotation.content_hash}", []).append(annotation)
    return sorted((key, sorted(found, key=lambda a: a.annotator)) for key, found in items.items())


def export_vidharm(store: AnnotationStore, target: str | Path, fractions: tuple[float, float] = (0.15, 0.2),
                   seed: int = 0) -> ExportSummary:
    """Write the ratings as a VidHarm-layout zip at ``target`` (see the module docstring).

    Each item's label lists two raters' levels, as VidHarm's files do: the first two annotators'
    decisions, or one annotator's decision twice.

    Raises:
        InputError: nothing is rated yet, or a kept clip is missing.
    """
    items = _labelled_items(store)
    if not items:
        raise InputError("Nothing is rated yet: rate a clip or a window first.")
    target = Path(target)
    groups = [found[0].payload["clip"] for _, found in items]
    assignment = split_by_group(groups, fractions, seed)
    entries: dict[str, list[dict[str, object]]] = {split: [] for split in SPLITS}
    trailers: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch:
        clips = Path(scratch) / "clips"
        clips.mkdir()
        for (key, found), split in zip(items, assignment):
            payload = found[0].payload
            source = clips_folder() / payload["file"]
            if not source.is_file():
                raise InputError(f"The rated clip {payload['file']} is no longer in {clips_folder()}.")
            clip_id = hashlib.sha256(key.encode()).hexdigest()[:12]
            destination = clips / f"{clip_id}.mp4"
            if "start_s" in payload:
                cut_clip(source, payload["start_s"], payload["end_s"] - payload["start_s"], destination)
            elif source.suffix == ".mp4":
                shutil.copyfile(source, destination)
            else:
                cut_clip(source, 0.0, None, destination)
            info = probe(destination)
            codes = [VIDHARM_CODES[level_index(a.label)] for a in found[:2]]
            entries[split].append({"filename": clip_id, "label": codes if len(codes) == 2 else codes * 2,
                                   "total_frames": round((info.duration_s or 0) * (info.fps or 0))})
            trailers[clip_id] = payload["clip"][:16]
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
            for split in SPLITS:
                archive.writestr(f"{split}.json", json.dumps(entries[split], indent=1))
            archive.writestr("clips_to_trailers.json", json.dumps(trailers, indent=1))
            for clip in sorted(clips.iterdir()):
                archive.write(clip, f"clips/{clip.name}")
    return ExportSummary(target, {split: len(found) for split, found in entries.items()}, len(items))


def default_export_path() -> Path:
    """A fresh export file name in ``<data dir>/video/exports``."""
    return settings.current().data_dir / "video" / "exports" / f"vidharm-ratings-{time.strftime('%Y%m%d-%H%M%S')}.zip"


def unpack_archive(archive: str | Path, folder: str | Path, required: str = "train.json") -> Path:
    """Unpack a zip (once) and return the shallowest folder in it holding ``required`` (a VidHarm-layout
    folder's ``train.json`` by default).

    Raises:
        InputError: not a zip, a member escaping the folder, too large, or no ``required`` file inside.
    """
    archive, folder = Path(archive), Path(folder)
    marker = folder / ".unpacked"
    if not marker.is_file():
        try:
            with zipfile.ZipFile(archive) as opened:
                members = opened.infolist()
                unpacked = sum(member.file_size for member in members)
                if unpacked > min(MAX_ARCHIVE_BYTES, MAX_EXPANSION * archive.stat().st_size + (100 << 20)):
                    raise InputError(f"{archive.name} would unpack to {unpacked >> 20} MB: too large for its size "
                                     "(clips and JSON files hardly compress).")
                for member in members:
                    name = PurePosixPath(member.filename)
                    if name.is_absolute() or ".." in name.parts:
                        raise InputError(f"{archive.name} holds an unsafe path: {member.filename!r}.")
                shutil.rmtree(folder, ignore_errors=True)
                opened.extractall(folder)
        except zipfile.BadZipFile as error:
            raise InputError(f"{archive.name} is not a readable zip: {error}") from error
        marker.write_text("ok")
    found = sorted(folder.rglob(required), key=lambda path: len(path.parts))
    if not found:
        raise InputError(f"{archive.name} holds no {required}.")
    return found[0].parent
