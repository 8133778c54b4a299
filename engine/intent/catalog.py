"""Where intent models live, how they enter the model registry, and the correction loop.

A model is a folder holding ``model.safetensors`` (see :mod:`.persistence`) and, when it was
tested, ``metrics.json``. The app ships one per corpus in ``assets/intent/<corpus>/``; models
trained by users (upload or "retrain with corrections") go to
``$WORKBENCH_DATA_DIR/intent_models/<name>/``. Each is registered as ``intent:<name>`` with task
``intent``, loaded on first use.

Corrections: an accept/correct decision is stored in the annotation store under task
``intent`` with the sentence in the item payload and ``{"intent", "predicted", "decision", "model"}``
as the label. Retraining adds the standing decisions whose intent belongs to the model's label
set to its training sentences (a corrected sentence replaces an identical training sentence's
label) and fits the same pipeline again.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from engine import settings
from engine.annotations import Annotation, AnnotationStore, content_hash
from engine.errors import InputError, WorkbenchError
from engine.intent import embeddings, persistence
from engine.intent.data import LabelledTexts
from engine.intent.model import IntentModel, ModelInfo, Progress, fit
from engine.intent.persistence import MODEL_FILE
from engine.registry import InputSpec, LoadedModel, ModelSpec, Registry

TASK = "intent"
PREFIX = "intent:"
ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets" / "intent"
CORPORA_DIR = ASSETS_DIR / "corpora"  # the three NLU Evaluation Corpora (CC BY-SA 3.0, licence beside them)
TEXT_INPUT = InputSpec(size=None, mean=(), std=(), value_range="UTF-8 text", kind="text")

log = logging.getLogger(__name__)


def user_models_dir() -> Path:
    """Folder of user-trained intent models (``$WORKBENCH_DATA_DIR/intent_models``)."""
    return settings.current().data_dir / "intent_models"


def model_folders() -> list[Path]:
    """Every model folder: shipped ones first, then the user's, each sorted by name."""
    folders: list[Path] = []
    for root in (ASSETS_DIR, user_models_dir()):
        if root.is_dir():
            folders += sorted(p for p in root.iterdir() if (p / MODEL_FILE).is_file())
    return folders


def registry_name(folder: Path) -> str:
    """``intent:<folder name>``."""
    return PREFIX + folder.name


def model_spec(folder: Path) -> ModelSpec:
    """The registry entry of one model folder (reads only the file's metadata)."""
    path = folder / MODEL_FILE
    info, config, labels = persistence.read_info(path)
    shipped = folder.parent == ASSETS_DIR
    where = path.relative_to(ASSETS_DIR.parents[1]) if shipped else path
    provenance = f"{'shipped' if shipped else 'user'} model {where}: {config.describe()}; {info.summary()}"
    if config.uses_embedding:
        provenance += f"; sentence embeddings {embeddings.provenance()}"

    def load() -> LoadedModel:
        return LoadedModel(model=persistence.load(path), provenance=provenance)

    return ModelSpec(name=registry_name(folder), task=TASK, arch=f"intent pipeline: {config.describe()}",
                     loader=load, labels=labels, input_spec=TEXT_INPUT, provenance=provenance,
                     description=f"intent classifier, {len(labels)} intents")


def stored_info(name: str) -> ModelInfo | None:
    """The provenance stored in the model file registered as ``name`` (metadata only), None if unknown."""
    for folder in model_folders():
        if registry_name(folder) == name:
            return persistence.read_info(folder / MODEL_FILE)[0]
    return None


def register_models(registry: Registry) -> list[str]:
    """Register every shipped and user model folder (unreadable ones are skipped and logged)."""
    names = []
    for folder in model_folders():
        try:
            spec = model_spec(folder)
        except WorkbenchError as error:
            log.warning("skipping intent model %s: %s", folder, error)
            continue
        registry.register(spec, replace=True)
        names.append(spec.name)
    return names


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-.")[:60]
    if not slug:
        raise InputError("Give the model a name made of letters, digits, '-', '_' or '.'.")
    return slug


