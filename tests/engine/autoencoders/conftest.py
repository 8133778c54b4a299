"""Shared, session-scoped pieces for the autoencoder tests: tiny scenes and one random-init loss network."""

from __future__ import annotations

import pytest

from engine.autoencoders.data import ImageData, generated
from engine.autoencoders.loss_networks import LossNetwork


@pytest.fixture(scope="session")
def scenes_64() -> ImageData:
    """24 generated 64 px scenes (seed 0)."""
    return generated(24, 64, seed=0)


@pytest.fixture(scope="session")
def random_mobilenet() -> LossNetwork:
    """MobileNetV2 block1 with RANDOM weights (tests only), no normalisation, sigmoid outputs."""
    return LossNetwork("mobilenet_v2.block1", weights="random", normalize=False, sigmoid=True)  # paper (a)'s
