"""Shared, session-scoped metrics for the similarity tests (random-init backbones: tests only)."""

from __future__ import annotations

import pytest

from engine.backbones import FeatureExtractor
from engine.similarity.metric import DeepPerceptualSimilarity


@pytest.fixture(scope="session")
def alexnet_random() -> FeatureExtractor:
    """A random-init AlexNet at the LPIPS layers (seed 0)."""
    return FeatureExtractor("alexnet", weights="random", seed=0)


@pytest.fixture(scope="session")
def alex_metric(alexnet_random: FeatureExtractor) -> DeepPerceptualSimilarity:
    """The spatial, channel-normalised metric on the random AlexNet."""
    return DeepPerceptualSimilarity(alexnet_random).eval()
