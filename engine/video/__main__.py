"""``python -m engine.video``: rate a video, probe a rater for bias, make synthetic clips.

    python -m engine.video score CLIP [--model OUT] [--stride 5] [--fusion product] [--json]
    python -m engine.video probe CLIPS.csv [--model OUT] [--modality video] [--json]
    python -m engine.video make-synthetic DIR [--train 3 --val 1 --test 2]

``score`` prints each window's levels and the clip's rating (its worst window), or with ``--json``
one object: ``duration_s``, ``windows`` (``start_s``, ``end_s``, ``probabilities`` over Btl/7/11/15,
``rating``, per-modality ``video``/``audio``, ``pushed_by``), ``rating``, ``worst_window``, ``model``,
``has_audio``, ``provenance`` and ``notes``. Without ``--model`` the untrained demonstration rater is
used and labelled RANDOM. An unreadable file prints one ``error: ...`` line and exits with status 2.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep: the CPU is shared with ffmpeg

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from engine.errors import command_line  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    from engine.video.models import FUSION_RULES

    parser = argparse.ArgumentParser(prog="python -m engine.video", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    scoring = commands.add_parser("score", help="rate a video by 10-s windows (worst window = rating)")
    scoring.add_argument("clip", type=Path, help="any video file ffmpeg reads")
    scoring.add_argument("--model", default=None,
                         help="trained rater folder (trainers.vidharm --out) or saved name (default: untrained demo)")
    scoring.add_argument("--stride", type=float, default=None, help="seconds between windows (default: 10, no overlap)")
    scoring.add_argument("--fusion", choices=list(FUSION_RULES), default=None,
                         help="fusion rule (default: the rater's)")
    scoring.add_argument("--json", action="store_true", help="print one JSON object")
    probing = commands.add_parser("probe", help="compare the levels given to matched benign clips per group")
    probing.add_argument("csv", type=Path, help="CSV with header path,group")
    probing.add_argument("--model", default=None, help="trained rater folder or saved name")
    probing.add_argument("--modality", choices=["video", "fused"], default="video",
                         help="rate with the picture alone (VidHarm's probe) or fused")
    probing.add_argument("--json", action="store_true", help="print one JSON object")
    making = commands.add_parser("make-synthetic", help="write a synthetic labelled set in VidHarm's layout")
    making.add_argument("folder", type=Path)
    for split, count in (("train", 3), ("val", 1), ("test", 2)):
        making.add_argument(f"--{split}", type=int, default=count,
                            help=f"clips per (cue, level) in {split} (default {count})")
    making.add_argument("--seconds", type=float, default=2.0, help="clip length (default 2)")
    return parser.parse_args(argv)


def _score(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from engine.video.catalog import resolve
    from engine.video.labels import LEVELS
    from engine.video.scoring import score

    rater = resolve(args.model)
    with tqdm(desc="windows", unit="window", file=sys.stderr, disable=None, leave=False) as bar:
        result = score(args.clip, rater, stride_s=args.stride, fusion=args.fusion, on_window=lambda _: bar.update())
    if args.json:
        print(json.dumps(result.to_json()))
        return
    print(f"{'window (s)':>19}  rating  picture  sound  pushed by")
    for window in result.windows:
        picture = LEVELS[int(window.video.argmax())]
        sound = LEVELS[int(window.audio.argmax())] if window.audio is not None else "-"
        print(f"{window.start_s:8.1f}-{window.end_s:8.1f}  {window.rating:>6}  {picture:>7}  {sound:>5}  "
              f"{window.pushed_by}")
    for note in result.notes:
        print(f"note: {note}")
    worst = result.worst
    print(f"rating: {result.rating} (worst window {worst.start_s:.1f}-{worst.end_s:.1f} s, pushed by "
          f"{worst.pushed_by}; model {result.model})")


def _probe(args: argparse.Namespace) -> None:
    from engine.video.catalog import resolve
    from engine.video.probing import probe, read_probe_csv

    result = probe(read_probe_csv(args.csv), resolve(args.model), args.modality)
    if args.json:
        print(json.dumps(result.to_json()))
        return
    for group in result.groups:
        print(f"{group.name:24} n={group.clips:4}  mean harm score {group.mean_harm_score:.3f}")
    print(f"largest gap {result.gap:.3f} (permutation p = {result.p_value:.3f})")


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    if args.command == "score":
        _score(args)
    elif args.command == "probe":
        _probe(args)
    else:
        from engine.video.synthetic import make_dataset

        folder = make_dataset(args.folder, {"train": args.train, "val": args.val, "test": args.test}, args.seconds)
        print(f"wrote {folder} (synthetic clips in VidHarm's layout)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
