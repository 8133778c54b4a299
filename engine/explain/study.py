"""The paper's configuration study: which factor decides explanation quality (SRG)?

    python -m engine.explain.study --images DIR --configs paper|grid [--model mobilenet_v2] [--out DIR]
                                   [--large-n 500] [--bundled] [--seed 0]

For every image (top-1 class explained) and every setting (segmentation variant x sampler), the model
runs once on the perturbed images; every attribution rule (RISE, least-squares LIME, Kernel SHAP, PDA,
CIU, inverse CIU; rules that cannot use the samples are skipped, as in the paper) is then computed from
those outputs, projected per segment and per pixel, and scored with LIF/MIF/SRG (K = 10, image-mean
deletion). The explanation perturber is the ImageNet-mean colour, as in the paper.

``--configs paper``: the paper's grid (spec 3.1): grid + bilinear, grid + Gaussian and SLIC + Gaussian
(sigma = 70/sqrt(M) px, M = 49) x 8 sampler settings: random p=0.5 and Kernel-SHAP order, each with N in
{large, 400, M}, single-feature + unperturbed and inverse single-feature + unperturbed. The paper's large N
is 4000 (AlexNet, VGG16) or 8000 (ResNet50); ``--large-n`` (default 500) keeps a CPU run under an hour.
``--configs grid``: a full factorial over segmentation {grid, SLIC} x smoothing {none, Gaussian} (plus grid +
bilinear) with random N=400, Kernel-SHAP order N=400 and single-feature + unperturbed; it adds the
unsmoothed SLIC and grid variants the paper's grid lacks.

Writes ``results.csv`` (one row per image x configuration; rows already present are skipped, so an
interrupted run resumes) and ``summary.md`` (mean SRG per factor and the paper's headline comparison),
which is also printed. ``--bundled`` first writes the photographs bundled with scikit-image,
scikit-learn and matplotlib into the ``--images`` folder.
"""

from engine.explain.runtime import configure_openmp

configure_openmp()

import argparse  # noqa: E402
import csv  # noqa: E402
import dataclasses  # noqa: E402
import hashlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tqdm import tqdm  # noqa: E402

from engine.errors import command_line  # noqa: E402
from engine.explain.attributers import (  # noqa: E402
    Attributer,
    CiuAttributer,
    IncompatibleSamples,
    KernelShapAttributer,
    LinearLimeAttributer,
    PdaAttributer,
    RiseAttributer,
)
from engine.explain.classifier import Classifier, from_registry  # noqa: E402
from engine.explain.evaluation import deletion_order, srg  # noqa: E402
from engine.explain.pipeline import (  # noqa: E402
    ExplainConfig,
    draw_samples,
    prepare,
    random_streams,
    run_model,
    segment,
)
from engine.explain.samplers import KernelShapSampler, RandomSampler, Sampler, SingleFeatureSampler  # noqa: E402
from engine.explain.segmenters import (  # noqa: E402
    GaussianSmoothing,
    GridSegmenter,
    MaskBuilder,
    NoSmoothing,
    Segmenter,
    SlicSegmenter,
    Smoothing,
)
from engine.images import load_image_collection  # noqa: E402
from engine.registry import default_registry  # noqa: E402
from engine.samples import write_natural_images  # noqa: E402

RULES: dict[str, Attributer] = {
    "rise": RiseAttributer(), "lime": LinearLimeAttributer(), "shap": KernelShapAttributer(), "pda": PdaAttributer(),
    "ciu": CiuAttributer(), "ciu-inverse": CiuAttributer(inverse=True),
}
ATTRIBUTIONS = ("segment", "pixel")
NATURAL_PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "motorcycle", "china", "flower", "grace_hopper"]
FIELDS = ["image", "segmentation", "sampler", "attributer", "attribution", "n_segments", "n_samples", "target",
          "label", "lif", "mif", "srg", "norm_lif", "norm_mif", "norm_srg"]
FACTORS = ["segmentation", "attribution", "sampler", "attributer"]


