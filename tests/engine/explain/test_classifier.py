"""The torch classifier wrapper: normalisation, softmax, the frozen fast path, registry errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.errors import WorkbenchError
from engine.explain.classifier import TorchClassifier, from_registry, native_bfloat16
from engine.registry import IMAGENET_MEAN, IMAGENET_STD, InputSpec, LoadedModel, ModelSpec, Registry


def tiny_network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3)).eval()


def test_outputs_are_softmax_of_the_normalised_input_and_the_frozen_copy_agrees() -> None:
    network = tiny_network()
    images = np.random.default_rng(0).random((5, 16, 16, 3)).astype(np.float32)
    spec = InputSpec(size=(16, 16))
    fast = TorchClassifier(network, spec, ["a", "b", "c"], "random tiny net (test)", batch_size=2)
    eager = TorchClassifier(network, spec, ["a", "b", "c"], "random tiny net (test)", optimise=False)
    normalised = (torch.from_numpy(images).permute(0, 3, 1, 2) - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = torch.softmax(network(normalised), dim=1).numpy()
    np.testing.assert_allclose(eager(images), expected, atol=1e-6)
    np.testing.assert_allclose(fast(images), expected, atol=1e-5)
    np.testing.assert_allclose(fast(images).sum(axis=1), 1.0, atol=1e-5)
    assert fast(images[:0]).shape == (0, 3)
    assert isinstance(native_bfloat16(), bool)


def test_registry_models_that_are_not_image_classifiers_are_refused() -> None:
    registry = Registry()
    registry.register(ModelSpec("words", "text-classification", "tfidf",
                                lambda: LoadedModel(model=object(), provenance="test"),
                                input_spec=InputSpec(size=None, kind="text")))
    registry.register(ModelSpec("lookup", "image-classification", "table",
                                lambda: LoadedModel(model=object(), provenance="test")))
    with pytest.raises(WorkbenchError, match="choose an image classifier"):
        from_registry(registry, "words")
    with pytest.raises(WorkbenchError, match="not a torch network"):
        from_registry(registry, "lookup")
    with pytest.raises(WorkbenchError, match="No model named"):
        from_registry(registry, "nothing")
