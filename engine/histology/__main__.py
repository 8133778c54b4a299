"""Command line of the histology library.

    python -m engine.histology scan DIR [--json] [--verify]    # counts and problems of a BreakHis-layout folder
    python -m engine.histology synth OUT [--patients N] [--images N] [--size HxW] [--seed S]
    python -m engine.histology slide FILE [--magnification 200X | --tile PX] [--json]

``scan --json`` prints ``{"images", "patients", "by_magnification", "by_class", "by_subtype", "problems"}``
(problems: ``"<relative path>: <why>"``); unreadable or unexpected files are listed, never fatal. Without
``--json`` it prints the same counts as text plus accession groups and duplicated slides. ``synth`` writes a small
synthetic collection in BreakHis' layout made from a CC0 H&E region (for trying the tools without BreakHis).
``slide`` describes a whole-slide image and counts its tissue tiles at a magnification.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.errors import InputError, command_line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine.histology", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    scan = commands.add_parser("scan", help="counts and problems of a BreakHis-layout (or generic) folder or CSV")
    scan.add_argument("source", type=Path, help="the folder (any folder above BreakHis' files) or a CSV file")
    scan.add_argument("--json", action="store_true", help="print the counts as JSON")
    scan.add_argument("--verify", action="store_true", help="decode every image (finds truncated files; slower)")
    synth = commands.add_parser("synth", help="write a synthetic BreakHis-layout folder from the CC0 H&E region")
    synth.add_argument("out", type=Path, help="where to write (BreaKHis_v1/histology_slides/breast/ inside)")
    synth.add_argument("--patients", type=int, default=2, help="patients per subtype (default 2)")
    synth.add_argument("--images", type=int, default=3, help="sequence numbers per patient (default 3)")
    synth.add_argument("--size", default="46x70", help="image height x width in pixels (default 46x70)")
    synth.add_argument("--seed", type=int, default=0)
    slide = commands.add_parser("slide", help="describe a whole-slide image and count its tissue tiles")
    slide.add_argument("file", type=Path)
    slide.add_argument("--magnification", default="200X", help="tile field of view of this BreakHis magnification")
    slide.add_argument("--tile", type=int, default=None, help="tile size in level-0 pixels (instead)")
    slide.add_argument("--json", action="store_true")
    return parser


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size must look like 46x70 (height x width), not {text!r}.") from None
    if not (8 <= height <= 2048 and 8 <= width <= 2048):
        raise InputError("--size must be between 8 and 2048 pixels on each side.")
    return height, width


def _scan(args: argparse.Namespace) -> None:
    from engine.histology.dataset import read_dataset

    dataset = read_dataset(args.source, check=True if args.verify else False)
    counts = dataset.counts()
    if args.json:
        print(json.dumps(counts))
        return
    print(f"{dataset.root} ({dataset.layout} layout)")
    print(f"images: {counts['images']}, patients: {counts['patients']}, accession groups: "
          f"{len({s.group for s in dataset.samples})}")
    for key in ("by_magnification", "by_class", "by_subtype"):
        print(f"{key.replace('_', ' ')}: " + ", ".join(f"{k} {v}" for k, v in counts[key].items()))  # type: ignore
    for patients in dataset.duplicate_slides:
        print(f"one slide id under several folders (kept in one accession group): {', '.join(patients)}")
    problems = dataset.problems
    print(f"problems: {len(problems)}")
    for problem in problems[:50]:
        print(f"  {problem}")
    if len(problems) > 50:
        print(f"  ... and {len(problems) - 50} more (--json lists all)")


def _slide(args: argparse.Namespace) -> None:
    from engine.histology.slides import open_slide, tile_grid, tile_size_for

    slide = open_slide(args.file)
    try:
        tile = args.tile or tile_size_for(slide, args.magnification)
        grid = tile_grid(slide, tile)
        facts = {"description": slide.describe(), "dimensions": list(slide.dimensions),
                 "levels": len(slide.level_downsamples), "mpp": slide.mpp, "tile_size": tile,
                 "tissue_tiles": len(grid), "grid": list(grid.shape)}
    finally:
        slide.close()
    print(json.dumps(facts) if args.json else "\n".join(f"{k}: {v}" for k, v in facts.items()))


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m engine.histology``."""
    args = _parser().parse_args(argv)
    if args.command == "scan":
        _scan(args)
    elif args.command == "synth":
        from engine.histology.synthetic import write_breakhis_fixture

        folder = write_breakhis_fixture(args.out, args.patients, args.images, _size(args.size), args.seed)
        print(folder)
    else:
        _slide(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