def unused_folder(name: str) -> Path:
    """A new folder under :func:`user_models_dir` named after ``name`` (``-2``, ``-3``... if taken)."""
    slug = _slug(name)
    taken = {registry_name(f) for f in model_folders()}
    candidate, number = slug, 1
    while PREFIX + candidate in taken or (user_models_dir() / candidate).exists():
        number += 1
        candidate = f"{slug}-{number}"
    return user_models_dir() / candidate


def corrected_name(name: str) -> str:
    """The name for ``name`` retrained with corrections: ``intent:chatbot-corrected-2`` -> ``chatbot-corrected``."""
    base = re.sub(r"-corrected(-\d+)?$", "", name.removeprefix(PREFIX))
    return f"{base}-corrected"


def register_folder(registry: Registry, folder: str | Path) -> str:
    """Register one model folder (e.g. one a training job wrote) and return its registry name."""
    spec = model_spec(Path(folder))
    registry.register(spec, replace=True)
    return spec.name


def save_user_model(model: IntentModel, registry: Registry, name: str) -> str:
    """Save ``model`` as a new user model folder, register it and return its registry name."""
    folder = unused_folder(name)
    persistence.save(model, folder / MODEL_FILE)
    return register_folder(registry, folder)


def record_decision(store: AnnotationStore, model_name: str, text: str, predicted: str, intent: str,
                    annotator: str) -> Annotation:
    """Store that ``annotator`` accepted (``intent == predicted``) or corrected a prediction."""
    if not text.strip():
        raise InputError("Classify a sentence before accepting or correcting it.")
    label = {"intent": intent, "predicted": predicted, "model": model_name,
             "decision": "accept" if intent == predicted else "correct"}
    return store.add(TASK, content_hash(text), label, annotator, source=model_name, payload={"text": text})


def standing_corrections(store: AnnotationStore, intents: tuple[str, ...]) -> LabelledTexts:
    """The latest standing decision per sentence (any annotator) whose intent is in ``intents``."""
    latest: dict[str, tuple[float, str]] = {}
    for annotation in store.current_labels(TASK):
        text = (annotation.payload or {}).get("text") if isinstance(annotation.payload, dict) else None
        intent = annotation.label.get("intent") if isinstance(annotation.label, dict) else None
        if not text or intent not in intents:
            continue
        if text not in latest or annotation.created_at >= latest[text][0]:
            latest[text] = (annotation.created_at, intent)
    texts = tuple(sorted(latest))
    return LabelledTexts(texts, tuple(latest[t][1] for t in texts), "corrections")


def retrain_with_corrections(model: IntentModel, corrections: LabelledTexts, name: str,
                             progress: Progress | None = None) -> IntentModel:
    """Fit ``model``'s pipeline again on its training sentences plus ``corrections``.

    A corrected sentence that is already in the training data takes the corrected label. The
    pipeline is not chosen again and the probability calibration (temperature) is carried over;
    sentence embeddings of unchanged sentences come from the cache.

    Raises:
        InputError: there are no corrections for this model's intents.
    """
    if len(corrections) == 0:
        raise InputError("No stored decisions for this model's intents yet: accept or correct a few "
                         "predictions first.")
    corrected = dict(zip(corrections.texts, corrections.labels))
    base = model.training
    known = set(base.texts)
    rows = [(t, corrected.get(t, label)) for t, label in zip(base.texts, base.labels)]
    rows += [(t, label) for t, label in corrected.items() if t not in known]
    data = LabelledTexts(tuple(t for t, _ in rows), tuple(label for _, label in rows),
                         f"{base.source} + {len(corrections)} corrections")
    info = ModelInfo(name=name, source=data.source, parent=model.info.name, corrections=len(corrections))
    retrained = fit(data, model.config, info, progress)
    retrained.temperature = model.temperature
    return retrained
