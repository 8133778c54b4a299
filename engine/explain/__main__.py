"""``python -m engine.explain IMAGE --model NAME --preset PRESET [--seed S] --out MAP.npy``

Explains the model's top class (or ``--target``) on IMAGE, saves the attribution map as ``float32
[H, W]`` at the image's own size (NumPy ``.npy``), prints a summary and, on the last line,
``srg=<float>`` (LIF - MIF, higher is better). Exit status 2 with a message for unusable input.
"""

from engine.explain.runtime import configure_openmp

configure_openmp()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from engine.errors import WorkbenchError, command_line  # noqa: E402
from engine.explain.classifier import from_registry  # noqa: E402
from engine.explain.pipeline import PRESETS, ExplainConfig, explain  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.registry import default_registry  # noqa: E402


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
    parser.add_argument("--target", type=int, default=None, help="class index to explain (default: top class)")
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling and random perturbations")
    parser.add_argument("--out", type=Path, required=True, help="where to save the map (.npy)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON before the srg line")
    return parser.parse_args(argv)


def build_config(preset: str, overrides: str | None, samples: int | None) -> ExplainConfig:
    """The preset with ``overrides`` (JSON text or a file) and ``samples`` applied, validated."""
    values = PRESETS[preset].to_dict()
    if overrides:
        text = Path(overrides).read_text() if overrides.endswith(".json") else overrides
        try:
            values.update(json.loads(text))
        except (json.JSONDecodeError, TypeError, ValueError) as error:
            raise WorkbenchError(f"--config is not a JSON object of settings: {error}.") from error
    if samples is not None:
        values["n_samples"] = samples
    return ExplainConfig.from_dict(values)


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    config = build_config(args.preset, args.config, args.samples)
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
    for note in loaded.notes:
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
        print(f"lif={summary['lif']:.4f} mif={summary['mif']:.4f} norm_srg={summary['norm_srg']:.4f}")
    print(f"srg={result.evaluation.srg:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
