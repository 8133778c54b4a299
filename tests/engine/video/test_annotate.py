"""engine.video.annotate: ratings of clips and windows go to the store and come back as a VidHarm-layout export
that the trainer's reader accepts."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from engine.annotations import AnnotationStore
from engine.errors import InputError
from engine.video import annotate
from engine.video.dataset import load_clips
from engine.video.media import probe


def test_ratings_export_to_a_layout_the_trainer_reads(tmp_path: Path, media: dict[str, Path]) -> None:
    store = AnnotationStore(tmp_path / "annotations.sqlite")
    with pytest.raises(InputError, match="Nothing is rated"):
        annotate.export_vidharm(store, tmp_path / "none.zip")
    annotate.rate_clip(store, media["tone"], "11", "ada", lead_time_s=2.0)
    annotate.rate_window(store, media["long"], 0.0, 10.0, "Btl", "ada")
    annotate.rate_window(store, media["long"], 0.0, 10.0, "7", "bo")  # a second rater of the same window
    annotate.rate_window(store, media["long"], 15.0, 25.0, "15", "ada")
    annotate.rate_clip(store, media["no_audio"], "7", "ada")
    annotate.rate_clip(store, media["one_frame"], "Btl", "ada")
    assert len(store.annotations(annotate.WINDOW_TASK)) == 3
    summary = annotate.export_vidharm(store, tmp_path / "export.zip")
    assert summary.items == 5 and sum(summary.counts.values()) == 5
    with zipfile.ZipFile(summary.path) as archive:
        archive.extractall(tmp_path / "unzipped")
    data = load_clips(tmp_path / "unzipped")
    clips = [clip for split in data.splits.values() for clip in split]
    assert sorted(clip.level for clip in clips) == [0, 0, 1, 2, 3]
    entries = [e for split in ("train", "val", "test") for e in json.loads((tmp_path / "unzipped" / f"{split}.json")
                                                                           .read_text())]
    labels = sorted(tuple(entry["label"]) for entry in entries)  # two raters' levels, VidHarm's codes
    assert labels == sorted([("11", "11"), ("bt", "7"), ("15", "15"), ("7", "7"), ("bt", "bt")])
    # the two windows of one source share its group, so they never straddle splits
    windows = [clip for clip in clips if probe(clip.path).duration_s == pytest.approx(10.0, abs=0.3)]
    assert len(windows) == 2 and windows[0].group == windows[1].group


def test_unsafe_archives_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("../escape.json", "[]")
    with pytest.raises(InputError, match="unsafe path"):
        annotate.unpack_archive(archive, tmp_path / "out")
    (tmp_path / "not.zip").write_bytes(b"plain text")
    with pytest.raises(InputError, match="not a readable zip"):
        annotate.unpack_archive(tmp_path / "not.zip", tmp_path / "out2")


def test_bad_ratings_are_refused(tmp_path: Path, media: dict[str, Path]) -> None:
    store = AnnotationStore(tmp_path / "annotations.sqlite")
    with pytest.raises(InputError, match="Unknown age level"):
        annotate.rate_clip(store, media["tone"], "18", "ada")
    with pytest.raises(InputError, match="window"):
        annotate.rate_window(store, media["tone"], 5.0, 2.0, "7", "ada")
    with pytest.raises(InputError, match="not a readable video"):
        annotate.rate_clip(store, media["corrupt"], "7", "ada")