@dataclass(frozen=True)
class Setting:
    """One model run shared by every attribution rule: a segmentation variant and a sampler setting.

    ``n_samples`` None means N = M (the paper's "None" size); ``add_none`` adds the unperturbed row."""

    segmentation: str
    segmenter: Segmenter
    smoothing: Smoothing
    sampler_name: str
    sampler: Sampler
    n_samples: int | None
    add_none: bool = False


def _samplers(sizes: list[int | None]) -> list[tuple[str, Sampler, int | None, bool]]:
    chosen: list[tuple[str, Sampler, int | None, bool]] = []
    for name, sampler in (("random", RandomSampler(0.5)), ("shap", KernelShapSampler())):
        chosen += [(f"{name}-{size or 'M'}", sampler, size, False) for size in sizes]
    return chosen + [("single+none", SingleFeatureSampler(), None, True),
                     ("inverse+none", SingleFeatureSampler(inverse=True), None, True)]


def settings(configs: str, large_n: int) -> list[Setting]:
    """The settings of ``configs`` ("paper" or "grid")."""
    gaussian = GaussianSmoothing()  # sigma 70/sqrt(M): 10 px for M = 49 at 224 px
    if configs == "paper":
        variants = [("grid+bilinear", GridSegmenter(7, 7, bilinear=True), NoSmoothing()),
                    ("grid+gaussian", GridSegmenter(7, 7), gaussian),
                    ("slic+gaussian", SlicSegmenter(49), gaussian)]
        samplers = _samplers([large_n, 400, None])
    else:
        variants = [("grid", GridSegmenter(7, 7), NoSmoothing()),
                    ("grid+bilinear", GridSegmenter(7, 7, True), NoSmoothing()),
                    ("grid+gaussian", GridSegmenter(7, 7), gaussian), ("slic", SlicSegmenter(49), NoSmoothing()),
                    ("slic+gaussian", SlicSegmenter(49), gaussian)]
        samplers = [s for s in _samplers([400]) if not s[0].startswith("inverse")]
    return [Setting(name, segmenter, smoothing, *sampler) for name, segmenter, smoothing in variants
            for sampler in samplers]


class SrgCache:
    """SRG depends only on the pixel ordering: maps with the same ordering (e.g. every rule on
    single-feature samples) are scored once."""

    def __init__(self, pixels: np.ndarray, classifier: Classifier, target: int, seed: int) -> None:
        self.pixels, self.classifier, self.target, self.seed = pixels, classifier, target, seed
        self._scores: dict[str, dict[str, float]] = {}

    def __call__(self, attribution_map: np.ndarray) -> dict[str, float]:
        key = hashlib.sha256(b"".join(deletion_order(attribution_map, most_first).tobytes()
                                      for most_first in (True, False))).hexdigest()
        if key not in self._scores:
            self._scores[key] = srg(self.pixels, attribution_map, self.classifier, self.target,
                                    rng=random_streams(self.seed)[2]).summary()
        return self._scores[key]


def run_image(name: str, pixels: np.ndarray, classifier: Classifier, chosen: list[Setting], done: set[tuple[str, ...]],
              seed: int) -> Iterator[dict[str, object]]:
    """Rows for one image (model-sized ``pixels``), skipping configurations already in ``done``."""
    probabilities = classifier(pixels[None])[0]
    target = int(np.argmax(probabilities))
    label = classifier.labels[target] if target < len(classifier.labels) else str(target)
    scorer = SrgCache(pixels, classifier, target, seed)
    for setting in chosen:
        wanted = [(rule, kind) for rule in RULES for kind in ATTRIBUTIONS
                  if (name, setting.segmentation, setting.sampler_name, rule, kind) not in done]
        if not wanted:
            continue
        config = ExplainConfig(segmenter=setting.segmenter, smoothing=setting.smoothing, sampler=setting.sampler,
                               add_none=setting.add_none)
        segments = segment(pixels, config)
        config = dataclasses.replace(config, n_samples=setting.n_samples or segments.n_segments)
        sample_rng, perturb_rng, _ = random_streams(seed)
        samples = draw_samples(config, segments.n_segments, sample_rng)
        outputs = run_model(pixels, MaskBuilder(segments), segments.labels, samples, classifier, target, config,
                            perturb_rng).outputs
        for rule in dict.fromkeys(rule for rule, _ in wanted):
            try:
                scores = RULES[rule](outputs, samples)
            except IncompatibleSamples:
                continue  # pruned, as in the paper
            for kind in (k for r, k in wanted if r == rule):
                summary = scorer(segments.project(scores, per_pixel=kind == "pixel"))
                yield {"image": name, "segmentation": setting.segmentation, "sampler": setting.sampler_name,
                       "attributer": rule, "attribution": kind, "n_segments": segments.n_segments,
                       "n_samples": len(samples), "target": target, "label": label, **summary}


