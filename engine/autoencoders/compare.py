"""Finished runs side by side: their scores, their outputs on the same images, their predictors.

A run is the folder :func:`engine.autoencoders.experiment.run_experiment` wrote (a training job's
folder in the app). Runs are compared on the first evaluation images of the first run's data, so
every model sees exactly the same pictures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.autoencoders import plots
from engine.autoencoders.experiment import METRICS_FILE, PREVIEW_IMAGES, DataSpec, load_embeddings
from engine.autoencoders.predictors import PREDICTOR_SIZES, EmbeddingEvaluation, PredictorConfig, evaluate_embeddings
from engine.autoencoders.training import load_trained
from engine.errors import InputError

TABLE_HEADERS = ["run", "procedure", "loss network", "s / epoch", "position error", "class accuracy", "weights"]


def load_metrics(folder: str | Path) -> dict[str, Any]:
    """A run's ``metrics.json`` (:class:`InputError` when the run did not finish)."""
    path = Path(folder) / METRICS_FILE
    if not path.is_file():
        raise InputError(f"{Path(folder).name} has no results yet ({METRICS_FILE}); wait for its job to finish.")
    return json.loads(path.read_text())


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def score_row(name: str, metrics: Mapping[str, Any]) -> list[str]:
    """One table row: run, procedure, loss network, seconds per epoch, scores, RANDOM or pretrained."""
    weights = "RANDOM" if metrics.get("random_loss_network") else ("-" if not metrics.get("loss_net") else "pretrained")
    return [name, metrics["procedure"], metrics.get("loss_net") or "-", _number(metrics.get("epoch_seconds"), 2),
            _number(metrics.get("position_error"), 2), _number(metrics.get("class_accuracy"), 3), weights]


@dataclass
class RunComparison:
    """Scores as table rows (:data:`TABLE_HEADERS`), and figures: reconstructions of the image decoders,
    true vs predicted features of the first feature decoder, and every run's predictor scores."""

    rows: list[list[str]]
    reconstructions: Any
    features: Any
    predictors: Any


def compare_runs(runs: Mapping[str, str | Path], device: str = "cpu") -> RunComparison:
    """Load each run's model and show them on the same images.

    Args:
        runs: display name -> run folder (at least one).
        device: where the models run.

    Raises:
        InputError: no runs, an unfinished run, or runs trained at different image sizes.
    """
    if not runs:
        raise InputError("Choose at least one finished run to compare.")
    metrics = {name: load_metrics(folder) for name, folder in runs.items()}
    sizes = {int(m["data"]["size"]) for m in metrics.values()}
    if len(sizes) > 1:
        raise InputError(f"The runs were trained at different image sizes ({sorted(sizes)} px); "
                         "compare runs of one size.")
    first = next(iter(metrics.values()))["data"]
    images = DataSpec(**{k: v for k, v in first.items() if k in DataSpec.__dataclass_fields__}).preview(PREVIEW_IMAGES)
    reconstructions: dict[str, torch.Tensor] = {}
    features = None
    for name, folder in runs.items():
        trained = load_trained(folder, device)
        if trained.procedure.decoder == "image":
            reconstructions[f"{name} ({trained.procedure.id})"] = trained.decode(images)
        elif features is None:
            assert trained.layout is not None
            features = plots.feature_maps(images, trained.targets(images).cpu(), trained.decode(images),
                                          trained.layout, f"{name} ({trained.procedure.id}): true vs predicted")
    figure = plots.reconstructions(images, reconstructions, "Reconstructions of the same images") \
        if reconstructions else None
    unit = next(iter(metrics.values())).get("position_unit", "px")
    predictor_figure = plots.predictor_scores({name: m.get("predictors", []) for name, m in metrics.items()}, unit)
    return RunComparison([score_row(name, m) for name, m in metrics.items()], figure, features, predictor_figure)


def evaluate_saved(folder: str | Path, sizes: Sequence[Sequence[int]] = PREDICTOR_SIZES,
                   config: PredictorConfig = PredictorConfig()) -> EmbeddingEvaluation:
    """Train predictors again on a run's saved embeddings (same split), e.g. with other sizes or epochs."""
    saved = load_embeddings(folder)
    return evaluate_embeddings(saved.embeddings, saved.labels, saved.splits, sizes, config)
