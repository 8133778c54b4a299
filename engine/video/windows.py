"""Cutting a stream of sampled frames and audio into fixed-length windows, with bounded memory.

Windows are ``window_s`` long and start every ``stride_s`` seconds from 0. The last window is
aligned to the end of the clip so that every second is rated (``[L - window_s, L)``), unless the
regular windows already reach to within half a second of the end (a 10.01-s VidHarm clip or a
30.02-s file with audio padding gets no near-duplicate window); a clip shorter than one window gives
one window ``[0, L)``.
Only the frames (or their features) and samples of the last ``window_s + stride_s`` seconds are
held at any time, so an hours-long file needs no more memory than a short one.

Within a window, the frames whose timestamps fall in it are resampled evenly to exactly
``frames_per_window`` (repeating frames when fewer were sampled, e.g. a one-frame clip).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import InputError

EPS = 1e-6
MIN_TAIL_S = 0.5  # a shorter remainder past the last regular window gets no window of its own


@dataclass
class WindowMedia:
    """What the two branches see of one window.

    Attributes:
        index: 0-based position in the clip.
        start_s, end_s: the window's span in seconds.
        frames: per-frame representations ``[frames_per_window, ...]`` (features or pixels).
        samples: mono ``float32 [n]`` audio of the span, None without audio.
        frames_sampled: how many distinct sampled frames fell in the span (before resampling).
    """

    index: int
    start_s: float
    end_s: float
    frames: torch.Tensor
    samples: np.ndarray | None
    frames_sampled: int


def frame_rate(duration_s: float | None, window_s: float, frames_per_window: int) -> float:
    """Sampling rate in frames per second: ``frames_per_window`` per window, or over the whole clip when
    it is shorter than a window (so a 2-s clip still gets all its frames spread over 2 s)."""
    span = window_s if duration_s is None or duration_s >= window_s else max(duration_s, 0.04)
    return frames_per_window / span


def window_spans(duration_s: float, window_s: float, stride_s: float) -> list[tuple[float, float]]:
    """The ``(start, end)`` of every window of a clip lasting ``duration_s`` seconds (see the module docstring)."""
    if duration_s <= window_s + EPS:
        return [(0.0, max(duration_s, 0.0))]
    spans = []
    start = 0.0
    while start + window_s <= duration_s + EPS:
        spans.append((start, start + window_s))
        start += stride_s
    if spans[-1][1] < duration_s - MIN_TAIL_S:
        spans.append((duration_s - window_s, duration_s))
    return spans


def resample_indices(count: int, wanted: int) -> np.ndarray:
    """``wanted`` indices into ``count`` items, evenly spread (with repeats when ``count < wanted``)."""
    return np.minimum(((np.arange(wanted) + 0.5) * count / wanted).astype(np.int64), count - 1)


class _AudioBuffer:
    """The most recent samples of a stream as a queue of chunks, addressable by absolute sample index."""

    def __init__(self) -> None:
        self.chunks: deque[np.ndarray] = deque()
        self.offset = 0  # absolute index of the first kept sample
        self.end = 0  # absolute index after the last sample
        self.ended = False
        self.heard = False  # any non-zero sample so far

    def append(self, chunk: np.ndarray) -> None:
        self.heard = self.heard or bool(np.any(chunk))
        self.chunks.append(chunk)
        self.end += len(chunk)

    def span(self, start: int, stop: int) -> np.ndarray:
        pieces, position = [], self.offset
        for chunk in self.chunks:
            low, high = max(start - position, 0), min(stop - position, len(chunk))
            if high > low:
                pieces.append(chunk[low:high])
            position += len(chunk)
        return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)

    def drop_before(self, index: int) -> None:
        while self.chunks and self.offset + len(self.chunks[0]) <= index:
            self.offset += len(self.chunks.popleft())


class WindowStream:
    """Turns ``(time_s, frame_representation)`` and audio chunks into :class:`WindowMedia`, in order.

    Args:
        frames: per-frame representations in time order, e.g. features of frames sampled at ``rate``.
        audio: consecutive mono chunks at ``sample_rate`` (None: the clip has no audio).
        rate: the frames' sampling rate (frames per second).
        sample_rate: audio samples per second.
        duration_s: the clip's length from its header (None if unknown); the decoded extent is used
            when the header is missing or the data stops early (a truncated file).
        window_s, stride_s: window length and step in seconds.
        frames_per_window: frames per window after resampling.

    After iteration, :attr:`duration_s` is the length that was rated, :attr:`truncated` says whether
    the data stopped well before the header's duration, :attr:`audio_heard` whether any audio sample
    was non-zero.
    """

    def __init__(self, frames: Iterable[tuple[float, torch.Tensor]], audio: Iterable[np.ndarray] | None, rate: float,
                 sample_rate: int, duration_s: float | None, window_s: float, stride_s: float,
                 frames_per_window: int) -> None:
        if stride_s <= 0 or window_s <= 0:
            raise InputError(f"Window and stride must be positive (got {window_s} s and {stride_s} s).")
        self._frames, self._audio = iter(frames), iter(audio) if audio is not None else None
        self.rate, self.sample_rate = rate, sample_rate
        self.header_duration_s = duration_s
        self.window_s, self.stride_s, self.frames_per_window = window_s, stride_s, frames_per_window
        self.duration_s: float | None = None
        self.truncated = False
        self._buffer: deque[tuple[float, torch.Tensor]] = deque()
        self._last_before: tuple[float, torch.Tensor] | None = None  # newest frame dropped from the buffer
        self._frames_ended = False
        self._sound = _AudioBuffer()
        self._sound.ended = self._audio is None

    @property
    def audio_heard(self) -> bool:
        """Whether any decoded audio sample was non-zero (False for digital silence)."""
        return self._sound.heard

    def _pull_frames_until(self, time_s: float) -> None:
        while not self._frames_ended and (not self._buffer or self._buffer[-1][0] < time_s):
            item = next(self._frames, None)
            if item is None:
                self._frames_ended = True
            else:
                self._buffer.append(item)

    def _pull_audio_until(self, sample: int) -> None:
        while self._audio is not None and not self._sound.ended and self._sound.end < sample:
            chunk = next(self._audio, None)
            if chunk is None:
                self._sound.ended = True
            else:
                self._sound.append(chunk)

    def _window(self, index: int, start: float, end: float) -> WindowMedia:
        inside = [item for item in self._buffer if start - EPS <= item[0] < end - EPS]
        if not inside:  # no frame sampled in the span (the picture ended before the sound): hold the last one
            previous = [item for item in self._buffer if item[0] < start] or ([self._last_before]
                                                                               if self._last_before else [])
            if not previous:
                raise InputError("No video frame could be decoded (the file is damaged or its video is empty).")
            inside = [previous[-1]]
        chosen = [inside[i][1] for i in resample_indices(len(inside), self.frames_per_window)]
        samples = None
        if self._audio is not None:
            samples = self._sound.span(round(start * self.sample_rate), round(end * self.sample_rate))
        return WindowMedia(index, start, end, torch.stack(chosen), samples, len(inside))

    def _forget_before(self, time_s: float) -> None:
        while self._buffer and self._buffer[0][0] < time_s - EPS and len(self._buffer) > 1:
            self._last_before = self._buffer.popleft()
        self._sound.drop_before(math.floor(time_s * self.sample_rate))

    def _decoded_extent(self) -> float:
        video_end = self._buffer[-1][0] + 1.0 / self.rate if self._buffer else 0.0
        return max(video_end, self._sound.end / self.sample_rate)

    def __iter__(self) -> Iterator[WindowMedia]:
        index, start = 0, 0.0
        header = self.header_duration_s
        # Regular windows, emitted as soon as both streams have passed their end.
        while header is None or start + self.window_s <= header + EPS:
            end = start + self.window_s
            self._pull_frames_until(end)
            self._pull_audio_until(math.ceil(end * self.sample_rate))
            if self._frames_ended and (not self._buffer or self._buffer[-1][0] < end - 1.0 / self.rate):
                break  # the data ends inside this window: handled with the tail below
            yield self._window(index, start, end)
            index, start = index + 1, start + self.stride_s
            newest = self._buffer[-1][0] if self._buffer else 0.0
            self._forget_before(min(start, newest - self.window_s))
        # Drain both streams, keeping only the last window's worth, to learn where the data ends.
        while not self._frames_ended or not self._sound.ended:
            newest = self._buffer[-1][0] if self._buffer else 0.0
            self._pull_frames_until(newest + 1.0)
            self._pull_audio_until(self._sound.end + self.sample_rate)
            extent = self._decoded_extent()
            self._forget_before(min(start, extent - self.window_s - 1.0))
        if not self._buffer and self._last_before is None:
            raise InputError("No video frame could be decoded (the file is damaged or its video is empty).")
        extent = self._decoded_extent()
        duration = header if header is not None and extent >= header - max(1.0, 2.0 / self.rate) else extent
        self.truncated = header is not None and duration < header
        self.duration_s = duration
        spans = window_spans(duration, self.window_s, self.stride_s)
        for span_start, span_end in spans[index:]:
            yield self._window(index, span_start, min(span_end, duration))
            index += 1
