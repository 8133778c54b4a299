"""The torch classifier wrapper: normalisation, softmax, the frozen fast path, precision, registry errors.

Exact float32 is the default whatever the processor; the bfloat16 fast mode is tested on both paths by
forcing the answer of ``native_bfloat16`` (autocast runs on any CPU, only slower where it is emulated),
so nothing here depends on the machine's instruction set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.errors import WorkbenchError
from engine.explain import classifier as classifier_module
from engine.explain.classifier import FunctionClassifier, TorchClassifier, at_precision, from_registry, native_bfloat16
from engine.registry import IMAGENET_MEAN, IMAGENET_STD, InputSpec, LoadedModel, ModelSpec, Registry


def tiny_network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3)).eval()


def expected_float32(network: nn.Module, images: np.ndarray) -> np.ndarray:
    normalised = (torch.from_numpy(images).permute(0, 3, 1, 2) - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return torch.softmax(network(normalised), dim=1).numpy()


@pytest.mark.parametrize("native", [True, False])
def test_outputs_are_softmax_of_the_normalised_input_and_the_frozen_copy_agrees(
        native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact float32 by default, on CPUs with and without native bfloat16."""
    monkeypatch.setattr(classifier_module, "native_bfloat16", lambda: native)
    network = tiny_network()
    images = np.random.default_rng(0).random((5, 16, 16, 3)).astype(np.float32)
    spec = InputSpec(size=(16, 16))
    fast = TorchClassifier(network, spec, ["a", "b", "c"], "random tiny net (test)", batch_size=2)
    eager = TorchClassifier(network, spec, ["a", "b", "c"], "random tiny net (test)", optimise=False)
    expected = expected_float32(network, images)
    np.testing.assert_allclose(eager(images), expected, atol=1e-6)
    np.testing.assert_allclose(fast(images), expected, atol=1e-5)
    np.testing.assert_allclose(fast(images).sum(axis=1), 1.0, atol=1e-5)
    assert fast(images[:0]).shape == (0, 3)
    assert not fast.bfloat16 and fast.provenance == "random tiny net (test)"
    assert isinstance(native_bfloat16(), bool)


def test_bfloat16_fast_mode_where_native_and_labelled_float32_where_not(monkeypatch: pytest.MonkeyPatch) -> None:
    network = tiny_network()
    images = np.random.default_rng(1).random((6, 16, 16, 3)).astype(np.float32)
    exact = TorchClassifier(network, InputSpec(size=(16, 16)), ["a", "b", "c"], "tiny net")
    monkeypatch.setattr(classifier_module, "native_bfloat16", lambda: True)
    fast = exact.at_precision(bfloat16=True)
    assert fast.bfloat16 and fast.provenance == "tiny net · bfloat16 fast mode"
    difference = np.abs(fast(images) - expected_float32(network, images)).max()
    assert 0 < difference < 0.05  # really computed in bfloat16, and close
    assert fast.at_precision(bfloat16=True) is fast and at_precision(fast, "float32").provenance == "tiny net"
    monkeypatch.setattr(classifier_module, "native_bfloat16", lambda: False)
    emulated = exact.at_precision(bfloat16=True)
    assert not emulated.bfloat16 and "no native bfloat16" in emulated.provenance
    np.testing.assert_array_equal(emulated(images), exact(images))  # stays exact float32 where bf16 would crawl
    toy = FunctionClassifier(lambda batch: batch.mean(axis=(1, 2)), ["r", "g", "b"])
    assert at_precision(toy, "float32") is toy
    with pytest.raises(WorkbenchError, match="needs a torch network"):
        at_precision(toy, "bfloat16")


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
