"""Whole runs, as the trainer CLI and the tab's jobs start them: pretrain, fine-tune over folds, the offline demo.

Each run writes its outputs into one folder and skips the stages whose outputs are already there when resumed,
so a cancelled job or an interrupted command continues where it stopped.

- :func:`pretrain` — MPCS on a folder's *training* patients (of a manifest, or of fold 1 of a fresh split, whose
  manifest is written as ``split.csv`` so fine-tuning can reuse it leak-free); writes ``encoder.safetensors``.
- :func:`finetune` — folds x parts, then ``split.csv`` (``path,patient,split`` of fold 1), ``folds/fold<k>.csv``,
  ``predictions.csv``, ``metrics.json`` (``ila_mean``, ``pla_mean``, ``per_magnification``, ...),
  ``comparison.md`` (beside the paper's table) and ``model.safetensors`` (fold 1's classifier).
- :func:`demo` — MPCS on regions of the CC0 scan; cross-magnification retrieval on held-out regions with ImageNet
  features before and MPCS features after; writes ``retrieval.json`` and the encoder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine import distributed, training
from engine.errors import InputError
from engine.histology import metrics, synthetic
from engine.histology.classifier import load_classifier, save_classifier
from engine.histology.dataset import MAGNIFICATIONS, Dataset, Sample
from engine.histology.encoders import Encoder, encoder_spec, load_encoder, save_encoder
from engine.histology.finetune import (
    FeatureCache,
    FinetuneConfig,
    FoldResult,
    ImageCache,
    classes_of,
    run_fold,
    stage_count,
    target_of,
    write_metrics,
    write_predictions,
)
from engine.histology.mpcs import FileKeys, PretrainConfig, build_model
from engine.histology.mpcs import pretrain as mpcs_pretrain
from engine.histology.retrieval import Retrieval, cross_magnification_retrieval, embed
from engine.histology.splits import Split, make_folds, read_manifest, write_manifest

Progress = Callable[[training.Progress], None]
ENCODER_FILE = "encoder.safetensors"
SHIPPED_FILE_BYTES = 4 * 2**20  # shards of the shipped encoder stay under 5 MB


def encoder_factory(name: str = "mobilenet_v2", file: str | Path | None = None, weights: str = "pretrained",
                    seed: int = 0, device: str = "cpu") -> Callable[[], Encoder]:
    """A function making fresh copies of the chosen encoder (from ``file`` when given) on ``device``."""
    encoder_spec(name)

    def make() -> Encoder:
        encoder = load_encoder(file) if file else Encoder(name, weights=weights, seed=seed)  # type: ignore[arg-type]
        return encoder.to(device)

    return make


def training_split(dataset: Dataset, split_file: str | Path | None, k: int, seed: int) -> Split:
    """The split whose training patients a pretraining run may use: from a manifest, else fold 1 of a new split."""
    return read_manifest(split_file, dataset) if split_file else make_folds(dataset, k, seed)[0]


def pretrain(dataset: Dataset, out: str | Path, config: PretrainConfig, split_file: str | Path | None = None,
             k: int = 5, all_patients: bool = False, device: str = "cpu", on_progress: Progress | None = None,
             checkpoint: Path | None = None, resume: bool = False, show_bar: bool = True) -> dict[str, Any]:
    """MPCS-pretrain on the training patients (or, with ``all_patients``, every patient: then evaluate elsewhere).

    Returns a summary (keys, losses, encoder file); writes ``split.csv`` and ``encoder.safetensors`` into ``out``.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    if all_patients:
        used = dataset
    else:
        split = training_split(dataset, split_file, k, config.seed)
        write_manifest(folder / "split.csv", split, dataset)
        used = dataset.subset(split.samples(dataset, "train"))
    keys = FileKeys.from_dataset(used, config.image_size, config.min_magnifications)
    result = mpcs_pretrain(keys, config, device, on_progress=on_progress, checkpoint=checkpoint, resume=resume,
                           show_bar=show_bar)
    summary: dict[str, Any] = {"keys": result.keys, "patients": len(used.patients), "config": config.to_dict(),
                               "losses": [round(v, 5) for v in result.history.losses],
                               "encoder_provenance": result.model.encoder.provenance}
    if distributed.is_main_process():
        files = save_encoder(result.model.encoder, folder / ENCODER_FILE,
                             extra={"trained": "MPCS", "strategy": config.strategy, "keys": result.keys,
                                    "image_size": config.image_size})
        summary["encoder_files"] = [str(p) for p in files]
        (folder / "pretrain.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


@dataclass
class FinetuneRun:
    """What :func:`finetune` wrote: its summary (the ``metrics.json`` content) and the classifier file."""

    summary: dict[str, Any]
    out: Path
    model_path: Path | None


def finetune(dataset: Dataset, out: str | Path, config: FinetuneConfig, encoder: str = "mobilenet_v2",
             encoder_file: str | Path | None = None, weights: str = "pretrained", k: int | None = None,
             folds: int | None = None,
             split_file: str | Path | None = None, device: str = "cpu", on_progress: Progress | None = None,
             checkpoint_dir: Path | None = None, resume: bool = False, show_bar: bool = True,
             feature_cache: Path | None = None, save_model: bool = True) -> FinetuneRun:
    """Fine-tune and test over ``folds`` of a ``k``-fold split (or the one split of ``split_file``). ``k`` defaults
    to 5, or to the number of accession groups (at least 3) when there are fewer.

    Raises:
        InputError: too few patients for the folds, a bad manifest, or a part without training/test images.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    if k is None:
        k = max(3, min(5, len({s.group for s in dataset.samples})))
    splits = [read_manifest(split_file, dataset)] if split_file else make_folds(dataset, k, config.seed)
    count = len(splits) if folds is None else folds
    if not 1 <= count <= len(splits):
        raise InputError(f"Choose between 1 and {len(splits)} folds, not {count}.")
    splits = splits[:count]
    make = encoder_factory(encoder, encoder_file, weights, config.seed, device)
    images = ImageCache(config.image_size)
    cache = FeatureCache(feature_cache)
    stages = stage_count(dataset, config, count)
    per_fold = stages // count
    results: list[dict[str, object]] = []
    first: FoldResult | None = None
    predictions = folder / "predictions.csv"
    if not resume:
        predictions.unlink(missing_ok=True)
    for split in splits:
        done = folder / "folds" / f"fold{split.fold + 1}-metrics.json"
        if resume and done.is_file() and split.fold > 0:
            results.append(json.loads(done.read_text(encoding="utf-8")))
            continue
        result = run_fold(dataset, split, make, config, images, cache, on_progress, checkpoint_dir, resume,
                          show_bar, split.fold * per_fold, stages)
        write_manifest(folder / "folds" / f"fold{split.fold + 1}.csv", result.split, dataset)
        write_predictions(predictions, result.parts, classes_of(dataset, config.task), config, split.fold)
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps(result.metrics, default=float), encoding="utf-8")
        results.append(result.metrics)
        if first is None:
            first = result
    summary = metrics.over_folds(results)
    classes = classes_of(dataset, config.task)
    provenance = make().provenance
    summary.update({
        "task": config.task, "classes": classes, "threshold": config.threshold, "folds_run": count, "k": k,
        "label_fraction": config.label_fraction, "config": config.to_dict(), "encoder": provenance,
        "dataset": {key: value for key, value in dataset.counts().items() if key != "problems"},
        "comparable_to_paper": config.task == "binary" and config.per_magnification and config.mode == "full",
    })
    write_metrics(folder, summary)
    model_path = None
    if first is not None:
        write_manifest(folder / "split.csv", first.split, dataset)
        if save_model:
            model_path = save_classifier(
                folder / "model.safetensors", {p.name: p.model for p in first.parts}, classes, config.image_size,
                config.task, config.threshold, shared_encoder=config.mode == "linear",
                info={"trained_on": f"fold 1 training patients of {dataset.root.name}", "mode": config.mode,
                      "ila_mean": first.metrics["ila_mean"], "pla_mean": first.metrics["pla_mean"],
                      "created": time.strftime("%Y-%m-%d %H:%M:%S")})
    return FinetuneRun(summary, folder, model_path)


def evaluate(dataset: Dataset, model: str | Path, out: str | Path, split_file: str | Path | None = None,
             device: str = "cpu", batch_size: int = 32) -> dict[str, Any]:
    """Test a saved classifier on the test patients of ``split_file`` (every image without one); writes
    ``metrics.json`` and ``comparison.md`` into ``out``.

    Raises:
        InputError: the classifier's classes do not match the data, or no image to test.
    """
    classifier = load_classifier(model, device)
    samples = read_manifest(split_file, dataset).samples(dataset, "test") if split_file else dataset.samples
    if not samples:
        raise InputError("No test image: the manifest's test patients are not in this dataset.")
    task = "subtype" if classifier.task == "subtype" else "binary"
    unknown = sorted({target_of(s, task) for s in samples} - set(classifier.classes))
    if unknown:
        raise InputError(f"The data has classes the classifier does not know: {', '.join(unknown)}.")
    images = ImageCache(classifier.image_size)
    probabilities = np.concatenate([
        classifier.probabilities(np.stack([images(s.path) for s in group]), magnification)
        for magnification, group in _by_magnification(samples, batch_size)])
    ordered = [s for _, group in _by_magnification(samples, batch_size) for s in group]
    index = {name: i for i, name in enumerate(classifier.classes)}
    truth = np.array([index[target_of(s, task)] for s in ordered])
    found = metrics.Predictions(truth, classifier.decide(probabilities), probabilities, [s.patient for s in ordered],
                                [s.magnification for s in ordered], classifier.classes)
    summary = metrics.over_folds([metrics.by_magnification(found)])
    summary.update({"task": task, "classes": classifier.classes, "threshold": classifier.threshold,
                    "model": classifier.provenance, "tested": "test patients of the manifest" if split_file
                    else "every image"})
    write_metrics(Path(out), summary)
    return summary


def _by_magnification(samples: list[Sample], batch_size: int) -> list[tuple[str, list[Sample]]]:
    """``samples`` in batches of one magnification each."""
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        groups.setdefault(sample.magnification, []).append(sample)
    return [(m, group[i:i + batch_size]) for m, group in groups.items() for i in range(0, len(group), batch_size)]


def heldout_views(regions: synthetic.Regions) -> dict[str, list[np.ndarray]]:
    """Every held-out region at every magnification: magnification -> views in region order."""
    rng = np.random.default_rng(0)
    views: dict[str, list[np.ndarray]] = {m: [] for m in MAGNIFICATIONS}
    for key in regions.keys:
        for magnification, view in zip(MAGNIFICATIONS, regions.views(key, MAGNIFICATIONS, rng)):
            views[magnification].append(view)
    return views


def retrieval_of(encoder: Encoder, views: dict[str, list[np.ndarray]]) -> Retrieval:
    """Cross-magnification retrieval of ``encoder``'s features on ``views``."""
    return cross_magnification_retrieval({m: embed(encoder, v) for m, v in views.items()})


def demo(out: str | Path, config: PretrainConfig, device: str = "cpu", on_progress: Progress | None = None,
         checkpoint: Path | None = None, resume: bool = False, show_bar: bool = True) -> dict[str, Any]:
    """Pretrain on training regions of the CC0 scan and measure held-out cross-magnification retrieval before
    (ImageNet features) and after (MPCS features); writes ``retrieval.json`` and the encoder into ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    regions = synthetic.region_split(size=config.image_size)
    views = heldout_views(regions.heldout)
    model = build_model(config, device)
    before = retrieval_of(model.encoder, views)

    def evaluate(epoch: int) -> dict[str, float]:
        after = retrieval_of(model.encoder, views)
        return {"heldout_top1": after.top1, "heldout_top5": after.top5}

    started = time.perf_counter()
    result = mpcs_pretrain(regions.train, config, device, model=model, evaluate=evaluate, on_progress=on_progress,
                           checkpoint=checkpoint, resume=resume, show_bar=show_bar)
    seconds = time.perf_counter() - started
    after = retrieval_of(result.model.encoder, views)
    summary: dict[str, Any] = {
        "imagenet_top1": before.top1, "mpcs_top1": after.top1, "imagenet_top5": before.top5, "mpcs_top5": after.top5,
        "per_pair": {pair: {"imagenet": before.per_pair[pair], "mpcs": after.per_pair[pair]}
                     for pair in before.per_pair},
        "heldout_regions": after.queries, "training_regions": len(regions.train.keys), "regions": regions.description,
        "source": synthetic.SOURCE_CREDIT, "config": config.to_dict(), "train_seconds": round(seconds, 1),
        "epochs": [dict(m) for m in result.history.epoch_metrics],
        "losses": [round(v, 5) for v in result.history.losses],
        "imagenet_provenance": Encoder(config.encoder, weights=config.weights).provenance,  # type: ignore[arg-type]
    }
    if distributed.is_main_process():
        files = save_encoder(result.model.encoder, folder / f"mpcs_{config.encoder}.safetensors",
                             max_file_bytes=SHIPPED_FILE_BYTES,
                             extra={"trained": "MPCS demo", "strategy": config.strategy,
                                    "image_size": config.image_size, "heldout_top1": after.top1,
                                    "heldout_top5": after.top5, "source": synthetic.SOURCE_CREDIT})
        summary["encoder_files"] = [p.name for p in files]
        (folder / "retrieval.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
