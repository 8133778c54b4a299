"""engine.video.dataset: VidHarm's layouts and label forms, trailer-disjoint splits, CSV split by group,
class-balanced sampling."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch

from engine.errors import InputError
from engine.video.dataset import balanced_order, load_clips, read_csv, split_by_group


def vidharm_folder(root: Path, source: Path, nested: bool = False, prefix: str = "") -> Path:
    """A tiny VidHarm-layout folder: two clips per split copied from ``source``, labels in VidHarm's forms."""
    labels = {"train": [["bt", "bt"], "15"], "val": [["11", "11"], "BT"], "test": [["7", "7"], "Btl"]}
    trailers = {}
    for split, split_labels in labels.items():
        entries = []
        for index, label in enumerate(split_labels):
            clip_id = f"{split}{index:02d}aaaaaa"[:12]
            target = root / "clips" / (f"{clip_id}/{clip_id}.mp4" if nested else f"{clip_id}.mp4")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            entries.append({"filename": clip_id, "label": label, "total_frames": 250})
            trailers[clip_id] = f"trailer-{split}"
        (root / f"{prefix}{split}.json").write_text(json.dumps(entries))
    (root / "clips_to_trailers.json").write_text(json.dumps(trailers))
    return root


@pytest.mark.parametrize("nested, prefix", [(False, ""), (True, "vidharm_")])
def test_vidharm_layouts_are_read(tmp_path: Path, media: dict[str, Path], nested: bool, prefix: str) -> None:
    data = load_clips(vidharm_folder(tmp_path, media["no_audio"], nested, prefix))
    assert [c.level for c in data.splits["train"]] == [0, 3]
    assert [c.level for c in data.splits["val"]] == [2, 0] and [c.level for c in data.splits["test"]] == [1, 0]
    assert data.splits["train"][0].group == "trailer-train" and not data.synthetic
    assert data.statistics()["train"] == {"clips": 2, "groups": 1, "levels": {"Btl": 1, "7": 0, "11": 0, "15": 1}}


def test_a_trailer_in_two_splits_is_refused(tmp_path: Path, media: dict[str, Path]) -> None:
    folder = vidharm_folder(tmp_path, media["no_audio"])
    trailers = json.loads((folder / "clips_to_trailers.json").read_text())
    trailers = {clip: "same-trailer" for clip in trailers}
    (folder / "clips_to_trailers.json").write_text(json.dumps(trailers))
    with pytest.raises(InputError, match="both train and val"):
        load_clips(folder)


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "val.json").unlink(), "no val.json"),
    (lambda f: (f / "test.json").write_text("{}"), "JSON list"),
    (lambda f: (f / "test.json").write_text('[{"filename": "x", "label": "18"}]'), "Unknown age level"),
    (lambda f: (f / "test.json").write_text('[{"filename": "missing", "label": "7"}]'), "not in"),
    (lambda f: (f / "train.json").write_text("[]"), "no training clips"),
])
def test_broken_folders_are_clear_errors(tmp_path: Path, media: dict[str, Path], damage, message: str) -> None:
    folder = vidharm_folder(tmp_path, media["no_audio"])
    damage(folder)
    with pytest.raises(InputError, match=message):
        load_clips(folder)


def test_splits_never_cut_a_group() -> None:
    groups = [f"film{i % 7}" for i in range(70)]
    assignment = split_by_group(groups, (0.15, 0.2), seed=3)
    for group in set(groups):
        assert len({split for g, split in zip(groups, assignment) if g == group}) == 1
    counts = Counter(assignment)
    assert set(counts) == {"train", "val", "test"} and counts["train"] >= 30
    assert split_by_group(["a", "b", "c"]).count("train") == 1  # three groups: one per split
    assert split_by_group(["a", "a"]) == ["train", "train"]


def test_csv_rows_are_split_by_group(tmp_path: Path, media: dict[str, Path]) -> None:
    shutil.copyfile(media["no_audio"], tmp_path / "clip.mp4")
    rows = ["path,label,group"] + [f"clip.mp4,{['Btl', '7', '11', '15'][i % 4]},film{i % 5}" for i in range(20)]
    (tmp_path / "clips.csv").write_text("\n".join(rows))
    data = read_csv(tmp_path / "clips.csv")
    assert sum(len(clips) for clips in data.splits.values()) == 20
    seen = {split: {c.group for c in clips} for split, clips in data.splits.items()}
    assert not (seen["train"] & seen["test"]) and not (seen["train"] & seen["val"])
    (tmp_path / "bad.csv").write_text("file,level\nclip.mp4,7")
    with pytest.raises(InputError, match="header"):
        read_csv(tmp_path / "bad.csv")
    (tmp_path / "ungrouped.csv").write_text("path,label\nclip.mp4,7\nclip.mp4,11\nclip.mp4,15")
    assert any("No group column" in note for note in read_csv(tmp_path / "ungrouped.csv").notes)


def test_balanced_sampling_draws_levels_uniformly() -> None:
    levels = [0] * 90 + [1] * 6 + [3] * 4  # VidHarm-like imbalance, one level absent
    draws = balanced_order(levels, 30000, torch.Generator().manual_seed(0))
    shares = Counter(levels[i] for i in draws)
    assert set(shares) == {0, 1, 3}
    assert all(abs(count / 30000 - 1 / 3) < 0.02 for count in shares.values())
    assert balanced_order(levels, 50, torch.Generator().manual_seed(1)) == \
        balanced_order(levels, 50, torch.Generator().manual_seed(1))
