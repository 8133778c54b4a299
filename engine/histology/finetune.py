"""Fine-tuning and evaluation: benign/malignant or subtype heads, per magnification or magnification-agnostic,
linear probe or full fine-tuning, label fractions, model selection on validation only, test evaluated once.

The paper's protocol is one binary model per magnification per fold, fully fine-tuned, with patient-level folds;
this module runs that and its variations on any :class:`~engine.histology.dataset.Dataset`:

- ``mode="linear"`` (the CPU-friendly default): the encoder is frozen, its features are computed once per image
  (and kept in a cache file keyed by encoder, image size and file) and a linear head is trained on them;
- ``mode="full"``: encoder and head train together on augmented images (the reference's Adam at 1e-4);
- ``per_magnification=False``: one model on all magnifications, still reported per magnification (a different
  task from the paper's: its numbers are not comparable);
- ``label_fraction``: the share of training patients (accession groups, stratified) whose labels are used.

After every epoch the head is scored on the validation patients; the epoch with the best validation balanced
accuracy (ties: lower validation loss) is kept and only then are the test patients predicted, once.
For two classes the positive class (``malignant``, else the second label) is predicted when its probability
reaches ``threshold`` (the reference code used 0.2; 0.5 here; both are reported in the metrics).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine import training
from engine.errors import InputError
from engine.histology import metrics
from engine.histology.dataset import Dataset, Sample
from engine.histology.encoders import Encoder, load_tensors, save_tensors
from engine.histology.mpcs import augmentation, resize_square, to_tensor
from engine.histology.splits import Split, with_label_fraction
from engine.images import load_image

TASKS = {"binary": "benign / malignant", "subtype": "tumour subtype"}
MODES = {"linear": "linear probe on frozen features", "full": "full fine-tuning"}
ALL = "all"  # the part name of a magnification-agnostic model


@dataclass
class FinetuneConfig:
    """Settings of one fine-tuning run (CPU-friendly defaults; the reference: full, 341 px, 100 epochs)."""

    task: str = "binary"
    mode: str = "linear"
    per_magnification: bool = True
    label_fraction: float = 1.0
    epochs: int = 10
    batch_size: int = 32
    image_size: int = 96
    lr: float | None = None  # default: 1e-2 linear, 1e-4 full
    threshold: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"Unknown task {self.task!r}; choose from {', '.join(TASKS)}.")
        if self.mode not in MODES:
            raise InputError(f"Unknown mode {self.mode!r}; choose from {', '.join(MODES)}.")
        if not 0 < self.label_fraction <= 1:
            raise InputError(f"The label fraction must be in (0, 1], not {self.label_fraction}.")
        if self.epochs < 1 or self.batch_size < 1 or self.image_size < 16:
            raise InputError("Epochs and batch size must be at least 1, the image size at least 16 pixels.")
        if not 0 < self.threshold < 1:
            raise InputError(f"The threshold must be in (0, 1), not {self.threshold}.")

    @property
    def learning_rate(self) -> float:
        """The learning rate used (the default depends on the mode)."""
        return self.lr if self.lr is not None else (1e-2 if self.mode == "linear" else 1e-4)

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {**asdict(self), "lr": self.learning_rate}


def target_of(sample: Sample, task: str) -> str:
    """The class a sample is trained towards: its label (binary task) or its subtype."""
    value = sample.label if task == "binary" else sample.subtype
    if not value:
        raise InputError(f"{sample.relative} has no subtype; the subtype task needs BreakHis names or a subtype "
                         "column.")
    return value


def classes_of(dataset: Dataset, task: str) -> list[str]:
    """The classes of ``task`` in ``dataset`` (BreakHis order first)."""
    return dataset.labels if task == "binary" else dataset.subtypes


def positive_index(classes: Sequence[str]) -> int:
    """Index of the positive class of a binary task: ``malignant`` when present, else the second class."""
    return classes.index("malignant") if "malignant" in classes else 1


class Head(nn.Module):
    """A linear head on standardised features: ``(features - mean) / std`` then Linear(dim -> classes).

    ``mean`` and ``std`` are fixed buffers (set from the training features of a linear probe; 0 and 1 otherwise),
    so the probe's optimiser sees well-scaled inputs and the saved head carries its own scaling.
    """

    def __init__(self, dim: int, classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.linear = nn.Linear(dim, classes)

    @property
    def out_features(self) -> int:
        """Number of classes."""
        return self.linear.out_features

    def standardise(self, features: torch.Tensor) -> None:
        """Set the scaling from training features ``[N, dim]``."""
        self.mean.copy_(features.mean(dim=0))
        self.std.copy_(features.std(dim=0).clamp_min(1e-6) if len(features) > 1 else torch.ones_like(self.std))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, classes]`` of features ``[B, dim]``."""
        return self.linear((features - self.mean) / self.std)


