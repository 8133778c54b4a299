"""The Histopathology tab's long work as jobs, and where its models, encoders and indexes are kept.

- :data:`PRETRAIN_JOB`: MPCS pretraining on a folder (its training patients); the encoder is kept under
  ``<data dir>/histology/encoders/``.
- :data:`FINETUNE_JOB`: fine-tuning over patient-level folds on a folder; the classifier is kept under
  ``<data dir>/histology/models/`` and the metrics beside it.
- :data:`LABELS_JOB`: a classifier trained from the patch labels in the annotation store (task
  :data:`PATCH_TASK`): the labelled images become a CSV collection (patient: the image's patient or folder) and are
  fine-tuned like any folder, magnification-agnostic, with a linear probe.

Every job resumes: stages whose outputs exist in the job folder are skipped, training continues from its
checkpoint. Results are JSON (paths, metrics, provenance).
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from engine import settings
from engine.annotations import AnnotationStore, default_store
from engine.errors import InputError
from engine.histology import runs
from engine.histology.dataset import read_dataset
from engine.histology.finetune import FinetuneConfig
from engine.histology.mpcs import PretrainConfig
from engine.jobs import JobContext, JobKind
from engine.paths import validate_name

PRETRAIN_JOB = JobKind("histology-pretrain", "engine.histology.jobs:run_pretrain_job", "MPCS pretraining")
FINETUNE_JOB = JobKind("histology-finetune", "engine.histology.jobs:run_finetune_job", "Histology fine-tuning")
LABELS_JOB = JobKind("histology-labels", "engine.histology.jobs:run_labels_job", "Fine-tuning from patch labels")
PATCH_TASK = "histology-patch"


def storage(kind: str) -> Path:
    """``<data dir>/histology/<kind>`` (``models``, ``encoders``, ``indexes``, ``tiles``), created."""
    folder = settings.current().data_dir / "histology" / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pretrain_config(params: dict[str, Any]) -> PretrainConfig:
    fields = PretrainConfig.__dataclass_fields__
    return PretrainConfig(**{k: v for k, v in params.items() if k in fields})


def _finetune_config(params: dict[str, Any]) -> FinetuneConfig:
    fields = FinetuneConfig.__dataclass_fields__
    return FinetuneConfig(**{k: v for k, v in params.items() if k in fields})


def _named(name: str | None, default: str) -> str:
    return validate_name(name or default, "model name")


def run_pretrain_job(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Params: ``data`` (folder or CSV path), ``name``, and :class:`PretrainConfig` fields. Result: ``encoder``
    (the kept file), ``name``, ``keys``, ``patients``, ``provenance``."""
    config = _pretrain_config(params)
    name = _named(params.get("name"), f"mpcs-{config.encoder}-{ctx.job_id[-6:]}")
    dataset = read_dataset(params["data"])
    ctx.log(f"pretraining on {dataset.root} ({len(dataset.samples)} images), {config.to_dict()}")
    summary = runs.pretrain(dataset, ctx.folder, config, device=ctx.device, on_progress=ctx.training_progress,
                            checkpoint=ctx.checkpoint, resume=ctx.resume, show_bar=False)
    kept = storage("encoders") / f"{name}.safetensors"
    shutil.copyfile(ctx.folder / runs.ENCODER_FILE, kept)
    return {"encoder": str(kept), "name": name, "keys": summary["keys"], "patients": summary["patients"],
            "provenance": summary["encoder_provenance"]}


