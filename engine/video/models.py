"""The networks of the rater: a frozen visual encoder with a trained head, an audio network, late fusion.

Visual branch (the encoder is frozen; only the head is trained, so embeddings are computed once per clip):

- ``mobilenet_v2`` (offline default): MobileNetV2 ImageNet features of each sampled frame (1280-d,
  global average pooled), pooled over time as ``[mean, max, mean |difference of consecutive frames|]``
  (3840-d: what is shown, its strongest moments, how much it changes), in the spirit of temporal
  segment networks;
- ``r2plus1d_18``: torchvision's R(2+1)D-18 with Kinetics-400 weights, when its file has been added
  through :mod:`engine.weights` (512-d clip embedding of 16 frames at 112 x 112).

Audio branch: a small CNN (default; cheap on CPU) or a ResNet-18 with one input channel (VidHarm's
choice, trained from scratch here since its Kinetics-audio initialisation cannot be obtained) on the
normalised log-mel spectrogram ``[B, 1, 128, T]``. The CNN keeps the frequency axis (pooling over
time only), so *which* band sounds is visible to its classifier.

Fusion of the two softmax outputs (VidHarm's late fusion): ``product`` (the default; independent
modalities, renormalised), ``mean``, ``max`` (the modality with the higher expected level) and
``learned`` (a small MLP on the log-probabilities, trained on held-out predictions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from engine.backbones import FeatureExtractor
from engine.errors import InputError
from engine.video.labels import LEVELS
from engine.weights import WeightsInfo

FUSION_RULES: tuple[str, ...] = ("product", "mean", "max", "learned")
AUDIO_ARCHS: tuple[str, ...] = ("cnn", "resnet18")
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
_EPS = 1e-7


@dataclass(frozen=True)
class VisualArch:
    """A visual encoder choice and its natural input: square frames of ``size`` px, ``frames`` per window."""

    title: str
    size: int
    frames: int


VISUAL_ARCHS: dict[str, VisualArch] = {
    "mobilenet_v2": VisualArch("MobileNetV2 (ImageNet) per frame + temporal pooling", 128, 8),
    "r2plus1d_18": VisualArch("R(2+1)D-18 (Kinetics-400)", 112, 16),
}


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a rater's architecture and input sampling (saved with the model).

    Attributes:
        visual_arch: a key of :data:`VISUAL_ARCHS`.
        visual_weights: ``pretrained`` (through engine.weights) or ``random`` (tests only, labelled RANDOM).
        frame_size: side of the square frames in pixels (short side scaled to it, centre crop).
        frames_per_window: frames sampled evenly by timestamp in each window.
        audio_arch: ``cnn`` or ``resnet18``.
        audio_width: channels of the CNN's first block (doubling per block).
        window_s: window length in seconds (VidHarm's clips are 10 s).
        fusion: the default fusion rule, one of :data:`FUSION_RULES`.
        seed: initialisation seed of the trained parts (and of random encoders).
    """

    visual_arch: str = "mobilenet_v2"
    visual_weights: Literal["pretrained", "random"] = "pretrained"
    frame_size: int = VISUAL_ARCHS["mobilenet_v2"].size
    frames_per_window: int = VISUAL_ARCHS["mobilenet_v2"].frames
    audio_arch: str = "cnn"
    audio_width: int = 16
    window_s: float = 10.0
    fusion: str = "product"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.visual_arch not in VISUAL_ARCHS:
            raise InputError(f"Unknown visual encoder {self.visual_arch!r}; choose from {', '.join(VISUAL_ARCHS)}.")
        if self.audio_arch not in AUDIO_ARCHS:
            raise InputError(f"Unknown audio network {self.audio_arch!r}; choose from {', '.join(AUDIO_ARCHS)}.")
        if self.fusion not in FUSION_RULES:
            raise InputError(f"Unknown fusion rule {self.fusion!r}; choose from {', '.join(FUSION_RULES)}.")
        if not (16 <= self.frame_size <= 512 and 1 <= self.frames_per_window <= 64 and 1.0 <= self.window_s <= 60):
            raise InputError("frame_size must be 16..512 px, frames_per_window 1..64 and window_s 1..60 s.")

    @classmethod
    def for_arch(cls, visual_arch: str, **overrides: Any) -> ModelConfig:
        """The config with ``visual_arch``'s natural frame size and count, then ``overrides``."""
        arch = VISUAL_ARCHS.get(visual_arch)
        natural = {"frame_size": arch.size, "frames_per_window": arch.frames} if arch else {}
        values = {**natural, **{k: v for k, v in overrides.items() if v is not None}}
        return cls(visual_arch=visual_arch, **values)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Read a saved config (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        """Plain values for the model's JSON file."""
        return asdict(self)


class FrameEncoder(nn.Module):
    """Frozen MobileNetV2 (ImageNet) frame features pooled over time.

    ``frame_features``: ``uint8 [N, S, S, 3]`` -> ``float32 [N, 1280]``;
    ``clip_embedding``: ``[B, T, 1280]`` -> ``[B, 3840]`` (mean, max, mean absolute temporal difference).
    """

    per_frame_dim = 1280

    def __init__(self, weights: Literal["pretrained", "random"] = "pretrained", seed: int = 0,
                 device: str = "cpu") -> None:
        super().__init__()
        self.extractor = FeatureExtractor("mobilenet_v2", ["conv_last"], weights=weights, seed=seed, device=device)
        self.info: WeightsInfo = self.extractor.info
        self.dim = 3 * self.per_frame_dim

    @torch.inference_mode()
    def frame_features(self, frames: np.ndarray) -> torch.Tensor:
        images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
        return self.extractor(images)["conv_last"].mean(dim=(2, 3)).float().cpu()

    def clip_embedding(self, per_frame: torch.Tensor) -> torch.Tensor:
        change = (per_frame[:, 1:] - per_frame[:, :-1]).abs().mean(dim=1) if per_frame.shape[1] > 1 \
            else torch.zeros_like(per_frame[:, 0])
        return torch.cat([per_frame.mean(dim=1), per_frame.amax(dim=1), change], dim=1)


class KineticsEncoder(nn.Module):
    """Frozen R(2+1)D-18 (Kinetics-400) clip embeddings.

    ``frame_features`` keeps the frames (``uint8 [N, S, S, 3]``); ``clip_embedding``: ``[B, T, S, S, 3]``
    -> ``[B, 512]`` after Kinetics normalisation.
    """

    def __init__(self, weights: Literal["pretrained", "random"] = "pretrained", seed: int = 0,
                 device: str = "cpu") -> None:
        super().__init__()
        from engine import weights as weights_module

        network, self.info = weights_module.build("r2plus1d_18", weights=weights, seed=seed)
        network.fc = nn.Identity()
        self.network = network.requires_grad_(False).to(device).eval()
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1), persistent=False)
        self.to(device)
        self.dim = 512

    def train(self, mode: bool = True) -> KineticsEncoder:
        """Stay in eval mode (frozen BatchNorm statistics)."""
        return super().train(False)

    def frame_features(self, frames: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(frames, dtype=np.uint8))

    @torch.inference_mode()
    def clip_embedding(self, per_frame: torch.Tensor) -> torch.Tensor:
        clips = per_frame.to(self.mean.device).permute(0, 4, 1, 2, 3).float() / 255.0  # [B, 3, T, S, S]
        return self.network((clips - self.mean) / self.std).float().cpu()