class ClassifierNet(nn.Module):
    """Encoder and linear head: images ``[B, 3, H, W]`` in 0..1 -> logits ``[B, classes]``."""

    def __init__(self, encoder: Encoder, classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = Head(encoder.dim, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.encoder(images))


def decide(probabilities: np.ndarray, threshold: float, positive: int) -> np.ndarray:
    """Predicted class per row of ``[N, C]`` probabilities: for two classes the positive one when its probability
    reaches ``threshold``, else the other; for more classes the most probable."""
    if probabilities.shape[1] == 2:
        return np.where(probabilities[:, positive] >= threshold, positive, 1 - positive)
    return probabilities.argmax(axis=1)


class ImageCache:
    """Images of a dataset read once at ``size`` x ``size`` and kept as ``uint8``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._images: dict[Path, np.ndarray] = {}

    def __call__(self, path: Path) -> np.ndarray:
        """``float32 [size, size, 3]`` in 0..1."""
        if path not in self._images:
            pixels = resize_square(load_image(path, max_side=None).pixels, self.size)
            self._images[path] = np.round(pixels * 255).astype(np.uint8)
        return self._images[path].astype(np.float32) / 255.0


def encoder_fingerprint(encoder: Encoder) -> str:
    """A short id of an encoder's weights (from its provenance line), for feature caches."""
    return hashlib.sha256(encoder.provenance.encode()).hexdigest()[:16]


def _file_stamp(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


class FeatureCache:
    """Encoder features computed once per image: kept in memory and, with a ``file``, on disk between runs
    (rows are keyed by encoder, image size and the file's path, size and modification time)."""

    def __init__(self, file: Path | None = None) -> None:
        self.file = file
        self._rows: dict[tuple[str, int, str], np.ndarray] = {}
        if file is not None and file.is_file():
            tensors, metadata = load_tensors(file)
            rows = tensors["features"].numpy()
            for i, key in enumerate(metadata.get("keys", [])):  # type: ignore[union-attr]
                self._rows[tuple(key)] = rows[i]  # type: ignore[index]

    def __call__(self, encoder: Encoder, samples: Sequence[Sample], images: ImageCache,
                 batch_size: int = 32) -> np.ndarray:
        """``float32 [N, dim]`` features of ``samples`` (no augmentation), computing only the missing rows."""
        fingerprint = encoder_fingerprint(encoder)
        keys = [(fingerprint, images.size, _file_stamp(s.path)) for s in samples]
        missing = [i for i, key in enumerate(keys) if key not in self._rows]
        encoder.eval()
        with torch.inference_mode():
            for start in range(0, len(missing), batch_size):
                chunk = missing[start:start + batch_size]
                batch = torch.stack([to_tensor(images(samples[i].path)) for i in chunk]).to(encoder.device)
                for index, row in zip(chunk, encoder(batch).float().cpu().numpy()):
                    self._rows[keys[index]] = row
        if missing and self.file is not None:
            stored = sorted(self._rows)
            save_tensors({"features": torch.from_numpy(np.stack([self._rows[k] for k in stored]))}, self.file,
                         {"keys": [list(k) for k in stored]})
        if not keys:
            return np.zeros((0, encoder.dim), np.float32)
        return np.stack([self._rows[k] for k in keys]).astype(np.float32)


@dataclass
class Part:
    """One model's data: training, validation and test samples (one magnification, or all)."""

    name: str
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]


def parts_of(dataset: Dataset, split: Split, per_magnification: bool) -> list[Part]:
    """The models a fold needs: one per magnification (that has training and test images) or one for all."""
    train, val, test = (split.samples(dataset, part) for part in ("train", "val", "test"))
    if not per_magnification or not dataset.magnifications:
        return [Part(ALL, train, val, test)]
    return [Part(m, [s for s in train if s.magnification == m], [s for s in val if s.magnification == m],
                 [s for s in test if s.magnification == m]) for m in dataset.magnifications]


@dataclass
class TrainedPart:
    """A trained model of one part, its predictions on the test samples and its training history."""

    name: str
    model: ClassifierNet
    probabilities: np.ndarray  # [N_test, C]
    test: list[Sample]
    history: training.History
    best_epoch: int


StageProgress = Callable[[training.Progress], None]


def train_part(part: Part, encoder_factory: Callable[[], Encoder], classes: list[str], config: FinetuneConfig,
               images: ImageCache, feature_cache: FeatureCache, on_progress: StageProgress | None = None,
               checkpoint: Path | None = None, resume: bool = False, show_bar: bool = True) -> TrainedPart:
    """Train one part's model, select its epoch on validation, predict its test samples once.

    Raises:
        InputError: no training or test images, or a single class in training.
    """
    if not part.train or not part.test:
        raise InputError(f"The {part.name} part has {len(part.train)} training and {len(part.test)} test images; "
                         "both are needed (add patients or use fewer folds).")
    index = {name: i for i, name in enumerate(classes)}
    train_y = torch.tensor([index[target_of(s, config.task)] for s in part.train])
    if len(train_y.unique()) < 2:
        raise InputError(f"The training images of the {part.name} part all have one class; add patients of the "
                         "other classes or raise the label fraction.")
    val_y = torch.tensor([index[target_of(s, config.task)] for s in part.val], dtype=torch.long)
    torch.manual_seed(config.seed)
    model = ClassifierNet(encoder_factory(), len(classes))
    device = model.encoder.device
    model.head.to(device)
    linear = config.mode == "linear"
    if linear:
        model.encoder.freeze(0)
        train_x = torch.from_numpy(feature_cache(model.encoder, part.train, images))
        val_x = torch.from_numpy(feature_cache(model.encoder, part.val, images))
        model.head.standardise(train_x)
        trained: nn.Module = model.head
    else:
        model.encoder.freeze(None)
        transform = augmentation(config.image_size)
        trained = model
    optimizer = torch.optim.Adam([p for p in trained.parameters() if p.requires_grad], lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)

    def batches(epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(train_y), generator=generator).tolist()
        chunks = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        if linear:
            return [(train_x[c], train_y[c]) for c in chunks]
        return _ImageBatches(chunks, part.train, train_y, images, transform)  # type: ignore[return-value]

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs, targets = batch
        logits = trained(inputs.to(device))
        return {"loss": F.cross_entropy(logits, targets.to(device))}

    best = _BestEpoch(checkpoint.with_suffix(".best.pt") if checkpoint else None, resume)

    def validate(epoch: int) -> dict[str, float]:
        if not len(val_y):
            best.offer((0.0, 0.0), trained, epoch + 1, always=True)
            return {}
        logits = torch.from_numpy(_logits(model, part.val, images, val_x if linear else None))
        loss = float(F.cross_entropy(logits, val_y))
        probabilities = torch.softmax(logits, dim=1).numpy()
        predicted = decide(probabilities, config.threshold, positive_index(classes))
        score = metrics.balanced_accuracy(val_y.numpy(), predicted)
        best.offer((score, -loss), trained, epoch + 1)
        return {"val_balanced_accuracy": score, "val_loss": loss}

    history = training.fit(trained, step, batches, optimizer, config.epochs, evaluate=validate,
                           on_progress=on_progress, checkpoint=checkpoint, resume=resume, show_bar=show_bar,
                           description=f"fine-tuning {part.name}")
    if best.state is not None:
        trained.load_state_dict(best.state)
    model.eval()
    test_x = torch.from_numpy(feature_cache(model.encoder, part.test, images)) if linear else None
    probabilities = torch.softmax(torch.from_numpy(_logits(model, part.test, images, test_x)), dim=1).numpy()
    return TrainedPart(part.name, model, probabilities, part.test, history, best.epoch or config.epochs)


class _BestEpoch:
    """The state of the best epoch so far (by validation score), kept beside the checkpoint when there is one so a
    resumed run still returns the epoch that validation chose."""

    def __init__(self, path: Path | None, resume: bool) -> None:
        self.path = path
        self.score: tuple[float, float] = (-1.0, 0.0)
        self.state: dict[str, torch.Tensor] | None = None
        self.epoch = 0
        if resume and path is not None and path.is_file():
            saved = torch.load(path, map_location="cpu", weights_only=True)
            self.score, self.state, self.epoch = tuple(saved["score"]), saved["state"], int(saved["epoch"])

    def offer(self, score: tuple[float, float], module: nn.Module, epoch: int, always: bool = False) -> None:
        """Keep ``module``'s state if ``score`` beats the best so far (or ``always``)."""
        if not always and score <= self.score:
            return
        self.score, self.state, self.epoch = score, copy.deepcopy(module.state_dict()), epoch
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"score": list(score), "state": self.state, "epoch": epoch}, self.path)


