"""Command line of the DPS metrics.

    python -m engine.similarity compare A B [--backbone NAME] [--compare spatial|mean|sort|spatial+mean|spatial+sort]
        [--layers L1,L2] [--no-channel-norm] [--heads FILE] [--size N] [--precision exact|fast]
        [--weights pretrained|random] [--seed S]
    python -m engine.similarity flaws [--backbone NAME ...] [--weights random] [--json] [--plot FILE]

``compare`` prints details, then the distance as a bare number on its last line. Images may be any
size, mode or bit depth (they are read as RGB in 0..1 and brought to one size, with a note). Missing
pretrained weights, unreadable images and bad options end with a message and exit status 2.
2AFC evaluation has its own CLI: ``python -m engine.similarity.twoafc``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine import settings
from engine.backbones import BACKBONES
from engine.errors import command_line
from engine.images import load_image
from engine.similarity.compare import compare
from engine.similarity.metric import COMPARISONS, PRECISIONS, MetricConfig, build_metric, shared_extractor
from engine.similarity.twoafc import tqdm_progress


def _weights_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", choices=["pretrained", "random"], default="pretrained",
                        help="backbone weights: pretrained ImageNet (default) or random (tests only, labelled RANDOM)")
    parser.add_argument("--seed", type=int, default=0, help="seed of random weights")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine.similarity", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pair = commands.add_parser("compare", help="distance between two images (last line: the bare number)")
    pair.add_argument("a", type=Path, help="first image")
    pair.add_argument("b", type=Path, help="second image (resized to the first's size if they differ)")
    pair.add_argument("--backbone", choices=list(BACKBONES), default="mobilenet_v2")
    pair.add_argument("--compare", dest="comparison", choices=list(COMPARISONS), default="spatial")
    pair.add_argument("--layers", default="", help="comma-separated layer names (default: the backbone's)")
    pair.add_argument("--no-channel-norm", action="store_true", help="skip the per-position channel normalisation")
    pair.add_argument("--heads", type=Path, default=None, help="lin heads (LPIPS .pth or .safetensors)")
    pair.add_argument("--size", type=int, default=None, help="compare at SIZE x SIZE (default: the first image's size)")
    pair.add_argument("--precision", choices=list(PRECISIONS), default="exact")
    _weights_options(pair)
    suite = commands.add_parser("flaws", help="the flaw suite's pass counts (translate, rotate, invert, colour stain)")
    suite.add_argument("--backbone", action="append", choices=list(BACKBONES), default=None,
                       help="backbone to test (repeatable; default mobilenet_v2)")
    suite.add_argument("--json", action="store_true", help="print pass counts and raw distances as JSON")
    suite.add_argument("--plot", type=Path, default=None, help="save the pass-count plot (PNG) here")
    _weights_options(suite)
    return parser


def _compare(args: argparse.Namespace) -> None:
    config = MetricConfig(backbone=args.backbone, comparison=args.comparison,
                          layers=tuple(name for name in args.layers.split(",") if name),
                          channel_norm=not args.no_channel_norm, weights=args.weights, seed=args.seed,
                          heads_file=str(args.heads) if args.heads else None, precision=args.precision)
    metric = build_metric(config)
    first, second = load_image(args.a), load_image(args.b)
    result = compare(first.pixels, second.pixels, metric, size=args.size)
    print(f"metric: {config.label}")
    print(f"weights: {result.provenance}")
    print("input: RGB in 0..1, ImageNet normalisation inside; size "
          f"{result.map.shape[1]}x{result.map.shape[0]}")
    for note in [*first.notes, *second.notes, *result.notes]:
        print(f"note: {note}")
    for name, value in result.per_entry.items():
        print(f"  {name:16} {value:.6f}")
    print(f"{result.distance:.8g}")


def _flaws(args: argparse.Namespace) -> None:
    from engine.similarity.flaws import HEADERS, run_flaw_suite

    extractors = [shared_extractor(arch, args.weights, seed=args.seed, device=settings.current().device)
                  for arch in args.backbone or ["mobilenet_v2"]]
    with tqdm_progress("flaw suite", disable=args.json) as report:
        outcome = run_flaw_suite(extractors, progress=report)
    if args.plot:
        from engine.similarity.plots import flaw_plot

        flaw_plot(outcome).savefig(args.plot, dpi=120, bbox_inches="tight")
    if args.json:
        print(json.dumps(outcome.to_json()))
        return
    rows = [HEADERS, *outcome.table()]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(HEADERS))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    for label in outcome.provenance.values():
        print(f"weights: {label}")


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m engine.similarity``."""
    args = _parser().parse_args(argv)
    _compare(args) if args.command == "compare" else _flaws(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
