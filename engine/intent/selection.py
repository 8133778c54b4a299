"""Model selection on training data only: repeated stratified cross-validation.

The paper picked its classifier and its best run on the test split; here every choice is made
by cross-validation inside the training split (spec pitfall 3), and test sentences are touched
only to report the chosen model's score.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold

from engine.intent.data import LabelledTexts, require_trainable
from engine.intent.model import IntentConfig, Progress, evaluate, fit


@dataclass(frozen=True)
class CvScore:
    """Accuracy over the held-out folds: mean, standard deviation and every fold's score."""

    mean: float
    std: float
    folds: tuple[float, ...]

    def to_json(self) -> dict[str, object]:
        """The score as a JSON object."""
        return {"mean": self.mean, "std": self.std, "folds": list(self.folds)}


def fold_count(data: LabelledTexts, folds: int) -> int:
    """``folds`` capped by the smallest intent's size, at least 2 (a smaller intent only warns)."""
    smallest = min(data.counts().values())
    return max(2, min(folds, smallest))


def cross_validate(data: LabelledTexts, config: IntentConfig, folds: int = 5, repeats: int = 1, seed: int = 0,
                   progress: Progress | None = None) -> CvScore:
    """Accuracy of ``config`` over ``repeats`` x k stratified folds of ``data`` (vocabulary refitted per fold)."""
    require_trainable(data)
    splitter = RepeatedStratifiedKFold(n_splits=fold_count(data, folds), n_repeats=repeats, random_state=seed)
    texts, labels = np.array(data.texts, dtype=object), np.array(data.labels, dtype=object)
    splits = list(splitter.split(texts, labels))
    scores = []
    for number, (train_index, test_index) in enumerate(splits):
        part = LabelledTexts(tuple(texts[train_index]), tuple(labels[train_index]))
        held_out = LabelledTexts(tuple(texts[test_index]), tuple(labels[test_index]))
        model = fit(part, replace(config, seed=config.seed + number))
        scores.append(evaluate(model, held_out).accuracy)
        if progress is not None:
            progress((number + 1) / len(splits), f"cross-validation fold {number + 1}/{len(splits)}")
    return CvScore(float(np.mean(scores)), float(np.std(scores)), tuple(scores))


def rank(datasets: dict[str, LabelledTexts], candidates: dict[str, IntentConfig], folds: int = 5,
         repeats: int = 2) -> list[tuple[str, float, dict[str, float]]]:
    """Candidates ordered by CV accuracy averaged over ``datasets`` (training splits), best first.

    Returns ``(candidate name, pooled mean, {dataset: mean})`` tuples.
    """
    rows = []
    for name, config in candidates.items():
        per_dataset = {key: cross_validate(data, config, folds, repeats).mean for key, data in datasets.items()}
        rows.append((name, float(np.mean(list(per_dataset.values()))), per_dataset))
    return sorted(rows, key=lambda row: -row[1])
