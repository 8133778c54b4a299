"""Trained histology classifiers: saved as one safetensors file, loaded with provenance, used for predictions.

A classifier has one *part* per magnification (the paper's protocol) or one part ``all`` (magnification-agnostic);
each part is an encoder and a linear head. Parts trained as linear probes share one encoder, stored once. The file
header records the classes, task, image size, threshold, how it was trained and its test metrics, so a prediction
can always say what made it. Encoders are stored as changes to their ImageNet weights (see
:mod:`engine.histology.encoders`).

The app ships no such classifier: no labelled breast H&E data is available to it. Users load their own, or train
one on their folder (``python -m trainers.histology finetune``, or the tab's jobs).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine import settings
from engine import weights as weights_module
from engine.errors import InputError
from engine.histology.dataset import normalise_magnification, parse_file_name
from engine.histology.encoders import encoder_from_tensors, encoder_tensors, load_tensors, save_tensors
from engine.histology.finetune import ALL, ClassifierNet, decide, positive_index
from engine.histology.mpcs import resize_square
from engine.paths import safe_file_name
from engine.registry import InputSpec, LoadedModel, ModelSpec, Registry

if TYPE_CHECKING:
    from engine.explain.pipeline import Explanation

TASK = "histopathology-classification"


@dataclass
class HistologyClassifier:
    """Parts (magnification or ``all`` -> network in eval mode), classes, input size and provenance."""

    parts: dict[str, ClassifierNet]
    classes: list[str]
    image_size: int
    task: str
    threshold: float
    provenance: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def part_for(self, magnification: str | None) -> str:
        """The part that handles ``magnification`` (its own, else ``all``).

        Raises:
            InputError: the classifier has per-magnification parts and none for this one.
        """
        if magnification and magnification in self.parts:
            return magnification
        if ALL in self.parts:
            return ALL
        raise InputError(f"This classifier has models for {', '.join(self.parts)}; choose one of those "
                         f"magnifications (got {magnification or 'none'}).")

    def probabilities(self, images: np.ndarray, magnification: str | None) -> np.ndarray:
        """``float32 [B, classes]`` for ``images`` ``float32 [B, H, W, 3]`` in 0..1 (resized to the model's size)."""
        network = self.parts[self.part_for(magnification)]
        batch = np.stack([resize_square(np.asarray(image, np.float32), self.image_size) for image in images])
        with torch.inference_mode():
            logits = network(torch.from_numpy(batch).permute(0, 3, 1, 2).to(network.encoder.device))
        return torch.softmax(logits.float(), dim=1).cpu().numpy()

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """Predicted class indices (the threshold applies to two classes)."""
        return decide(probabilities, self.threshold, positive_index(self.classes))


@dataclass(frozen=True)
class Prediction:
    """One image's prediction: class probabilities, the decision, the part that made it and its provenance."""

    probabilities: dict[str, float]
    label: str
    magnification: str
    part: str
    provenance: str


def predict(classifier: HistologyClassifier, image: np.ndarray, magnification: str | None) -> Prediction:
    """Classify one ``float32 [H, W, 3]`` image in 0..1 seen at ``magnification``."""
    part = classifier.part_for(magnification)
    probabilities = classifier.probabilities(image[None], magnification)[0]
    label = classifier.classes[int(classifier.decide(probabilities[None])[0])]
    return Prediction({c: float(p) for c, p in zip(classifier.classes, probabilities)}, label, magnification or "",
                      part, classifier.provenance)


def magnification_from_name(name: str) -> str | None:
    """The magnification a file name states: a BreakHis name (``...-400-012.png``) or a trailing ``_40X``-like tag."""
    parsed = parse_file_name(name)
    if parsed is not None:
        return parsed["magnification"]
    stem = Path(name).stem
    for token in reversed(stem.replace("-", "_").split("_")):
        found = normalise_magnification(token)
        if found is not None and token.upper().endswith("X"):
            return found
    return None


def save_classifier(path: str | Path, parts: Mapping[str, ClassifierNet], classes: Sequence[str], image_size: int,
                    task: str, threshold: float, shared_encoder: bool, info: Mapping[str, Any]) -> Path:
    """Write a classifier (one file); ``shared_encoder`` stores the first part's encoder once for all parts."""
    tensors: dict[str, torch.Tensor] = {}
    encoder_metadata: dict[str, object] = {}
    for index, (name, network) in enumerate(parts.items()):
        if not shared_encoder or index == 0:
            prefix = "encoder." if shared_encoder else f"parts.{name}.encoder."
            found, encoder_metadata = encoder_tensors(network.encoder, prefix=prefix)
            tensors.update(found)
        tensors.update({f"parts.{name}.head.{k}": v for k, v in network.head.state_dict().items()})
    metadata = {**encoder_metadata, "parts": list(parts), "classes": list(classes), "image_size": image_size,
                "task": task, "threshold": threshold, "shared_encoder": shared_encoder, "info": dict(info)}
    return save_tensors(tensors, path, metadata)[0]


def load_classifier(path: str | Path, device: str = "cpu") -> HistologyClassifier:
    """A classifier written by :func:`save_classifier`, in eval mode on ``device``.

    Raises:
        InputError: not such a file (it is never unpickled: safetensors only), or inconsistent contents.
    """
    source = Path(path)
    tensors, metadata = load_tensors(source)
    try:
        classes = [str(c) for c in metadata["classes"]]  # type: ignore[union-attr]
        names = [str(n) for n in metadata["parts"]]  # type: ignore[union-attr]
        shared = bool(metadata["shared_encoder"])
        image_size, threshold = int(metadata["image_size"]), float(metadata["threshold"])  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"{source.name} is not a histology classifier (its header lacks {error}).") from error
    digest = weights_module.file_sha256(source)
    label = f"{source.name} (sha256 {digest[:12]}…)"
    parts: dict[str, ClassifierNet] = {}
    for name in names:
        prefix = "encoder." if shared else f"parts.{name}.encoder."
        encoder = parts[names[0]].encoder if shared and parts else encoder_from_tensors(tensors, metadata, label,
                                                                                        prefix)
        network = ClassifierNet(encoder, len(classes))
        head = {k.removeprefix(f"parts.{name}.head."): v for k, v in tensors.items()
                if k.startswith(f"parts.{name}.head.")}
        try:
            network.head.load_state_dict(head)
        except RuntimeError as error:
            raise InputError(f"{source.name}: the {name} head does not fit ({error}).") from error
        parts[name] = network.to(device).eval()
    info = metadata.get("info", {})
    provenance = f"classifier {label}: {metadata.get('task')} on {', '.join(names)}; " + \
        parts[names[0]].encoder.provenance
    return HistologyClassifier(parts, classes, image_size, str(metadata.get("task")), threshold, provenance,
                               dict(info) if isinstance(info, dict) else {})


