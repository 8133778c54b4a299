"""engine.video.media: header facts, frames sampled by timestamp, upright, any size; mono audio; clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.video.media import AudioSampler, FrameSampler, cut_clip, probe, read_frames


def frames(path: Path, rate: float, size: int = 16, **options: float) -> list[tuple[float, np.ndarray]]:
    return list(FrameSampler(path, rate, size, **options))


def colour_of(frame: np.ndarray) -> str:
    """The dominant primary of a frame: 'red', 'green', 'blue', 'white' or 'other'."""
    r, g, b = frame.reshape(-1, 3).mean(axis=0)
    if min(r, g, b) > 200:
        return "white"
    names = {0: "red", 1: "green", 2: "blue"}
    top = int(np.argmax([r, g, b]))
    return names[top] if max(r, g, b) > 150 and sorted([r, g, b])[1] < 80 else "other"


def test_probe_reads_streams_duration_and_rate(media: dict[str, Path]) -> None:
    info = probe(media["tone"])
    assert info.duration_s == pytest.approx(3.0, abs=0.1)
    assert (info.width, info.height, info.fps) == (160, 120, 25.0)
    assert info.has_audio and info.audio_rate == 44100 and info.audio_channels == 2
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    silent = probe(media["no_audio"])
    assert not silent.has_audio and silent.audio_channels is None


def test_rotation_metadata_swaps_the_displayed_size_and_turns_frames_upright(media: dict[str, Path]) -> None:
    info = probe(media["rotated"])
    assert info.rotation == pytest.approx(90) and (info.width, info.height) == (32, 64)
    # scale+crop to a square keeps the centre; ask for the full picture instead with a tall crop: compare halves
    time_s, frame = frames(media["rotated"], rate=1, size=32)[0]
    assert time_s == 0.0 and frame.shape == (32, 32, 3)
    picture = read_frames(media["rotated"], [0.0], width=32)[0]
    assert picture.shape[:2] == (64, 32)  # portrait, as displayed
    assert colour_of(picture[:24]) == "blue" and colour_of(picture[-24:]) == "red"  # 90 degrees counter-clockwise


def test_frames_are_sampled_by_timestamp_at_the_asked_rate(media: dict[str, Path]) -> None:
    sampled = frames(media["colours"], rate=1, start_s=0.5)
    assert [round(t, 3) for t, _ in sampled][:4] == [0.5, 1.5, 2.5, 3.5]
    assert [colour_of(f) for _, f in sampled][:4] == ["red", "green", "blue", "white"]
    dense = frames(media["colours"], rate=4)
    assert len(dense) in (16, 17)  # 4 s at 4 frames per second (+ the last frame passed on at the end)
    assert [colour_of(f) for t, f in dense if round(t * 4) % 4 == 2] == ["red", "green", "blue", "white"]


def test_variable_frame_rate_is_sampled_by_time_not_by_frame_count(media: dict[str, Path]) -> None:
    sampled = dict(frames(media["vfr"], rate=2, start_s=0.25))
    # only 30% of the frames exist; by index the 3.25 s sample would fall past the end of the data
    assert colour_of(sampled[0.75]) == "red" and colour_of(sampled[1.25]) == "red"
    assert colour_of(sampled[2.75]) == "blue" and colour_of(sampled[3.25]) == "blue"


def test_odd_sizes_become_the_asked_square(media: dict[str, Path]) -> None:
    info = probe(media["odd"])
    assert (info.width, info.height) == (161, 97)
    for size in (17, 64):
        sampled = frames(media["odd"], rate=2, size=size)
        assert len(sampled) >= 4 and all(f.shape == (size, size, 3) and f.dtype == np.uint8 for _, f in sampled)


def test_a_one_frame_clip_gives_its_frame_at_any_rate(media: dict[str, Path]) -> None:
    for rate in (0.4, 1.0):
        sampled = frames(media["one_frame"], rate=rate)
        assert len(sampled) == 1 and colour_of(sampled[0][1]) == "red"


def test_audio_is_mono_averaged_at_the_asked_rate(media: dict[str, Path]) -> None:
    info = probe(media["tone"])
    samples = np.concatenate(list(AudioSampler(media["tone"], 16000, info.audio_channels)))
    assert len(samples) == pytest.approx(3 * 16000, abs=1600)
    # left 1/8, right 1/16 (lavfi's sine, panned): their average has amplitude 3/32 (ffmpeg's -ac 1 gives 0.133)
    middle = samples[4000:-4000]
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(3 / 32 / np.sqrt(2), rel=0.05)
    spectrum = np.abs(np.fft.rfft(middle))
    assert np.fft.rfftfreq(len(middle), 1 / 16000)[spectrum.argmax()] == pytest.approx(440, abs=2)


def test_audio_chunks_are_about_a_second(media: dict[str, Path]) -> None:
    chunks = list(AudioSampler(media["tone"], 8000, 2))
    assert [len(c) for c in chunks[:2]] == [8000, 8000] and all(c.dtype == np.float32 for c in chunks)


@pytest.mark.parametrize("name, message", [("corrupt", "not a readable video"), ("empty", "empty"),
                                           ("audio_only", "no video stream")])
def test_unusable_files_are_clear_errors(media: dict[str, Path], name: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        probe(media[name])


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "absent.mp4")


def test_stopping_early_ends_the_decoder(media: dict[str, Path]) -> None:
    sampler = FrameSampler(media["long"], rate=5, size=16)
    iterator = iter(sampler)
    next(iterator)
    iterator.close()  # the generator's cleanup kills ffmpeg and joins the reader
    assert sampler.report.returncode is not None


def test_cut_clip_reencodes_a_span(media: dict[str, Path], tmp_path: Path) -> None:
    piece = cut_clip(media["long"], 10.0, 5.0, tmp_path / "piece.mp4")
    info = probe(piece)
    assert info.duration_s == pytest.approx(5.0, abs=0.3) and info.has_audio
