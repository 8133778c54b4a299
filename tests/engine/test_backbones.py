"""engine.backbones: the layer table, normalisation inside, frozen eval mode, clear errors."""

from __future__ import annotations

import copy

import pytest
import torch

from engine.backbones import BACKBONES, FeatureExtractor, availability, backbone
from engine.errors import InputError, WeightsError
from engine.registry import IMAGENET_MEAN, IMAGENET_STD

LPIPS_MAP_SIDES_AT_64 = {"alexnet": [15, 7, 3, 3, 3], "vgg16": [64, 32, 16, 8, 4]}


@pytest.mark.parametrize("arch", list(BACKBONES))
def test_every_layer_has_the_documented_channels_in_order(arch: str) -> None:
    spec = backbone(arch)
    extractor = FeatureExtractor(arch, spec.layer_names, weights="random")
    with torch.inference_mode():
        maps = extractor(torch.rand(2, 3, 64, 64))
    assert list(maps) == spec.layer_names
    assert [m.shape[1] for m in maps.values()] == [layer.channels for layer in spec.layers]
    assert all(m.shape[0] == 2 for m in maps.values())
    assert "RANDOM" in extractor.info.label
    if arch in LPIPS_MAP_SIDES_AT_64:  # the spec's table (section 1.3)
        assert [m.shape[-1] for m in maps.values()] == LPIPS_MAP_SIDES_AT_64[arch]


def test_batches_are_normalised_and_joined_in_one_pass_with_or_without_autograd() -> None:
    extractor = FeatureExtractor("alexnet", ["relu1"], weights="random")
    first, second = torch.rand(2, 3, 40, 40), torch.rand(3, 3, 40, 40)
    with torch.inference_mode():
        joined = extractor.normalized([first, second])
        expected = extractor.normalized([torch.cat([first, second])])
    assert joined.is_contiguous(memory_format=torch.channels_last) and joined.shape == (5, 3, 40, 40)
    torch.testing.assert_close(joined, expected, atol=0, rtol=0)
    tracked = first.clone().requires_grad_(True)
    with_grad = extractor.normalized([tracked, second])
    torch.testing.assert_close(with_grad.detach(), joined)
    with_grad.sum().backward()
    assert tracked.grad is not None and tracked.grad.shape == first.shape
    with pytest.raises(InputError, match="of one size"):
        extractor.normalized([first, torch.rand(1, 3, 32, 32)])


def test_reduced_precision_copy_is_made_once_and_follows_weight_changes() -> None:
    extractor = FeatureExtractor("alexnet", ["relu1", "relu2"], weights="random")
    assert extractor.trunk_in(torch.float32) is extractor.trunk
    low = extractor.trunk_in(torch.bfloat16)
    assert extractor.trunk_in(torch.bfloat16) is low
    assert all(p.dtype == torch.bfloat16 for p in low.parameters())
    assert all(p.dtype == torch.float32 for p in extractor.trunk.parameters())  # the exact weights are untouched
    with torch.no_grad():
        extractor.trunk[0].bias.add_(1.0)  # e.g. an optimiser step of a fine-tuned backbone
    updated = extractor.trunk_in(torch.bfloat16)
    assert updated is not low
    torch.testing.assert_close(updated[0].bias.float(), extractor.trunk[0].bias, atol=1e-2, rtol=1e-2)


def test_imagenet_normalisation_happens_inside() -> None:
    extractor = FeatureExtractor("alexnet", ["relu1"], weights="random")
    images = torch.rand(2, 3, 40, 40)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected = extractor.trunk[:2]((images - mean) / std)
        got = extractor(images)["relu1"]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_layers_come_back_shallow_to_deep_whatever_the_order_asked() -> None:
    extractor = FeatureExtractor("alexnet", ["relu5", "relu2"], weights="random")
    assert extractor.layer_names == ["relu2", "relu5"]
    assert len(extractor.trunk) == 12  # cut after relu5 (index 11)


def test_frozen_eval_mode_survives_train_and_batchnorm_does_not_drift() -> None:
    extractor = FeatureExtractor("resnet18", ["layer1"], weights="random")
    running = extractor.trunk[1].running_mean.clone()
    extractor.train()
    extractor(torch.rand(4, 3, 64, 64))
    assert not extractor.training and not extractor.trunk[1].training
    assert torch.equal(extractor.trunk[1].running_mean, running)
    assert not any(p.requires_grad for p in extractor.parameters())


def test_gradients_reach_the_input() -> None:
    extractor = FeatureExtractor("mobilenet_v2", ["block3"], weights="random")
    images = torch.rand(1, 3, 48, 48, requires_grad=True)
    extractor(images)["block3"].square().mean().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_channels_last_matches_contiguous_layout() -> None:
    extractor = FeatureExtractor("squeezenet1_1", weights="random")
    assert extractor.channels_last
    contiguous = copy.deepcopy(extractor.trunk).to(memory_format=torch.contiguous_format)
    images = torch.rand(2, 3, 64, 64)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected = contiguous((images - mean) / std)
        got = extractor(images)["fire9"]
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_bad_names_and_missing_weights_are_clear_errors() -> None:
    with pytest.raises(InputError, match="choose from alexnet"):
        backbone("lenet")
    with pytest.raises(InputError, match="relu1, relu2"):
        FeatureExtractor("alexnet", ["conv9"], weights="random")
    with pytest.raises(InputError, match=r"\[B, 3, H, W\]"):
        FeatureExtractor("alexnet", ["relu1"], weights="random")(torch.rand(3, 32, 32))
    if availability("vgg16").status != "available":
        with pytest.raises(WeightsError, match="engine.weights add"):
            FeatureExtractor("vgg16")


def test_default_backbone_loads_real_weights_offline() -> None:
    extractor = FeatureExtractor("mobilenet_v2")
    assert extractor.info.status == "available" and "RANDOM" not in extractor.info.label
