"""Toy models with known answers for the explanation tests."""

from __future__ import annotations

import numpy as np
import pytest

from engine.explain.classifier import FunctionClassifier

SIZE = 32


def quadrant_model(images: np.ndarray) -> np.ndarray:
    """Looks only at the top-left quadrant: class 0 is its mean brightness, class 1 the rest of the mass."""
    half = images.shape[1] // 2
    seen = images[:, :half, :half].mean(axis=(1, 2, 3))
    return np.stack([seen, 1.0 - seen], axis=1)


@pytest.fixture
def quadrant_classifier() -> FunctionClassifier:
    """A 32 x 32 'model' whose class 0 depends on the top-left quadrant only."""
    return FunctionClassifier(quadrant_model, ["top-left", "other"], (SIZE, SIZE), provenance="toy quadrant model")


@pytest.fixture
def white_image() -> np.ndarray:
    """An all-white 32 x 32 image: perturbing to black lowers the quadrant model's class 0."""
    return np.ones((SIZE, SIZE, 3), dtype=np.float32)