def classifier_spec(path: str | Path, name: str | None = None) -> ModelSpec:
    """A registry entry for a saved classifier (loaded on first use, on the configured device)."""
    source = Path(path)

    def load() -> LoadedModel:
        classifier = load_classifier(source, settings.current().device)
        return LoadedModel(model=classifier, provenance=classifier.provenance)

    return ModelSpec(name=name or f"histology:{source.stem}", task=TASK, arch="mobilenet_v2", loader=load,
                     description=f"histology classifier {source.name}",
                     provenance=f"{source.name} (sha256 {weights_module.file_sha256(source)[:12]}…)",
                     input_spec=InputSpec(size=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)))


def register_classifiers(registry: Registry, folder: Path) -> list[str]:
    """Register every classifier file in ``folder``; returns their names."""
    names = []
    for path in sorted(folder.glob("*.safetensors")):
        spec = classifier_spec(path)
        registry.register(spec, replace=True)
        names.append(spec.name)
    return names


def import_classifier(registry: Registry, upload: str | Path, folder: Path) -> str:
    """Check an uploaded classifier file (read as safetensors, never unpickled), keep a copy in ``folder`` and
    register it; returns its registry name.

    Raises:
        InputError: not a histology classifier written by this app.
    """
    source = Path(upload)
    load_classifier(source)  # validates before anything is kept
    digest = weights_module.file_sha256(source)
    target = folder / f"{safe_file_name(source.stem, 'classifier')}-{digest[:8]}.safetensors"
    shutil.copyfile(source, target)
    spec = classifier_spec(target)
    registry.register(spec, replace=True)
    return spec.name


def classifier_scorer(classifier: HistologyClassifier, magnification: str | None) -> Callable[[np.ndarray], np.ndarray]:
    """Tiles ``float32 [B, S, S, 3]`` -> the positive class's probability ``[B]`` (the most probable class's
    probability for more than two classes)."""
    positive = positive_index(classifier.classes)

    def score(tiles: np.ndarray) -> np.ndarray:
        probabilities = classifier.probabilities(tiles, magnification)
        return probabilities[:, positive] if probabilities.shape[1] == 2 else probabilities.max(axis=1)

    return score


def explain_prediction(classifier: HistologyClassifier, image: np.ndarray, magnification: str | None,
                       samples: int = 300, seed: int = 0,
                       progress: Callable[[float, str], None] | None = None) -> Explanation:
    """Which parts of ``image`` drive the classifier's decision: the explanations engine's default pipeline
    (SLIC superpixels, smoothed masks, per-pixel RISE) with ``samples`` perturbed copies, explaining the
    predicted class, with its LIF/MIF/SRG scores."""
    from engine.explain.classifier import FunctionClassifier
    from engine.explain.pipeline import ExplainConfig, explain

    wrapped = FunctionClassifier(lambda images: classifier.probabilities(images, magnification), classifier.classes,
                                 (classifier.image_size, classifier.image_size), classifier.provenance)
    probabilities = classifier.probabilities(image[None], magnification)
    target = int(classifier.decide(probabilities)[0])
    return explain(image, wrapped, ExplainConfig(n_samples=samples), target=target, seed=seed, progress=progress)
