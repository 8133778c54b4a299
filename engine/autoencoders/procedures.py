"""The six encoder/decoder procedures and their three losses.

A procedure id reads *encoder input - decoder output - loss*: ``I`` is the image, ``F`` the loss
network's features of the image; ``PW`` pixel-wise MSE, ``PS`` deep perceptual MSE (features of the
reconstruction against features of the image, gradients through the frozen loss network), ``FP``
feature prediction (the decoder outputs the feature vector itself; MSE against the features of the
image, which never depend on the model and are therefore computed once and cached).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch.nn import functional as F

from engine.errors import InputError

Side = Literal["image", "features"]
LossKind = Literal["pixel", "perceptual", "feature"]


@dataclass(frozen=True)
class Procedure:
    """One procedure: what the encoder reads, what the decoder outputs, which loss trains them."""

    id: str
    encoder: Side
    decoder: Side
    loss: LossKind
    title: str

    @property
    def needs_loss_network(self) -> bool:
        """Whether the loss network takes part in training (all but I-I-PW)."""
        return self.loss != "pixel" or self.encoder == "features"

    @property
    def uses_feature_vectors(self) -> bool:
        """Whether flat (possibly pooled) feature vectors are an input or the target."""
        return self.encoder == "features" or self.decoder == "features"


PROCEDURES: dict[str, Procedure] = {
    procedure.id: procedure
    for procedure in (
        Procedure("I-I-PW", "image", "image", "pixel", "image to image, pixel-wise loss"),
        Procedure("I-I-PS", "image", "image", "perceptual", "image to image, deep perceptual loss"),
        Procedure("I-F-FP", "image", "features", "feature", "image to features, feature-prediction loss"),
        Procedure("F-F-FP", "features", "features", "feature", "features to features, feature-prediction loss"),
        Procedure("F-I-PS", "features", "image", "perceptual", "features to image, deep perceptual loss"),
        Procedure("F-I-PW", "features", "image", "pixel", "features to image, pixel-wise loss"),
    )
}


def procedure(name: str) -> Procedure:
    """The procedure called ``name`` (e.g. ``I-F-FP``); raises :class:`InputError` listing them."""
    try:
        return PROCEDURES[name.strip().upper()]
    except (KeyError, AttributeError):
        raise InputError(f"Unknown procedure {name!r}; choose from {', '.join(PROCEDURES)}.") from None


def pixel_loss(reconstruction: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Mean squared error over pixels, channels and the batch (both ``[B, 3, H, W]`` in 0..1)."""
    return F.mse_loss(reconstruction, images)


def feature_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between feature tensors of the same shape (perceptual and feature prediction)."""
    return F.mse_loss(predicted, target)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``-mean(1 + logvar - mu^2 - exp(logvar))`` over batch *and* latent dimensions.

    This is the papers' scaling (no factor 1/2, a mean instead of a sum over dimensions); it is
    multiplied by gamma, so it only changes what a given gamma means.
    """
    return -torch.mean(1 + logvar - mu.square() - logvar.exp())
