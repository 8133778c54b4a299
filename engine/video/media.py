"""Decoding video and audio with the ffmpeg binary that ships in ``imageio-ffmpeg`` (no system ffmpeg needed).

Nothing here holds a whole file in memory. :class:`FrameSampler` asks ffmpeg for frames sampled
*by timestamp* at a fixed rate (the ``fps`` filter: frame ``k`` is the picture shown at ``k / rate``
seconds, whatever the file's own frame rate, constant or variable), turned upright from rotation
metadata, scaled and centre-cropped *inside ffmpeg* to a small square, and streams them through a
pipe; :class:`AudioSampler` streams mono float samples at a fixed rate. Each runs its ffmpeg
process with a reader thread and a bounded queue, so decoding overlaps with the caller's work and
memory stays bounded for hours-long files.

By default the decoder skips frames that no other frame references (``-skip_frame noref``, most
B-frames): decoding is then 1.5-2x faster, and a sampled frame is the nearest decoded one, a couple
of frames (below 0.1 s at 24 fps) from its timestamp at most. Pass ``skip_unreferenced=False`` for
exact frames.

Audio is mixed down to mono by averaging the channels (as librosa does); ffmpeg's own ``-ac 1``
would weight a stereo pair by 0.707 each, so the channels are averaged here instead.
"""

from __future__ import annotations

import functools
import io
import queue
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from engine.errors import InputError

FRAME_QUEUE = 48  # frames a reader may decode ahead of its consumer
AUDIO_CHUNK_S = 1.0
AUDIO_QUEUE = 24  # audio chunks a reader may decode ahead
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_STREAM = re.compile(r"Stream #\d+:\d+.*?: (Video|Audio): (.*)")
_SIZE = re.compile(r"(?:^|[ ,])(\d{1,5})x(\d{1,5})(?=[ ,\[]|$)")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)")
_RATE = re.compile(r"(\d+) Hz")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")
_LAYOUT = re.compile(r"\d+ Hz, ([^,]+)")
_NAMED_LAYOUTS = {"mono": 1, "stereo": 2, "downmix": 2, "quad": 4, "hexagonal": 6, "octagonal": 8, "cube": 8,
                  "hexadecagonal": 16}


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with ``imageio-ffmpeg``."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class MediaInfo:
    """What a file holds, read from its header (nothing decoded).

    ``width``/``height`` are as displayed, i.e. swapped for a 90/270 degree ``rotation``.
    ``duration_s`` is None when the container does not say; ``fps`` is the nominal rate.
    """

    path: Path
    duration_s: float | None
    width: int
    height: int
    fps: float | None
    rotation: float
    video_codec: str
    has_audio: bool
    audio_codec: str | None = None
    audio_rate: int | None = None
    audio_channels: int | None = None
    notes: tuple[str, ...] = ()


def _channel_count(layout: str) -> int | None:
    """Channels of an ffmpeg layout name: ``stereo`` 2, ``5.1(side)`` 6, ``7.1.4`` 12, ``3 channels`` 3."""
    name = layout.strip().split("(")[0]
    if name in _NAMED_LAYOUTS:
        return _NAMED_LAYOUTS[name]
    if name.endswith(" channels") and name.split()[0].isdigit():
        return int(name.split()[0])
    parts = name.split(".")
    return sum(int(part) for part in parts) if all(part.isdigit() for part in parts) and len(parts) > 1 else None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path.name}: no such file.")
    if not path.is_file():
        raise InputError(f"{path.name} is not a file.")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is empty (0 bytes).")


def _reason(stderr: str) -> str:
    """The most telling line of ffmpeg's complaint."""
    lines = [line.split("] ", 1)[-1].strip() for line in stderr.splitlines() if line.strip()]
    specific = [line for line in lines if not line.startswith(("Error opening input", "Error opening output"))]
    return (specific or lines or ["unknown error"])[-1][:200]


