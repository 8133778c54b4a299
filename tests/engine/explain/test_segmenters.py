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
    lattice_offsets,
    shift_canvas,
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


@pytest.mark.parametrize("segmenter", [GridSegmenter(7, 7, bilinear=True), SEGMENTERS.make("slic"),
                                       GridSegmenter(3, 5)])
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


@pytest.mark.parametrize("align_corners", [False, True])
def test_bilinear_tents_equal_torch_bilinear_upsampling_of_each_cell(align_corners: bool) -> None:
    """Known answer: torch's interpolate (align_corners False = skimage/original RISE, True = captum-rise)."""
    import torch
    import torch.nn.functional as F

    segments = GridSegmenter(7, 5, bilinear=True, align_corners=align_corners)(np.zeros((256, 96, 3), np.float32))
    cells = torch.eye(35).view(35, 1, 7, 5)
    expected = F.interpolate(cells, size=(256, 96), mode="bilinear", align_corners=align_corners)[:, 0].numpy()
    np.testing.assert_allclose(segments.soft_masks, expected, atol=1e-6)


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


def test_mask_builder_blends_soft_masks() -> None:
    segments = GridSegmenter(7, 7, bilinear=True)(np.zeros((224, 224, 3), np.float32))
    one = np.zeros((1, 49), np.uint8)
    one[0, 24] = 1
    builder = MaskBuilder(segments)
    assert not builder.shifts
    np.testing.assert_allclose(builder(one, np.random.default_rng(0))[0], segments.soft_masks[24])
    np.testing.assert_allclose(builder(np.ones((2, 49), np.uint8), np.random.default_rng(0)), 1.0, atol=1e-5)


def test_random_shift_is_original_rise_masks_on_a_larger_canvas() -> None:
    """RISE: 7 x 7 cells upsampled bilinearly to (7 + 1) x 32 = 256 px, each mask a 224 px window at a random offset."""
    image = np.random.default_rng(0).random((224, 224, 3)).astype(np.float32)
    canvas, (top, left) = shift_canvas(image, 1 / 7)
    assert canvas.shape == (256, 256, 3) and (top, left) == (16, 16)
    np.testing.assert_array_equal(canvas[16:240, 16:240], image)
    whole = GridSegmenter(7, 7, bilinear=True)(canvas)
    builder = MaskBuilder(whole, window=(224, 224))
    assert builder.shifts
    np.testing.assert_allclose(builder(np.ones((3, 49), np.uint8), np.random.default_rng(0)), 1.0, atol=1e-5)
    one = np.zeros((60, 49), np.uint8)
    one[:, 24] = 1
    cells = MaskBuilder(whole, window=(224, 224))(one, np.random.default_rng(1))
    assert cells.shape == (60, 224, 224)
    peaks = np.array([np.unravel_index(mask.argmax(), mask.shape) for mask in cells])
    assert len({tuple(peak) for peak in peaks}) > 40  # each mask has its own offset
    assert peaks.min() >= 96 and peaks.max() <= 128  # the canvas centre (128) moved by 0..31 px
    np.testing.assert_array_equal(cells, MaskBuilder(whole, window=(224, 224))(one, np.random.default_rng(1)))
    groups = np.array([0, 0, 0, 1, 1, 1])
    grouped = MaskBuilder(whole, window=(224, 224))(one[:6], np.random.default_rng(1), groups=groups)
    np.testing.assert_array_equal(grouped[0], grouped[2])  # one shift per group
    assert not np.array_equal(grouped[2], grouped[3])
    window = whole.crop(top, left, 224, 224)
    assert window.labels.shape == (224, 224) and window.n_segments == 49


def test_shift_offsets_are_uniform_and_cover_the_range_evenly() -> None:
    """A randomly rotated R2 sequence: 64 offsets put 2 to 6 in every 8 x 8 px cell of a 32 x 32 px range
    (independent draws range from 0 to about 11), and over rotations each offset is uniform."""
    for seed in range(50):
        offsets = lattice_offsets(np.arange(64), (32, 32), np.random.default_rng(seed).random(2))
        cells = np.bincount((offsets[:, 0] // 8) * 4 + offsets[:, 1] // 8, minlength=16)
        assert 2 <= cells.min() and cells.max() <= 6
    fifth = np.array([lattice_offsets(np.array([5]), (4, 4), np.random.default_rng(seed).random(2))[0]
                      for seed in range(4000)])
    np.testing.assert_allclose(np.bincount(fifth[:, 0] * 4 + fifth[:, 1], minlength=16) / 4000, 1 / 16, atol=0.02)
