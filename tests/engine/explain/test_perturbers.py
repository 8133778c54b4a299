"""Perturbers: kept pixels stay exact, removed pixels become the documented replacement, soft masks blend."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from engine.explain.params import ConfigError
from engine.explain.perturbers import (
    PERTURBERS,
    BlurPerturber,
    ColorPerturber,
    HistogramPerturber,
    InpaintPerturber,
    NoisePerturber,
    SegmentMeanPerturber,
)
from engine.registry import IMAGENET_MEAN


@pytest.fixture()
def two_tone() -> tuple[np.ndarray, np.ndarray]:
    """A 16x16 image: left half red-ish, right half blue-ish; labels 0/1 for the halves."""
    image = np.zeros((16, 16, 3), np.float32)
    image[:, :8] = (0.8, 0.2, 0.1)
    image[:, 8:] = (0.1, 0.3, 0.9)
    labels = np.zeros((16, 16), np.int64)
    labels[:, 8:] = 1
    return image, labels


def masks_keeping_left(count: int = 3) -> np.ndarray:
    masks = np.zeros((count, 16, 16), np.float32)
    masks[:, :, :8] = 1
    return masks


@pytest.mark.parametrize("name", PERTURBERS.names())
def test_kept_pixels_are_the_image_and_output_is_a_float_batch(name: str, two_tone) -> None:  # type: ignore[no-untyped-def]
    image, labels = two_tone
    out = PERTURBERS.make(name)(image, masks_keeping_left(), np.random.default_rng(0), labels)
    assert out.shape == (3, 16, 16, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, :, :8], np.broadcast_to(image[:, :8], (3, 16, 8, 3)), atol=1e-6)
    assert np.all((out >= 0) & (out <= 1))


def test_constant_colours_and_image_statistics(two_tone) -> None:  # type: ignore[no-untyped-def]
    image, _ = two_tone
    rng = np.random.default_rng(0)
    masks = masks_keeping_left(1)
    np.testing.assert_allclose(ColorPerturber("imagenet-mean")(image, masks, rng)[0, 0, 12], IMAGENET_MEAN, atol=1e-6)
    np.testing.assert_allclose(ColorPerturber("image-mean")(image, masks, rng)[0, 0, 12], (0.45, 0.25, 0.5), atol=1e-6)


def test_soft_masks_blend_linearly(two_tone) -> None:  # type: ignore[no-untyped-def]
    image, _ = two_tone
    masks = np.full((1, 16, 16), 0.25, np.float32)
    out = ColorPerturber("black")(image, masks, np.random.default_rng(0))
    np.testing.assert_allclose(out[0], 0.25 * image, atol=1e-6)


def test_segment_mean_needs_labels_and_uses_each_segments_mean(two_tone) -> None:  # type: ignore[no-untyped-def]
    image, labels = two_tone
    image = image.copy()
    image[0, 8] = (0.1, 0.3, 0.5)  # one darker pixel in the right segment shifts its mean
    out = SegmentMeanPerturber()(image, masks_keeping_left(1), np.random.default_rng(0), labels)
    np.testing.assert_allclose(out[0, 5, 12], image[:, 8:].reshape(-1, 3).mean(axis=0), atol=1e-6)
    with pytest.raises(ConfigError):
        SegmentMeanPerturber()(image, masks_keeping_left(1), np.random.default_rng(0), None)


def test_blur_is_a_gaussian_filter_of_the_image() -> None:
    image = np.random.default_rng(1).random((16, 16, 3), dtype=np.float32)
    out = BlurPerturber(sigma=2.0)(image, np.zeros((1, 16, 16), np.float32), np.random.default_rng(0))
    np.testing.assert_allclose(out[0], ndimage.gaussian_filter(image, (2.0, 2.0, 0), mode="reflect"), atol=1e-6)


def test_noise_differs_per_image_and_follows_the_seed(two_tone) -> None:  # type: ignore[no-untyped-def]
    image, _ = two_tone
    first = NoisePerturber()(image, masks_keeping_left(2), np.random.default_rng(3))
    again = NoisePerturber()(image, masks_keeping_left(2), np.random.default_rng(3))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first[0, :, 8:], first[1, :, 8:])


def test_inpainting_fills_a_hole_from_its_surroundings() -> None:
    image = np.full((16, 16, 3), (0.2, 0.6, 0.4), np.float32)
    image[6:10, 6:10] = (1.0, 0.0, 1.0)  # a magenta square, then removed
    masks = np.ones((1, 16, 16), np.float32)
    masks[0, 5:11, 5:11] = 0
    out = InpaintPerturber()(image, masks, np.random.default_rng(0))
    np.testing.assert_allclose(out[0, 6:10, 6:10], np.broadcast_to((0.2, 0.6, 0.4), (4, 4, 3)), atol=2 / 255)


def test_histogram_draws_colours_of_the_image_in_proportion(two_tone) -> None:  # type: ignore[no-untyped-def]
    image, _ = two_tone
    image = image.copy()
    image[:4] = (0.8, 0.2, 0.1)  # now 5/8 of the pixels are red-ish
    out = HistogramPerturber()(image, np.zeros((400, 16, 16), np.float32), np.random.default_rng(0))
    colours = out[:, 0, 0]
    red = np.all(np.isclose(colours, (0.8, 0.2, 0.1)), axis=1)
    blue = np.all(np.isclose(colours, (0.1, 0.3, 0.9)), axis=1)
    assert np.all(red | blue)
    assert abs(red.mean() - 5 / 8) < 0.08
