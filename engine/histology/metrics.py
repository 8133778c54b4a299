"""Image- and patient-level accuracy, balanced accuracy and AUC, per magnification, over folds, beside the paper.

- **ILA** (image-level accuracy): share of test images classified correctly.
- **PLA** (patient-level accuracy, Spanhol et al.'s "patient recognition rate" as the MPCS code computes it): for
  each patient, the share of that patient's images classified correctly; then the mean over patients. (Other
  papers take a majority vote per patient; those numbers are not comparable.)
- **Balanced accuracy**: mean recall over the classes present (BreakHis is about 69% malignant, so accuracy alone
  flatters a model that says "malignant" to everything). **AUC**: ROC AUC of the malignant (positive) probability;
  one-vs-rest macro AUC for subtypes; None when the test part holds a single class.

All values are fractions in 0..1. :data:`REFERENCE` holds the published BreakHis table (100% labels, 5-fold mean
and std, in percent) for :func:`comparison_table`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.histology.dataset import sort_magnifications


@dataclass(frozen=True)
class Predictions:
    """Predictions on test images: true and predicted class indices ``[N]``, probabilities ``[N, C]``, and each
    image's patient and magnification."""

    labels: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray
    patients: Sequence[str]
    magnifications: Sequence[str]
    classes: Sequence[str]

    def subset(self, mask: np.ndarray) -> Predictions:
        """The predictions where ``mask`` (``bool [N]``) is True."""
        index = np.flatnonzero(mask)
        return Predictions(self.labels[index], self.predicted[index], self.probabilities[index],
                           [self.patients[i] for i in index], [self.magnifications[i] for i in index], self.classes)


def image_level_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Share of images whose predicted class is right."""
    return float(np.mean(np.asarray(labels) == np.asarray(predicted))) if len(labels) else float("nan")


def patient_level_accuracy(labels: np.ndarray, predicted: np.ndarray, patients: Sequence[str]) -> float:
    """Mean over patients of the share of each patient's images classified correctly."""
    correct = np.asarray(labels) == np.asarray(predicted)
    by_patient: dict[str, list[bool]] = {}
    for patient, right in zip(patients, correct):
        by_patient.setdefault(patient, []).append(bool(right))
    return float(np.mean([np.mean(values) for values in by_patient.values()])) if by_patient else float("nan")


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes present in ``labels``."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    recalls = [np.mean(predicted[labels == c] == c) for c in np.unique(labels)]
    return float(np.mean(recalls)) if recalls else float("nan")


