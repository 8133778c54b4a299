"""Imbalance-aware and ordinal metrics of age-level predictions, as VidHarm reports them.

With 74% of VidHarm's test clips rated Btl, always answering Btl scores 74% accuracy but 25% mean
class accuracy, so the mean class accuracy (balanced accuracy) is the headline. The ordinal
"Euclidean" distance places the levels at 0, 4, 8 and 12 and measures how far the expected
position under the predicted distribution lies from the true level's position; it is averaged per
true level (``class_euclidean``) and then over levels (``mean_class_euclidean``). Averages over
levels use the levels present in the truth only; absent levels are reported as None. (The mean class accuracy is
the mean class recall; the mean class precision is reported beside it.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.video.labels import LEVELS, POSITIONS


@dataclass(frozen=True)
class Metrics:
    """Scores of ``n`` predictions (see the module docstring); ``confusion[true][predicted]`` counts."""

    n: int
    accuracy: float | None
    mean_class_accuracy: float | None
    mean_class_precision: float | None
    class_accuracy: dict[str, float | None]
    class_euclidean: dict[str, float | None]
    mean_class_euclidean: float | None
    confusion: list[list[int]]

    def to_json(self) -> dict[str, Any]:
        """Plain values, rounded to 4 decimals."""
        def tidy(value: Any) -> Any:
            if isinstance(value, float):
                return round(value, 4)
            if isinstance(value, dict):
                return {k: tidy(v) for k, v in value.items()}
            return value

        return {key: tidy(value) for key, value in asdict(self).items()}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def evaluate(probabilities: np.ndarray, levels: np.ndarray) -> Metrics:
    """Metrics of ``probabilities`` ``[N, 4]`` (rows sum to 1) against true level indices ``[N]``."""
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(LEVELS))
    levels = np.asarray(levels, dtype=np.int64).reshape(-1)
    count = len(levels)
    predicted = probabilities.argmax(axis=1) if count else np.zeros(0, np.int64)
    confusion = np.zeros((len(LEVELS), len(LEVELS)), np.int64)
    np.add.at(confusion, (levels, predicted), 1)
    distance = np.abs(probabilities @ POSITIONS - POSITIONS[levels]) if count else np.zeros(0)
    class_accuracy: dict[str, float | None] = {}
    class_euclidean: dict[str, float | None] = {}
    precisions = []
    for level, name in enumerate(LEVELS):
        truth = levels == level
        class_accuracy[name] = float(confusion[level, level] / truth.sum()) if truth.any() else None
        class_euclidean[name] = float(distance[truth].mean()) if truth.any() else None
        if truth.any():
            column = confusion[:, level].sum()
            precisions.append(confusion[level, level] / column if column else 0.0)
    present_accuracy = [value for value in class_accuracy.values() if value is not None]
    present_distance = [value for value in class_euclidean.values() if value is not None]
    return Metrics(
        n=count,
        accuracy=float((predicted == levels).mean()) if count else None,
        mean_class_accuracy=_mean(present_accuracy),
        mean_class_precision=_mean([float(p) for p in precisions]),
        class_accuracy=class_accuracy,
        class_euclidean=class_euclidean,
        mean_class_euclidean=_mean(present_distance),
        confusion=confusion.tolist(),
    )
