"""Segmenters, smoothing and perturbation masks: shapes, partitions of unity, RISE's shift."""

from __future__ import annotations

import numpy as np
import pytest

from engine.explain.params import ConfigError
from engine.explain.segmenters import (
    SEGMENTERS,
    GaussianSmoothing,
    GridSegmenter,
    MaskBuilder,
    Segmentation,
    auto_sigma,
)
from engine.samples import natural_image


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photograph at 96 x 96 (structure for the superpixel methods)."""
    from skimage.transform import resize

    return resize(natural_image("coffee"), (96, 96), anti_aliasing=True).astype(np.float32)


def test_grid_labels_are_equal_blocks() -> None:
    segments = GridSegmenter(7, 7)(np.zeros((224, 224, 3), np.float32))
    assert segments.n_segments == 49
    assert (np.bincount(segments.labels.ravel()) == 32 * 32).all()
    assert segments.labels[0, 0] == 0 and segments.labels[0, 32] == 1 and segments.labels[32, 0] == 7
    assert segments.labels[-1, -1] == 48


@pytest.mark.parametrize("name", SEGMENTERS.names())
def test_every_segmenter_gives_contiguous_labels_and_one_hot_masks(name: str, photo: np.ndarray) -> None:
    segments = SEGMENTERS.make(name)(photo)
    assert segments.labels.shape == (96, 96) and segments.labels.dtype == np.int32
    assert set(np.unique(segments.labels)) == set(range(segments.n_segments))
    assert segments.n_segments >= 2
    hard = segments.soft_masks
    assert hard.shape == (segments.n_segments, 96, 96)
    assert np.array_equal(hard.argmax(axis=0), segments.labels)
    np.testing.assert_allclose(hard.sum(axis=0), 1.0)


@pytest.mark.parametrize("segmenter", [GridSegmenter(7, 7, bilinear=True), SEGMENTERS.make("slic"), GridSegmenter(3, 5)])
def test_masks_sum_to_one_after_smoothing(segmenter, photo: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    smoothed = GaussianSmoothing()(segmenter(photo))
    np.testing.assert_allclose(smoothed.soft_masks.sum(axis=0), 1.0, atol=1e-5)
    assert smoothed.soft_masks.min() >= 0.0
    assert 0.0 < smoothed.soft_masks.max() < 1.0  # really faded, not hard


def test_bilinear_grid_tents_peak_at_cell_centres_and_sum_to_one() -> None:
    segments = GridSegmenter(7, 7, bilinear=True)(np.zeros((224, 224, 3), np.float32))
    np.testing.assert_allclose(segments.soft_masks.sum(axis=0), 1.0, atol=1e-6)
    centre = segments.soft_masks[24]  # middle cell (3, 3) spans 96..127
    assert np.unravel_index(centre.argmax(), centre.shape) in {(111, 111), (111, 112), (112, 111), (112, 112)}
    assert centre[0, 0] == 0.0


def test_automatic_sigma_is_the_papers_ten_pixels_for_49_segments_at_224() -> None:
    assert auto_sigma(49, (224, 224)) == pytest.approx(10.0)
    assert auto_sigma(49, (448, 448)) == pytest.approx(20.0)
    segments = GridSegmenter(7, 7)(np.zeros((224, 224, 3), np.float32))
    assert GaussianSmoothing().sigma_for(segments) == pytest.approx(10.0)
    assert GaussianSmoothing(sigma=3.0).sigma_for(segments) == 3.0


def test_projection_per_segment_and_per_pixel() -> None:
    segments = GridSegmenter(2, 2)(np.zeros((8, 8, 3), np.float32))
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    per_segment = segments.project(scores, per_pixel=False)
    assert per_segment[0, 0] == 1.0 and per_segment[7, 7] == 4.0
    np.testing.assert_allclose(segments.project(scores, per_pixel=True), per_segment)  # hard masks: same map
    smooth = GaussianSmoothing(sigma=2.0)(segments).project(scores, per_pixel=True)
    assert 1.0 < smooth[3, 3] < 4.0 and smooth[0, 0] < smooth[7, 7]


def test_too_many_segments_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at most"):
        Segmentation.from_labels(np.arange(40 * 40).reshape(40, 40))


def test_mask_builder_blends_soft_masks_and_shift_keeps_masks_valid() -> None:
    segments = GridSegmenter(7, 7, bilinear=True)(np.zeros((224, 224, 3), np.float32))
    rng = np.random.default_rng(0)
    one = np.zeros((1, 49), np.uint8)
    one[0, 24] = 1
    np.testing.assert_allclose(MaskBuilder(segments)(one, rng)[0], segments.soft_masks[24])
    shifted = MaskBuilder(segments, shift=1 / 7)
    assert shifted.pad == (16, 16)
    everything = shifted(np.ones((3, 49), np.uint8), rng)
    np.testing.assert_allclose(everything, 1.0, atol=1e-5)  # shifting a partition of unity keeps it one
    cells = shifted(np.repeat(one, 50, axis=0), np.random.default_rng(1))
    peaks = {np.unravel_index(mask.argmax(), mask.shape) for mask in cells}
    assert len(peaks) > 10  # each mask moved by its own offset
    assert max(abs(y - 111.5) for y, _ in peaks) <= 16.5
    again = shifted(np.repeat(one, 50, axis=0), np.random.default_rng(1))
    np.testing.assert_array_equal(cells, again)
