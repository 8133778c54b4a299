"""engine.video.metrics: known answers for accuracy, mean class accuracy, confusion and ordinal distance."""

from __future__ import annotations

import numpy as np
import pytest

from engine.video.metrics import evaluate


def one_hot(levels: list[int]) -> np.ndarray:
    return np.eye(4)[levels]


def test_always_btl_on_vidharms_test_split_is_74_percent_accurate_but_25_percent_balanced() -> None:
    truth = np.repeat([0, 1, 2, 3], [787, 111, 138, 22])
    result = evaluate(one_hot([0] * len(truth)), truth)
    assert result.accuracy == pytest.approx(787 / 1058) and round(result.accuracy, 3) == 0.744
    assert result.mean_class_accuracy == pytest.approx(0.25)
    assert result.confusion[0] == [787, 0, 0, 0] and result.confusion[3] == [22, 0, 0, 0]
    assert result.class_euclidean == {"Btl": 0.0, "7": 4.0, "11": 8.0, "15": 12.0}
    assert result.mean_class_euclidean == pytest.approx(6.0)


def test_ordinal_distance_uses_the_expected_position() -> None:
    uniform = np.full((2, 4), 0.25)  # expected position 6
    result = evaluate(uniform, np.array([0, 3]))
    assert result.class_euclidean == {"Btl": 6.0, "7": None, "11": None, "15": 6.0}
    half = evaluate(np.array([[0.5, 0.5, 0.0, 0.0]]), np.array([1]))  # position 2 vs 4
    assert half.mean_class_euclidean == pytest.approx(2.0)


def test_perfect_and_mixed_predictions() -> None:
    perfect = evaluate(one_hot([0, 1, 2, 3, 3]), np.array([0, 1, 2, 3, 3]))
    assert perfect.accuracy == 1.0 and perfect.mean_class_accuracy == 1.0 and perfect.mean_class_euclidean == 0.0
    assert perfect.mean_class_precision == 1.0
    mixed = evaluate(one_hot([0, 0, 2, 2]), np.array([0, 1, 2, 2]))
    assert mixed.class_accuracy == {"Btl": 1.0, "7": 0.0, "11": 1.0, "15": None}
    assert mixed.mean_class_accuracy == pytest.approx(2 / 3)
    assert mixed.mean_class_precision == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert mixed.confusion[1] == [1, 0, 0, 0]


def test_no_predictions_give_empty_scores() -> None:
    empty = evaluate(np.zeros((0, 4)), np.zeros(0, dtype=int))
    assert empty.n == 0 and empty.accuracy is None and empty.mean_class_accuracy is None
    assert empty.to_json()["confusion"] == [[0] * 4] * 4