def _finetune(dataset_source: Any, params: dict[str, Any], ctx: JobContext, name: str, k: int | None,
              folds: int | None,
              config: FinetuneConfig) -> dict[str, Any]:
    dataset = read_dataset(dataset_source)
    encoder_file = params.get("encoder_file") or None
    run = runs.finetune(dataset, ctx.folder, config, params.get("arch", "mobilenet_v2"), encoder_file, k=k,
                        folds=folds, device=ctx.device, on_progress=ctx.training_progress,
                        checkpoint_dir=ctx.folder / "checkpoints", resume=ctx.resume, show_bar=False,
                        feature_cache=ctx.folder / "features.safetensors")
    kept = storage("models") / f"{name}.safetensors"
    assert run.model_path is not None
    shutil.copyfile(run.model_path, kept)
    shutil.copyfile(ctx.folder / "metrics.json", kept.with_suffix(".json"))
    summary = run.summary
    return {"model": str(kept), "name": name, "metrics_path": str(kept.with_suffix(".json")),
            "ila_mean": summary["ila_mean"], "pla_mean": summary["pla_mean"],
            "balanced_accuracy_mean": summary["balanced_accuracy_mean"], "auc_mean": summary["auc_mean"],
            "per_magnification": summary["per_magnification"], "encoder": summary["encoder"],
            "comparison": (ctx.folder / "comparison.md").read_text(encoding="utf-8")}


def run_finetune_job(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Params: ``data``, ``name``, ``arch``, ``encoder_file`` (optional MPCS encoder), ``k``, ``folds`` and
    :class:`FinetuneConfig` fields. Result: ``model`` (the kept classifier), metrics and the comparison table."""
    config = _finetune_config(params)
    name = _named(params.get("name"), f"histology-{config.task}-{ctx.job_id[-6:]}")
    ctx.log(f"fine-tuning on {params['data']}, {config.to_dict()}")
    return _finetune(params["data"], params, ctx, name, params.get("k"), params.get("folds"), config)


def labelled_patches(store: AnnotationStore, task: str = PATCH_TASK) -> list[dict[str, str]]:
    """One row per labelled image (``path``, ``label``, ``patient``, ``magnification``): the majority of the
    annotators' standing decisions (ties: the latest); skipped patches and missing files are left out."""
    votes: dict[str, list[Any]] = {}
    for annotation in sorted(store.current_labels(task), key=lambda a: a.created_at):
        if isinstance(annotation.label, dict) and annotation.label.get("class"):
            votes.setdefault(annotation.content_hash, []).append(annotation)
    rows = []
    for decisions in votes.values():
        counts = Counter(a.label["class"] for a in decisions)
        top = max(counts.values())
        label = next(a.label["class"] for a in reversed(decisions) if counts[a.label["class"]] == top)
        payload = decisions[-1].payload if isinstance(decisions[-1].payload, dict) else {}
        path = Path(str(payload.get("path", "")))
        if path.is_file():
            rows.append({"path": str(path), "label": label, "patient": str(payload.get("patient") or path.parent.name),
                         "magnification": str(payload.get("magnification") or "")})
    return rows


def run_labels_job(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Params: ``name``, ``epochs``, ``encoder_file`` (optional). Trains on the current patch labels (task
    ``histology-patch``), one split with validation and test patients. Result as :func:`run_finetune_job`."""
    rows = labelled_patches(default_store())
    classes = Counter(row["label"] for row in rows)
    if len(classes) < 2 or min(classes.values()) < 2:
        raise InputError(f"Label at least two patches of each of two classes first (now: {dict(classes) or 'none'}).")
    patients = {row["patient"] for row in rows}
    if len(patients) < 3:
        raise InputError(f"The labelled patches come from {len(patients)} patient(s)/folder(s); training needs 3 or "
                         "more so that validation and test patients differ from the training ones.")
    table = ctx.folder / "labels.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "patient", "magnification"])
        writer.writeheader()
        writer.writerows(rows)
    config = FinetuneConfig(mode="linear", per_magnification=False, epochs=int(params.get("epochs", 20)),
                            image_size=int(params.get("image_size", 96)))
    name = _named(params.get("name"), f"patch-labels-{ctx.job_id[-6:]}")
    ctx.log(f"{len(rows)} labelled patches from {len(patients)} patients: {dict(classes)}")
    return _finetune(table, params, ctx, name, k=min(5, len(patients)), folds=1, config=config)
