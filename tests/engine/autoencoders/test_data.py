"""engine.autoencoders.data: sizes, folders with CSV targets, splits, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.autoencoders.data import check_size, from_folder, generated, split
from engine.errors import InputError


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ae-folder")
    rng = np.random.default_rng(0)
    for index in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(root / f"im{index}.png")
    (root / "broken.png").write_bytes(b"not an image")
    return root


def test_only_64_plus_16n_pixels_are_accepted() -> None:
    assert [check_size(size) for size in (64, 80, 96, 160)] == [64, 80, 96, 160]
    for size in (32, 63, 72):
        with pytest.raises(InputError, match="64 \\+ 16 n"):
            check_size(size)


def test_generated_data_carries_positions_and_shape_classes() -> None:
    data = generated(5, 64, seed=1, start=2)
    assert len(data) == 5 and data.size == 64 and data.class_names[0] == "square"
    assert data.positions is not None and data.classes is not None and data.position_unit == "px"
    part = data.subset(torch.tensor([4, 0]))
    assert torch.equal(part.images[0], data.images[4]) and torch.equal(part.positions[1], data.positions[0])


def test_a_folder_with_a_csv_gets_positions_and_classes_in_file_order(folder: Path, tmp_path: Path) -> None:
    csv = tmp_path / "targets.csv"
    csv.write_text("file,x,y,label\nim2.png,3,4,cat\nim0.png,1,2,dog\nim1.png,5,6,cat\nim3.png,7,8,dog\n")
    data = from_folder(folder, 64, csv)
    assert data.images.shape == (4, 3, 64, 64) and "1 unreadable files skipped" in data.description
    assert data.positions.tolist() == [[1, 2], [5, 6], [3, 4], [7, 8]]  # sorted file names: im0, im1, im2, im3
    assert data.class_names == ("cat", "dog") and data.classes.tolist() == [1, 0, 0, 1]
    assert from_folder(folder, 64).positions is None


@pytest.mark.parametrize("content, message", [
    ("name,x\nim0.png,1\n", "'file' column"),
    ("file,x,y\nim0.png,1,2\n", "no row for 3 images"),
    ("file,x,y\nim0.png,1,a\nim1.png,1,2\nim2.png,1,2\nim3.png,1,2\n", "must be numbers"),
    ("file,label\nim0.png,a\nim1.png,a\nim2.png,a\nim3.png,a\n", "only one class"),
    ("file,weight\nim0.png,1\nim1.png,1\nim2.png,1\nim3.png,1\n", "neither"),
])
def test_bad_target_files_say_what_is_wrong(folder: Path, tmp_path: Path, content: str, message: str) -> None:
    csv = tmp_path / "targets.csv"
    csv.write_text(content)
    with pytest.raises(InputError, match=message):
        from_folder(folder, 64, csv)


def test_splits_are_disjoint_seeded_and_cover_everything() -> None:
    parts = split(50, validation=0.2, test=0.2, seed=3)
    together = torch.cat([parts.train, parts.validation, parts.test])
    assert sorted(together.tolist()) == list(range(50)) and (len(parts.validation), len(parts.test)) == (10, 10)
    assert torch.equal(split(50, seed=3).train, parts.train) and not torch.equal(split(50, seed=4).train, parts.train)
    with pytest.raises(InputError, match="At least 3"):
        split(2)
