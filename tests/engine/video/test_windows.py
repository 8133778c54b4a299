"""engine.video.windows: window spans, even resampling, streaming with bounded buffers, truncated data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.video.windows import WindowStream, frame_rate, resample_indices, window_spans


def test_spans_cover_the_clip_with_the_last_window_aligned_to_its_end() -> None:
    assert window_spans(25.0, 10.0, 10.0) == [(0.0, 10.0), (10.0, 20.0), (15.0, 25.0)]
    assert window_spans(20.0, 10.0, 5.0) == [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0)]
    assert window_spans(30.0, 10.0, 10.0) == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]
    assert window_spans(30.02, 10.0, 10.0) == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]  # no near-duplicate
    assert window_spans(10.01, 10.0, 10.0) == [(0.0, 10.0)]  # a VidHarm clip is one window
    assert window_spans(3.0, 10.0, 10.0) == [(0.0, 3.0)]
    assert window_spans(0.04, 10.0, 10.0) == [(0.0, 0.04)]


def test_rate_spreads_the_frames_over_a_short_clip() -> None:
    assert frame_rate(60.0, 10.0, 8) == pytest.approx(0.8)
    assert frame_rate(2.0, 10.0, 8) == pytest.approx(4.0)
    assert frame_rate(None, 10.0, 8) == pytest.approx(0.8)


def test_resampling_is_even_and_repeats_when_short() -> None:
    assert resample_indices(16, 4).tolist() == [2, 6, 10, 14]
    assert resample_indices(2, 4).tolist() == [0, 0, 1, 1]
    assert resample_indices(1, 3).tolist() == [0, 0, 0]


def stream(duration: float, rate: float, sample_rate: int, header: float | None, stride: float = 10.0,
           audio_duration: float | None = None, seen: list[int] | None = None) -> WindowStream:
    """Frames whose value is their time, audio whose samples are their time, both generated lazily."""
    def frames():
        for k in range(int(round(duration * rate))):
            yield k / rate, torch.tensor([k / rate])

    def audio():
        total = int((audio_duration if audio_duration is not None else duration) * sample_rate)
        for start in range(0, total, sample_rate):
            chunk = np.arange(start, min(start + sample_rate, total), dtype=np.float32) / sample_rate
            if seen is not None:
                seen.append(start)
            yield chunk

    return WindowStream(frames(), audio(), rate, sample_rate, header, 10.0, stride, 4)


def test_windows_get_their_own_frames_and_samples() -> None:
    windows = list(stream(25.0, 2.0, 100, 25.0))
    assert [(w.start_s, w.end_s) for w in windows] == [(0.0, 10.0), (10.0, 20.0), (15.0, 25.0)]
    for window in windows:
        times = window.frames[:, 0]
        assert bool(((times >= window.start_s) & (times < window.end_s)).all())
        assert window.frames_sampled == 20
        assert window.samples[0] == pytest.approx(window.start_s) and len(window.samples) == 1000


def test_memory_stays_bounded_on_a_long_stream() -> None:
    long = stream(3600.0, 0.8, 50, 3600.0)
    peak = 0
    for window in long:
        peak = max(peak, len(long._buffer), sum(len(c) for c in long._sound.chunks))
    assert window.end_s == 3600.0
    assert peak <= 2 * 10 * 50 + 50  # about two windows of samples, never the whole hour


def test_data_stopping_early_is_reported_as_truncated() -> None:
    truncated = stream(12.0, 2.0, 100, 60.0)
    windows = list(truncated)
    assert truncated.truncated and truncated.duration_s == pytest.approx(12.0)
    assert [(w.start_s, w.end_s) for w in windows] == [(0.0, 10.0), (2.0, 12.0)]


def test_sound_outlasting_the_picture_holds_the_last_frame() -> None:
    windows = list(stream(5.0, 2.0, 100, None, audio_duration=20.0))
    assert [(w.start_s, w.end_s) for w in windows] == [(0.0, 10.0), (10.0, 20.0)]
    assert float(windows[1].frames[0, 0]) == pytest.approx(4.5)  # the last picture, held
    assert windows[1].frames_sampled == 1


def test_no_frames_at_all_is_a_clear_error() -> None:
    empty = WindowStream(iter([]), None, 1.0, 100, 5.0, 10.0, 10.0, 4)
    with pytest.raises(InputError, match="No video frame"):
        list(empty)


def test_bad_stride_is_refused() -> None:
    with pytest.raises(InputError, match="positive"):
        WindowStream(iter([]), None, 1.0, 100, 5.0, 10.0, 0.0, 4)
