"""engine.autoencoders.loss_networks: named layers, pooled vectors for huge maps, features cached once."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from engine.autoencoders.loss_networks import LossNetwork, compute_features, feature_layout, to_vectors
from engine.errors import InputError


def test_small_maps_stay_whole_and_huge_ones_are_pooled_to_fit() -> None:
    assert feature_layout((192, 7, 7)).dim == 9408 and feature_layout((192, 7, 7)).side is None  # AlexNet relu2
    vgg = feature_layout((256, 16, 16))  # VGG-16 relu3_3 at 64 px: 65,536 numbers
    assert vgg.side == 8 and vgg.dim == 16384 and "pooled to 256 x 8 x 8" in vgg.label
    assert feature_layout((512, 4, 4), max_dim=100).side == 1  # at least a channel vector


def test_pooled_vectors_are_the_average_of_each_block() -> None:
    maps = torch.rand(2, 3, 8, 8)
    layout = feature_layout((3, 8, 8), max_dim=3 * 16)
    vectors = to_vectors(maps, layout)
    assert vectors.shape == (2, 48)
    expected = F.avg_pool2d(maps, 2).flatten(1)
    torch.testing.assert_close(vectors, expected)


def test_cached_features_equal_a_direct_pass_and_need_no_gradient(random_mobilenet: LossNetwork) -> None:
    images = torch.rand(5, 3, 64, 64)
    calls = []
    cached = compute_features(random_mobilenet, images, None, batch_size=2, on_batch=lambda d, t: calls.append(d))
    assert calls == [2, 4, 5] and not cached.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(cached, random_mobilenet(images), atol=1e-5, rtol=1e-5)
    assert random_mobilenet.map_shape(64) == (16, 32, 32) and tuple(cached.shape) == (5, 16, 32, 32)
    assert bool(((cached > 0) & (cached < 1)).all())  # sigmoid outputs


def test_loss_network_is_labelled_random_and_named_explicitly(random_mobilenet: LossNetwork) -> None:
    assert random_mobilenet.name == "mobilenet_v2.block1" and random_mobilenet.is_random
    assert "RANDOM" in random_mobilenet.label and "no normalisation" in random_mobilenet.label
    with pytest.raises(InputError, match="ARCH.LAYER"):
        LossNetwork("mobilenet_v2", weights="random")