def probe(path: str | Path) -> MediaInfo:
    """Read a file's streams, duration, frame rate and rotation from ffmpeg's header report.

    Raises:
        InputError: the file is missing, empty, not a media file ffmpeg can open, or has no
            video stream (a still image attached as cover art does not count).
    """
    path = Path(path)
    _check_file(path)
    completed = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                               capture_output=True, text=True, errors="replace", timeout=120)
    report = completed.stderr
    if "Error opening input" in report or "Invalid data found" in report:
        raise InputError(f"{path.name} is not a readable video ({_reason(report)}).")
    video = audio = None
    for line in report.splitlines():
        match = _STREAM.search(line)
        if not match or "(attached pic)" in line:
            continue
        if match.group(1) == "Video" and video is None:
            video = match.group(2)
        elif match.group(1) == "Audio" and audio is None:
            audio = match.group(2)
    if video is None:
        raise InputError(f"{path.name} has no video stream (an audio file or a damaged video?).")
    size = _SIZE.search(video)
    if size is None:
        raise InputError(f"{path.name}: the video stream has no frame size ({video[:80]}).")
    width, height = int(size.group(1)), int(size.group(2))
    rotation_match = _ROTATION.search(report)
    rotation = float(rotation_match.group(1)) if rotation_match else 0.0
    if round(rotation) % 180 == 90:
        width, height = height, width
    fps_match = _FPS.search(video)
    fps = float(fps_match.group(1)) * (1000 if fps_match.group(2) else 1) if fps_match else None
    duration_match = _DURATION.search(report)
    duration = None
    if duration_match:
        hours, minutes, seconds = duration_match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    notes = []
    audio_rate = audio_channels = None
    if audio is not None:
        rate_match, layout_match = _RATE.search(audio), _LAYOUT.search(audio)
        audio_rate = int(rate_match.group(1)) if rate_match else None
        audio_channels = _channel_count(layout_match.group(1)) if layout_match else None
        if audio_channels is None:
            notes.append("The audio channel layout is unknown; it was mixed down from ffmpeg's stereo downmix.")
    return MediaInfo(path=path, duration_s=duration, width=width, height=height, fps=fps, rotation=rotation,
                     video_codec=video.split()[0].strip(","), has_audio=audio is not None,
                     audio_codec=audio.split()[0].strip(",") if audio else None, audio_rate=audio_rate,
                     audio_channels=audio_channels, notes=tuple(notes))


@dataclass
class DecodeReport:
    """How a decode went: how much came out and what ffmpeg complained about (filled at the end)."""

    items: int = 0
    returncode: int | None = None
    errors: list[str] = field(default_factory=list)


