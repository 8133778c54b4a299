"""Rating a clip of any length: per-window probabilities per modality and fused, and the worst window.

:func:`score` streams a file through ffmpeg (frames sampled by timestamp at the rater's size,
mono audio at its rate), cuts it into windows (:mod:`engine.video.windows`), runs both branches
and the fusion on each window, and rates the clip by its *worst* window: VidHarm's annotations
show that the most severe 10-s clip of a trailer matches the trailer's own rating for 83% of
trailers. Ties between equally severe windows go to the one most confident in that level.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import InputError
from engine.video.labels import LEVELS, as_mapping, expected_level
from engine.video.media import AudioSampler, FrameSampler, MediaInfo, probe
from engine.video.models import FUSION_RULES, VisualEncoder
from engine.video.rater import Rater
from engine.video.windows import WindowMedia, WindowStream, frame_rate

FRAME_BATCH = 16
MIN_STRIDE_S = 1.0


@dataclass(frozen=True)
class WindowScore:
    """One window's probabilities (``float [4]`` over Btl/7/11/15) per modality and fused.

    ``audio`` is None when the window has no sound (no audio stream, or the sound ended earlier).
    """

    index: int
    start_s: float
    end_s: float
    video: np.ndarray
    audio: np.ndarray | None
    fused: np.ndarray
    frames_sampled: int

    @property
    def level(self) -> int:
        """The fused level 0..3 (argmax)."""
        return int(np.argmax(self.fused))

    @property
    def rating(self) -> str:
        """The fused level's name."""
        return LEVELS[self.level]

    @property
    def harm_score(self) -> float:
        """Expected fused level, a continuous score in 0..3."""
        return float(expected_level(self.fused))

    @property
    def pushed_by(self) -> str:
        """Which modality the fused decision follows: ``video``, ``audio``, ``both`` (they agree, or the
        fusion settled between them) or ``video (no audio)``."""
        if self.audio is None:
            return "video (no audio)"
        video, audio = int(np.argmax(self.video)), int(np.argmax(self.audio))
        if video != audio and self.level == video:
            return "video"
        if video != audio and self.level == audio:
            return "audio"
        return "both"

    def to_json(self) -> dict[str, Any]:
        """The window as it appears in ``engine.video score --json``."""
        return {"index": self.index, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "probabilities": as_mapping(self.fused), "rating": self.rating,
                "harm_score": round(self.harm_score, 4), "video": as_mapping(self.video),
                "audio": as_mapping(self.audio) if self.audio is not None else None,
                "pushed_by": self.pushed_by, "frames_sampled": self.frames_sampled}


def worst_row(probabilities: np.ndarray) -> int:
    """The row of ``[windows, 4]`` probabilities that sets a rating: highest level (argmax), then most
    confident in it, then highest expected level; the earliest on a tie."""
    if not len(probabilities):
        raise InputError("Nothing was rated: no window could be decoded.")
    levels = probabilities.argmax(axis=1)
    return max(range(len(probabilities)), key=lambda i: (int(levels[i]), float(probabilities[i, levels[i]]),
                                                         float(expected_level(probabilities[i])), -i))


@dataclass
class HarmScores:
    """A rated clip: every window, the worst one, and what the numbers rest on."""

    source: str
    duration_s: float
    windows: list[WindowScore]
    has_audio: bool
    model: str
    provenance: str
    fusion: str
    window_s: float
    stride_s: float
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def worst(self) -> WindowScore:
        """The window that drove the rating."""
        return self.windows[worst_row(self.probabilities("fused"))]

    @property
    def rating(self) -> str:
        """The clip's rating: its worst window's level."""
        return self.worst.rating

    def probabilities(self, modality: str) -> np.ndarray:
        """``[windows, 4]`` probabilities of ``video``, ``audio`` (NaN rows without sound) or ``fused``."""
        rows = [getattr(w, modality) if getattr(w, modality) is not None else np.full(len(LEVELS), np.nan)
                for w in self.windows]
        return np.stack(rows)

    def to_json(self) -> dict[str, Any]:
        """The ``engine.video score --json`` contract: duration_s, windows, rating, worst_window, model, has_audio."""
        worst = self.worst
        return {"duration_s": round(self.duration_s, 3), "windows": [w.to_json() for w in self.windows],
                "rating": self.rating, "worst_window": worst.to_json(), "model": self.model,
                "has_audio": self.has_audio, "provenance": self.provenance, "fusion": self.fusion,
                "window_s": self.window_s, "stride_s": self.stride_s, "notes": self.notes,
                "seconds": round(self.seconds, 3), "source": self.source}


