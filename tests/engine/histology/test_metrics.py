"""ILA, PLA, balanced accuracy and AUC with known answers; per magnification, over folds, beside the paper."""

from __future__ import annotations

import numpy as np
import pytest

from engine.histology import metrics

CLASSES = ["benign", "malignant"]


def _predictions() -> metrics.Predictions:
    # patient A: 3 images, all right; patient B: 1 image, wrong -> ILA 3/4, PLA (1 + 0) / 2
    labels = np.array([1, 1, 1, 0])
    probabilities = np.array([[0.1, 0.9], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    return metrics.Predictions(labels, np.array([1, 1, 1, 1]), probabilities, ["A", "A", "A", "B"],
                               ["40X", "40X", "100X", "100X"], CLASSES)


def test_known_answers() -> None:
    found = metrics.summary(_predictions())
    assert found["ila"] == 0.75 and found["pla"] == 0.5 and found["balanced_accuracy"] == 0.5
    assert found["auc"] == pytest.approx(2 / 3) and found["recall"] == {"benign": 0.0, "malignant": 1.0}
    assert metrics.area_under_curve(np.array([1, 1]), np.array([[0.2, 0.8], [0.4, 0.6]])) is None
    # subtypes: only the classes present are ranked; rows whose mass sits on absent classes still count
    three = np.array([[0.0, 0.0, 0.0, 1.0], [0.7, 0.2, 0.1, 0.0], [0.1, 0.8, 0.1, 0.0], [0.1, 0.1, 0.8, 0.0]])
    assert metrics.area_under_curve(np.array([0, 0, 1, 2]), three) == pytest.approx(1.0)


def test_per_magnification_and_folds() -> None:
    one = metrics.by_magnification(_predictions())
    assert set(one["per_magnification"]) == {"40X", "100X"}
    assert one["per_magnification"]["100X"]["ila"] == 0.5 and one["ila_mean"] == pytest.approx(0.75)
    two = metrics.over_folds([one, {**one, "ila_mean": 0.25}])
    assert two["ila_mean"] == pytest.approx(0.5) and two["ila_mean_std"] == pytest.approx(0.25)
    assert two["per_magnification"]["40X"]["pla"] == 1.0 and two["per_magnification"]["40X"]["pla_std"] == 0.0
    table = metrics.comparison_table(two)
    assert "| **this run** | 100.00 | 50.00 | – | – | 75.00 | 100.00 | 50.00 | – | – |" in table
    assert "| MPCS-RP (EfficientNet-b2) | 93.26±3.48 |" in table and table.count("\n") == len(metrics.REFERENCE) + 2
