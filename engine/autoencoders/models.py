"""The FourLayerCVAE family: convolutional and feature-space encoders and decoders, plain or variational.

Image encoder: four ``Conv2d(k=4, s=2, no padding) -> BatchNorm -> ReLU`` with 32, 64, 128, 256
channels (64 px: 31, 14, 6, 2 pixels; flat 1,024). Image decoder: ``Linear(z -> 1024 g^2)`` (g = (S - 64)
/ 16 + 1), ReLU, then transposed convolutions 1024->128 (k5), 128->64 (k5), 64->32 (k6), 32->3 (k6),
all stride 2, BatchNorm + ReLU after the first three and a sigmoid at the end (64 px: 1, 5, 13, 30, 64).
Feature encoder: ``Linear(P -> h) -> ReLU``; feature decoder: ``Linear(z -> h) -> ReLU -> Linear(h -> P)``
with a linear output, h = min(P / 2, 2048), P the length of the loss network's feature vector.

The embedding is ``mu``; a model is variational when gamma != 0: then it also has a ``logvar`` head
and decodes a sample ``mu + exp(logvar / 2) * noise`` while training (``mu`` itself in eval mode).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from engine.autoencoders.data import check_size
from engine.autoencoders.procedures import Procedure

ENCODER_CHANNELS = (3, 32, 64, 128, 256)
MAX_HIDDEN = 2048


def encoder_side(size: int) -> int:
    """Side of the image encoder's last map for ``size`` px inputs (2 at 64 px, 4 at 96 px)."""
    for _ in range(4):
        size = (size - 4) // 2 + 1
    return size


def hidden_width(features: int) -> int:
    """The feature MLPs' hidden width h = min(P / 2, 2048)."""
    return max(1, min(features // 2, MAX_HIDDEN))


def image_encoder(size: int) -> tuple[nn.Module, int]:
    """The convolutional encoder body for ``size`` px images and the length of its flat output."""
    check_size(size)
    layers: list[nn.Module] = []
    for inputs, outputs in zip(ENCODER_CHANNELS, ENCODER_CHANNELS[1:]):
        layers += [nn.Conv2d(inputs, outputs, 4, stride=2), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.Flatten()), ENCODER_CHANNELS[-1] * encoder_side(size) ** 2


def feature_encoder(features: int) -> tuple[nn.Module, int]:
    """The feature encoder body for P = ``features`` and the length of its output (h)."""
    width = hidden_width(features)
    return nn.Sequential(nn.Linear(features, width), nn.ReLU(inplace=True)), width


def image_decoder(size: int, latent: int) -> nn.Module:
    """The transposed-convolution decoder: ``[B, z]`` -> ``[B, 3, size, size]`` in 0..1."""
    grid = (check_size(size) - 64) // 16 + 1

    def up(inputs: int, outputs: int, kernel: int) -> list[nn.Module]:
        return [nn.ConvTranspose2d(inputs, outputs, kernel, stride=2), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True)]

    return nn.Sequential(nn.Linear(latent, 1024 * grid * grid), nn.ReLU(inplace=True),
                         nn.Unflatten(1, (1024, grid, grid)), *up(1024, 128, 5), *up(128, 64, 5), *up(64, 32, 6),
                         nn.ConvTranspose2d(32, 3, 6, stride=2), nn.Sigmoid())


def feature_decoder(latent: int, features: int) -> nn.Module:
    """The feature-prediction decoder: ``[B, z]`` -> ``[B, P]`` (linear output)."""
    width = hidden_width(features)
    return nn.Sequential(nn.Linear(latent, width), nn.ReLU(inplace=True), nn.Linear(width, features))


class Output(NamedTuple):
    """What the autoencoder returns: the decoder's ``output`` and the latent ``mu`` (and ``logvar``)."""

    output: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor | None


class Autoencoder(nn.Module):
    """Encoder body -> ``mu`` (and ``logvar`` when variational) -> decoder.

    Args:
        body: maps the encoder input to a flat vector of ``body_features``.
        body_features: length of that vector.
        latent: z, the embedding size.
        decoder: maps ``[B, z]`` to the output.
        variational: add the ``logvar`` head and sample while training.
    """

    def __init__(self, body: nn.Module, body_features: int, latent: int, decoder: nn.Module,
                 variational: bool) -> None:
        super().__init__()
        self.body = body
        self.mu = nn.Linear(body_features, latent)
        self.logvar = nn.Linear(body_features, latent) if variational else None
        self.decoder = decoder

    @property
    def variational(self) -> bool:
        """Whether this is a VAE."""
        return self.logvar is not None

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """The embedding ``mu`` (``[B, z]``) of encoder inputs."""
        return self.mu(self.body(inputs))

    def forward(self, inputs: torch.Tensor) -> Output:
        """Encode and decode a batch (a sample of the posterior while training a VAE)."""
        hidden = self.body(inputs)
        mu = self.mu(hidden)
        if self.logvar is None:
            return Output(self.decoder(mu), mu, None)
        logvar = self.logvar(hidden)
        latent = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return Output(self.decoder(latent), mu, logvar)


def build_autoencoder(chosen: Procedure, size: int, latent: int = 64, features: int = 0,
                      variational: bool = False) -> Autoencoder:
    """The model of a procedure for ``size`` px images; ``features`` is P for feature-space sides."""
    if chosen.uses_feature_vectors and features < 1:
        raise ValueError(f"{chosen.id} needs the feature vector length P.")
    body, body_features = image_encoder(size) if chosen.encoder == "image" else feature_encoder(features)
    decoder = image_decoder(size, latent) if chosen.decoder == "image" else feature_decoder(latent, features)
    return Autoencoder(body, body_features, latent, decoder, variational)
