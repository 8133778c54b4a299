"""Training, prediction, explanations and evaluation of intent models."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError, WorkbenchError
from engine.intent.data import LabelledTexts
from engine.intent.model import OUT_OF_SCOPE, IntentConfig, IntentModel, evaluate, fit, fit_temperature
from engine.intent.synthetic import synthetic_corpus


def test_default_pipeline_on_chatbot_reaches_the_papers_level(chatbot: tuple[LabelledTexts, LabelledTexts]) -> None:
    train, test = chatbot
    metrics = evaluate(fit(train), test)
    assert metrics.n == 106
    assert metrics.accuracy >= 0.97  # paper "Our Avg." 0.98; one sentence = 0.009
    assert metrics.micro_f1 == pytest.approx(metrics.accuracy)


def test_probabilities_sum_to_one_and_rank_like_the_prediction(webapps_model: IntentModel) -> None:
    texts = ["How do I delete my Facebook account?", "alternative to dropbox", "export my trello data"]
    probabilities = webapps_model.probabilities(texts)
    assert probabilities.shape == (3, len(webapps_model.labels))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert webapps_model.predict_labels(texts) == ["Delete Account", "Find Alternative", "Export Data"]
    prediction = webapps_model.predict(texts[0])
    assert prediction.intent == "Delete Account"
    assert [p for _, p in prediction.probabilities] == sorted((p for _, p in prediction.probabilities), reverse=True)


def test_trigram_contributions_add_up_to_the_score_margin(webapps_model: IntentModel) -> None:
    text = "How can I remove my account"
    prediction = webapps_model.predict(text)
    scores = webapps_model.scores([text])[0]
    best = webapps_model.labels.index(prediction.intent)
    assert webapps_model.bias is not None
    bias_share = webapps_model.bias[best] - webapps_model.bias.mean()
    total = sum(c.weight for c in prediction.contributions) + bias_share
    assert total == pytest.approx(scores[best] - scores.mean(), abs=1e-4)
    assert [c.ngram for c in prediction.contributions[:4]] == ["#ho", "how", "ow#", "#ca"]
    strongest = max(prediction.contributions, key=lambda c: c.weight)
    assert strongest.ngram in {"#ac", "acc", "cco", "cou", "oun", "unt", "nt#",
                                 "#re", "rem", "emo", "mov", "ove", "ve#"}


def test_misspelt_sentence_keeps_its_intent(webapps_model: IntentModel) -> None:
    assert webapps_model.predict("How do I delete my Facebook account?").intent == "Delete Account"
    assert webapps_model.predict("How do I delte my Facebok acount?").intent == "Delete Account"


def test_odd_inputs_get_an_answer_or_a_clear_error(webapps_model: IntentModel) -> None:
    with pytest.raises(InputError, match="Type a sentence"):
        webapps_model.predict("   ")
    for text in ("😀😀", "Как удалить мой аккаунт", "删除帐户"):
        prediction = webapps_model.predict(text)
        assert np.isclose(sum(p for _, p in prediction.probabilities), 1.0)
        assert any("None of these subwords" in note for note in prediction.notes)
    huge = webapps_model.predict("delete my account " * 6_000)  # 108 KB
    assert len(huge.text) == 5_000 and huge.intent == "Delete Account"
    assert any("first 5,000 characters" in note for note in huge.notes)


def test_suite_classifiers_train_and_non_linear_ones_explain_nothing(webapps: tuple[LabelledTexts, ...]) -> None:
    train, test = webapps
    knn = fit(train, IntentConfig(classifier="knn", oversample=False, synonyms=False))
    assert knn.weights is None and knn.estimator is not None
    assert 0.5 < evaluate(knn, test).accuracy <= 1.0
    assert any("linear classifier" in note for note in knn.predict("delete my account").notes)
    svc = fit(train, IntentConfig(classifier="l1_select_linear_svc"))
    assert svc.weights is not None and svc.weights.shape[0] == len(train.intents)
    assert "not calibrated" in svc.probability_kind


def test_invalid_configurations_are_refused() -> None:
    with pytest.raises(WorkbenchError, match="Unknown classifier"):
        IntentConfig(classifier="kmeans")
    with pytest.raises(WorkbenchError, match="turn on oversampling"):
        IntentConfig(oversample=False, synonyms=True)
    with pytest.raises(WorkbenchError, match="non-negative"):
        IntentConfig(classifier="multinomial_nb", features="embedding")
    with pytest.raises(WorkbenchError, match="shortest <= longest"):
        IntentConfig(ngram_min=4, ngram_max=2)
    with pytest.raises(WorkbenchError, match="both feature sets"):
        IntentConfig(embedding_classifier="logistic_c10")
    with pytest.raises(WorkbenchError, match="out-of-scope threshold"):
        IntentConfig(oos_threshold=1.0)


def test_ngram_ranges_explain_every_window_and_still_add_up(webapps: tuple[LabelledTexts, ...]) -> None:
    model = fit(webapps[0], IntentConfig(ngram_min=2, ngram_max=4, classifier="linear_svm", oversample=False,
                                         synonyms=False, sublinear_tf=True))
    prediction = model.predict("remove my account")
    words = [c.ngram for c in prediction.contributions if c.word_index == 0]
    assert words[:3] == ["#r", "re", "em"] and "#re" in words and "ove#" in words
    assert len(words) == 7 + 6 + 5  # "#remove#": 8 letters give 7 bigrams, 6 trigrams, 5 four-grams
    scores = model.scores([prediction.text])[0]
    best = model.labels.index(prediction.intent)
    assert model.bias is not None
    total = sum(c.weight for c in prediction.contributions) + model.bias[best] - model.bias.mean()
    assert total == pytest.approx(scores[best] - scores.mean(), abs=1e-4)


def test_temperature_scaling_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=(4000, 5))
    probabilities = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(5, p=row) for row in probabilities])  # labels drawn from softmax(3 * logits)
    assert fit_temperature(logits, truth) == pytest.approx(3.0, rel=0.1)


def test_out_of_scope_threshold_rejects_unsure_answers(webapps_model: IntentModel) -> None:
    texts = ["How do I delete my Facebook account?", "qwerty zxcv"]
    probabilities = webapps_model.probabilities(texts).max(axis=1)
    threshold = float(probabilities.mean())
    assert probabilities[0] > threshold > probabilities[1]
    assert webapps_model.predict_labels(texts, threshold) == ["Delete Account", OUT_OF_SCOPE]
    rejected = webapps_model.predict(texts[1], threshold)
    assert rejected.intent == OUT_OF_SCOPE and any("Out of scope" in note for note in rejected.notes)
    assert rejected.probabilities[0][0] in webapps_model.labels  # the ranking is still shown
    data = LabelledTexts(tuple(texts), ("Delete Account", OUT_OF_SCOPE))
    assert evaluate(webapps_model, data, threshold).accuracy == 1.0
    assert evaluate(webapps_model, data).accuracy == 0.5
    with pytest.raises(InputError, match="threshold"):
        webapps_model.predict(texts[0], 1.5)


def test_training_is_seeded_and_scales_to_many_intents() -> None:
    train = synthetic_corpus(n_intents=20, n_sentences=1_000, seed=0)
    test = synthetic_corpus(n_intents=20, n_sentences=200, seed=1)
    first, second = fit(train), fit(train)
    assert np.array_equal(first.weights, second.weights)
    assert evaluate(first, test).accuracy > 0.85
    assert len(first.labels) == 20
