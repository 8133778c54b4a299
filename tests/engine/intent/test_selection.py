"""Choosing the pipeline on training data only: folds, the time budget, the blend, calibration, the report."""

from __future__ import annotations

import numpy as np
import pytest

from engine.intent import selection
from engine.intent.data import LabelledTexts
from engine.intent.model import IntentConfig
from engine.intent.selection import CANDIDATES, Candidate, cross_validate, fold_count, rank, repeat_count, select, train
from engine.intent.synthetic import synthetic_corpus

NGRAM_ONLY = tuple(c for c in CANDIDATES if not c.config.uses_embedding)


def test_folds_and_repeats_follow_the_data_size(webapps: tuple[LabelledTexts, ...]) -> None:
    train_split = webapps[0]
    assert min(train_split.counts().values()) == 1 and max(train_split.counts().values()) == 7
    assert fold_count(train_split, 5) == 5  # an intent with one sentence is simply missing from some folds
    assert fold_count(synthetic_corpus(4, 200), 5) == 5
    assert fold_count(synthetic_corpus(4, 4_000), 5) == 3
    repeats = (repeat_count(train_split), repeat_count(synthetic_corpus(4, 200)),
               repeat_count(synthetic_corpus(4, 2_000)))
    assert repeats == (4, 4, 1)  # at most 20 splits; webapps: 4 x 5 folds


def test_cross_validation_is_repeatable_and_uses_every_fold() -> None:
    data = synthetic_corpus(n_intents=5, n_sentences=90, seed=0)
    score = cross_validate(data, IntentConfig(), folds=3, repeats=2, seed=1)
    assert len(score.folds) == 6
    assert 0.0 <= min(score.folds) <= score.mean <= max(score.folds) <= 1.0
    assert score == cross_validate(data, IntentConfig(), folds=3, repeats=2, seed=1)


def test_rank_orders_candidates_by_pooled_cv_accuracy() -> None:
    data = {"synthetic": synthetic_corpus(n_intents=5, n_sentences=150, seed=0)}
    ranking = rank(data, {"default": IntentConfig(), "nearest centroid": IntentConfig(classifier="nearest_centroid")},
                   folds=3, repeats=1)
    assert [row[1] for row in ranking] == sorted((row[1] for row in ranking), reverse=True)
    assert {row[0] for row in ranking} == {"default", "nearest centroid"}


def test_auto_picks_the_best_cv_score_and_reports_every_candidate() -> None:
    data = synthetic_corpus(n_intents=6, n_sentences=240, seed=0)
    worse = Candidate("centroid", IntentConfig(classifier="nearest_centroid", oversample=False, synonyms=False),
                      "nearest centroid")
    found, config, held_out = select(data, (worse, *NGRAM_ONLY[:2]), budget_s=60, folds=3)
    reports = {r.pipeline: r for r in found.candidates}
    best = max(r.cv.mean for r in reports.values())
    assert reports[found.winner].cv.mean == best and reports[found.winner].status == "selected"
    if sum(r.cv.mean == best for r in reports.values()) > 1:
        assert "log loss" in found.reason  # a tie is broken by the calibrated held-out log loss
    assert config == next(c.config for c in NGRAM_ONLY if c.name == found.winner)
    # 240 sentences: 4 repeats of 3 folds
    assert all(len(r.fold_accuracies) == found.folds == 3 * 4 for r in reports.values())
    assert found.winner in found.reason and "ahead of" in found.reason and "centroid" != found.winner
    assert held_out is not None and held_out.shape == (240, 6) and np.isfinite(held_out).all()
    assert {"pipeline", "cv_accuracy", "seconds", "status"} <= set(found.to_json()["candidates"][0])


def test_a_candidate_that_cannot_finish_in_the_budget_is_skipped() -> None:
    data = synthetic_corpus(n_intents=4, n_sentences=1_200, seed=0)
    slow = Candidate("slow", IntentConfig(classifier="mlp", oversample=False, synonyms=False), "MLP", cost=1e6)
    found, _, _ = select(data, (NGRAM_ONLY[0], slow), budget_s=20, folds=2)
    reports = {r.pipeline: r for r in found.candidates}
    assert reports["slow"].status == "skipped" and reports["slow"].cv is None and "budget" in reports["slow"].note
    assert reports["slow"].to_json()["cv_accuracy"] is None
    assert found.winner == NGRAM_ONLY[0].name


def test_embedding_candidates_are_skipped_when_the_package_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection.embeddings, "model_dir", lambda: None)
    data = synthetic_corpus(n_intents=3, n_sentences=60, seed=0)
    found, _, _ = select(data, (NGRAM_ONLY[0], *(c for c in CANDIDATES if c.config.uses_embedding)), budget_s=30)
    statuses = {r.pipeline: (r.status, r.note) for r in found.candidates}
    assert statuses["embedding"][0] == statuses["blend"][0] == "skipped"
    assert "not installed" in statuses["embedding"][1]
    assert found.winner == NGRAM_ONLY[0].name


def test_train_refits_the_winner_and_calibrates_it_on_held_out_scores() -> None:
    data = synthetic_corpus(n_intents=5, n_sentences=200, seed=0)
    trained = train(data, "char-2-4", folds=3)
    model = trained.model
    assert model.config.ngram_range == (2, 4)
    assert model.temperature is not None and model.probability_kind == "calibrated probability"
    assert model.info.cv is not None and len(model.info.cv["folds"]) == 3 * 5  # 200 sentences: 5 repeats of 3 folds
    assert model.info.selection is None  # one pipeline asked for: nothing was chosen
    uncalibrated = train(data, "char-2-4", folds=0).model
    assert uncalibrated.temperature is None and "not calibrated" in uncalibrated.probability_kind
    assert np.array_equal(uncalibrated.weights, model.weights)  # calibration never changes the ranking
