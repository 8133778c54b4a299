"""2AFC and JND scores of DPS metrics on BAPPS-layout folders.

Scores (spec ``dps.md`` section 1.5), with ``d0 = d(ref, p0)``, ``d1 = d(ref, p1)`` and ``j`` the
fraction of judges who preferred p1:

* **2AFC score**: mean of ``1[d0<d1](1-j) + 1[d1<d0] j + 0.5 1[d0=d1]`` (what LPIPS reports);
* **accuracy**: fraction of triplets where ``d0 < d1`` agrees with ``j < 0.5``;
* **JND mAP**: pairs sorted by distance, ``same`` as a soft positive, VOC average precision under
  the monotone precision envelope.

Images are resized to ``size`` x ``size`` (64 as in BAPPS; bilinear, antialiased). Each distinct
image (by content) is embedded once, even when it appears in several triplets.

CLI::

    python -m engine.similarity.twoafc DIR [--metric BACKBONE[:COMPARISON[:nonorm]] ...]
        [--weights pretrained|random] [--seed S] [--heads FILE] [--size 64] [--precision exact|fast] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.errors import InputError, command_line
from engine.images import load_image
from engine.similarity.bapps import ImageSet, find_sets
from engine.similarity.compare import RESIZE_METHOD, resize, to_tensor
from engine.similarity.metric import COMPARISONS, DeepPerceptualSimilarity, Embedding, MetricConfig, build_metric

Progress = Callable[[float, str], None]


def twoafc_scores(d0: np.ndarray, d1: np.ndarray, judge: np.ndarray) -> tuple[float, float]:
    """``(2AFC score, accuracy)`` for distances ``d0``, ``d1`` and judge fractions ``judge`` (all ``[N]``)."""
    d0, d1, judge = (np.asarray(v, dtype=np.float64) for v in (d0, d1, judge))
    score = (d0 < d1) * (1 - judge) + (d1 < d0) * judge + (d0 == d1) * 0.5
    accuracy = (d0 < d1) == (judge < 0.5)
    return float(score.mean()), float(accuracy.mean())


def jnd_map(distances: np.ndarray, same: np.ndarray) -> float:
    """VOC-style average precision of ranking pairs by ``distances`` (ascending) against soft ``same``."""
    order = np.argsort(np.asarray(distances, dtype=np.float64), kind="stable")
    positives = np.asarray(same, dtype=np.float64)[order]
    true_positives = np.cumsum(positives)
    false_positives = np.cumsum(1 - positives)
    total = positives.sum()
    if total <= 0:
        return 0.0
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / total
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone envelope
    steps = np.where(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


@dataclass
class SubsetScore:
    """Scores of one metric on one set; 2AFC sets fill ``score``/``accuracy``, JND sets ``map``."""

    subset: str
    kind: str
    count: int
    score: float | None = None
    accuracy: float | None = None
    map: float | None = None


@dataclass
class Evaluation:
    """One metric on a folder: per-set scores, raw distances (``d0``/``d1`` or ``d``) and what shaped them."""

    metric: str
    provenance: str
    size: int
    subsets: list[SubsetScore]
    distances: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    resize_method: str = RESIZE_METHOD

    def to_json(self, with_distances: bool = False) -> dict[str, object]:
        """Scores (and optionally every distance) as JSON values."""
        record = {"metric": self.metric, "provenance": self.provenance, "size": self.size,
                  "resize": self.resize_method, "subsets": [asdict(s) for s in self.subsets]}
        if with_distances:
            record["distances"] = self.distances
        return record


class _EmbeddingCache:
    """Embeddings by content hash, kept only while a later chunk still needs them."""

    def __init__(self, metric: DeepPerceptualSimilarity, size: int, uses: Counter[str]) -> None:
        self.metric, self.size, self.uses = metric, size, uses
        self.stored: dict[str, Embedding] = {}
        self.embedded = 0

    def get(self, items: Sequence[tuple[str, Path]]) -> dict[str, Embedding]:
        missing = {digest: path for digest, path in items if digest not in self.stored}
        if missing:
            batch = torch.cat([resize(to_tensor(load_image(path).pixels, str(path)), (self.size, self.size))
                               for path in missing.values()])
            embedded = self.metric.embed(batch)
            self.embedded += len(missing)
            for index, digest in enumerate(missing):
                self.stored[digest] = embedded.select(index)
        found = {digest: self.stored[digest] for digest, _ in items}
        for digest, _ in items:
            self.uses[digest] -= 1
            if self.uses[digest] <= 0:
                self.stored.pop(digest, None)
            elif digest in missing:  # keep a compact copy, not a view into the whole batch
                self.stored[digest] = Embedding([part.clone() for part in self.stored[digest].parts],
                                                found[digest].size)
        return found


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evaluate(sets: Sequence[ImageSet], metric: DeepPerceptualSimilarity, size: int = 64, batch_size: int = 32,
             progress: Progress | None = None) -> Evaluation:
    """Score ``metric`` on BAPPS sets (see :func:`engine.similarity.bapps.find_sets`).

    Raises:
        InputError: an image cannot be read (the message names the file).
    """
    hashes = {path: _digest(path) for image_set in sets for files in image_set.images.values() for path in files}
    chunks = []  # (set, rows, {digest: path}) for each batch of triplets or pairs
    for image_set in sets:
        for start in range(0, len(image_set), batch_size):
            rows = range(start, min(start + batch_size, len(image_set)))
            chunks.append((image_set, rows, {hashes[files[i]]: files[i] for i in rows
                                             for files in image_set.images.values()}))
    cache = _EmbeddingCache(metric, size, Counter(digest for *_, unique in chunks for digest in unique))
    total, done = sum(len(s) for s in sets), 0
    columns: dict[str, dict[str, list[float]]] = {s.name: {} for s in sets}
    for image_set, rows, unique in chunks:
        first, *others = image_set.images
        with torch.inference_mode():
            embedded = cache.get(list(unique.items()))
            anchor = Embedding.cat([embedded[hashes[image_set.images[first][i]]] for i in rows])
            for name in others:
                candidate = Embedding.cat([embedded[hashes[image_set.images[name][i]]] for i in rows])
                columns[image_set.name].setdefault(name, []).extend(metric.distance(anchor, candidate).total.tolist())
        done += len(rows)
        if progress:
            progress(done / total, f"{image_set.name}: {rows.stop}/{len(image_set)}")
    subsets, raw = [], {}
    for image_set in sets:
        found = columns[image_set.name]
        if image_set.kind == "2afc":
            score, accuracy = twoafc_scores(np.array(found["p0"]), np.array(found["p1"]), image_set.labels)
            subsets.append(SubsetScore(image_set.name, "2afc", len(image_set), score=score, accuracy=accuracy))
            raw[image_set.name] = {"d0": found["p0"], "d1": found["p1"]}
        else:
            subsets.append(SubsetScore(image_set.name, "jnd", len(image_set),
                                       map=jnd_map(np.array(found["p1"]), image_set.labels)))
            raw[image_set.name] = {"d": found["p1"]}
    return Evaluation(metric.label, metric.provenance, size, subsets, raw)


@contextlib.contextmanager
def tqdm_progress(description: str, disable: bool = False) -> Iterator[Progress]:
    """A progress callback that draws a percentage bar on stderr (for the command lines)."""
    from tqdm import tqdm

    with tqdm(total=100, desc=description, file=sys.stderr, disable=disable) as bar:
        def report(fraction: float, message: str) -> None:
            bar.n = round(100 * fraction)
            bar.set_postfix_str(message)
            bar.refresh()

        yield report


def parse_metric(text: str, **fields: object) -> MetricConfig:
    """``BACKBONE[:COMPARISON[:nonorm]]`` (e.g. ``alexnet:spatial+sort``) as a :class:`MetricConfig`."""
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or (len(parts) == 3 and parts[2] not in ("norm", "nonorm")):
        raise InputError(f"--metric {text!r}: write BACKBONE[:COMPARISON[:nonorm]], e.g. alexnet:spatial+sort.")
    comparison = parts[1] if len(parts) > 1 else "spatial"
    if comparison not in COMPARISONS:
        raise InputError(f"--metric {text!r}: comparison must be one of {', '.join(COMPARISONS)}.")
    return MetricConfig(backbone=parts[0], comparison=comparison,  # type: ignore[arg-type]
                        channel_norm=len(parts) < 3 or parts[2] == "norm", **fields)  # type: ignore[arg-type]


def _format_table(evaluations: Sequence[Evaluation]) -> str:
    lines = [f"{'metric':40} {'set':28} {'n':>5} {'2AFC':>7} {'acc':>7} {'JND mAP':>8}"]
    for evaluation in evaluations:
        for s in evaluation.subsets:
            cells = [f"{v:7.4f}" if v is not None else f"{'':7}" for v in (s.score, s.accuracy)]
            jnd = f"{s.map:8.4f}" if s.map is not None else ""
            lines.append(f"{evaluation.metric:40} {s.subset:28} {s.count:5d} {cells[0]} {cells[1]} {jnd}")
        lines.append(f"  weights: {evaluation.provenance}")
    return "\n".join(lines)


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m engine.similarity.twoafc``."""
    parser = argparse.ArgumentParser(prog="python -m engine.similarity.twoafc",
                                     description="2AFC score, accuracy and JND mAP of DPS metrics on a BAPPS-layout "
                                                 "folder (2afc/<split>/<set>/{ref,p0,p1,judge}, "
                                                 "jnd/<split>/<set>/{p0,p1,same}).")
    parser.add_argument("folder", type=Path, help="dataset root, any folder inside it, or one set folder")
    parser.add_argument("--metric", action="append", default=None, metavar="BACKBONE[:COMPARISON[:nonorm]]",
                        help="metric to score (repeatable; default mobilenet_v2:spatial)")
    parser.add_argument("--weights", choices=["pretrained", "random"], default="pretrained",
                        help="backbone weights (random: for tests only, labelled RANDOM)")
    parser.add_argument("--seed", type=int, default=0, help="seed of random weights")
    parser.add_argument("--heads", type=Path, default=None, help="lin heads file (LPIPS .pth or our .safetensors)")
    parser.add_argument("--size", type=int, default=64, help="images are resized to SIZE x SIZE (default 64, as BAPPS)")
    parser.add_argument("--precision", choices=["exact", "fast"], default="exact")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    sets = find_sets(args.folder)
    configs = [parse_metric(text, weights=args.weights, seed=args.seed, precision=args.precision,
                            heads_file=str(args.heads) if args.heads else None)
               for text in args.metric or ["mobilenet_v2:spatial"]]
    metrics = [build_metric(config) for config in configs]  # fail on missing weights before any work
    evaluations = []
    for config, metric in zip(configs, metrics):
        with tqdm_progress(config.label, disable=args.json) as report:
            evaluations.append(evaluate(sets, metric, args.size, args.batch_size, report))
    if args.json:
        print(json.dumps({"folder": str(args.folder), "evaluations": [e.to_json() for e in evaluations]}))
    else:
        print(_format_table(evaluations))
    return 0


if __name__ == "__main__":
    sys.exit(main())
