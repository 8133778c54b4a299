"""LIF / MIF / SRG and deletion / insertion: known orderings, invariances, endpoints."""

from __future__ import annotations

import numpy as np
import pytest

from engine.explain.evaluation import causal_curves, keep_masks, srg
from engine.explain.perturbers import ColorPerturber
from tests.engine.explain.conftest import SIZE, quadrant_model


def perfect_map() -> np.ndarray:
    """The quadrant model's true relevance: 1 in the top-left quadrant, 0 elsewhere."""
    relevance = np.zeros((SIZE, SIZE))
    relevance[: SIZE // 2, : SIZE // 2] = 1.0
    return relevance


def test_keep_masks_delete_the_requested_number_of_pixels_in_order() -> None:
    scores = np.arange(16, dtype=float).reshape(4, 4)
    most = keep_masks(scores, np.array([0, 3, 16]), most_first=True)
    assert most.sum(axis=(1, 2)).tolist() == [16, 13, 0]
    assert most[1].ravel()[-3:].tolist() == [0, 0, 0]  # the three highest scores went first
    least = keep_masks(scores, np.array([3]), most_first=False)
    assert least[0].ravel()[:3].tolist() == [0, 0, 0]


def test_perfect_map_beats_a_random_map(white_image: np.ndarray) -> None:
    black = ColorPerturber("black")
    good = srg(white_image, perfect_map(), quadrant_model, 0, black)
    noise = srg(white_image, np.random.default_rng(0).random((SIZE, SIZE)), quadrant_model, 0, black)
    inverted = srg(white_image, -perfect_map(), quadrant_model, 0, black)
    assert good.srg > noise.srg + 0.3 > inverted.srg + 0.6
    assert good.lif.shape == good.mif.shape == (10,)
    assert good.lif[0] == good.mif[0] == pytest.approx(1.0) and good.lif[-1] == good.mif[-1] == pytest.approx(0.0)
    assert good.srg == pytest.approx(good.lif_auc - good.mif_auc)
    assert good.norm_srg == pytest.approx(good.srg)  # the curves already run from 1 to 0


def test_srg_depends_only_on_the_pixel_ordering(white_image: np.ndarray) -> None:
    relevance = np.random.default_rng(1).random((SIZE, SIZE)) + perfect_map()
    black = ColorPerturber("black")
    plain = srg(white_image, relevance, quadrant_model, 0, black, steps=7)
    transformed = srg(white_image, np.exp(3 * relevance) - 5, quadrant_model, 0, black, steps=7)
    np.testing.assert_allclose(plain.lif, transformed.lif)
    np.testing.assert_allclose(plain.mif, transformed.mif)


def test_normalised_srg_is_nan_when_the_class_does_not_react(white_image: np.ndarray) -> None:
    flat = srg(white_image, perfect_map(), lambda images: np.ones((len(images), 2)), 0)
    assert flat.srg == 0.0 and np.isnan(flat.norm_srg)


def test_deletion_and_insertion_prefer_the_perfect_map(white_image: np.ndarray) -> None:
    good = causal_curves(white_image, perfect_map(), quadrant_model, 0, steps=9)
    bad = causal_curves(white_image, -perfect_map(), quadrant_model, 0, steps=9)
    assert good.deletion.shape == (9,)
    assert good.deletion_auc < bad.deletion_auc
    assert good.insertion[0] == pytest.approx(bad.insertion[0])  # both start from the blurred image