class _PipeReader:
    """Runs one ffmpeg command and reads its stdout in fixed-size chunks on a thread, ahead of the consumer."""

    def __init__(self, command: list[str], chunk_bytes: int, max_chunks: int, what: str) -> None:
        self.command = command
        self.chunk_bytes = chunk_bytes
        self.what = what
        self.report = DecodeReport()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=max_chunks)
        self._stop = threading.Event()
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=self._stderr, bufsize=0)
        self._thread = threading.Thread(target=self._read, name=f"ffmpeg-{what}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            while not self._stop.is_set():
                chunk = self._read_exactly(stdout, self.chunk_bytes)
                if not chunk:
                    break
                self._queue.put(chunk)
        finally:
            self._queue.put(None)

    @staticmethod
    def _read_exactly(stream: IO[bytes], size: int) -> bytes:
        parts, missing = [], size
        while missing:
            part = stream.read(missing)
            if not part:
                break
            parts.append(part)
            missing -= len(part)
        return b"".join(parts)

    def chunks(self) -> Iterator[bytes]:
        """Yield stdout chunks (the last may be short) until ffmpeg ends; then fill :attr:`report`."""
        try:
            while True:
                chunk = self._queue.get()
                if chunk is None:
                    break
                self.report.items += 1
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        """Stop ffmpeg (if still running), join the reader and collect ffmpeg's messages."""
        self._stop.set()
        if self._process.poll() is None:
            self._process.kill()
        while self._thread.is_alive():  # unblock a reader waiting on a full queue
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self.report.returncode = self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        self._stderr.close()
        self.report.errors = [line.strip() for line in text.splitlines() if line.strip()][-20:]


def _input_options(start_s: float, duration_s: float | None) -> list[str]:
    options = ["-ss", f"{start_s:.6f}"] if start_s > 0 else []
    return options + (["-t", f"{duration_s:.6f}"] if duration_s is not None else [])


class FrameSampler:
    """Frames of a video sampled by timestamp, as ``uint8 [size, size, 3]`` RGB, streamed.

    Frame ``k`` is the picture on screen at ``start_s + k / rate`` seconds (nearest decoded frame);
    a clip shorter than ``1 / rate`` still gives its one frame. Pictures are rotated upright,
    scaled so the short side is ``size`` (area averaging) and centre-cropped, all inside ffmpeg.

    Args:
        path: the video file (check it with :func:`probe` first for a clear error).
        rate: frames per second to sample (> 0).
        size: side of the square output in pixels.
        start_s: where to start, in seconds from the beginning.
        duration_s: how many seconds to read (None: to the end).
        skip_unreferenced: skip decoding frames nothing references (faster; see the module docstring).
    """

    def __init__(self, path: str | Path, rate: float, size: int, start_s: float = 0.0,
                 duration_s: float | None = None, skip_unreferenced: bool = True) -> None:
        if rate <= 0 or size < 8:
            raise ValueError(f"rate must be > 0 and size >= 8, got {rate} and {size}")
        self.path, self.rate, self.size, self.start_s = Path(path), float(rate), int(size), float(start_s)
        skip = ["-skip_frame", "noref"] if skip_unreferenced else []
        self.command = [ffmpeg_exe(), "-nostdin", "-v", "error", *skip, *_input_options(start_s, duration_s),
                        "-i", str(self.path), "-map", "0:v:0", "-an", "-sn", "-dn",
                        "-vf", f"fps=fps={self.rate:.9g}:eof_action=pass,"
                               f"scale={self.size}:{self.size}:force_original_aspect_ratio=increase:flags=area,"
                               f"crop={self.size}:{self.size}",
                        "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        self.report = DecodeReport()

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        """Yield ``(time_s, frame)`` in time order."""
        frame_bytes = self.size * self.size * 3
        reader = _PipeReader(self.command, frame_bytes, FRAME_QUEUE, "video")
        self.report = reader.report
        for index, chunk in enumerate(reader.chunks()):
            if len(chunk) < frame_bytes:
                break
            yield self.start_s + index / self.rate, np.frombuffer(chunk, np.uint8).reshape(self.size, self.size, 3)


class AudioSampler:
    """Mono ``float32`` samples of a file's first audio stream at ``sample_rate``, streamed in chunks.

    Channels are averaged (``channels`` from :func:`probe`; None means an unknown layout, taken as
    ffmpeg's stereo downmix). Samples are in -1..1 as decoded.
    """

    def __init__(self, path: str | Path, sample_rate: int, channels: int | None, start_s: float = 0.0,
                 duration_s: float | None = None) -> None:
        self.path, self.sample_rate = Path(path), int(sample_rate)
        self.channels = channels or 2
        self.command = [ffmpeg_exe(), "-nostdin", "-v", "error", *_input_options(start_s, duration_s),
                        "-i", str(self.path), "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", str(self.channels),
                        "-ar", str(self.sample_rate), "-f", "f32le", "-"]
        self.report = DecodeReport()

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield consecutive ``float32 [n]`` chunks of about one second."""
        frame = 4 * self.channels
        reader = _PipeReader(self.command, round(AUDIO_CHUNK_S * self.sample_rate) * frame, AUDIO_QUEUE, "audio")
        self.report = reader.report
        for chunk in reader.chunks():
            usable = len(chunk) - len(chunk) % frame
            if usable:
                samples = np.frombuffer(chunk[:usable], np.float32).reshape(-1, self.channels)
                yield samples.mean(axis=1, dtype=np.float32) if self.channels > 1 else samples[:, 0].copy()


def read_frames(path: str | Path, times_s: np.ndarray | list[float], width: int) -> list[np.ndarray]:
    """Frames at given times, upright, ``width`` pixels wide (aspect kept), ``uint8 [H, W, 3]``: key frames
    to show a person. One ffmpeg seek per frame, so keep the list short."""
    from PIL import Image

    path = Path(path)
    frames = []
    for time_s in times_s:
        command = [ffmpeg_exe(), "-nostdin", "-v", "error", "-ss", f"{max(0.0, float(time_s)):.6f}", "-i", str(path),
                   "-map", "0:v:0", "-frames:v", "1", "-vf", f"scale={int(width)}:-2:flags=area", "-f", "image2pipe",
                   "-c:v", "png", "-"]
        completed = subprocess.run(command, capture_output=True, timeout=120)
        if completed.returncode == 0 and completed.stdout:
            frames.append(np.asarray(Image.open(io.BytesIO(completed.stdout)).convert("RGB")))
    return frames


def cut_clip(path: str | Path, start_s: float, duration_s: float | None, target: str | Path) -> Path:
    """Re-encode ``duration_s`` seconds (None: to the end) from ``start_s`` into ``target`` (H.264 + AAC
    mp4), e.g. to export one rated window as a training clip.

    Raises:
        InputError: ffmpeg could not cut the clip.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *_input_options(start_s, duration_s), "-i", str(path),
               "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
               "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:a", "aac", str(target)]
    completed = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=3600)
    if completed.returncode != 0 or not target.is_file():
        raise InputError(f"Could not cut {Path(path).name} at {start_s:.1f} s: {_reason(completed.stderr)}")
    return target
