"""Saving an adapted metric with its context and provenance, loading it, registering it.

An adapted metric is an ordinary :class:`MetricConfig` with a ``heads_file`` (the learned
per-channel weights, safetensors) and, for the ``tune`` variant, a ``weights_file`` (the fine-tuned
backbone, safetensors). Beside them, ``<name>.json`` records the context, the metric's settings,
the backbone weights' provenance and the before/after ranking accuracies; the similarity tab and
the registry read it back, so an adapted metric is selectable anywhere a metric is.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from engine.errors import InputError
from engine.paths import inside
from engine.registry import LoadedModel, ModelSpec, Registry
from engine.similarity.contexts.model import ContextModel
from engine.similarity.metric import MetricConfig, build_metric

TASK = "similarity-metric"
PREFIX = "context:"


def default_folder() -> Path:
    """Where the app saves adapted metrics (``$WORKBENCH_DATA_DIR/contexts``)."""
    from engine import settings

    return settings.current().data_dir / "contexts"


def load_named(name: str, folder: str | Path | None = None) -> tuple[MetricConfig, dict[str, Any]]:
    """The config and record of the adapted metric registered as ``name`` (``context:<stem>``)."""
    if not name.startswith(PREFIX):
        raise InputError(f"{name!r} is not an adapted metric (their names start with {PREFIX!r}).")
    path = inside(folder or default_folder(), name.removeprefix(PREFIX), ".json", what="adapted metric name")
    if not path.is_file():
        raise InputError(f"No adapted metric named {name!r} in {path.parent}.")
    return load_summary(path)


def metric_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """``(heads, backbone, summary)`` paths for ``--out FILE``: FILE (``.safetensors`` added when it
    has no suffix), ``FILE-stem.backbone.safetensors`` and ``FILE-stem.json`` beside it."""
    heads = Path(out)
    if not heads.suffix:
        heads = heads.with_suffix(".safetensors")
    return heads, heads.with_name(heads.stem + ".backbone.safetensors"), heads.with_suffix(".json")


def save_adapted(model: ContextModel, out: str | Path, summary: dict[str, Any]) -> Path:
    """Write the learned weights and ``summary`` (plus the metric's settings); returns the JSON path."""
    heads_path, backbone_path, summary_path = metric_paths(out)
    heads_path.parent.mkdir(parents=True, exist_ok=True)
    metric = model.metric
    assert metric.heads is not None
    metric.heads.save(heads_path)
    extractor = metric.extractor
    weights_file = None
    if model.variant == "tune":
        full = extractor.trunk.state_dict()  # trunk keys are the model's "features.N..." or child names
        prefix = "features." if extractor.spec.trunk == "features" else ""
        original = _original_state(extractor)
        original.update({prefix + key: value.detach().contiguous() for key, value in full.items()})
        save_file(original, str(backbone_path))
        weights_file = str(backbone_path)
    config = MetricConfig(
        backbone=extractor.spec.arch,
        layers=tuple(dict.fromkeys(entry.layer for entry in metric.entries)),
        comparison=metric.comparison,  # type: ignore[arg-type]
        channel_norm=metric.channel_norm,
        weights="random" if extractor.info.is_random else "pretrained",
        seed=extractor.info.seed or 0,
        weights_file=weights_file,
        heads_file=str(heads_path),
    )
    record = {
        **summary,
        "variant": model.variant,
        "metric": asdict(config),
        "backbone_weights": extractor.info.to_json(),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    summary_path.write_text(json.dumps(record, indent=2))
    return summary_path


def _original_state(extractor: Any) -> dict[str, Any]:
    """The full torchvision state dict the extractor's trunk was cut from (so the file fits the arch)."""
    from engine import weights

    model, _ = weights.build(extractor.spec.arch, weights="random" if extractor.info.is_random else "pretrained",
                             file=extractor.info.path if extractor.info.source == "file" else None,
                             seed=extractor.info.seed or 0)
    return {key: value.contiguous() for key, value in model.state_dict().items()}


def load_summary(path: str | Path) -> tuple[MetricConfig, dict[str, Any]]:
    """Read an adapted metric's JSON: its :class:`MetricConfig` and the whole record."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
        config = MetricConfig(**{**record["metric"], "layers": tuple(record["metric"]["layers"])})
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path.name} is not an adapted-metric summary: {error}") from error
    return config, record


def register_adapted(registry: Registry, summary_path: str | Path) -> ModelSpec:
    """Register a saved adapted metric (loaded lazily) under ``context:<file stem>``."""
    summary_path = Path(summary_path)
    config, record = load_summary(summary_path)
    provenance = f"{summary_path.name}, saved {record.get('saved_at', '?')}; backbone " + str(
        record.get("backbone_weights", {}).get("sha256") or record.get("backbone_weights", {}).get("status"))[:16]
    spec = ModelSpec(
        name=f"{PREFIX}{summary_path.stem}",
        task=TASK,
        arch=config.backbone,
        loader=lambda: LoadedModel(model=build_metric(config), provenance=provenance),
        provenance=provenance,
        description=(f"{config.label}, adapted ({record.get('variant')}) to context "
                     f"{', '.join(record.get('ranking', []))}; "
                     f"ranking accuracy {record.get('before_accuracy', float('nan')):.3f} -> "
                     f"{record.get('after_accuracy', float('nan')):.3f}"),
    )
    registry.register(spec, replace=True)
    return spec


def register_folder(registry: Registry, folder: str | Path) -> list[ModelSpec]:
    """Register every adapted metric saved in ``folder`` (skipping unreadable summaries)."""
    specs = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            specs.append(register_adapted(registry, path))
        except InputError:
            continue
    return specs
