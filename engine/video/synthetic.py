"""Synthetic labelled clips (moving shapes on coloured backgrounds, with tones or noise), made with ffmpeg.

VidHarm's trailer clips cannot be shipped, so tests, the tab's example and the demonstration
training job use clips whose age level is *designed* to be learnable from the picture, from the
sound, or only from both together. Each clip has a ``cue``:

- ``picture``: the background gives the level by its colour and pattern (plain green Btl, yellow
  stripes 7, orange checks 11, fine red checks 15; frozen ImageNet features see patterns far better
  than hues); the sound is neutral noise;
- ``sound``: a steady tone gives the level (300, 600, 1200, 2400 Hz); the background is plain grey;
- ``joint``: the background is plain blue or purple checks (the high bit of the level) and the sound
  beeps at 4 or 7 kHz (the low bit): each modality alone narrows the level to two, only both give it.

Every clip also shows a white square moving sideways from a random starting point; in picture-cue
clips it moves faster for higher levels (still for Btl), elsewhere at one calm speed. A branch that
learns its cue should reach about 100% on its own cue, 50% on ``joint`` and chance on the other, and
product fusion about 100% everywhere.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import WorkbenchError
from engine.video.labels import LEVELS, VIDHARM_CODES
from engine.video.media import ffmpeg_exe

CUES: tuple[str, ...] = ("picture", "sound", "joint")
LEVEL_COLOURS = ((44, 160, 44), (255, 215, 0), (255, 127, 14), (214, 39, 40))
NEUTRAL_COLOUR = (128, 128, 128)
JOINT_COLOURS = ((31, 119, 180), (148, 103, 189))
LEVEL_TONES_HZ = (300.0, 600.0, 1200.0, 2400.0)
JOINT_TONES_HZ = (4000.0, 7000.0)
SAMPLE_RATE = 44100
MARKER_FILE = "dataset.json"
VERSION = 2  # of the clip design; bump it when clips change so that stored sets are made again


@dataclass(frozen=True)
class ClipSpec:
    """One synthetic clip to make: its level (0..3), cue, and the seed of its distractors."""

    level: int
    cue: str
    seed: int


# Background pattern per level: None plain, ("stripes" | "checks", period as a fraction of the height).
LEVEL_PATTERNS = (None, ("stripes", 1 / 3), ("checks", 1 / 4), ("checks", 1 / 8))
JOINT_PATTERNS = (None, ("checks", 1 / 4))


def _background(spec: ClipSpec, width: int, height: int) -> np.ndarray:
    """The clip's background, ``uint8 [H, W, 3]``: its colour, with its pattern drawn in a darker shade."""
    if spec.cue == "picture":
        colour, pattern = LEVEL_COLOURS[spec.level], LEVEL_PATTERNS[spec.level]
    elif spec.cue == "joint":
        colour, pattern = JOINT_COLOURS[spec.level // 2], JOINT_PATTERNS[spec.level // 2]
    else:
        colour, pattern = NEUTRAL_COLOUR, None
    image = np.empty((height, width, 3), np.uint8)
    image[:] = colour
    if pattern is not None:
        kind, fraction = pattern
        period = max(2, round(fraction * height))
        yy, xx = np.mgrid[0:height, 0:width]
        dark = (yy // (period // 2 or 1)) % 2 == 0
        if kind == "checks":
            dark ^= (xx // (period // 2 or 1)) % 2 == 0
        image[dark] = (np.array(colour) * 0.45).astype(np.uint8)
    return image


LEVEL_SPEEDS = (0.0, 0.3, 0.6, 1.2)  # the square's speed in picture-cue clips, in frame widths per second
CALM_SPEED = 0.3


def frames_of(spec: ClipSpec, duration_s: float, size: tuple[int, int], fps: float) -> np.ndarray:
    """The clip's pictures, ``uint8 [N, H, W, 3]``: a patterned background and a white square moving
    sideways (faster for higher levels in picture-cue clips), from a random starting point."""
    width, height = size
    rng = np.random.default_rng(spec.seed)
    count = max(1, round(duration_s * fps))
    side = max(4, min(width, height) // 4)
    speed = (LEVEL_SPEEDS[spec.level] if spec.cue == "picture" else CALM_SPEED) * width
    start = rng.uniform([0, 0], [width - side, height - side])
    span = np.array([width - side, height - side], dtype=float)
    background = _background(spec, width, height)
    frames = np.empty((count, height, width, 3), np.uint8)
    for index in range(count):
        x, y = np.abs((start + [speed * index / fps, 0.0] + span) % (2 * span) - span)  # bounce off the sides
        frames[index] = background
        frames[index, round(y):round(y) + side, round(x):round(x) + side] = 255
    return frames


def sound_of(spec: ClipSpec, duration_s: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The clip's sound, mono ``float32 [n]`` in -1..1: a tone, beeps, or neutral noise."""
    rng = np.random.default_rng(spec.seed + 1)
    times = np.arange(round(duration_s * sample_rate)) / sample_rate
    if spec.cue == "sound":
        return (0.3 * np.sin(2 * np.pi * LEVEL_TONES_HZ[spec.level] * times)).astype(np.float32)
    if spec.cue == "joint":
        gate = (np.floor(times * 4) % 2 == 0).astype(np.float64)  # two 0.25-s beeps per second
        return (0.3 * gate * np.sin(2 * np.pi * JOINT_TONES_HZ[spec.level % 2] * times)).astype(np.float32)
    return (0.05 * rng.standard_normal(times.size)).astype(np.float32)


def write_clip(path: str | Path, spec: ClipSpec, duration_s: float = 2.0, size: tuple[int, int] = (64, 48),
               fps: float = 8.0, with_audio: bool = True) -> Path:
    """Encode one synthetic clip as H.264 (+ AAC when ``with_audio``) mp4 at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = frames_of(spec, duration_s, size, fps)
    with tempfile.TemporaryDirectory() as scratch:
        command = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", f"{size[0]}x{size[1]}", "-r", f"{fps:g}", "-i", "-"]
        if with_audio:
            raw = Path(scratch) / "sound.f32"
            raw.write_bytes(sound_of(spec, duration_s).tobytes())
            command += ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", str(raw), "-c:a", "aac",
                        "-b:a", "96k"]
        command += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv444p", "-shortest", str(path)]
        completed = subprocess.run(command, input=frames.tobytes(), capture_output=True, timeout=300)
    if completed.returncode != 0:
        raise WorkbenchError(f"ffmpeg could not write {path.name}: {completed.stderr.decode(errors='replace')[-300:]}")
    return path


def make_dataset(folder: str | Path, counts: dict[str, int] | None = None, duration_s: float = 2.0,
                 size: tuple[int, int] = (64, 48), fps: float = 8.0, seed: int = 0) -> Path:
    """Write a synthetic set in VidHarm's layout: ``train.json``, ``val.json``, ``test.json``,
    ``clips/<id>.mp4``, ``clips_to_trailers.json`` and a ``dataset.json`` marker saying it is synthetic.

    Args:
        folder: where to write (created).
        counts: clips per (cue, level) combination in each split (default train 3, val 1, test 2).
        duration_s, size, fps: of every clip (width, height in pixels).
        seed: seed of every random choice.

    Split entries carry VidHarm's fields (``filename``, ``label`` as a two-rater list with ``bt``
    for Btl, ``total_frames``) plus ``cue``. Each "trailer" holds the clips of one cue and level
    within one split, so trailers never cross splits.
    """
    folder = Path(folder)
    counts = counts or {"train": 3, "val": 1, "test": 2}
    rng = np.random.default_rng(seed)
    trailers: dict[str, str] = {}
    for split, per_combination in counts.items():
        entries = []
        for cue in CUES:
            for level in range(len(LEVELS)):
                trailer = f"{split}-{cue}-{LEVELS[level]}"
                for _ in range(per_combination):
                    clip_seed = int(rng.integers(1 << 31))
                    clip_id = f"{clip_seed:012x}"[-12:]
                    write_clip(folder / "clips" / f"{clip_id}.mp4", ClipSpec(level, cue, clip_seed), duration_s,
                               size, fps)
                    code = VIDHARM_CODES[level]
                    entries.append({"filename": clip_id, "label": [code, code],
                                    "total_frames": max(1, round(duration_s * fps)), "cue": cue})
                    trailers[clip_id] = trailer
        (folder / f"{split}.json").write_text(json.dumps(entries, indent=1), encoding="utf-8")
    (folder / "clips_to_trailers.json").write_text(json.dumps(trailers, indent=1), encoding="utf-8")
    (folder / MARKER_FILE).write_text(json.dumps({"synthetic": True, "made_by": "engine.video.synthetic",
                                                  "version": VERSION,
                                                  "counts": counts, "duration_s": duration_s, "size": list(size),
                                                  "fps": fps, "seed": seed}, indent=1), encoding="utf-8")
    return folder


def is_synthetic(folder: str | Path) -> bool:
    """Whether ``folder`` was written by :func:`make_dataset`."""
    marker = Path(folder) / MARKER_FILE
    try:
        return bool(json.loads(marker.read_text(encoding="utf-8")).get("synthetic"))
    except (OSError, ValueError, AttributeError):
        return False


def example_clip(folder: str | Path) -> Path:
    """A 30-s example for the Video tab (made once, then reused): 10 s of plain green with noise (Btl
    by picture), 10 s of grey with a 2400 Hz tone (15 by sound), 10 s of purple checks with 4 kHz beeps
    (11 only from both). 320 x 180 at 12 fps."""
    folder = Path(folder)
    path = folder / "synthetic-example.mp4"
    if path.is_file():
        return path
    parts = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, spec in enumerate((ClipSpec(0, "picture", 1), ClipSpec(3, "sound", 2), ClipSpec(2, "joint", 3))):
            parts.append(write_clip(Path(scratch) / f"part{index}.mp4", spec, 10.0, (320, 180), 12.0))
        listing = Path(scratch) / "parts.txt"
        listing.write_text("".join(f"file '{part}'\n" for part in parts), encoding="utf-8")
        partial = folder / "synthetic-example.partial.mp4"
        folder.mkdir(parents=True, exist_ok=True)
        completed = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0",
                                    "-i", str(listing), "-c", "copy", str(partial)], capture_output=True, timeout=300)
        if completed.returncode != 0:
            problem = completed.stderr.decode(errors="replace")[-300:]
            raise WorkbenchError(f"ffmpeg could not join the example: {problem}")
        partial.replace(path)
    return path