VisualEncoder = FrameEncoder | KineticsEncoder


def build_encoder(config: ModelConfig, device: str = "cpu") -> VisualEncoder:
    """The frozen visual encoder of ``config`` (raises WeightsError with how to add missing weights)."""
    builder: Callable[..., VisualEncoder] = FrameEncoder if config.visual_arch == "mobilenet_v2" else KineticsEncoder
    return builder(weights=config.visual_weights, seed=config.seed, device=device)


def encoder_dim(config: ModelConfig) -> int:
    """Size of the visual clip embedding of ``config``'s encoder."""
    return 3 * FrameEncoder.per_frame_dim if config.visual_arch == "mobilenet_v2" else 512


class VisualHead(nn.Module):
    """Clip embedding ``[B, D]`` -> logits ``[B, 4]``: layer norm, dropout 0.5, linear (VidHarm's head dropout)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.LayerNorm(dim), nn.Dropout(0.5), nn.Linear(dim, len(LEVELS)))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers(embeddings)


def _block(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False), nn.BatchNorm2d(channels_out),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


class AudioCNN(nn.Module):
    """Log-mel ``[B, 1, F, T]`` (``T >= 16``) -> logits ``[B, 4]``.

    Four conv blocks (``width``, 2x, 4x, 8x channels, each halving frequency and time), then the
    mean and the max over time of every (channel, frequency) cell, dropout 0.5 and a linear layer.
    """

    def __init__(self, n_mels: int = 128, width: int = 16) -> None:
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.blocks = nn.Sequential(*[_block(a, b) for a, b in zip([1, *widths[:-1]], widths)])
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(2 * widths[-1] * (n_mels // 16), len(LEVELS)))

    def forward(self, spectrograms: torch.Tensor) -> torch.Tensor:
        maps = self.blocks(spectrograms).flatten(1, 2)  # [B, C * F', T']
        return self.classifier(torch.cat([maps.mean(dim=2), maps.amax(dim=2)], dim=1))


def audio_resnet18() -> nn.Module:
    """torchvision's ResNet-18 with one input channel and four outputs (trained from scratch)."""
    from torchvision.models import resnet18

    network = resnet18(num_classes=len(LEVELS))
    network.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return network


