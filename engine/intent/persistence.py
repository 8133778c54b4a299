"""Saving and loading intent models as safetensors files: arrays plus JSON metadata, no pickle.

A model file holds the tensors ``weights`` ``float32 [n_intents, n_features]``, ``bias``
``[n_intents]`` and, with subword n-gram features, ``idf`` ``[n_ngrams]``; its string metadata holds
the format tag, the configuration, the intents, the n-gram vocabulary, the probability calibration,
the provenance (with the automatic selection's report) and the training sentences (so a model can
be retrained with corrections). Reading such a file cannot
run code: safetensors parses a JSON header and raw numbers, and every value is checked before a
model is built. Anything else (a pickle, a joblib or skops file, a truncated or edited file) is
refused with :class:`~engine.errors.InputError`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from engine.errors import InputError, WorkbenchError
from engine.intent.data import LabelledTexts
from engine.intent.embeddings import DIMENSIONS
from engine.intent.features import SemhashVectorizer
from engine.intent.model import IntentConfig, IntentModel, ModelInfo

FORMAT = "workbench-intent/1"
MODEL_FILE = "model.safetensors"  # a model folder holds this file ...
METRICS_FILE = "metrics.json"  # ... and, when it was tested, this one


def save(model: IntentModel, path: str | Path) -> Path:
    """Write ``model`` to ``path`` (``.safetensors``), atomically; returns the path.

    Raises:
        WorkbenchError: the model is not linear (kNN, MLP, random forest cannot be saved).
    """
    if model.weights is None or model.bias is None:
        raise WorkbenchError(
            f"{model.config.classifier} is not a linear classifier, so it cannot be saved as weights; "
            "train the default (or another linear classifier) to keep the model."
        )
    path = Path(path)
    tensors = {"weights": np.ascontiguousarray(model.weights, dtype=np.float32),
               "bias": np.ascontiguousarray(model.bias, dtype=np.float32)}
    vocabulary: list[str] = []
    if model.vectorizer is not None:
        tensors["idf"] = np.ascontiguousarray(model.vectorizer.idf, dtype=np.float64)
        vocabulary = model.vectorizer.vocabulary
    metadata = {
        "format": FORMAT,
        "config": json.dumps(asdict(model.config)),
        "labels": json.dumps(list(model.labels), ensure_ascii=False),
        "vocabulary": json.dumps(vocabulary, ensure_ascii=False),
        "info": json.dumps(asdict(model.info), ensure_ascii=False),
        "calibration": json.dumps({"temperature": model.temperature}),
        "training": json.dumps({"texts": list(model.training.texts), "labels": list(model.training.labels),
                                "source": model.training.source}, ensure_ascii=False),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    partial.chmod(0o644)  # safetensors writes owner-only files; models are meant to be shared
    partial.replace(path)
    return path


def _refuse(path: Path, reason: str) -> InputError:
    return InputError(
        f"{path.name} is not a Workbench intent model ({reason}). Intent models are .safetensors files "
        "written by `python -m trainers.intent` or the Intent tab; pickled, joblib or skops files are refused."
    )


def _metadata(path: Path) -> tuple[dict[str, str], Any]:
    try:
        handle = safe_open(str(path), framework="np")
    except Exception as error:  # safetensors reports a bad header as its own error type
        raise _refuse(path, f"{type(error).__name__}: {str(error)[:200]}") from error
    metadata = handle.metadata() or {}
    if metadata.get("format") != FORMAT:
        raise _refuse(path, f"format tag {metadata.get('format')!r}, expected {FORMAT!r}")
    return metadata, handle


def _json(metadata: dict[str, str], key: str, path: Path) -> Any:
    try:
        return json.loads(metadata[key])
    except (KeyError, json.JSONDecodeError) as error:
        raise _refuse(path, f"metadata {key!r} missing or not JSON") from error


def read_info(path: str | Path) -> tuple[ModelInfo, IntentConfig, tuple[str, ...]]:
    """Provenance, configuration and intents of a model file, without reading its weights."""
    path = Path(path)
    metadata, _ = _metadata(path)
    try:
        info = ModelInfo(**_json(metadata, "info", path))
        config = IntentConfig.from_json(_json(metadata, "config", path))
    except (TypeError, WorkbenchError) as error:
        raise _refuse(path, f"bad info or config: {error}") from error
    labels = tuple(str(label) for label in _json(metadata, "labels", path))
    return info, config, labels


def load(path: str | Path) -> IntentModel:
    """Read a model written by :func:`save`, checking every shape and field.

    Raises:
        InputError: the file is not a valid intent model (never executes anything from it).
    """
    path = Path(path)
    info, config, labels = read_info(path)
    metadata, handle = _metadata(path)
    try:
        names = set(handle.keys())
        weights = handle.get_tensor("weights")
        bias = handle.get_tensor("bias")
        idf = handle.get_tensor("idf") if "idf" in names else None
    except Exception as error:
        raise _refuse(path, f"missing tensors: {error}") from error
    vocabulary = [str(t) for t in _json(metadata, "vocabulary", path)]
    training = _json(metadata, "training", path)
    expected_columns = len(vocabulary) + (DIMENSIONS if config.uses_embedding else 0)
    if (weights.ndim != 2 or weights.shape != (len(labels), expected_columns) or bias.shape != (len(labels),)
            or config.uses_ngrams != (idf is not None) or (idf is not None and idf.shape != (len(vocabulary),))
            or len(set(labels)) != len(labels) or len(labels) < 2 or not np.isfinite(weights).all()):
        raise _refuse(path, "tensor shapes do not match the vocabulary and intents")
    calibration = _json(metadata, "calibration", path) if "calibration" in metadata else {}
    temperature = calibration.get("temperature") if isinstance(calibration, dict) else "not an object"
    if temperature is not None and not (isinstance(temperature, (int, float)) and 0 < temperature < 1e4):
        raise _refuse(path, f"bad calibration temperature {temperature!r}")
    try:
        data = LabelledTexts(tuple(map(str, training["texts"])), tuple(map(str, training["labels"])),
                             str(training.get("source", "")))
    except (TypeError, KeyError) as error:
        raise _refuse(path, "bad training data") from error
    vectorizer = (SemhashVectorizer(vocabulary, idf, config.ngram_range, config.sublinear_tf)
                  if config.uses_ngrams else None)
    return IntentModel(config, labels, vectorizer, weights.astype(np.float32), bias.astype(np.float32), data, info,
                       temperature=None if temperature is None else float(temperature))
