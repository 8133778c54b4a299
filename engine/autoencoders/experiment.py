"""One experiment: train a procedure, evaluate its embedding with the predictors, write everything.

:func:`run_experiment` is shared by ``python -m trainers.autoencoder`` and the tab's training job
(:data:`JOB`). It writes into one folder:

- ``metrics.json``: ``epoch_seconds`` (mean wall-clock seconds per training epoch; each epoch's in
  ``epoch_seconds_each``), ``position_error`` (test mean distance between predicted and true object
  centres, px for generated scenes), ``class_accuracy`` (test accuracy in 0..1), the predictor table,
  the losses, the config and the provenance (``random_loss_network`` says whether it was RANDOM);
- ``autoencoder.safetensors`` + ``autoencoder.json``: the model (best validation weights);
- ``embeddings.safetensors``: the evaluation images' embeddings, labels and split, for the 2-D view;
- ``preview.png``: reconstructions (or predicted vs true feature maps), redrawn after every epoch.

Evaluation images are disjoint from the training images for generated scenes (the scenes after the
training ones); a user's folder is used for both (the autoencoder never sees its labels).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from engine import distributed
from engine.autoencoders import plots
from engine.autoencoders.data import ImageData, Labels, Splits, from_folder, generated, split
from engine.autoencoders.predictors import EmbeddingEvaluation, PredictorConfig, evaluate_embeddings
from engine.autoencoders.training import AutoencoderConfig, TrainedAutoencoder, train_autoencoder
from engine.errors import InputError
from engine.jobs import JobContext, JobKind

METRICS_FILE = "metrics.json"
EMBEDDINGS_FILE = "embeddings.safetensors"
PREVIEW_FILE = "preview.png"
PREVIEW_IMAGES = 8
MAX_GENERATED = 100_000


@dataclass(frozen=True)
class DataSpec:
    """Where the images come from.

    Attributes:
        source: ``generated`` or a folder / ``.zip`` of images.
        images: generated scenes to train on.
        eval_images: generated scenes for the predictors (60 % train, 20 % validation, 20 % test);
            None: as many as ``images``.
        size: image side in pixels (64 + 16 n).
        seed: the generated set's seed.
        targets: a CSV of labels for a folder (columns ``file``, ``x``, ``y``, ``label``).
    """

    source: str = "generated"
    images: int = 2000
    eval_images: int | None = None
    size: int = 64
    seed: int = 0
    targets: str | None = None

    def preview(self, count: int = PREVIEW_IMAGES) -> torch.Tensor:
        """The first ``count`` evaluation images (the same for every run with this spec)."""
        if self.source != "generated":
            return self.load()[1].images[:count]
        return generated(count, self.size, self.seed, start=int(self.images)).images

    def load(self) -> tuple[ImageData, ImageData]:
        """``(training images, evaluation images)``."""
        if self.source != "generated":
            data = from_folder(self.source, self.size, self.targets)
            return data, data
        count, evaluation = int(self.images), int(self.eval_images or self.images)
        if not 4 <= count <= MAX_GENERATED or not 5 <= evaluation <= MAX_GENERATED:
            raise InputError(f"Generate 4 to {MAX_GENERATED} training and 5 to {MAX_GENERATED} evaluation scenes, "
                             f"not {count} and {evaluation}.")
        return (generated(count, self.size, self.seed),
                generated(evaluation, self.size, self.seed, start=count))


def preview_figure(trained: TrainedAutoencoder, images: torch.Tensor, title: str) -> Any:
    """Reconstructions under their inputs, or true vs predicted feature maps for feature decoders."""
    outputs = trained.decode(images)
    if trained.procedure.decoder == "image":
        return plots.reconstructions(images, {trained.procedure.id: outputs}, title)
    assert trained.layout is not None
    return plots.feature_maps(images, trained.targets(images).cpu(), outputs, trained.layout, title)


def write_preview(trained: TrainedAutoencoder, images: torch.Tensor, path: Path, title: str) -> None:
    """Save :func:`preview_figure` as a PNG (atomically, so a reader never sees half a file)."""
    partial = path.with_suffix(".partial.png")
    preview_figure(trained, images, title).savefig(partial, dpi=80)
    partial.replace(path)


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def summarise(trained: TrainedAutoencoder, evaluation: EmbeddingEvaluation, data: DataSpec,
              description: str) -> dict[str, Any]:
    """The ``metrics.json`` record."""
    loss_network = trained.loss_network
    return {
        "procedure": trained.procedure.id,
        "loss_net": loss_network.name if loss_network else None,
        "epoch_seconds": _mean(trained.epoch_seconds),
        "epoch_seconds_each": trained.epoch_seconds,
        "cache_seconds": trained.cache_seconds,
        **evaluation.to_json(),
        "validation_losses": trained.validation_losses,
        "losses": trained.history.losses,
        "provenance": trained.provenance,
        "random_loss_network": bool(loss_network and loss_network.is_random),
        "feature_vector": trained.layout.label if trained.layout else None,
        "data": {**asdict(data), "description": description},
        "config": asdict(trained.config),
    }


def run_experiment(config: AutoencoderConfig, data: DataSpec, folder: str | Path, device: str = "cpu",
                   checkpoint: Path | None = None, resume: bool = False,
                   predictors: PredictorConfig = PredictorConfig(),
                   on_progress: Callable[..., None] | None = None,
                   on_stage: Callable[[int, int, str], None] | None = None,
                   show_bar: bool = True) -> dict[str, Any]:
    """Train, evaluate and write the outputs listed in the module docstring; returns the metrics.

    Args:
        config: the autoencoder to train.
        data: the images.
        folder: where the outputs go (created).
        device: where to train.
        checkpoint: resumable training checkpoint (see :func:`train_autoencoder`).
        resume: continue from ``checkpoint``; a finished experiment (``metrics.json`` present) is not redone.
        predictors: the predictors' training settings.
        on_progress: per training step (:class:`engine.training.Progress`).
        on_stage: (done, total, message) while caching features and training predictors.
        show_bar: tqdm bars on the command line.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if resume and (folder / METRICS_FILE).is_file():
        return json.loads((folder / METRICS_FILE).read_text())
    train_data, eval_data = data.load()
    preview = eval_data.images[:PREVIEW_IMAGES]

    def on_epoch(epoch: int, trained: TrainedAutoencoder) -> None:
        if distributed.is_main_process():
            write_preview(trained, preview, folder / PREVIEW_FILE, f"{trained.procedure.id} after epoch {epoch + 1}")

    def on_cache(done: int, total: int) -> None:
        if on_stage is not None:
            on_stage(done, total, "caching loss-network features")

    trained = train_autoencoder(config, train_data, device, checkpoint, resume, on_progress, on_cache, on_epoch,
                                show_bar)
    embeddings = trained.embed(eval_data.images)
    splits = split(len(eval_data), validation=0.2, test=0.2, seed=config.seed)
    evaluation = evaluate_embeddings(embeddings, eval_data.labels, splits, config=predictors, on_progress=on_stage)
    metrics = summarise(trained, evaluation, data, f"train: {train_data.description}; evaluate: "
                                                   f"{eval_data.description}")
    if distributed.is_main_process():
        trained.save(folder)
        tensors = {"embeddings": embeddings, "train": splits.train, "validation": splits.validation,
                   "test": splits.test}
        if eval_data.positions is not None:
            tensors["positions"] = eval_data.positions
        if eval_data.classes is not None:
            tensors["classes"] = eval_data.classes
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / EMBEDDINGS_FILE),
                  metadata={"class_names": json.dumps(list(eval_data.class_names)),
                            "position_unit": eval_data.position_unit})
        (folder / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    return metrics


@dataclass(frozen=True)
class SavedEmbeddings:
    """Embeddings written by :func:`run_experiment` (``[N, z]``), their labels and the predictors' split."""

    embeddings: torch.Tensor
    labels: Labels
    splits: Splits


def load_embeddings(folder: str | Path) -> SavedEmbeddings:
    """Read ``embeddings.safetensors`` back (:class:`InputError` when the run has none)."""
    path = Path(folder) / EMBEDDINGS_FILE
    if not path.is_file():
        raise InputError(f"{Path(folder).name} has no saved embeddings; wait for its job to finish.")
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata() or {}
    tensors = load_file(str(path))
    names = tuple(json.loads(metadata.get("class_names", "[]")))
    labels = Labels(tensors.get("positions"), tensors.get("classes"), names, metadata.get("position_unit", "px"))
    return SavedEmbeddings(tensors["embeddings"], labels, Splits(tensors["train"], tensors["validation"],
                                                                 tensors["test"]))


class StageBars:
    """An ``on_stage`` callback for the command line: one tqdm bar per stage (named by the message's first word)."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._stage = ""

    def __call__(self, done: int, total: int, message: str) -> None:
        from tqdm.auto import tqdm

        stage = message.split(" ", 1)[0]
        if stage != self._stage or self._bar is None:
            self.close()
            self._bar, self._stage = tqdm(total=total, desc=stage, leave=False), stage
        self._bar.n = done
        self._bar.set_postfix_str(message[len(stage):].strip()[:40])
        self._bar.refresh()

    def close(self) -> None:
        """Close the open bar (if any)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def uploaded_data(paths: Sequence[str | Path], folder: str | Path, size: int) -> DataSpec | None:
    """The data of uploaded files (images or one zip, plus at most one CSV of targets) kept in ``folder``;
    None when nothing was uploaded.

    Raises:
        InputError: a CSV without images, or more than one CSV.
    """
    files = [Path(path) for path in paths]
    tables = [path for path in files if path.suffix.lower() == ".csv"]
    pictures = [path for path in files if path.suffix.lower() != ".csv"]
    if len(tables) > 1:
        raise InputError(f"Upload one CSV of targets, not {len(tables)}.")
    if tables and not pictures:
        raise InputError("A CSV of targets needs the images it describes (image files or a .zip) with it.")
    if not pictures:
        return None
    zips = [path for path in pictures if path.suffix.lower() == ".zip"]
    source = zips[0] if len(pictures) == 1 and zips else Path(folder)
    return DataSpec(source=str(source), size=size, targets=str(Path(folder) / tables[0].name) if tables else None)


JOB = JobKind("autoencoder-train", "engine.autoencoders.experiment:run_job", "Train an autoencoder")
CONFIG_FIELDS = {field.name for field in fields(AutoencoderConfig)}


def run_job(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """The Perceptual loss tab's training job.

    Params: any :class:`AutoencoderConfig` field, and ``images``, ``eval_images``, ``size``, ``data_seed``.
    Uploaded files (the job's inputs: images or a zip, and optionally one ``.csv`` of targets) replace the
    generated scenes. Returns the metrics (see :func:`run_experiment`).
    """
    config = AutoencoderConfig(**{key: value for key, value in params.items() if key in CONFIG_FIELDS})
    uploads = sorted(ctx.inputs.glob("*")) if ctx.inputs.is_dir() else []
    size = int(params.get("size", 64))
    data = uploaded_data(uploads, ctx.inputs, size) or DataSpec(
        images=int(params.get("images", 2000)), eval_images=params.get("eval_images"), size=size,
        seed=int(params.get("data_seed", 0)))
    ctx.log(f"config: {asdict(config)}; data: {asdict(data)}")

    def on_stage(done: int, total: int, message: str) -> None:
        ctx.progress(done, total, message=message)

    return run_experiment(config, data, ctx.folder, ctx.device, ctx.checkpoint, ctx.resume,
                          on_progress=ctx.training_progress, on_stage=on_stage, show_bar=False)