def build_audio_network(config: ModelConfig, n_mels: int) -> nn.Module:
    """The audio network of ``config``, initialised from ``config.seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        return AudioCNN(n_mels, config.audio_width) if config.audio_arch == "cnn" else audio_resnet18()


class FusionHead(nn.Module):
    """VidHarm's learned fusion: ``log [p_video, p_audio]`` (8) -> 64 -> ReLU -> (64 -> 64 -> ReLU) x
    ``layers`` -> dropout 0.5 -> logits (4)."""

    def __init__(self, hidden: int = 64, layers: int = 1) -> None:
        super().__init__()
        stack: list[nn.Module] = [nn.Linear(2 * len(LEVELS), hidden), nn.ReLU()]
        for _ in range(layers):
            stack += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.layers = nn.Sequential(*stack, nn.Dropout(0.5), nn.Linear(hidden, len(LEVELS)))

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.log(torch.cat([video, audio], dim=1).clamp_min(_EPS)))


def fuse(video: torch.Tensor, audio: torch.Tensor | None, rule: str = "product",
         head: FusionHead | None = None) -> torch.Tensor:
    """Fused class probabilities ``[N, 4]`` from the two branches' probabilities ``[N, 4]``.

    Without audio (``None``) the video probabilities are returned unchanged, whatever the rule.

    Raises:
        InputError: an unknown rule, or ``learned`` without a trained head.
    """
    if audio is None:
        return video
    if rule == "product":
        log_joint = torch.log(video.clamp_min(_EPS)) + torch.log(audio.clamp_min(_EPS))
        return torch.softmax(log_joint, dim=1)
    if rule == "mean":
        return (video + audio) / 2
    if rule == "max":
        levels = torch.arange(len(LEVELS), dtype=video.dtype)
        video_higher = (video @ levels >= audio @ levels)[:, None]
        return torch.where(video_higher, video, audio)
    if rule == "learned":
        if head is None:
            raise InputError("This model has no learned fusion head (it was trained without validation clips); "
                             "use product, mean or max.")
        device = next(head.parameters()).device
        with torch.inference_mode():
            return F.softmax(head.eval()(video.to(device), audio.to(device)), dim=1).to(video.device)
    raise InputError(f"Unknown fusion rule {rule!r}; choose from {', '.join(FUSION_RULES)}.")
