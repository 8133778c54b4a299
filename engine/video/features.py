"""What training needs of each clip, computed once and cached on disk: the visual clip embedding of the
frozen encoder and the normalised log-mel spectrogram.

A clip is seen exactly as the scorer sees a window: frames sampled by timestamp at the rater's
size, the encoder's embedding, the log-mel of the same span. Clips up to one window long (VidHarm's
10-s clips) are used whole; of a longer clip the centre window is used. Cache entries are keyed by
the file (path, size, modification time) and everything that changes the features (encoder,
its weights, frame size and count, window, audio settings), so a changed file or setting is
recomputed and an unchanged one never is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import InputError
from engine.video.rater import Rater
from engine.video.scoring import open_clip
from engine.video.windows import window_spans


@dataclass
class ClipFeatures:
    """``embedding``: ``float32 [D]``; ``spectrogram``: ``float32 [n_mels, T]`` or None without sound."""

    embedding: torch.Tensor
    spectrogram: torch.Tensor | None
    duration_s: float


def compute_features(path: str | Path, rater: Rater) -> ClipFeatures:
    """The features of one clip (its centre window when longer than a window).

    Raises:
        InputError: the clip cannot be decoded (the message names the file).
    """
    try:
        clip = open_clip(path, rater)
        duration = clip.info.duration_s
        centre = len(window_spans(duration, rater.config.window_s, rater.config.window_s)) // 2 if duration else 0
        chosen = None
        for window in clip.windows:
            chosen = window
            if window.index >= centre:
                break
    except InputError as error:
        raise InputError(f"{Path(path).name}: {error}") from error
    assert chosen is not None  # the stream raises when nothing decodes
    embedding = rater.encoder.clip_embedding(chosen.frames[None])[0]
    spectrogram = None
    if chosen.samples is not None and len(chosen.samples) >= rater.audio.n_fft:
        with torch.inference_mode():
            spectrogram = rater.log_mel(torch.from_numpy(chosen.samples))
    return ClipFeatures(embedding, spectrogram, chosen.end_s - chosen.start_s)


class FeatureCache:
    """Clip features in ``folder`` (one safetensors file per clip), for the rater's encoder and settings."""

    def __init__(self, folder: str | Path, rater: Rater) -> None:
        self.folder = Path(folder)
        self.rater = rater
        config = rater.config
        self.signature = json.dumps({
            "encoder": config.visual_arch, "weights": config.visual_weights,
            "seed": config.seed if config.visual_weights == "random" else None,
            "sha256": rater.encoder.info.sha256, "frame_size": config.frame_size,
            "frames": config.frames_per_window, "window_s": config.window_s, "audio": rater.audio.to_dict(),
        }, sort_keys=True)

    def path_for(self, clip: str | Path) -> Path:
        """Where the features of ``clip`` are (or will be) stored."""
        clip = Path(clip).resolve()
        stat = clip.stat()
        key = hashlib.sha256(f"{self.signature}|{clip}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
        return self.folder / f"{key[:24]}.safetensors"

    def get(self, clip: str | Path) -> ClipFeatures:
        """The clip's features, computed and stored on first request."""
        from safetensors.torch import load_file, save_file

        target = self.path_for(clip)
        if target.is_file():
            tensors = load_file(str(target))
            spectrogram = tensors.get("spectrogram")
            return ClipFeatures(tensors["embedding"], spectrogram.float() if spectrogram is not None else None,
                                float(tensors["duration_s"]))
        features = compute_features(clip, self.rater)
        if features.spectrogram is not None:  # what a later read returns, so first and resumed runs agree
            features.spectrogram = features.spectrogram.half().float()
        tensors = {"embedding": features.embedding.contiguous(),
                   "duration_s": torch.tensor(features.duration_s, dtype=torch.float64)}
        if features.spectrogram is not None:
            tensors["spectrogram"] = features.spectrogram.half().contiguous()  # halves the cache; ample precision
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        save_file(tensors, str(partial))
        partial.replace(target)
        return features
