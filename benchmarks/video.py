"""Video harm benchmark: the whole scoring path against the plain moviepy route, measured in one run.

    python -m benchmarks.video [--json] [--size 1280x720] [--minutes 1] [--repeats 3] [--hour-minutes 60]

Both routes rate the same generated clip (ffmpeg ``testsrc2`` at ``--size``, 24 fps, H.264 at about
2.4 Mbit/s for 720p, like a web trailer, with a stereo AAC tone) with the same rater, model loaded
beforehand, and go through the same windows, encoder, heads, log-mel, audio network and fusion:

- ours (:func:`engine.video.scoring.score`): ffmpeg samples 0.8 frames per second by timestamp,
  skips decoding unreferenced frames and scales each kept frame to 128 x 128 inside ffmpeg; mono audio
  at 44.1 kHz is streamed by a second ffmpeg; decoding overlaps with the model;
- peer, the route a user would write: moviepy decodes every frame at full size
  (``VideoFileClip.iter_frames``), the frames nearest the same timestamps are resized and centre-cropped
  with PIL (only those: the peer's best setting), and the sound is read with ``AudioFileClip`` at its
  own rate (moviepy's resampling can return zeros) and averaged to mono.

Reported: seconds of wall-clock time per minute of video for each (best of ``--repeats``, the routes
alternating), their ratio (target >= 3), CPU seconds per minute (this process and its ffmpeg
children), the largest difference between the two routes' fused probabilities, and the peak resident
memory of scoring a ``--hour-minutes``-long file (generated at 160 x 90, 12 fps) in a fresh process
(the Python process's peak plus the peaks of its two ffmpeg decoders, polled; target < 1.5 GB). About
500 MB of the Python figure is importing the CUDA build of torch.
``--json`` prints one object whose first keys are ``speedup``, ``seconds_per_minute``,
``peer_seconds_per_minute`` and ``peak_rss_mb_1h``.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep: ffmpeg shares the cores

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import numpy as np  # noqa: E402

from engine.video.media import ffmpeg_exe, probe  # noqa: E402
from engine.video.rater import Rater  # noqa: E402
from engine.video.scoring import WindowScore, encoded_frames, score, score_windows  # noqa: E402
from engine.video.windows import WindowStream, frame_rate  # noqa: E402

T = TypeVar("T")
PEAK_SCRIPT = """
import json, os, sys, threading, time
from pathlib import Path
from engine.video.rater import Rater
from engine.video.scoring import score
decoders = {}  # pid -> peak resident kB of each ffmpeg this process starts (polled: a forked child's ru_maxrss
               # would count the Python image it was forked from)
def kilobytes(status, key):
    return int(status.split(key + ":")[1].split()[0]) if key + ":" in status else 0
def watch():
    me = str(os.getpid())
    while True:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if stat.read_text().rsplit(")", 1)[1].split()[1] == me:
                    rss = kilobytes((stat.parent / "status").read_text(), "VmRSS")
                    decoders[stat.parent.name] = max(decoders.get(stat.parent.name, 0), rss)
            except (OSError, IndexError):
                pass
        time.sleep(0.2)
