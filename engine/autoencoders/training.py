"""Train one autoencoder procedure on the shared loop, with cached loss-network features and wall-clock epochs.

:func:`train_autoencoder` is what ``python -m trainers.autoencoder``, the Perceptual loss tab's job and
the benchmark all run. Features of the training images that the procedure needs (the feature
encoders' input, the feature-prediction target, the perceptual loss's target maps) are computed once
under ``no_grad`` before the first epoch, so an epoch of I-F-FP never runs the loss network at all
and an epoch of I-I-PS runs it on the reconstructions only. Each epoch's training steps are timed
with the wall clock (``time.perf_counter``, after synchronising the GPU), not process time, which
undercounts GPU work and overcounts multi-threaded CPU work. The weights with the best validation
loss are kept (the papers' early-stopping checkpoint).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file

from engine import distributed, training
from engine.autoencoders.data import ImageData, check_size, split
from engine.autoencoders.loss_networks import (
    DEFAULT_MAX_DIM,
    FeatureLayout,
    LossNetwork,
    compute_features,
    feature_layout,
    to_vectors,
)
from engine.autoencoders.models import Autoencoder, build_autoencoder
from engine.autoencoders.procedures import Procedure, feature_loss, kl_divergence, pixel_loss, procedure
from engine.errors import InputError

MAP_CACHE_LIMIT_BYTES = 1_500_000_000  # perceptual target maps above this are recomputed per batch instead
MODEL_FILE = "autoencoder.safetensors"
MODEL_CONFIG_FILE = "autoencoder.json"
BEST_SUFFIX = ".best.pt"  # the best validation weights, beside the checkpoint they belong to


@dataclass(frozen=True)
class AutoencoderConfig:
    """What to train and how.

    Attributes:
        procedure: one of :data:`engine.autoencoders.procedures.PROCEDURES` (e.g. ``I-F-FP``).
        loss_net: the loss network's layer as ``arch.layer`` (unused by I-I-PW).
        weights: the loss network's weights (``random`` for tests only; labelled RANDOM).
        normalize: feed the loss network the input normalisation its weights expect (the papers fed 0..1;
            with MobileNetV2 that plus a sigmoid saturates and the perceptual loss barely trains).
        sigmoid: squash loss-network outputs with a sigmoid (the first paper did).
        latent: z, the embedding size.
        gamma: weight of the KL term; non-zero makes the model variational.
        epochs, batch_size, lr: Adam training settings.
        seed: initialisation, shuffling and sampling.
        max_feature_dim: feature vectors longer than this are average-pooled (see :mod:`.loss_networks`).
        validation_fraction: share of the images held out to pick the best epoch.
    """

    procedure: str = "I-I-PS"
    loss_net: str = "mobilenet_v2.block6"
    weights: Literal["pretrained", "random"] = "pretrained"
    normalize: bool = True
    sigmoid: bool = False
    latent: int = 64
    gamma: float = 0.0
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    max_feature_dim: int = DEFAULT_MAX_DIM
    validation_fraction: float = 0.1

    def checked(self) -> AutoencoderConfig:
        """This config with the procedure's canonical name, after checking every value (:class:`InputError`)."""
        chosen = procedure(self.procedure)
        if self.weights not in ("pretrained", "random"):
            raise InputError(f"Loss-network weights must be 'pretrained' or 'random', not {self.weights!r}.")
        for name, value, low in (("epochs", self.epochs, 1), ("batch size", self.batch_size, 1),
                                 ("latent size", self.latent, 1), ("max feature dim", self.max_feature_dim, 1)):
            if int(value) < low:
                raise InputError(f"The {name} must be at least {low}, not {value}.")
        if not self.lr > 0 or self.gamma < 0 or not 0 < self.validation_fraction < 0.5:
            raise InputError("Need lr > 0, gamma >= 0 and a validation fraction between 0 and 0.5.")
        return replace(self, procedure=chosen.id)