def area_under_curve(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """ROC AUC (binary: of class 1's probability; more classes: one-vs-rest macro), None with a single class."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    present = np.unique(labels)
    if len(present) < 2:
        return None
    if probabilities.shape[1] == 2:
        return float(roc_auc_score(labels, probabilities[:, 1]))
    scores = probabilities[:, present].astype(np.float64)  # renormalised over the classes present
    totals = scores.sum(axis=1, keepdims=True)
    scores = np.where(totals > 1e-12, scores / np.maximum(totals, 1e-300), 1.0 / len(present))
    if len(present) == 2:
        return float(roc_auc_score(labels == present[1], scores[:, 1]))
    return float(roc_auc_score(labels, scores, multi_class="ovr", labels=present))


def summary(predictions: Predictions) -> dict[str, object]:
    """ILA, PLA, balanced accuracy, AUC, per-class recall and counts of one set of predictions."""
    labels, predicted = predictions.labels, predictions.predicted
    return {
        "ila": image_level_accuracy(labels, predicted),
        "pla": patient_level_accuracy(labels, predicted, predictions.patients),
        "balanced_accuracy": balanced_accuracy(labels, predicted),
        "auc": area_under_curve(labels, predictions.probabilities),
        "recall": {name: float(np.mean(predicted[labels == index] == index))
                   for index, name in enumerate(predictions.classes) if np.any(labels == index)},
        "images": int(len(labels)),
        "patients": len(set(predictions.patients)),
    }


def _mean(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def by_magnification(predictions: Predictions) -> dict[str, object]:
    """:func:`summary` per magnification (``per_magnification``) and the mean of the magnifications' values
    (``ila_mean``, ``pla_mean``, ``balanced_accuracy_mean``, ``auc_mean``), as the paper reports them."""
    magnifications = sort_magnifications(m for m in predictions.magnifications if m) or [""]
    per = {}
    for magnification in magnifications:
        mask = np.array([m == magnification for m in predictions.magnifications])
        per[magnification or "all"] = summary(predictions.subset(mask))
    result: dict[str, object] = {f"{name}_mean": _mean([v[name] for v in per.values()])  # type: ignore[misc]
                                 for name in ("ila", "pla", "balanced_accuracy", "auc")}
    result["per_magnification"] = per
    return result


def over_folds(folds: Sequence[dict[str, object]]) -> dict[str, object]:
    """Mean and standard deviation over folds of :func:`by_magnification` results: top-level ``<metric>_mean`` and
    ``<metric>_mean_std``; per magnification ``ila``, ``pla``, ... with ``<metric>_std``; the folds under ``folds``."""
    names = ("ila", "pla", "balanced_accuracy", "auc")
    result: dict[str, object] = {}
    for name in names:
        values = [f[f"{name}_mean"] for f in folds]
        result[f"{name}_mean"] = _mean(values)  # type: ignore[arg-type]
        result[f"{name}_mean_std"] = _std(values)  # type: ignore[arg-type]
    magnifications = sort_magnifications({m for f in folds for m in f["per_magnification"] if m != "all"})  # type: ignore[attr-defined]
    per: dict[str, dict[str, float | None]] = {}
    for magnification in magnifications or ["all"]:
        entries = [f["per_magnification"][magnification] for f in folds  # type: ignore[index]
                   if magnification in f["per_magnification"]]  # type: ignore[operator]
        per[magnification] = {}
        for name in names:
            values = [entry[name] for entry in entries]
            per[magnification][name] = _mean(values)
            per[magnification][f"{name}_std"] = _std(values)
    result["per_magnification"] = per
    result["folds"] = list(folds)
    return result


def _std(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.std(finite)) if len(finite) > 1 else (0.0 if finite else None)


# The published BreakHis results (read from the MPCS repository's result figure; percent, mean and std over 5
# folds): PLA at 40X, 100X, 200X, 400X and their mean, then ILA likewise (None where not reported).
Row = tuple[tuple[float, float], ...]
REFERENCE: dict[str, tuple[Row, Row | None]] = {
    "MIL-NP": (((92.1, 5.9), (89.1, 5.2), (87.2, 4.3), (82.7, 3.0), (87.77, 4.6)),
               ((87.8, 5.6), (85.6, 4.3), (80.8, 2.8), (82.9, 4.1), (84.28, 4.20))),
    "SMSE": (((87.51, 4.07), (89.12, 2.86), (90.83, 3.31), (87.10, 3.80), (88.64, 3.51)), None),
    "RPDB*": (((92.02, 0.9), (90.21, 2.40), (81.94, 1.70), (80.09, 0.70), (88.06, 1.4)),
              ((94.26, 3.2), (92.71, 0.4), (83.90, 2.8), (82.74, 1.5), (88.40, 1.98))),
    "ImageNet (EfficientNet-b2)": (((91.91, 4.25), (91.93, 4.20), (91.46, 5.17), (88.10, 3.88), (90.85, 4.36)),
                                   ((92.12, 4.18), (92.66, 4.20), (91.83, 4.55), (88.35, 5.21), (91.24, 4.54))),
    "MPCS-FP (EfficientNet-b2)": (((92.23, 3.50), (92.72, 3.68), (91.94, 3.80), (88.40, 3.26), (91.33, 3.56)),
                                  ((92.23, 3.80), (93.57, 3.23), (92.23, 2.98), (88.40, 3.90), (91.61, 3.48))),
    "MPCS-OP (EfficientNet-b2)": (((92.45, 3.25), (93.47, 2.98), (92.44, 3.30), (89.00, 3.05), (91.84, 3.15)),
                                  ((92.67, 3.36), (93.63, 3.38), (92.72, 2.80), (88.74, 3.90), (91.94, 3.36))),
    "MPCS-RP (EfficientNet-b2)": (((93.26, 3.48), (93.57, 3.36), (92.23, 3.21), (89.57, 3.79), (92.15, 3.46)),
                                  ((93.45, 3.55), (93.38, 2.80), (92.28, 3.49), (89.81, 3.15), (92.23, 3.24))),
    "ImageNet (ResNet-50)": (((91.46, 4.30), (91.24, 5.1), (90.72, 4.68), (87.90, 4.12), (90.33, 4.55)),
                             ((91.83, 5.12), (92.23, 4.15), (91.61, 4.00), (87.88, 4.80), (90.89, 4.52))),
    "MPCS-FP (ResNet-50)": (((91.83, 3.88), (92.67, 2.72), (91.61, 3.40), (89.00, 3.15), (91.28, 3.29)),
                            ((92.24, 3.48), (92.66, 3.88), (91.91, 3.68), (88.40, 3.66), (91.30, 3.68))),
    "MPCS-OP (ResNet-50)": (((93.00, 3.66), (93.26, 3.08), (92.28, 2.88), (88.74, 3.60), (91.82, 3.31)),
                            ((93.26, 3.40), (93.45, 2.89), (92.45, 3.77), (89.57, 2.96), (92.18, 3.26))),
    "MPCS-RP (ResNet-50)": (((92.72, 3.50), (93.57, 2.88), (92.23, 3.90), (88.40, 3.05), (91.73, 3.33)),
                            ((92.72, 3.38), (92.72, 4.02), (91.91, 3.21), (88.56, 3.89), (91.48, 3.66))),
}
TABLE_COLUMNS = ("40X", "100X", "200X", "400X", "mean")


def _cell(value: float | None, std: float | None) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.2f}" + (f"±{100 * std:.2f}" if std else "")


def comparison_table(metrics: dict[str, object], label: str = "this run") -> str:
    """A Markdown table of this run's PLA and ILA (percent, ± std over folds) above the published rows."""
    per: dict[str, dict[str, float | None]] = metrics["per_magnification"]  # type: ignore[assignment]
    header = "| Method | " + " | ".join(f"PLA {c}" for c in TABLE_COLUMNS) + " | " + \
        " | ".join(f"ILA {c}" for c in TABLE_COLUMNS) + " |"
    lines = [header, "|" + "---|" * (1 + 2 * len(TABLE_COLUMNS))]
    ours = []
    for name in ("pla", "ila"):
        for column in TABLE_COLUMNS:
            if column == "mean":
                ours.append(_cell(metrics.get(f"{name}_mean"), metrics.get(f"{name}_mean_std")))  # type: ignore[arg-type]
            else:
                entry = per.get(column, {})
                ours.append(_cell(entry.get(name), entry.get(f"{name}_std")))
    lines.append(f"| **{label}** | " + " | ".join(ours) + " |")
    for method, (pla, ila) in REFERENCE.items():
        cells = [f"{m:.2f}±{s:.2f}" for m, s in pla] + ([f"{m:.2f}±{s:.2f}" for m, s in ila] if ila else ["–"] * 5)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