class _ImageBatches:
    """Augmented image batches of one epoch, read lazily (``len`` known for the progress bar)."""

    def __init__(self, chunks: list[list[int]], samples: Sequence[Sample], targets: torch.Tensor, images: ImageCache,
                 transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.chunks, self.samples, self.targets = chunks, samples, targets
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.chunks)

    def __iter__(self):  # type: ignore[no-untyped-def]
        for chunk in self.chunks:
            views = [self.transform(to_tensor(self.images(self.samples[i].path))) for i in chunk]
            yield torch.stack(views), self.targets[chunk]


def _logits(model: ClassifierNet, samples: Sequence[Sample], images: ImageCache, cached: torch.Tensor | None,
            batch_size: int = 64) -> np.ndarray:
    """``float32 [N, C]`` logits of ``samples`` (from cached features when given), in eval mode."""
    was_training = model.training
    model.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            if cached is not None:
                logits = model.head(cached[start:start + batch_size].to(model.encoder.device))
            else:
                batch = torch.stack([to_tensor(images(s.path)) for s in samples[start:start + batch_size]])
                logits = model(batch.to(model.encoder.device))
            outputs.append(logits.float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(outputs) if outputs else np.zeros((0, model.head.out_features), np.float32)


def predictions_of(parts: Sequence[TrainedPart], classes: list[str], config: FinetuneConfig) -> metrics.Predictions:
    """All parts' test predictions as one :class:`~engine.histology.metrics.Predictions`."""
    index = {name: i for i, name in enumerate(classes)}
    samples = [s for p in parts for s in p.test]
    probabilities = np.concatenate([p.probabilities for p in parts]) if parts else np.zeros((0, len(classes)))
    return metrics.Predictions(
        labels=np.array([index[target_of(s, config.task)] for s in samples], dtype=np.int64),
        predicted=decide(probabilities, config.threshold, positive_index(classes)),
        probabilities=probabilities, patients=[s.patient for s in samples],
        magnifications=[s.magnification for s in samples], classes=classes)


def write_predictions(path: Path, parts: Sequence[TrainedPart], classes: list[str], config: FinetuneConfig,
                      fold: int) -> None:
    """One CSV row per test image: path, patient, magnification, fold, true class, predicted class, probabilities."""
    found = predictions_of(parts, classes, config)
    samples = [s for p in parts for s in p.test]
    path.parent.mkdir(parents=True, exist_ok=True)
    exists = path.is_file()
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if not exists:
            writer.writerow(["path", "patient", "magnification", "fold", "label", "predicted",
                             *[f"p_{c}" for c in classes]])
        for sample, label, predicted, row in zip(samples, found.labels, found.predicted, found.probabilities):
            writer.writerow([sample.relative, sample.patient, sample.magnification, fold + 1, classes[label],
                             classes[predicted], *[f"{p:.6f}" for p in row]])


@dataclass
class FoldResult:
    """One fold: its split (after any label fraction), trained parts and metrics."""

    split: Split
    parts: list[TrainedPart]
    metrics: dict[str, object]


def run_fold(dataset: Dataset, split: Split, encoder_factory: Callable[[], Encoder], config: FinetuneConfig,
             images: ImageCache, feature_cache: FeatureCache, on_progress: StageProgress | None = None,
             checkpoint_dir: Path | None = None, resume: bool = False, show_bar: bool = True,
             stage_offset: int = 0, stages: int = 1) -> FoldResult:
    """Train and test every part of one fold; progress is reported as stage ``stage_offset + k`` of ``stages``."""
    split = with_label_fraction(split, dataset, config.label_fraction, config.seed + split.fold)
    classes = classes_of(dataset, config.task)
    trained = []
    for offset, part in enumerate(parts_of(dataset, split, config.per_magnification)):
        stage = stage_offset + offset
        checkpoint = checkpoint_dir / f"fold{split.fold + 1}-{part.name}.pt" if checkpoint_dir else None
        relay = _stage_relay(on_progress, stage, stages)
        trained.append(train_part(part, encoder_factory, classes, config, images, feature_cache, relay, checkpoint,
                                  resume, show_bar))
    result = metrics.by_magnification(predictions_of(trained, classes, config))
    result["best_epochs"] = {p.name: p.best_epoch for p in trained}
    return FoldResult(split, trained, result)


def _stage_relay(on_progress: StageProgress | None, stage: int, stages: int) -> StageProgress | None:
    """Report a stage's progress as part of the whole run (epochs of all stages laid end to end)."""
    if on_progress is None:
        return None

    def relay(progress: training.Progress) -> None:
        on_progress(training.Progress(stage * progress.epochs + progress.epoch, stages * progress.epochs,
                                      progress.step, progress.steps, progress.loss, progress.metrics))

    return relay


def stage_count(dataset: Dataset, config: FinetuneConfig, folds: int) -> int:
    """How many models a run trains (for progress): parts per fold times folds."""
    per_fold = len(dataset.magnifications) if config.per_magnification and dataset.magnifications else 1
    return per_fold * folds


def write_metrics(out: Path, summary: dict[str, object]) -> Path:
    """Write ``metrics.json`` (and ``comparison.md``, the table beside the paper's) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "metrics.json"
    path.write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    (out / "comparison.md").write_text(metrics.comparison_table(summary) + "\n", encoding="utf-8")
    return path
