"""Cross-validation on training data: fold counts, determinism and the ranking of candidates."""

from __future__ import annotations

from engine.intent.data import LabelledTexts
from engine.intent.model import IntentConfig
from engine.intent.selection import cross_validate, fold_count, rank
from engine.intent.synthetic import synthetic_corpus


def test_folds_are_capped_by_the_smallest_intent(webapps: tuple[LabelledTexts, ...]) -> None:
    train = webapps[0]
    assert min(train.counts().values()) == 1
    assert fold_count(train, 5) == 2
    assert fold_count(synthetic_corpus(4, 200), 5) == 5


def test_cross_validation_is_repeatable_and_uses_every_fold() -> None:
    data = synthetic_corpus(n_intents=5, n_sentences=90, seed=0)
    score = cross_validate(data, IntentConfig(), folds=3, repeats=2, seed=1)
    assert len(score.folds) == 6
    assert 0.0 <= min(score.folds) <= score.mean <= max(score.folds) <= 1.0
    assert score == cross_validate(data, IntentConfig(), folds=3, repeats=2, seed=1)


def test_rank_orders_candidates_by_pooled_cv_accuracy() -> None:
    data = {"synthetic": synthetic_corpus(n_intents=5, n_sentences=150, seed=0)}
    ranking = rank(data, {"default": IntentConfig(),
                          "nearest centroid": IntentConfig(classifier="nearest_centroid"),
                          "keep only stop words": IntentConfig(remove_stop_words=True, lemmatize=False)},
                   folds=3, repeats=1)
    pooled = [row[1] for row in ranking]
    assert pooled == sorted(pooled, reverse=True)
    assert {row[0] for row in ranking} == {"default", "nearest centroid", "keep only stop words"}
