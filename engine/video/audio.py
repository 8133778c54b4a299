"""Log-mel spectrograms as VidHarm computes them, on samples decoded by :mod:`engine.video.media`.

VidHarm's recipe (librosa at 44.1 kHz): a 32 ms Hann window (``n_fft = round(0.032 * sr)`` = 1411),
a hop of ``n_fft // 2`` (705 samples, about 62.5 frames per second), centre padding in reflect mode,
power 2, 128 mel bands from 20 Hz to 15 kHz on librosa's *Slaney* mel scale with Slaney area
normalisation, ``power_to_db`` (reference 1.0, floor ``max - 80 dB`` per spectrogram), then
standardised with VidHarm's global dB mean and standard deviation: ``(x + 28.393) / 17.323``.
torchaudio's defaults are HTK with no normalisation, so both Slaney options are set explicitly.

Spectrograms here are ``float32 [n_mels, T]`` (frequency first, as torchaudio returns them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class AudioConfig:
    """The audio front end. Defaults are VidHarm's; ``train_frames`` is its 4.8 s training crop."""

    sample_rate: int = 44100
    window_s: float = 0.032
    n_mels: int = 128
    f_min: float = 20.0
    f_max: float = 15000.0
    top_db: float = 80.0
    db_mean: float = -28.393
    db_std: float = 17.323
    train_frames: int = 300
    min_frames: int = 32  # shorter spectrograms are wrap-padded to this (a 1-frame clip has ~3 frames of audio)

    @property
    def n_fft(self) -> int:
        """FFT size and window length in samples (1411 at 44.1 kHz)."""
        return round(self.window_s * self.sample_rate)

    @property
    def hop(self) -> int:
        """Hop between frames in samples (705 at 44.1 kHz)."""
        return self.n_fft // 2

    @property
    def frames_per_second(self) -> float:
        """Spectrogram frames per second of audio (about 62.55)."""
        return self.sample_rate / self.hop

    def to_dict(self) -> dict[str, Any]:
        """Plain values for a model's JSON file."""
        return asdict(self)


class LogMel(nn.Module):
    """Samples ``float32 [n]`` or ``[B, n]`` in -1..1 -> normalised log-mel ``[n_mels, T]`` or ``[B, n_mels, T]``.

    ``T = 1 + n // hop``. The 80 dB floor is taken per spectrogram, also in a batch (torchaudio's
    ``AmplitudeToDB`` would take it over the whole batch of a 3-D input).
    """

    def __init__(self, config: AudioConfig = AudioConfig()) -> None:
        super().__init__()
        import torchaudio

        self.config = config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sample_rate, n_fft=config.n_fft, win_length=config.n_fft, hop_length=config.hop,
            f_min=config.f_min, f_max=config.f_max, n_mels=config.n_mels, power=2.0, center=True,
            pad_mode="reflect", norm="slaney", mel_scale="slaney")
        self.to_db = torchaudio.transforms.AmplitudeToDB("power", top_db=config.top_db)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        single = samples.dim() == 1
        batch = samples[None] if single else samples
        if batch.shape[-1] < self.config.n_fft:  # reflect padding needs at least half a window on each side
            batch = torch.nn.functional.pad(batch, (0, self.config.n_fft - batch.shape[-1]))
        power = self.mel(batch.float())
        decibels = self.to_db(power[:, None])[:, 0]  # [B, 1, F, T]: the floor is per item
        normalised = (decibels - self.config.db_mean) / self.config.db_std
        return normalised[0] if single else normalised


def fit_length(spectrogram: torch.Tensor, frames: int, offset: int | None = None) -> torch.Tensor:
    """``[..., F, T]`` cut or wrap-padded (repeated from its start) to exactly ``frames`` frames.

    ``offset`` is where a cut starts (None: centred; padded spectrograms start at their beginning);
    it is clamped to the valid range.
    """
    length = spectrogram.shape[-1]
    padded = length < frames
    if padded:
        repeats = -(-frames // max(length, 1))
        spectrogram = spectrogram.repeat(*([1] * (spectrogram.dim() - 1)), repeats)
        length = spectrogram.shape[-1]
    centred = 0 if padded else (length - frames) // 2
    start = centred if offset is None else max(0, min(int(offset), length - frames))
    return spectrogram[..., start:start + frames]


def at_least(spectrogram: torch.Tensor, frames: int) -> torch.Tensor:
    """``spectrogram`` wrap-padded to ``frames`` frames if shorter, unchanged otherwise."""
    return spectrogram if spectrogram.shape[-1] >= frames else fit_length(spectrogram, frames)


class SpecAugment(nn.Module):
    """VidHarm's training augmentation on ``[B, 1, F, T]``: two frequency masks of up to 27 bands and one
    time mask of up to 100 frames, drawn independently per item (masked values become 0, the mean)."""

    def __init__(self, frequency_mask: int = 27, time_mask: int = 100) -> None:
        super().__init__()
        import torchaudio

        self.frequency = torchaudio.transforms.FrequencyMasking(frequency_mask, iid_masks=True)
        self.time = torchaudio.transforms.TimeMasking(time_mask, iid_masks=True)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.time(self.frequency(self.frequency(batch)))


def is_digital_silence(samples: np.ndarray) -> bool:
    """True when every sample is exactly zero: a track that decodes to nothing, not just a quiet one."""
    return bool(samples.size) and not bool(np.any(samples))
