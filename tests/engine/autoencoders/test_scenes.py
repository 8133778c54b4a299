"""engine.autoencoders.scenes: seeded, index-stable scenes whose labels say where the object is."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.autoencoders.scenes import COLOURS, SHAPES, generate_scenes, scene
from engine.errors import InputError


def test_scene_i_is_the_same_whatever_the_batch_and_seed_changes_it() -> None:
    batch = generate_scenes(6, 64, seed=3)
    later = generate_scenes(2, 64, seed=3, start=4)
    assert torch.equal(batch.images[4:], later.images) and torch.equal(batch.positions[4:], later.positions)
    other = generate_scenes(6, 64, seed=4)
    assert not torch.equal(batch.images, other.images)


def test_images_and_labels_have_the_documented_shapes_and_ranges() -> None:
    made = generate_scenes(40, 80, seed=1)
    assert made.images.shape == (40, 3, 80, 80) and made.images.dtype == torch.float32
    assert 0.0 <= float(made.images.min()) and float(made.images.max()) <= 1.0
    assert made.positions.shape == (40, 2) and bool(((made.positions > 0) & (made.positions < 80)).all())
    assert set(made.classes.tolist()) <= set(range(len(SHAPES))) and len(set(made.classes.tolist())) >= 3
    assert made.images.std(dim=(2, 3)).mean() > 0.03  # textured backgrounds, not flat colour


@pytest.mark.parametrize("index", range(8))
def test_the_object_is_drawn_in_its_colour_at_its_position(index: int) -> None:
    pixels, (x, y), _, colour, _ = scene(index, 64, seed=2)
    expected = np.array(list(COLOURS.values())[colour], dtype=np.float32)
    np.testing.assert_allclose(pixels[int(y), int(x)], expected, atol=1e-5)  # every shape covers its centre


def test_the_object_is_small() -> None:
    pixels, (x, y), _, colour, _ = scene(5, 64, seed=0)
    expected = np.array(list(COLOURS.values())[colour], dtype=np.float32)
    covered = np.abs(pixels - expected).max(axis=2) < 1e-4
    assert 5 <= covered.sum() <= 0.05 * 64 * 64


def test_bad_counts_and_sizes_are_clear_errors() -> None:
    with pytest.raises(InputError, match="1 to"):
        generate_scenes(0)
    with pytest.raises(InputError, match="16 pixels"):
        generate_scenes(3, size=8)