def summarise(rows: pd.DataFrame) -> str:
    """Markdown: mean SRG per level of each factor, and the paper's headline comparison."""
    lines = [f"# SRG study: {rows['image'].nunique()} images, {len(rows)} scored maps", ""]
    for factor in FACTORS + [["segmentation", "attribution"]]:
        table = rows.groupby(factor)[["srg", "norm_srg"]].agg(["mean", "count"]).sort_values(("srg", "mean"),
                                                                                          ascending=False)
        means = table[("srg", "mean")]
        title = " x ".join(factor) if isinstance(factor, list) else factor
        lines += [f"## {title} (spread of means {means.max() - means.min():.4f})", "",
                  "| level | mean SRG | mean normalised SRG | maps |", "|---|---|---|---|"]
        for level, row in table.iterrows():
            level_name = " / ".join(level) if isinstance(level, tuple) else str(level)
            lines.append(f"| {level_name} | {row[('srg', 'mean')]:.4f} | {row[('norm_srg', 'mean')]:.4f} | "
                         f"{int(row[('srg', 'count')])} |")
        lines.append("")
    best = rows[(rows["segmentation"] == "slic+gaussian") & (rows["attribution"] == "pixel")]
    grid = rows[rows["segmentation"].str.startswith("grid") & (rows["attribution"] == "segment")]
    per_image = pd.DataFrame({"best": best.groupby("image")["srg"].mean(), "grid": grid.groupby("image")["srg"].mean()})
    lines += ["## Headline: SLIC + smoothing + per-pixel vs grid per-segment", "",
              f"mean SRG {best['srg'].mean():.4f} vs {grid['srg'].mean():.4f}; SLIC + smoothing + per-pixel is "
              f"higher on {(per_image['best'] > per_image['grid']).sum()} of {len(per_image.dropna())} images.", ""]
    return "\n".join(lines)


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m engine.explain.study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True, help="folder (or .zip) of images")
    parser.add_argument("--configs", choices=["paper", "grid"], default="paper")
    parser.add_argument("--model", default="mobilenet_v2", help="registry name of an image classifier")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: study-<configs> next to "
                        "the images)")
    parser.add_argument("--large-n", type=int, default=500, help="the large sample size (paper: 4000 or 8000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bundled", action="store_true", help="first write the bundled photographs into --images")
    args = parser.parse_args(argv)
    out = args.out or args.images.parent / f"study-{args.configs}"
    if args.bundled:
        write_natural_images(args.images, NATURAL_PHOTOS)
    collection = load_image_collection(args.images)
    classifier = from_registry(default_registry(), args.model)
    for name, why in collection.skipped.items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.csv"
    done: set[tuple[str, ...]] = set()
    if results.is_file():
        done = {tuple(r[k] for k in FIELDS[:5]) for r in csv.DictReader(results.open())}
    chosen = settings(args.configs, args.large_n)
    started = time.perf_counter()
    with results.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        if not done:
            writer.writeheader()
        for name, image in tqdm(collection.images.items(), desc=f"{args.configs} study", unit="image"):
            for row in run_image(name, prepare(image.pixels, classifier), classifier, chosen, done, args.seed):
                writer.writerow(row)
                handle.flush()
    summary = summarise(pd.read_csv(results))
    (out / "summary.md").write_text(summary)
    print(summary)
    print(f"{classifier.provenance}; {time.perf_counter() - started:.0f} s; wrote {results} and {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
