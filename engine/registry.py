"""A thread-safe registry of models, loaded lazily on first use and shared by all sessions.

A :class:`ModelSpec` describes a model (name, task, architecture, labels, input spec) and how to
load it; nothing heavy happens when a spec is registered. :meth:`Registry.get` loads a model once,
under a per-model lock, and every later call (from any thread) gets the same :class:`LoadedModel`.
Each loaded model carries its provenance (:class:`engine.weights.WeightsInfo` or a free-text
source for non-torch models such as intent classifiers).

Users add their own image classifiers (torchvision architectures fine-tuned to any number of classes)
with :func:`register_user_checkpoint`; a copy of the file and a record of it stay in the data dir,
and :func:`default_registry` registers them again at the next start.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from engine import checkpoints, labels, paths, settings, weights
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

    def unregister(self, name: str) -> None:
        """Forget a model (and drop it if loaded); unknown names are ignored."""
        with self._lock:
            self._specs.pop(name, None)
            self._loaded.pop(name, None)

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


USER_PREFIX = "user:"
USER_RECORDS = "registered.json"
_records_lock = threading.Lock()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserCheckpoint:
    """A user's checkpoint as recorded in ``<data dir>/checkpoints/registered.json`` (re-registered at start).

    ``labels`` is None when the classes have no names: ImageNet-1k's names for a 1000-class head,
    numbered classes otherwise (``labels_source`` says which).
    """

    name: str
    arch: str
    num_classes: int
    file: str  # inside the checkpoints folder, named by the file's sha256
    sha256: str
    original_name: str
    labels: list[str] | None
    labels_source: str
    registered_at: float

    @property
    def labels_note(self) -> str:
        """Where the class names come from, said plainly."""
        if self.labels_source == "numbered":
            return f"no class names given: classes are numbered 0-{self.num_classes - 1}"
        if self.labels_source == "imagenet":
            return "no class names given: ImageNet-1k names assumed for its 1000 outputs"
        return f"class names from {self.labels_source}"

    def spec(self, folder: Path) -> ModelSpec:
        """The registry entry for this checkpoint (the model itself loads on first use)."""
        path = folder / self.file
        names: Sequence[str] = self.labels or (weights.LazyCategories(self.arch) if self.labels_source == "imagenet"
                                               else labels.numbered(self.num_classes))
        return ModelSpec(
            name=self.name,
            task=weights.ARCHITECTURES[self.arch].task,
            arch=self.arch,
            loader=torchvision_loader(self.arch, file=path),
            labels=names,
            description=(f"user checkpoint {self.original_name}, {self.num_classes} classes "
                         f"(sha256 {self.sha256[:12]}…); {self.labels_note}"),
            availability=lambda: weights.find(self.arch, path),
        )


def user_checkpoint_folder() -> Path:
    """Where registered checkpoints are kept: ``<data dir>/checkpoints``."""
    return settings.current().data_dir / "checkpoints"


def user_checkpoints(folder: Path | None = None) -> list[UserCheckpoint]:
    """The registered user checkpoints recorded in ``folder`` (unreadable records are skipped and logged)."""
    path = (folder or user_checkpoint_folder()) / USER_RECORDS
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text())
        return [UserCheckpoint(**row) for row in rows]
    except (OSError, ValueError, TypeError) as error:
        log.warning("ignoring unreadable user-checkpoint record %s: %s", path, error)
        return []


def _write_records(folder: Path, records: list[UserCheckpoint]) -> None:
    temporary = folder / f"{USER_RECORDS}.partial"
    temporary.write_text(json.dumps([asdict(record) for record in records], indent=2))
    temporary.replace(folder / USER_RECORDS)


def _class_names(layout: weights.Layout, source: Path, typed: Sequence[str] | None,
                 labels_file: str | Path | None) -> tuple[list[str] | None, str]:
    """The class names and where they come from (typed, a labels file, a sidecar, ImageNet or numbered)."""
    if typed:
        return labels.validate(list(typed), layout.num_classes, "The typed list"), "the typed list"
    found = Path(labels_file) if labels_file else labels.sidecar(source)
    if found is not None:
        return labels.validate(labels.read_names(found), layout.num_classes, found.name), found.name
    return None, "imagenet" if layout.num_classes == 1000 else "numbered"


def register_user_checkpoint(registry: Registry, file: str | Path, arch: str | None = None, name: str | None = None,
                             class_names: Sequence[str] | None = None,
                             labels_file: str | Path | None = None) -> ModelSpec:
    """Validate a user's image classifier checkpoint, keep a copy in the data dir and register it.

    The file is read safely (never unpickled; :mod:`engine.checkpoints`), its architecture detected
    (or checked against ``arch``) and its class count read from the classifier head, both against the
    architecture built on the meta device. The copy and a record (name, arch, classes, sha256, class
    names) persist in :func:`user_checkpoint_folder`, so it is registered again at the next start.

    Args:
        registry: where to register it.
        file: a state dict (``.pth``/``.pt``) or ``.safetensors`` of a supported torchvision classifier,
            with any number of classes.
        arch: the architecture, or None to detect it.
        name: the model's name after ``user:`` (default: the file's stem); letters, digits, ``_ . -``.
        class_names: one name per class, typed by the user; they win over a labels file.
        labels_file: a ``labels.json`` (or text) file; default: a sidecar beside ``file``
            (:func:`engine.labels.sidecar`). Without names: ImageNet-1k's for 1000 classes, else numbered.

    Raises:
        WeightsError: the file is not an accepted checkpoint or fits no supported architecture.
        InputError: a bad name or class names that do not match the class count.
    """
    source = Path(file)
    model_name = USER_PREFIX + paths.validate_name(name or paths.safe_file_name(source.stem, "checkpoint"),
                                                   "model name")
    state_dict = checkpoints.read_state_dict(source, mapped=True)  # only names and shapes are needed here
    layout = weights.check_layout(arch, state_dict, source.name) if arch else weights.detect_layout(
        state_dict, source.name)
    names, names_source = _class_names(layout, source, class_names, labels_file)
    digest = weights.file_sha256(source)
    folder = user_checkpoint_folder()
    folder.mkdir(parents=True, exist_ok=True)
    record = UserCheckpoint(model_name, layout.arch, layout.num_classes, f"{digest[:16]}{source.suffix.lower()}",
                            digest, source.name, names, names_source, time.time())
    with _records_lock:
        if not (folder / record.file).is_file():  # keep a copy: uploads live in a temporary folder
            shutil.copyfile(source, folder / f"{record.file}.partial")
            (folder / f"{record.file}.partial").replace(folder / record.file)
        others = [old for old in user_checkpoints(folder) if old.name != model_name]
        _write_records(folder, [*others, record])
    spec = record.spec(folder)
    registry.register(spec, replace=True)
    return spec


def remove_user_checkpoint(registry: Registry, name: str) -> None:
    """Unregister a user checkpoint and forget it (its file is deleted unless another name uses it).

    Raises:
        WorkbenchError: ``name`` is not a registered user checkpoint.
    """
    folder = user_checkpoint_folder()
    with _records_lock:
        records = user_checkpoints(folder)
        record = next((old for old in records if old.name == name), None)
        if record is None:
            raise WorkbenchError(f"{name!r} is not a registered user checkpoint; only those can be removed.")
        rest = [old for old in records if old.name != name]
        _write_records(folder, rest)
        if all(old.file != record.file for old in rest):
            (folder / record.file).unlink(missing_ok=True)
    registry.unregister(name)


def restore_user_checkpoints(registry: Registry) -> list[ModelSpec]:
    """Register every recorded user checkpoint again (at start); a missing file shows as ``missing``."""
    folder = user_checkpoint_folder()
    specs = []
    for record in user_checkpoints(folder):
        if record.arch in weights.ARCHITECTURES:
            specs.append(record.spec(folder))
        else:
            log.warning("not restoring %s: architecture %s is no longer supported", record.name, record.arch)
    for spec in specs:
        registry.register(spec, replace=True)
    return specs


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry: the ImageNet classifiers and the user checkpoints recorded in the data
    dir, registered lazily (nothing is loaded)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Registry()
            for arch in weights.supported_architectures():
                _default.register(imagenet_classifier_spec(arch))
            restore_user_checkpoints(_default)
        return _default