threading.Thread(target=watch, daemon=True).start()
result = score(sys.argv[1], Rater.untrained())
own = kilobytes(Path("/proc/self/status").read_text(), "VmHWM")
top = sorted(decoders.values(), reverse=True)[:2]  # the frame and the audio decoder run together
print(json.dumps({"windows": len(result.windows), "duration_s": result.duration_s, "seconds": result.seconds,
                  "self_kb": own, "decoders_kb": top}))
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def generate(path: Path, size: str, seconds: float, fps: int, preset: str = "veryfast") -> Path:
    """A test clip with a tone: H.264 video of ``size`` at ``fps``, stereo AAC."""
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate={fps}:duration={seconds}", "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={seconds}:sample_rate=44100", "-ac", "2", "-c:v", "libx264",
                    "-preset", preset, "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-shortest", str(path)],
                   check=True, timeout=3600)
    return path


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (ffmpeg), user + system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(work: Callable[[], T]) -> tuple[T, float, float]:
    """``work``'s result, its wall-clock seconds and CPU seconds."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = work()
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def peer_frames(path: Path, rate: float, size: int) -> Iterator[tuple[float, np.ndarray]]:
    """moviepy decodes every frame at full size; the frames nearest each sample time are resized with PIL."""
    from moviepy import VideoFileClip
    from PIL import Image

    clip = VideoFileClip(str(path), audio=False)
    try:
        step, next_time = 1.0 / clip.fps, 0.0
        for index, frame in enumerate(clip.iter_frames()):
            if index * step + step / 2 < next_time:
                continue
            image = Image.fromarray(frame)
            scale = size / min(image.size)
            image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                                 Image.Resampling.BILINEAR)
            left, top = (image.width - size) // 2, (image.height - size) // 2
            yield next_time, np.asarray(image.crop((left, top, left + size, top + size)))
            next_time += 1.0 / rate
    finally:
        clip.close()


def peer_audio(path: Path) -> Iterator[np.ndarray]:
    """moviepy reads the sound at its own rate; averaged to mono."""
    from moviepy import AudioFileClip

    sound = AudioFileClip(str(path))
    try:
        samples = sound.to_soundarray(fps=sound.fps).astype(np.float32)
    finally:
        sound.close()
    yield samples.mean(axis=1) if samples.ndim == 2 else samples


def peer_score(path: Path, rater: Rater) -> list[WindowScore]:
    """The plain route through the same windows and models."""
    info = probe(path)
    config = rater.config
    rate = frame_rate(info.duration_s, config.window_s, config.frames_per_window)
    stream = WindowStream(encoded_frames(peer_frames(path, rate, config.frame_size), rater.encoder),
                          peer_audio(path), rate, rater.audio.sample_rate, info.duration_s, config.window_s,
                          config.window_s, config.frames_per_window)
    return score_windows(stream, rater)


def hour_peak(folder: Path, minutes: float) -> dict[str, Any]:
    """Score a long low-resolution file in a fresh process; its peak memory and time."""
    path = folder / "hour.mp4"
    log(f"generating a {minutes:g}-minute file at 160x90 ...")
    generate(path, "160x90", minutes * 60, 12, preset="ultrafast")
    log("scoring it in a fresh process ...")
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path)], capture_output=True, text=True,
                               timeout=7200, cwd=Path(__file__).resolve().parents[1])
    if completed.returncode != 0:
        raise RuntimeError(f"scoring the long file failed: {completed.stderr[-500:]}")
    facts = json.loads(completed.stdout.strip().splitlines()[-1])
    return {"peak_rss_mb": round((facts["self_kb"] + sum(facts["decoders_kb"])) / 1024, 1),
            "python_peak_mb": round(facts["self_kb"] / 1024, 1),
            "ffmpeg_peaks_mb": [round(kb / 1024, 1) for kb in facts["decoders_kb"]],
            "windows": facts["windows"], "duration_s": facts["duration_s"],
            "seconds": round(time.perf_counter() - started, 1), "file_mb": round(path.stat().st_size / 2**20, 1)}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.video``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.video", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--size", default="1280x720", help="benchmark clip size (default 1280x720)")
    parser.add_argument("--minutes", type=float, default=1.0, help="benchmark clip length (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each route (best is kept)")
    parser.add_argument("--hour-minutes", type=float, default=60.0, help="length of the memory test file (0: skip)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="workbench-video-bench-") as scratch:
        folder = Path(scratch)
        log(f"generating a {args.minutes:g}-minute {args.size} clip ...")
        clip = generate(folder / "clip.mp4", args.size, args.minutes * 60, 24)
        rater = Rater.untrained()  # the cost of a trained rater is the same
        _ = rater.encoder, rater.log_mel  # loaded before timing
        ours_runs, peer_runs = [], []
        ours = peer = None
        for repeat in range(args.repeats):
            ours, wall, cpu = timed(lambda: score(clip, rater).windows)
            ours_runs.append((wall, cpu))
            log(f"ours  run {repeat + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU")
            peer, wall, cpu = timed(lambda: peer_score(clip, rater))
            peer_runs.append((wall, cpu))
            log(f"peer  run {repeat + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU")
        assert ours is not None and peer is not None
        difference = max(float(np.abs(a.fused - b.fused).max()) for a, b in zip(ours, peer))
        ours_wall, peer_wall = min(w for w, _ in ours_runs), min(w for w, _ in peer_runs)
        ours_cpu, peer_cpu = min(c for _, c in ours_runs), min(c for _, c in peer_runs)
        hour = hour_peak(folder, args.hour_minutes) if args.hour_minutes > 0 else None
    result = {
        "speedup": round(peer_wall / ours_wall, 2),
        "seconds_per_minute": round(ours_wall / args.minutes, 3),
        "peer_seconds_per_minute": round(peer_wall / args.minutes, 3),
        "peak_rss_mb_1h": hour["peak_rss_mb"] if hour else None,
        "cpu_speedup": round(peer_cpu / ours_cpu, 2),
        "cpu_seconds_per_minute": round(ours_cpu / args.minutes, 3),
        "peer_cpu_seconds_per_minute": round(peer_cpu / args.minutes, 3),
        "max_fused_probability_difference": round(difference, 4),
        "windows": len(ours),
        "clip": {"size": args.size, "fps": 24, "minutes": args.minutes, "codec": "h264 veryfast + aac"},
        "rater": {"encoder": rater.config.visual_arch, "frame_size": rater.config.frame_size,
                  "frames_per_window": rater.config.frames_per_window, "audio": rater.config.audio_arch},
        "long_file": hour,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"ours {result['seconds_per_minute']} s per minute of video, moviepy route "
              f"{result['peer_seconds_per_minute']} s: {result['speedup']}x faster (target >= 3); CPU time "
              f"{result['cpu_speedup']}x less")
        print(f"fused probabilities of the two routes differ by at most {result['max_fused_probability_difference']}")
        if hour:
            print(f"{args.hour_minutes:g}-minute file: peak memory {hour['peak_rss_mb']} MB (target < 1500), "
                  f"{hour['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
