"""Small media files made with the bundled ffmpeg: sound, silence, no sound, one frame, rotation, odd size,
variable frame rate, several windows, damaged files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine.video.media import ffmpeg_exe
from engine.video.models import ModelConfig
from engine.video.rater import Rater
from tests.video_data import shared_synthetic_set


def ffmpeg(*arguments: str) -> None:
    """Run the bundled ffmpeg quietly; fail the test set-up on error."""
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *arguments], check=True, timeout=120)


def lavfi(spec: str) -> list[str]:
    return ["-f", "lavfi", "-i", spec]


H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Named test files (see the module docstring)."""
    folder = tmp_path_factory.mktemp("video-media")
    files = {name: folder / f"{name}.mp4" for name in ("tone", "silent", "no_audio", "one_frame", "odd", "colours",
                                                       "vfr", "long", "audio_only")}
    ffmpeg(*lavfi("testsrc2=size=160x120:rate=25:duration=3"), *lavfi("sine=frequency=440:duration=3"),
           "-af", "pan=stereo|c0=c0|c1=0.5*c0", *H264, "-c:a", "aac", "-b:a", "128k", "-shortest",
           str(files["tone"]))
    ffmpeg(*lavfi("testsrc2=size=64x48:rate=10:duration=2"), *lavfi("anullsrc=r=44100:cl=mono"), *H264,
           "-c:a", "aac", "-t", "2", str(files["silent"]))
    ffmpeg(*lavfi("testsrc2=size=64x48:rate=10:duration=2"), *H264, str(files["no_audio"]))
    ffmpeg(*lavfi("color=c=red:size=64x48:rate=25"), "-frames:v", "1", *H264, str(files["one_frame"]))
    ffmpeg(*lavfi("testsrc2=size=160x96:rate=10:duration=2"), "-vf", "scale=161:97", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv444p", str(files["odd"]))
    # one colour per second: red, lime, blue, white
    segments = "".join(f"color=c={c}:size=32x32:rate=25:duration=1[s{i}];" for i, c in
                       enumerate(("red", "lime", "blue", "white")))
    ffmpeg("-f", "lavfi", "-i", f"{segments}[s0][s1][s2][s3]concat=n=4", *H264, str(files["colours"]))
    # red then blue, 2 s each, keeping only 3 of every 10 frames with their original timestamps (variable rate)
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=32x32:rate=25:duration=2[a];color=c=blue:size=32x32:rate=25:"
           "duration=2[b];[a][b]concat=n=2,select='lt(mod(n\\,10)\\,3)'", "-fps_mode", "passthrough", *H264,
           str(files["vfr"]))
    ffmpeg(*lavfi("testsrc2=size=32x32:rate=5:duration=25"), *lavfi("sine=frequency=1000:duration=25"), *H264,
           "-c:a", "aac", "-shortest", str(files["long"]))
    ffmpeg(*lavfi("sine=frequency=440:duration=1"), "-c:a", "aac", str(files["audio_only"]))
    # turned: left half red, right half blue, with 90 degree display rotation metadata (portrait when shown)
    sideways = folder / "sideways.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=32x32:rate=10:duration=1[l];color=c=blue:size=32x32:rate=10:"
           "duration=1[r];[l][r]hstack", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p",
           str(sideways))
    files["rotated"] = folder / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(sideways), "-c", "copy", str(files["rotated"]))
    rng = np.random.default_rng(0)
    files["corrupt"] = folder / "corrupt.mp4"
    files["corrupt"].write_bytes(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    files["empty"] = folder / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["truncated"] = folder / "truncated.mp4"
    fast_start = folder / "faststart.mp4"
    ffmpeg(*lavfi("testsrc2=size=64x48:rate=10:duration=20"), *H264, "-movflags", "+faststart", str(fast_start))
    files["truncated"].write_bytes(fast_start.read_bytes()[: fast_start.stat().st_size * 3 // 10])
    return files


@pytest.fixture(scope="session")
def small_config() -> ModelConfig:
    """A cheap rater configuration: random MobileNetV2 (tests only), 64-px frames, 4 per window, thin audio CNN."""
    return ModelConfig(visual_weights="random", frame_size=64, frames_per_window=4, audio_width=4)


@pytest.fixture(scope="session")
def random_rater(small_config: ModelConfig) -> Rater:
    """An untrained rater on a random encoder (fast; outputs labelled RANDOM)."""
    return Rater.untrained(small_config)


@pytest.fixture(scope="session")
def synthetic_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared synthetic VidHarm-layout set."""
    return shared_synthetic_set(tmp_path_factory)
