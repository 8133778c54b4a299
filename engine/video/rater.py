"""A complete rater: frozen visual encoder, trained heads, audio front end, fusion rule and provenance.

A trained rater is a folder holding ``model.safetensors`` (the trained tensors: ``visual_head.*``,
``audio_net.*`` and, when one was trained, ``fusion_head.*``) and ``model.json`` (the
:class:`~engine.video.models.ModelConfig`, the audio settings, the labels, the visual encoder's
weights provenance and what the heads were trained on). Loading reads tensors with safetensors
only; the encoder is rebuilt through :mod:`engine.weights` and its weights' sha256 is checked
against the one recorded at training time.

Without a trained folder, :meth:`Rater.untrained` gives the demonstration rater: a real encoder
(MobileNetV2 ImageNet) with *randomly initialised* heads. Its ratings mean nothing and every output
says RANDOM.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine import settings
from engine.errors import InputError, WeightsError
from engine.video.audio import AudioConfig, LogMel, at_least
from engine.video.labels import LEVELS
from engine.video.models import (
    FusionHead,
    ModelConfig,
    VisualEncoder,
    VisualHead,
    build_audio_network,
    build_encoder,
    encoder_dim,
    fuse,
)

FORMAT = "workbench-vidharm/1"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "model.json"
UNTRAINED_NAME = "vidharm-untrained (RANDOM heads)"


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


@dataclass
class Rater:
    """A rater ready to score windows (see the module docstring).

    Attributes:
        config: architecture and sampling.
        audio: the log-mel front end.
        visual_head, audio_net: the trained parts (eval mode when scoring); ``audio_net`` is None when
            the training clips had no sound, and the rater then rates by picture alone.
        fusion_head: the learned fusion MLP, or None when none was trained.
        name: how outputs refer to this rater (its folder for trained raters).
        training: what the heads were trained on (``data``, ``synthetic``, ``clips``, ``metrics``, ...);
            None for the untrained demonstration rater.
        path: the folder it was loaded from.
    """

    config: ModelConfig
    audio: AudioConfig
    visual_head: VisualHead
    audio_net: nn.Module | None
    fusion_head: FusionHead | None = None
    name: str = UNTRAINED_NAME
    training: dict[str, Any] | None = None
    path: Path | None = None
    expected_encoder_sha256: str | None = None
    device: str = field(default_factory=lambda: settings.current().device)
    _encoder: VisualEncoder | None = field(default=None, repr=False)
    _log_mel: LogMel | None = field(default=None, repr=False)

    @classmethod
    def untrained(cls, config: ModelConfig = ModelConfig(), audio: AudioConfig = AudioConfig()) -> Rater:
        """A rater with freshly initialised heads (from ``config.seed``): for demonstrations and tests."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            head = VisualHead(encoder_dim(config))
        return cls(config, audio, head, build_audio_network(config, audio.n_mels))

    @property
    def encoder(self) -> VisualEncoder:
        """The frozen visual encoder, built on first use.

        Raises:
            WeightsError: its weights are missing, or differ from those the heads were trained on.
        """
        if self._encoder is None:
            encoder = build_encoder(self.config, self.device)
            found = encoder.info.sha256
            if self.expected_encoder_sha256 and found and found != self.expected_encoder_sha256:
                raise WeightsError(f"{self.name} was trained on {self.config.visual_arch} weights with sha256 "
                                   f"{self.expected_encoder_sha256[:12]}…, but this machine has {found[:12]}…; "
                                   "its heads do not fit other weights.")
            self._encoder = encoder
        return self._encoder

    @property
    def log_mel(self) -> LogMel:
        """The audio front end (log-mel spectrogram)."""
        if self._log_mel is None:
            self._log_mel = LogMel(self.audio)
        return self._log_mel

    @property
    def heads_random(self) -> bool:
        """True when the heads were never trained (outputs are labelled RANDOM)."""
        return self.training is None

    @property
    def synthetic(self) -> bool:
        """True when the heads were trained on the synthetic demonstration set only."""
        return bool(self.training and self.training.get("synthetic"))

    def provenance(self) -> str:
        """One line saying what the ratings rest on (encoder weights and training data)."""
        encoder = self.encoder.info.label
        if self.heads_random:
            heads = "heads RANDOM (untrained): ratings are meaningless, for trying the tool only"
        else:
            data = self.training or {}
            kind = "SYNTHETIC demonstration clips" if self.synthetic else "clips"
            heads = f"heads trained on {data.get('clips', {}).get('train', '?')} {kind} from {data.get('data', '?')}"
        return f"visual encoder {encoder}; {heads}"

    def notes(self) -> list[str]:
        """Warnings every output of this rater must carry."""
        notes = []
        if self.heads_random:
            notes.append("RANDOM: this rater's heads are untrained; train one with `python -m trainers.vidharm`.")
        elif self.synthetic:
            notes.append("This rater learned from synthetic clips (coloured shapes and tones), not from films: "
                         "its ratings of real videos are meaningless.")
        if self.config.visual_weights == "random":
            notes.append("RANDOM: the visual encoder is randomly initialised (tests only).")
        return notes

    def eval(self) -> Rater:
        """Put the trained parts in eval mode (dropout and batch norm frozen)."""
        for module in (self.visual_head, self.audio_net, self.fusion_head):
            if module is not None:
                module.eval()
        return self

    @torch.inference_mode()
    def video_probabilities(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` clip embeddings -> ``[B, 4]`` probabilities (on the CPU, wherever the head runs)."""
        logits = self.visual_head.eval()(embeddings.float().to(_device_of(self.visual_head)))
        return torch.softmax(logits, dim=1).cpu()

    @torch.inference_mode()
    def audio_probabilities(self, spectrograms: torch.Tensor) -> torch.Tensor:
        """``[B, n_mels, T]`` normalised log-mels -> ``[B, 4]`` probabilities (short inputs wrap-padded)."""
        if self.audio_net is None:
            raise InputError(f"{self.name} has no audio branch (it was trained on clips without sound).")
        batch = at_least(spectrograms.float(), self.audio.min_frames)[:, None].to(_device_of(self.audio_net))
        return torch.softmax(self.audio_net.eval()(batch), dim=1).cpu()

    def fuse(self, video: torch.Tensor, audio: torch.Tensor | None, rule: str | None = None) -> torch.Tensor:
        """Fused probabilities with ``rule`` (default: the rater's own rule)."""
        return fuse(video, audio, rule or self.config.fusion, self.fusion_head)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The trained tensors under ``visual_head.``, ``audio_net.`` and ``fusion_head.`` prefixes."""
        parts = {"visual_head": self.visual_head, "audio_net": self.audio_net, "fusion_head": self.fusion_head}
        return {f"{prefix}.{key}": tensor.detach().cpu().contiguous() for prefix, module in parts.items()
                if module is not None for key, tensor in module.state_dict().items()}

    def save(self, folder: str | Path, training: dict[str, Any]) -> Path:
        """Write ``model.safetensors`` and ``model.json`` into ``folder``; returns the folder."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(self.state_dict(), str(folder / MODEL_FILE))
        record = {"format": FORMAT, "labels": list(LEVELS), "config": self.config.to_dict(),
                  "audio": self.audio.to_dict(), "encoder": self.encoder.info.to_json(),
                  "has_audio_net": self.audio_net is not None, "has_fusion_head": self.fusion_head is not None,
                  "training": training,
                  "saved_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        (folder / CONFIG_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
        self.training, self.path, self.name = training, folder, str(folder)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Rater:
        """Read a rater saved by :meth:`save` (tensors through safetensors only).

        Raises:
            InputError: the folder does not hold a rater, or its files do not fit each other.
        """
        from safetensors.torch import load_file

        folder = Path(folder)
        record = read_record(folder)
        try:
            config = ModelConfig.from_dict(record["config"])
            audio = AudioConfig(**record["audio"])
            state = load_file(str(folder / MODEL_FILE))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"{folder.name}: unreadable rater files ({error}).") from error
        rater = cls.untrained(config, audio)
        if record.get("has_fusion_head"):
            rater.fusion_head = FusionHead()
        if not record.get("has_audio_net", True):
            rater.audio_net = None
        parts = {"visual_head": rater.visual_head, "audio_net": rater.audio_net, "fusion_head": rater.fusion_head}
        for prefix, module in parts.items():
            if module is None:
                continue
            own = {key[len(prefix) + 1:]: value for key, value in state.items() if key.startswith(prefix + ".")}
            try:
                module.load_state_dict(own)
            except RuntimeError as error:
                raise InputError(f"{folder.name}: {prefix} tensors do not fit the saved config ({str(error)[:200]}).") \
                    from error
        rater.name, rater.path, rater.training = str(folder), folder, record.get("training") or {}
        rater.expected_encoder_sha256 = (record.get("encoder") or {}).get("sha256")
        return rater.eval()


def read_record(folder: str | Path) -> dict[str, Any]:
    """The ``model.json`` of a rater folder (checked to be one), without loading any tensor.

    Raises:
        InputError: the folder holds no rater or its record is unreadable.
    """
    folder = Path(folder)
    record_path = folder / CONFIG_FILE
    if not record_path.is_file() or not (folder / MODEL_FILE).is_file():
        raise InputError(f"{folder} is not a trained rater: expected {CONFIG_FILE} and {MODEL_FILE} "
                         "(written by `python -m trainers.vidharm --out FOLDER`).")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{folder.name}/{CONFIG_FILE} is unreadable: {error}") from error
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise InputError(f"{folder.name}/{CONFIG_FILE} is not a rater record (expected format {FORMAT!r}).")
    return record


def record_is_real(record: dict[str, Any]) -> bool:
    """Whether a rater record describes heads trained on real (not synthetic) clips with a pretrained encoder."""
    training = record.get("training") or {}
    return bool(training) and not training.get("synthetic") and \
        (record.get("config") or {}).get("visual_weights") == "pretrained"