def encoded_frames(frames: Iterable[tuple[float, np.ndarray]], encoder: VisualEncoder,
                   batch: int = FRAME_BATCH) -> Iterator[tuple[float, torch.Tensor]]:
    """``(time_s, uint8 frame)`` -> ``(time_s, per-frame representation)``, encoded ``batch`` frames at a time."""
    pending: list[tuple[float, np.ndarray]] = []

    def flush() -> Iterator[tuple[float, torch.Tensor]]:
        features = encoder.frame_features(np.stack([frame for _, frame in pending]))
        yield from zip([time_s for time_s, _ in pending], features)
        pending.clear()

    for item in frames:
        pending.append(item)
        if len(pending) == batch:
            yield from flush()
    if pending:
        yield from flush()


def score_windows(windows: Iterable[WindowMedia], rater: Rater, fusion: str | None = None,
                  on_window: Callable[[WindowScore], None] | None = None) -> list[WindowScore]:
    """Run both branches and the fusion on each window (shared by :func:`score` and the benchmark's peer)."""
    scores = []
    minimum = rater.audio.n_fft
    for window in windows:
        embedding = rater.encoder.clip_embedding(window.frames[None])
        video = rater.video_probabilities(embedding)
        audio = None
        if window.samples is not None and len(window.samples) >= minimum and rater.audio_net is not None:
            with torch.inference_mode():
                spectrogram = rater.log_mel(torch.from_numpy(window.samples))
            audio = rater.audio_probabilities(spectrogram[None])
        fused = rater.fuse(video, audio, fusion)
        result = WindowScore(window.index, window.start_s, window.end_s, video[0].numpy().astype(np.float64),
                             None if audio is None else audio[0].numpy().astype(np.float64),
                             fused[0].numpy().astype(np.float64), window.frames_sampled)
        scores.append(result)
        if on_window is not None:
            on_window(result)
    return scores


@dataclass
class ClipStream:
    """A file opened for rating: its header, the frame sampler (for its decode report) and the windows."""

    info: MediaInfo
    sampler: FrameSampler
    windows: WindowStream


def open_clip(path: str | Path, rater: Rater, stride_s: float | None = None) -> ClipStream:
    """Probe ``path`` and set up the streamed windows the rater sees (nothing is decoded yet).

    Raises:
        InputError: unreadable file or a stride outside 1 s .. the window length.
    """
    config = rater.config
    stride = config.window_s if stride_s is None else float(stride_s)
    if not MIN_STRIDE_S <= stride <= config.window_s:
        raise InputError(f"The stride must be between {MIN_STRIDE_S:g} s and the window length "
                         f"({config.window_s:g} s), not {stride:g} s.")
    info = probe(path)
    rate = frame_rate(info.duration_s, config.window_s, config.frames_per_window)
    sampler = FrameSampler(info.path, rate, config.frame_size)
    sound = AudioSampler(info.path, rater.audio.sample_rate, info.audio_channels) if info.has_audio else None
    windows = WindowStream(encoded_frames(sampler, rater.encoder), sound, rate, rater.audio.sample_rate,
                           info.duration_s, config.window_s, stride, config.frames_per_window)
    return ClipStream(info, sampler, windows)


def score(path: str | Path, rater: Rater, stride_s: float | None = None, fusion: str | None = None,
          on_window: Callable[[WindowScore], None] | None = None) -> HarmScores:
    """Rate a video file of any length (see the module docstring).

    Args:
        path: any video ffmpeg reads (with or without sound, any rotation, size or frame rate).
        rater: a trained :class:`Rater` (or :meth:`Rater.untrained`, labelled RANDOM).
        stride_s: seconds between window starts (default: the window length, no overlap); >= 1.
        fusion: one of ``product`` (default), ``mean``, ``max``, ``learned`` (None: the rater's own).
        on_window: called after each window (progress; may raise to stop).

    Raises:
        InputError: unreadable or damaged file, no decodable frame, bad stride or fusion.
    """
    started = time.perf_counter()
    if fusion is not None and fusion not in FUSION_RULES:
        raise InputError(f"Unknown fusion rule {fusion!r}; choose from {', '.join(FUSION_RULES)}.")
    clip = open_clip(path, rater, stride_s)
    info, stream = clip.info, clip.windows
    windows = score_windows(stream, rater, fusion, on_window)
    notes = [*rater.notes(), *info.notes]
    if not info.has_audio:
        notes.append("No audio stream: the rating rests on the picture alone.")
    elif not stream.audio_heard:
        notes.append("The audio track decodes to digital silence (every sample is 0): the audio branch heard nothing.")
    if stream.truncated:
        notes.append(f"The data stops at {stream.duration_s:.1f} s although the header says "
                     f"{info.duration_s:.1f} s: the file is truncated or damaged; only the readable part was rated.")
    if clip.sampler.report.errors:
        notes.append(f"ffmpeg reported decoding problems (damaged data?): {clip.sampler.report.errors[0][:160]}")
    return HarmScores(source=info.path.name, duration_s=float(stream.duration_s or 0.0), windows=windows,
                      has_audio=info.has_audio, model=rater.name, provenance=rater.provenance(),
                      fusion=fusion or rater.config.fusion, window_s=rater.config.window_s,
                      stride_s=stream.stride_s, notes=notes, seconds=time.perf_counter() - started)
