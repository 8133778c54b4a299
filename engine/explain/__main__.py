"""``python -m engine.explain IMAGE --model NAME --preset PRESET [--seed S] [--until R --max-samples N] --out MAP.npy``

Explains the model's top class (or ``--target``) on IMAGE, saves the attribution map as ``float32
[H, W]`` at the image's own size (NumPy ``.npy``), prints a summary, ``samples=<int>`` (perturbed
images drawn) and, on the last line, ``srg=<float>`` (LIF - MIF, higher is better). With ``--until R``
sampling stops once the map's estimated correlation with its converged self reaches R (or after
``--max-samples``). Exact float32 unless ``--bf16``. Exit status 2 with a message for unusable input.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.errors import WorkbenchError, command_line
from engine.explain.classifier import from_registry
from engine.explain.pipeline import PRESETS, ExplainConfig, explain
from engine.images import load_image
from engine.registry import default_registry


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m engine.explain", description=__doc__.split("\n\n")[0])
    parser.add_argument("image", type=Path, help="image file (PNG, JPEG, TIFF, BMP, WebP)")
    parser.add_argument("--model", default="mobilenet_v2", help="registry name of an image classifier")
    parser.add_argument("--preset", choices=list(PRESETS), default="slic-smooth-pixel",
                        help="starting configuration (default: slic-smooth-pixel)")
    parser.add_argument("--config", default=None,
                        help="JSON object (or a .json file) of settings that override the preset's")
    parser.add_argument("--samples", type=int, default=None, help="number of perturbed images N")
    parser.add_argument("--until", type=float, default=None, metavar="R",
                        help="run until the map's estimated correlation with its converged self reaches R "
                        "(split-half estimate, e.g. 0.95) instead of a fixed N")
    parser.add_argument("--max-samples", type=int, default=None, metavar="N",
                        help="most perturbed images to draw with --until (default 8000)")
    parser.add_argument("--bf16", "--bfloat16", action="store_true",
                        help="fast mode: bfloat16 (only on CPUs with native bfloat16; slightly different maps)")
    parser.add_argument("--target", type=int, default=None, help="class index to explain (default: top class)")
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling and random perturbations")
    parser.add_argument("--out", type=Path, required=True, help="where to save the map (.npy)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON before the srg line")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> ExplainConfig:
    """The preset with ``--config`` (JSON text or a file) and the other options applied, validated."""
    values = PRESETS[args.preset].to_dict()
    if args.config:
        text = Path(args.config).read_text() if args.config.endswith(".json") else args.config
        try:
            values.update(json.loads(text))
        except (json.JSONDecodeError, TypeError, ValueError) as error:
            raise WorkbenchError(f"--config is not a JSON object of settings: {error}.") from error
    if args.max_samples is not None and args.until is None:
        raise WorkbenchError("--max-samples is the budget of --until; for a fixed number of samples use --samples.")
    if args.until is not None and not 0 < args.until < 1:
        raise WorkbenchError(f"--until is a target correlation between 0 and 1 (e.g. 0.95); got {args.until}.")
    options = {"n_samples": args.samples, "until": args.until, "max_samples": args.max_samples,
               "precision": "bfloat16" if args.bf16 else None}
    values.update({key: value for key, value in options.items() if value is not None})
    return ExplainConfig.from_dict(values)


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    config = build_config(args)
    loaded = load_image(args.image)
    classifier = from_registry(default_registry(), args.model)
    with tqdm(total=100, desc="explaining", unit="%", file=sys.stderr) as bar:
        def progress(fraction: float, message: str) -> None:
            bar.set_postfix_str(message)
            bar.update(round(100 * fraction) - bar.n)

        result = explain(loaded.pixels, classifier, config, target=args.target, seed=args.seed,
                         progress=progress)
    height, width = loaded.pixels.shape[:2]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, result.map_at(height, width).astype(np.float32))
    for note in loaded.notes + result.notes():
        print(f"note: {note}")
    summary = result.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"model: {result.provenance}")
        print("top classes: " + ", ".join(f"{c.index} {c.label} ({c.probability:.3f})" for c in result.top_classes[:3]))
        print(f"explained: {result.target} {result.label} (p={result.probability:.3f})")
        print(f"config: {config.label()}  seed={args.seed}")
        print(f"{result.model_calls} model calls in {result.seconds:.1f} s; map {height}x{width} saved to {args.out}")
        if result.settled_r is not None:
            state = ("converged" if result.converged else "not converged (budget spent)") if config.until else "settled"
            print(f"{state}: estimated correlation with the converged map {result.settled_r:.3f} (split-half)")
        print(f"lif={summary['lif']:.4f} mif={summary['mif']:.4f} norm_srg={summary['norm_srg']:.4f}")
    print(f"samples={len(result.samples)}")
    print(f"srg={result.evaluation.srg:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
