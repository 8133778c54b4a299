"""A thread-safe registry of models, loaded lazily on first use and shared by all sessions.

A :class:`ModelSpec` describes a model (name, task, architecture, labels, input spec) and how to
load it; nothing heavy happens when a spec is registered. :meth:`Registry.get` loads a model once,
under a per-model lock, and every later call (from any thread) gets the same :class:`LoadedModel`.
Each loaded model carries its provenance (:class:`engine.weights.WeightsInfo` or a free-text
source for non-torch models such as intent classifiers).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from engine import settings, weights
from engine.errors import WorkbenchError
from engine.weights import WeightsInfo

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpec:
    """What a model expects: ``float32 [B, 3, H, W]`` in ``value_range`` before ``mean``/``std``."""

    size: tuple[int, int] | None = (224, 224)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    value_range: str = "0..1"
    kind: str = "image"


@dataclass
class LoadedModel:
    """A model ready to use, with where its weights came from."""

    model: Any
    provenance: str
    weights: WeightsInfo | None = None
    load_seconds: float = 0.0

    @property
    def memory_bytes(self) -> int:
        """Bytes held by parameters and buffers (0 for non-torch models)."""
        if not isinstance(self.model, nn.Module):
            return 0
        tensors = list(self.model.parameters()) + list(self.model.buffers())
        return sum(t.numel() * t.element_size() for t in tensors)


@dataclass(frozen=True)
class ModelSpec:
    """How to build one named model; ``loader`` runs only on first use."""

    name: str
    task: str
    arch: str
    loader: Callable[[], LoadedModel]
    labels: Sequence[str] = ()
    input_spec: InputSpec = field(default_factory=InputSpec)
    description: str = ""
    availability: Callable[[], WeightsInfo | None] | None = None
    provenance: str = ""  # where a model without torchvision weights comes from (shown before loading)


@dataclass(frozen=True)
class ModelRow:
    """One line of the registry's table (what the Models tab shows)."""

    name: str
    task: str
    arch: str
    status: str
    provenance: str
    loaded: bool
    memory_mb: float
    description: str


class Registry:
    """Named models, each loaded at most once, safely from many threads."""

    def __init__(self) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self._loaded: dict[str, LoadedModel] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def register(self, spec: ModelSpec, replace: bool = False) -> None:
        """Add a model description. Nothing is loaded.

        Raises:
            WorkbenchError: the name is taken and ``replace`` is False.
        """
        with self._lock:
            if spec.name in self._specs and not replace:
                raise WorkbenchError(f"A model named {spec.name!r} is already registered.")
            self._specs[spec.name] = spec
            self._loaded.pop(spec.name, None)
            self._locks.setdefault(spec.name, threading.Lock())

    def names(self, task: str | None = None) -> list[str]:
        """Registered model names, optionally only those of one task."""
        with self._lock:
            return [n for n, s in self._specs.items() if task is None or s.task == task]

    def spec(self, name: str) -> ModelSpec:
        """The spec registered under ``name``."""
        with self._lock:
            if name not in self._specs:
                raise WorkbenchError(f"No model named {name!r}; available: {', '.join(self._specs) or 'none'}.")
            return self._specs[name]

    def is_loaded(self, name: str) -> bool:
        """Whether ``name`` has been loaded already."""
        with self._lock:
            return name in self._loaded

    def get(self, name: str) -> LoadedModel:
        """Return the loaded model, loading it on first use (once, even under concurrent calls)."""
        spec = self.spec(name)
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            model_lock = self._locks[name]
        with model_lock:
            with self._lock:
                if name in self._loaded:
                    return self._loaded[name]
            start = time.perf_counter()
            loaded = spec.loader()
            loaded.load_seconds = time.perf_counter() - start
            with self._lock:
                if self._specs.get(name) is spec:
                    self._loaded[name] = loaded
            return loaded

    def unload(self, name: str) -> None:
        """Drop a loaded model so its memory can be freed; it reloads on next use."""
        with self._lock:
            self._loaded.pop(name, None)

    def rows(self) -> list[ModelRow]:
        """A table of every model with status, provenance and memory (does not load anything)."""
        with self._lock:
            specs = list(self._specs.values())
            loaded = dict(self._loaded)
        rows = []
        for spec in specs:
            if spec.name in loaded:
                item = loaded[spec.name]
                status, provenance, memory = "loaded", item.provenance, item.memory_bytes / 2**20
            else:
                info = spec.availability() if spec.availability else None
                status = info.status if info else "available"
                provenance = info.label if info else spec.provenance
                memory = 0.0
            rows.append(ModelRow(spec.name, spec.task, spec.arch, status, provenance, spec.name in loaded,
                                 round(memory, 1), spec.description))
        return rows


def torchvision_loader(arch: str, file: str | Path | None = None, weights_kind: str = "pretrained",
                       seed: int = 0) -> Callable[[], LoadedModel]:
    """A loader that builds ``arch`` through :mod:`engine.weights` on the configured device."""

    def load() -> LoadedModel:
        model, info = weights.build(arch, weights=weights_kind, file=file, seed=seed)  # type: ignore[arg-type]
        model = model.to(settings.current().device)
        return LoadedModel(model=model, provenance=info.label, weights=info)

    return load


def imagenet_classifier_spec(arch: str) -> ModelSpec:
    """The registry entry for torchvision's pretrained classifier ``arch`` (ImageNet; Kinetics-400 for the
    video architectures, whose task is ``video-classification``)."""
    spec = weights.ARCHITECTURES[arch]
    dataset = "ImageNet-1k" if spec.task == "image-classification" else "Kinetics-400"
    return ModelSpec(
        name=arch,
        task=spec.task,
        arch=arch,
        loader=torchvision_loader(arch),
        labels=weights.LazyCategories(arch),
        description=f"torchvision {arch}, {dataset} {spec.tag}",
        availability=lambda: weights.find(arch),
    )


def register_user_checkpoint(registry: Registry, file: str | Path, arch: str | None = None,
                             name: str | None = None) -> ModelSpec:
    """Validate a user's checkpoint (never unpickled) and register it as an image classifier.

    The file is read with safe loaders, its architecture detected (or checked against ``arch``)
    and its sha256 recorded as provenance. The model itself loads lazily like any other.
    """
    source = Path(file)
    state_dict = weights.read_state_dict(source)
    if arch is None:
        arch = weights.detect_arch(state_dict)
    else:
        model, _ = weights.build(arch, weights="random")
        weights.check_fits(model, state_dict, source.name)
    digest = weights.file_sha256(source)
    path = settings.current().data_dir / "checkpoints" / f"{digest[:16]}{source.suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, path)  # keep it: uploads live in a temporary folder
    spec = ModelSpec(
        name=name or f"user:{source.stem}",
        task=weights.ARCHITECTURES[arch].task,
        arch=arch,
        loader=torchvision_loader(arch, file=path),
        labels=weights.LazyCategories(arch),
        description=f"user checkpoint {source.name} (sha256 {digest[:12]}…)",
        availability=lambda: weights.find(arch, path),
    )
    registry.register(spec, replace=True)
    return spec


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry, with the ImageNet classifiers registered (lazily, not loaded)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Registry()
            for arch in weights.supported_architectures():
                _default.register(imagenet_classifier_spec(arch))
        return _default
