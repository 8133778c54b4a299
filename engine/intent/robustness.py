"""Typo robustness, the paper's central claim, measured: accuracy as keyboard typos are added to test sentences.

A typo rate r gives each word of a test sentence, with probability r, one keyboard typo (a letter
replaced by a key less than 2.1 key widths away, :func:`engine.intent.augment.add_typos`), seeded per
sentence and rate. :func:`typo_curve` measures a model at rates 0-20 % on at most
:data:`CURVE_SENTENCES` test sentences (a seeded sample, so that models with sentence embeddings,
which must embed every perturbed sentence, stay fast). The peer is a word-level TF-IDF model
(:func:`word_tfidf_baseline`): a misspelt word is an unknown word to it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.intent.augment import add_typos
from engine.intent.data import LabelledTexts

TYPO_RATES: tuple[float, ...] = (0.0, 0.05, 0.10, 0.15, 0.20)
CURVE_SENTENCES = 500
VARIANTS = 10  # perturbed copies of one sentence for its own curve

Predict = Callable[[list[str]], list[str]]


def sample(data: LabelledTexts, limit: int = CURVE_SENTENCES, seed: int = 0) -> LabelledTexts:
    """At most ``limit`` sentences of ``data``, a seeded sample in the original order."""
    if len(data) <= limit:
        return data
    keep = sorted(random.Random(seed).sample(range(len(data)), limit))
    return LabelledTexts(tuple(data.texts[i] for i in keep), tuple(data.labels[i] for i in keep), data.source)


def perturb(texts: Sequence[str], rate: float, seed: int = 0) -> list[str]:
    """Every sentence with typos at ``rate`` (share of words, 0..1), seeded by sentence position and rate."""
    return [add_typos(text, rate, seed * 1_000_003 + index * 101 + round(rate * 1000))
            for index, text in enumerate(texts)]


def typo_curve(predict: Predict, data: LabelledTexts, rates: Sequence[float] = TYPO_RATES, seed: int = 0,
               limit: int = CURVE_SENTENCES) -> dict[str, Any]:
    """Accuracy of ``predict`` on (a sample of) ``data`` at each typo rate.

    Returns ``{"rates": [...], "accuracy": [...], "n": sentences used}``; accuracy values lie in 0..1.
    """
    used = sample(data, limit, seed)
    truth = np.array(used.labels, dtype=object)
    accuracy = [float(np.mean(np.array(predict(perturb(used.texts, rate, seed)), dtype=object) == truth))
                for rate in rates]
    return {"rates": [float(r) for r in rates], "accuracy": accuracy, "n": len(used)}


def sentence_curve(predict: Predict, text: str, rates: Sequence[float] = TYPO_RATES,
                   variants: int = VARIANTS) -> dict[str, Any]:
    """Share of ``variants`` perturbed copies of ``text`` that keep the clean sentence's prediction, per rate."""
    clean = predict([text])[0]
    kept = []
    for rate in rates:
        copies = [add_typos(text, rate, seed) for seed in range(variants)] if rate else [text]
        kept.append(float(np.mean([label == clean for label in predict(copies)])))
    return {"rates": [float(r) for r in rates], "kept": kept, "intent": clean, "variants": variants}


def word_tfidf_baseline(train: LabelledTexts) -> Predict:
    """The peer: word unigram + bigram TF-IDF with a linear SVM (C = 1), fitted on ``train``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LinearSVC(C=1.0))
    model.fit(list(train.texts), list(train.labels))
    return lambda texts: [str(label) for label in model.predict(texts)]