def _now(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


@dataclass
class TrainedAutoencoder:
    """A trained model with what is needed to use and describe it.

    Attributes:
        config: how it was trained.
        model: the autoencoder (eval mode, best validation weights).
        loss_network: the frozen loss network (None for I-I-PW).
        layout: how loss-network maps become vectors (None when no vectors are used).
        size: image side in pixels.
        history: losses per step and metrics per epoch (``epoch_seconds``, ``val_loss``).
        cache_seconds: wall-clock seconds spent computing the feature cache (0 when none).
    """

    config: AutoencoderConfig
    model: Autoencoder
    loss_network: LossNetwork | None
    layout: FeatureLayout | None
    size: int
    history: training.History = field(default_factory=training.History)
    cache_seconds: float = 0.0

    @property
    def procedure(self) -> Procedure:
        """The trained procedure."""
        return procedure(self.config.procedure)

    @property
    def epoch_seconds(self) -> list[float]:
        """Wall-clock seconds of each epoch's training steps."""
        return [metrics["epoch_seconds"] for metrics in self.history.epoch_metrics if "epoch_seconds" in metrics]

    @property
    def validation_losses(self) -> list[float]:
        """Validation loss after each epoch."""
        return [metrics["val_loss"] for metrics in self.history.epoch_metrics if "val_loss" in metrics]

    @property
    def device(self) -> torch.device:
        """Where the model lives."""
        return next(self.model.parameters()).device

    @property
    def provenance(self) -> str:
        """Procedure and loss network with its weights' provenance (RANDOM when random)."""
        if self.loss_network is None:
            return f"{self.procedure.id}: pixel-wise loss, no loss network"
        vectors = f"; feature vectors {self.layout.label}" if self.layout else ""
        return f"{self.procedure.id} with loss network {self.loss_network.label}{vectors}"

    def encoder_inputs(self, images: torch.Tensor) -> torch.Tensor:
        """What the encoder reads for ``images``: the images or their feature vectors."""
        images = images.to(self.device)
        if self.procedure.encoder == "image":
            return images
        assert self.loss_network is not None and self.layout is not None
        with torch.no_grad():
            return to_vectors(self.loss_network(images), self.layout)

    def targets(self, images: torch.Tensor) -> torch.Tensor:
        """What the decoder should output for ``images``: the images or their feature vectors."""
        if self.procedure.decoder == "image":
            return images.to(self.device)
        assert self.loss_network is not None and self.layout is not None
        with torch.no_grad():
            return to_vectors(self.loss_network(images.to(self.device)), self.layout)

    def embed(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """The embeddings ``mu`` (``float32 [N, z]``, on the CPU) of ``[N, 3, S, S]`` images in 0..1."""
        self.model.eval()
        parts = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                parts.append(self.model.encode(self.encoder_inputs(images[start:start + batch_size])).cpu())
        return torch.cat(parts)

    def decode(self, images: torch.Tensor) -> torch.Tensor:
        """The model's outputs for ``images``: reconstructions ``[B, 3, S, S]`` or feature vectors ``[B, P]``."""
        self.model.eval()
        with torch.no_grad():
            return self.model(self.encoder_inputs(images)).output.cpu()

    def save(self, folder: str | Path) -> Path:
        """Write the weights (safetensors) and a JSON description to ``folder``; returns the weights file."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous().cpu() for k, v in self.model.state_dict().items()}, str(folder / MODEL_FILE))
        description = {"config": asdict(self.config), "size": self.size,
                       "layout": asdict(self.layout) if self.layout else None, "provenance": self.provenance}
        (folder / MODEL_CONFIG_FILE).write_text(json.dumps(description, indent=2))
        return folder / MODEL_FILE


def load_trained(folder: str | Path, device: str = "cpu") -> TrainedAutoencoder:
    """A model saved by :meth:`TrainedAutoencoder.save` (its loss network is rebuilt the same way).

    Raises:
        InputError: the folder holds no saved autoencoder.
    """
    folder = Path(folder)
    if not (folder / MODEL_FILE).is_file() or not (folder / MODEL_CONFIG_FILE).is_file():
        raise InputError(f"{folder.name} holds no trained autoencoder ({MODEL_FILE} and {MODEL_CONFIG_FILE}).")
    description = json.loads((folder / MODEL_CONFIG_FILE).read_text())
    config = AutoencoderConfig(**description["config"])
    layout = FeatureLayout(**description["layout"]) if description["layout"] else None
    chosen = procedure(config.procedure)
    loss_network = _loss_network(config, device) if chosen.needs_loss_network else None
    model = build_autoencoder(chosen, description["size"], config.latent, layout.dim if layout else 0,
                              config.gamma != 0)
    model.load_state_dict(load_file(str(folder / MODEL_FILE)))
    return TrainedAutoencoder(config, model.to(device).eval(), loss_network, layout, description["size"])


def _loss_network(config: AutoencoderConfig, device: str) -> LossNetwork:
    return LossNetwork(config.loss_net, weights=config.weights, normalize=config.normalize, sigmoid=config.sigmoid,
                       device=device, seed=config.seed)


def _best_weights(path: Path | None) -> tuple[float, dict[str, torch.Tensor] | None]:
    if path is None or not path.is_file():
        return float("inf"), None
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return float(saved["val_loss"]), saved["model"]


def train_autoencoder(
    config: AutoencoderConfig,
    data: ImageData,
    device: str = "cpu",
    checkpoint: Path | None = None,
    resume: bool = False,
    on_progress: Callable[[training.Progress], None] | None = None,
    on_cache: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[int, TrainedAutoencoder], None] | None = None,
    show_bar: bool = True,
) -> TrainedAutoencoder:
    """Train ``config.procedure`` on ``data``'s images; keep the weights with the best validation loss.

    Args:
        config: what to train (checked first).
        data: the images (their labels are not used here).
        device: where to train; under ``torchrun`` each rank takes its own share of every epoch.
        checkpoint: where to keep the resumable checkpoint (the best weights go beside it, ``<stem>.best.pt``).
        resume: continue from ``checkpoint``.
        on_progress: after every step (see :func:`engine.training.fit`; may raise Cancelled).
        on_cache: (images done, total) while features are cached (may raise Cancelled).
        on_epoch: after each epoch's validation, with the epoch index and the model so far (for previews).
        show_bar: tqdm bars on the command line.

    Raises:
        InputError: a bad config, too few images or an unusable image size.
        WeightsError: the loss network's pretrained weights are missing (with how to add them).
    """
    config = config.checked()
    chosen = procedure(config.procedure)
    size = check_size(data.size)
    if len(data) < 4:
        raise InputError(f"Training needs at least 4 images, not {len(data)}.")
    rank = distributed.setup(device)
    torch.manual_seed(config.seed)
    loss_network = _loss_network(config, str(rank.device)) if chosen.needs_loss_network else None
    layout = None
    if chosen.uses_feature_vectors:
        assert loss_network is not None
        layout = feature_layout(loss_network.map_shape(size), config.max_feature_dim)
    model = build_autoencoder(chosen, size, config.latent, layout.dim if layout else 0, config.gamma != 0)
    model.to(rank.device)
    trained = TrainedAutoencoder(config, model, loss_network, layout, size)
    parts = split(len(data), validation=config.validation_fraction, test=0.0, seed=config.seed)
    images = data.images.to(rank.device)

    started = time.perf_counter()
    vectors = maps = None
    if layout is not None:
        assert loss_network is not None
        vectors = compute_features(loss_network, images, layout, on_batch=on_cache)
    if chosen.loss == "perceptual":
        assert loss_network is not None
        channels, height, width = loss_network.map_shape(size)
        if len(images) * channels * height * width * 4 <= MAP_CACHE_LIMIT_BYTES:
            maps = compute_features(loss_network, images, None, on_batch=on_cache)
    trained.cache_seconds = time.perf_counter() - started if loss_network is not None else 0.0

    def encoder_input(index: torch.Tensor) -> torch.Tensor:
        return images[index] if chosen.encoder == "image" else vectors[index]  # type: ignore[index]

    def loss_of(output: Any, index: torch.Tensor) -> dict[str, torch.Tensor]:
        if chosen.loss == "pixel":
            reconstruction = pixel_loss(output.output, images[index])
        elif chosen.loss == "feature":
            reconstruction = feature_loss(output.output, vectors[index])  # type: ignore[index]
        else:
            assert loss_network is not None
            if maps is not None:
                target = maps[index]
            else:
                with torch.no_grad():
                    target = loss_network(images[index])
            reconstruction = feature_loss(loss_network(output.output), target)
        losses = {"loss": reconstruction, "reconstruction": reconstruction.detach()}
        if output.logvar is not None:
            divergence = kl_divergence(output.mu, output.logvar)
            losses["loss"] = reconstruction + config.gamma * divergence
            losses["kld"] = divergence.detach()
        return losses

    wrapped = distributed.wrap(model, rank)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    best_file = checkpoint.with_name(checkpoint.stem + BEST_SUFFIX) if checkpoint is not None else None
    best_loss, best_state = _best_weights(best_file) if resume else (float("inf"), None)
    clock = {"start": 0.0}

    def batches(epoch: int) -> list[torch.Tensor]:
        order = parts.train[torch.randperm(len(parts.train), generator=torch.Generator().manual_seed(
            config.seed * 1000 + epoch))]
        shard = order[rank.rank::rank.world_size]
        clock["start"] = _now(rank.device)
        return list(shard.split(max(1, config.batch_size // rank.world_size)))

    def step(index: torch.Tensor) -> dict[str, torch.Tensor]:
        return loss_of(wrapped(encoder_input(index.to(rank.device))), index.to(rank.device))

    def evaluate(epoch: int) -> dict[str, float]:
        nonlocal best_loss, best_state
        seconds = _now(rank.device) - clock["start"]
        model.eval()
        total = 0.0
        with torch.no_grad():
            for index in parts.validation.split(256):
                index = index.to(rank.device)
                total += float(loss_of(model(encoder_input(index)), index)["loss"]) * len(index)
        validation = total / len(parts.validation)
        if validation < best_loss:
            best_loss = validation
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if best_file is not None and distributed.is_main_process():
                best_file.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"model": best_state, "val_loss": validation}, best_file)
        if on_epoch is not None:
            on_epoch(epoch, trained)
        return {"epoch_seconds": seconds, "val_loss": validation}

    trained.history = training.fit(wrapped, step, batches, optimizer, config.epochs, evaluate=evaluate,
                                   on_progress=on_progress, checkpoint=checkpoint, resume=resume,
                                   show_bar=show_bar, description=chosen.id)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return trained
