"""Raters as registry models (task ``video-harm``): the untrained demonstration rater and every trained
rater saved in the data folder, loaded lazily like any other model."""

from __future__ import annotations

from pathlib import Path

from engine.errors import InputError
from engine.paths import validate_name
from engine.registry import LoadedModel, ModelSpec, Registry
from engine.video.rater import CONFIG_FILE, UNTRAINED_NAME, Rater, read_record, record_is_real
from engine.video.training import models_folder

TASK = "video-harm"


def _loaded(rater: Rater) -> LoadedModel:
    return LoadedModel(model=rater, provenance=rater.provenance())


def untrained_spec() -> ModelSpec:
    """The demonstration rater: MobileNetV2 ImageNet encoder, RANDOM heads."""
    return ModelSpec(name=UNTRAINED_NAME, task=TASK, arch="mobilenet_v2+cnn",
                     loader=lambda: _loaded(Rater.untrained()),
                     description="untrained demonstration rater: ratings are meaningless (RANDOM heads)",
                     provenance="MobileNetV2 IMAGENET1K_V1 encoder; heads RANDOM")


def folder_spec(folder: str | Path) -> ModelSpec:
    """The registry entry of a trained rater folder (named ``vidharm:<folder name>``); reads only its record."""
    folder = Path(folder)
    record = read_record(folder)
    training, config = record.get("training") or {}, record.get("config") or {}
    arch = f"{config.get('visual_arch', '?')}+{config.get('audio_arch', '?')}"
    kind = "clips" if record_is_real(record) else "SYNTHETIC clips" if training.get("synthetic") \
        else "clips with a RANDOM encoder"
    description = f"{arch} rater trained on {training.get('clips', {}).get('train', '?')} {kind}"
    return ModelSpec(name=f"vidharm:{folder.name}", task=TASK, arch=arch, loader=lambda: _loaded(Rater.load(folder)),
                     description=description, provenance=f"trained rater in {folder}")


def saved_raters() -> list[Path]:
    """Rater folders under :func:`models_folder` whose record reads, oldest first."""
    root = models_folder()
    folders = []
    records = sorted(root.glob(f"*/{CONFIG_FILE}"), key=lambda path: path.stat().st_mtime) if root.is_dir() else []
    for record in records:
        try:
            read_record(record.parent)
        except InputError:
            continue  # a half-written or foreign folder: not a rater
        folders.append(record.parent)
    return folders


def register_all(registry: Registry) -> list[str]:
    """Register the demonstration rater and every saved rater; returns their names."""
    registry.register(untrained_spec(), replace=True)
    names = [UNTRAINED_NAME]
    for folder in saved_raters():
        spec = folder_spec(folder)
        registry.register(spec, replace=True)
        names.append(spec.name)
    return names


def resolve(model: str | None) -> Rater:
    """A rater from a folder path, a saved rater's name (``vidharm:NAME`` or ``NAME``), or the
    demonstration rater (None or its name).

    Raises:
        InputError: no such rater.
    """
    if not model or model == UNTRAINED_NAME:
        return Rater.untrained()
    path = Path(model).expanduser()
    if path.is_dir():
        return Rater.load(path)
    candidate = models_folder() / validate_name(model.removeprefix("vidharm:"), "model name")
    if candidate.is_dir():
        return Rater.load(candidate)
    raise InputError(f"No trained rater {model!r}: give the folder written by `python -m trainers.vidharm --out`, "
                     f"or the name of one in {models_folder()}.")


def real_data_raters() -> list[str]:
    """Registry names of saved raters trained on real (not synthetic) clips with a pretrained encoder."""
    return [f"vidharm:{folder.name}" for folder in saved_raters() if record_is_real(read_record(folder))]
