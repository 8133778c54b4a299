"""The loss network: one named layer of a frozen backbone, and the feature vectors cached from it.

A :class:`LossNetwork` is deliberately *not* a submodule of the autoencoder: the parent's
``.train()`` can never reach it, its weights are never in the autoencoder's checkpoints or DDP
buckets, and the extractor itself refuses train mode (BatchNorm statistics stay frozen).

Flat feature vectors (the feature-prediction target and the feature encoders' input) can be huge:
VGG-16 relu3_3 at 64 px is 256 x 16 x 16 = 65,536 numbers, which makes a 134M-parameter output
layer. :func:`feature_layout` therefore average-pools the map to the largest square that keeps the
vector at most ``max_dim`` long, and says so in its label.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch.nn import functional as F

from engine.backbones import FeatureExtractor, parse_layer

DEFAULT_MAX_DIM = 16_384


class LossNetwork:
    """The output of one named layer (``arch.layer``) of a frozen backbone.

    Input ``[B, 3, H, W]`` in 0..1; output ``[B, C, h, w]``, differentiable with respect to the input.

    Args:
        layer: an explicit name such as ``mobilenet_v2.block3`` or ``vgg16.relu3_3``.
        weights: ``pretrained`` (through :mod:`engine.weights`) or ``random`` (tests only, labelled RANDOM).
        normalize: apply the weights' input normalisation (the papers fed 0..1 images unnormalised).
        sigmoid: squash the outputs with a sigmoid (the first perceptual-autoencoder paper did).
            The defaults use the weights as they were trained; ``normalize=False, sigmoid=True`` is paper (a)'s.
        device: where it runs.
        seed: seed of a random initialisation.
        file: an explicit checkpoint for the backbone.
    """

    def __init__(self, layer: str, weights: Literal["pretrained", "random"] = "pretrained", normalize: bool = True,
                 sigmoid: bool = False, device: str = "cpu", seed: int = 0, file: str | Path | None = None) -> None:
        spec, chosen = parse_layer(layer)
        self.name = spec.qualified(chosen.name)
        self.extractor = FeatureExtractor(spec.arch, [chosen.name], weights=weights, file=file, seed=seed,
                                          device=device, normalize=normalize, sigmoid=sigmoid)
        self.layer = chosen.name

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.extractor(images)[self.layer]

    @property
    def is_random(self) -> bool:
        """True when the backbone is randomly initialised (results mean nothing about the papers)."""
        return self.extractor.info.is_random

    @property
    def label(self) -> str:
        """Layer, input/output options and weights provenance in one line."""
        return f"{self.name} ({self.extractor.options}); {self.extractor.info.label}"

    def map_shape(self, size: int) -> tuple[int, int, int]:
        """``(C, h, w)`` of the output for ``size`` x ``size`` inputs."""
        with torch.no_grad():
            probe = self(torch.zeros(1, 3, size, size, device=self.extractor.device))
        return int(probe.shape[1]), int(probe.shape[2]), int(probe.shape[3])


@dataclass(frozen=True)
class FeatureLayout:
    """How a ``[C, h, w]`` map becomes a flat vector: average-pooled to ``side`` x ``side`` when set."""

    channels: int
    height: int
    width: int
    side: int | None = None

    @property
    def dim(self) -> int:
        """P, the vector length."""
        return self.channels * (self.side**2 if self.side else self.height * self.width)

    @property
    def label(self) -> str:
        """E.g. ``24 x 16 x 16 = 6144`` or ``256 x 16 x 16 pooled to 256 x 8 x 8 = 16384``."""
        full = f"{self.channels} x {self.height} x {self.width}"
        if self.side:
            return f"{full} pooled to {self.channels} x {self.side} x {self.side} = {self.dim}"
        return f"{full} = {self.dim}"


def feature_layout(shape: tuple[int, int, int], max_dim: int = DEFAULT_MAX_DIM) -> FeatureLayout:
    """The layout of a ``(C, h, w)`` map's vector: as it is when ``C*h*w <= max_dim``, else pooled.

    The pooled side is the largest ``s`` with ``C*s*s <= max_dim`` (at least 1: a channel vector).
    """
    channels, height, width = shape
    if channels * height * width <= max_dim:
        return FeatureLayout(channels, height, width)
    side = max(1, min(height, width, math.isqrt(max_dim // channels)))
    return FeatureLayout(channels, height, width, side)


def to_vectors(maps: torch.Tensor, layout: FeatureLayout) -> torch.Tensor:
    """``[B, C, h, w]`` maps -> ``[B, P]`` vectors as ``layout`` says."""
    if layout.side:
        maps = F.adaptive_avg_pool2d(maps, layout.side)
    return maps.flatten(1)


def compute_features(loss_network: LossNetwork, images: torch.Tensor, layout: FeatureLayout | None,
                     batch_size: int = 256, on_batch: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """The loss network's features of every image, once, without gradients.

    Args:
        loss_network: the frozen network.
        images: ``[N, 3, H, W]`` in 0..1 (on any device).
        layout: flatten (and pool) to vectors ``[N, P]``; None keeps the maps ``[N, C, h, w]``.
        batch_size: images per forward pass.
        on_batch: called with (images done, total) after each batch (may raise to cancel).

    Returns:
        float32 features on the loss network's device.
    """
    parts = []
    with torch.no_grad():  # not inference_mode: the results are used as targets in autograd graphs
        for start in range(0, len(images), batch_size):
            maps = loss_network(images[start:start + batch_size])
            parts.append((to_vectors(maps, layout) if layout else maps).contiguous())
            if on_batch is not None:
                on_batch(min(start + batch_size, len(images)), len(images))
    return torch.cat(parts)
