"""Intent models: configuration, training, prediction with explanations, evaluation.

``fit(data, config) -> IntentModel`` trains; ``model.predict(text) -> IntentPrediction`` gives the
intents with probabilities and the trigrams that pushed the decision. A linear model scores
``s = x @ W.T + b`` on the feature row ``x`` (TF-IDF trigrams, optionally followed by a sentence
embedding); the contribution of trigram ``j`` to the predicted intent ``c`` is
``x_j * (W[c, j] - mean_k W[k, j])``, so contributions, the embedding's share and the bias term
add up exactly to ``s_c - mean_k s_k``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy import sparse

from engine.errors import InputError, WorkbenchError
from engine.intent import classifiers, embeddings
from engine.intent.augment import oversample
from engine.intent.data import LabelledTexts, require_trainable
from engine.intent.features import Preprocessing, SemhashVectorizer, semhash_tokens, subword_trigrams

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

Features = Literal["semhash", "embedding", "semhash+embedding"]
FEATURE_SETS: tuple[str, ...] = ("semhash", "embedding", "semhash+embedding")
MAX_TEXT_CHARS = 5_000
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Option:
    """A training option declared once; the CLI and the tab build their controls from it."""

    name: str
    label: str
    help: str
    choices: tuple[str, ...] = ()


OPTIONS: tuple[Option, ...] = (
    Option("classifier", "Classifier", "which classifier of the suite to train", tuple(classifiers.SUITE)),
    Option("features", "Features", "subword trigrams, MiniLM sentence embeddings, or both", FEATURE_SETS),
    Option("lowercase", "Lower-case", "lower-case every token before hashing"),
    Option("remove_stop_words", "Remove stop words", "drop scikit-learn's English stop words (also 'not', 'how')"),
    Option("lemmatize", "Lemmatize", "replace words by their lemma (simplemma English table)"),
    Option("oversample", "Oversample", "fill every intent up to the largest one by copying (paper v2/v3)"),
    Option("synonyms", "Synonyms in copies", "replace words of oversampled copies by Moby-thesaurus synonyms"),
    Option("typos", "Typos in copies", "add keyboard typos to oversampled copies"),
)


@dataclass(frozen=True)
class IntentConfig:
    """How to build a model; the defaults are the CV-selected default pipeline."""

    classifier: str = classifiers.DEFAULT
    features: Features = "semhash"
    lowercase: bool = True
    remove_stop_words: bool = False
    lemmatize: bool = True
    oversample: bool = True
    synonyms: bool = True
    typos: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        classifiers.spec(self.classifier)
        if self.features not in FEATURE_SETS:
            raise WorkbenchError(f"Unknown features {self.features!r}; choose one of {', '.join(FEATURE_SETS)}.")
        if (self.synonyms or self.typos) and not self.oversample:
            raise WorkbenchError("Synonyms and typos are added to oversampled copies: turn on oversampling too.")
        if self.features != "semhash" and classifiers.spec(self.classifier).needs_nonnegative:
            raise WorkbenchError(f"{self.classifier} needs non-negative features; use 'semhash' features with it.")

    @property
    def preprocessing(self) -> Preprocessing:
        """The text normalisation these options describe."""
        return Preprocessing(self.lowercase, self.remove_stop_words, self.lemmatize)

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> IntentConfig:
        """Rebuild from :func:`dataclasses.asdict` output, ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def describe(self) -> str:
        """A short human summary, e.g. ``default on semhash (lemmas, oversampled)``."""
        steps = [name for name, on in (("lower-case", self.lowercase), ("no stop words", self.remove_stop_words),
                                       ("lemmas", self.lemmatize), ("oversampled", self.oversample),
                                       ("synonyms", self.synonyms), ("typos", self.typos)) if on]
        return f"{self.classifier} on {self.features} ({', '.join(steps) or 'raw tokens'})"


@dataclass(frozen=True)
class Metrics:
    """Scores on labelled sentences; micro-F1 equals accuracy for single-label data (spec pitfall 2)."""

    accuracy: float
    micro_f1: float
    weighted_f1: float
    macro_f1: float
    n: int

    def to_json(self) -> dict[str, float | int]:
        """The metrics as a JSON object (``metrics.json``)."""
        return asdict(self)


@dataclass(frozen=True)
class ModelInfo:
    """Provenance of a trained model: what it learnt from, when, how well it did."""

    name: str = "intent model"
    source: str = ""
    created_at: str = ""
    n_train: int = 0
    train_seconds: float = 0.0
    test: dict[str, Any] | None = None
    cv: dict[str, Any] | None = None
    parent: str = ""
    corrections: int = 0

    def summary(self) -> str:
        """One line for the Models tab and the model picker."""
        parts = [f"trained on {self.source or 'unnamed data'} ({self.n_train:,} sentences) {self.created_at}"]
        if self.corrections:
            parts.append(f"+{self.corrections} corrections to {self.parent}")
        if self.test:
            parts.append(f"test micro-F1 {self.test['micro_f1']:.3f} on {self.test.get('source', 'test data')}")
        if self.cv:
            parts.append(f"CV accuracy {self.cv['mean']:.3f} ± {self.cv['std']:.3f}")
        return "; ".join(parts)


@dataclass(frozen=True)
class TrigramContribution:
    """How much one trigram occurrence pushed the predicted intent (logit units, positive = towards it)."""

    trigram: str
    word_index: int
    weight: float
    known: bool


@dataclass(frozen=True)
class IntentPrediction:
    """The answer for one sentence.

    ``probabilities`` covers every intent, highest first. ``contributions`` lists the sentence's
    trigrams in reading order with their push towards ``intent``; ``embedding_contribution`` is the
    sentence vector's share (None without embedding features).
    """

    text: str
    intent: str
    probabilities: tuple[tuple[str, float], ...]
    probability_kind: str
    contributions: tuple[TrigramContribution, ...]
    embedding_contribution: float | None
    notes: tuple[str, ...] = ()

    @property
    def confidence(self) -> float:
        """Probability of the predicted intent."""
        return self.probabilities[0][1]

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most likely intents with their probabilities."""
        return list(self.probabilities[:k])


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass
class IntentModel:
    """A trained intent classifier with its featurizer, training data and provenance.

    ``weights`` ``float32 [n_intents, n_features]`` and ``bias`` ``[n_intents]`` hold a linear model;
    a non-linear classifier of the suite is kept in ``estimator`` instead (usable, not savable).
    """

    config: IntentConfig
    labels: tuple[str, ...]
    vectorizer: SemhashVectorizer | None
    weights: np.ndarray | None
    bias: np.ndarray | None
    training: LabelledTexts
    info: ModelInfo = field(default_factory=ModelInfo)
    estimator: BaseEstimator | None = None

    @property
    def probability_kind(self) -> str:
        """What the numbers in ``probabilities`` are."""
        if classifiers.spec(self.config.classifier).probabilistic or (
                self.estimator is not None and hasattr(self.estimator, "predict_proba")):
            return "probability"
        return "softmax of decision scores (not calibrated probabilities)"

    def features(self, texts: list[str], progress: Progress | None = None) -> sparse.csr_matrix:
        """Feature rows ``float32 [N, n_features]``: trigram TF-IDF, then the 384-d embedding if used."""
        blocks = []
        if self.vectorizer is not None:
            prep = self.config.preprocessing
            blocks.append(self.vectorizer.transform([prep(t) for t in texts]))
        if self.config.features != "semhash":
            blocks.append(sparse.csr_matrix(embeddings.encode(texts, progress)))
        return sparse.hstack(blocks, format="csr", dtype=np.float32)

    def scores(self, texts: list[str]) -> np.ndarray:
        """Per-intent scores ``[N, n_intents]`` (decision values; probabilities for non-linear models)."""
        rows = self.features(texts)
        if self.estimator is not None:
            if hasattr(self.estimator, "predict_proba"):
                return np.log(np.clip(self.estimator.predict_proba(rows), 1e-12, None))
            predicted = self.estimator.predict(rows)
            return np.array([[1.0 if label == p else 0.0 for label in self.labels] for p in predicted])
        assert self.weights is not None and self.bias is not None
        return np.asarray(rows @ self.weights.T) + self.bias

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """``[N, n_intents]`` rows summing to 1, columns in :attr:`labels` order."""
        return _softmax(self.scores(texts))

    def predict_labels(self, texts: list[str]) -> list[str]:
        """The most likely intent of each sentence."""
        if not texts:
            return []
        return [self.labels[i] for i in self.scores(texts).argmax(axis=1)]

    def predict(self, text: str) -> IntentPrediction:
        """Classify one sentence and explain the decision.

        Text longer than 5,000 characters is cut (noted in ``notes``). Raises :class:`InputError`
        for empty text.
        """
        if not isinstance(text, str) or not text.strip():
            raise InputError("Type a sentence to classify.")
        notes = []
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS]
            notes.append(f"Only the first {MAX_TEXT_CHARS:,} characters were classified.")
        scores = self.scores([text])[0]
        probabilities = _softmax(scores[None])[0]
        order = np.argsort(-probabilities, kind="stable")
        best = int(order[0])
        contributions, embedding_share = self._contributions(text, best)
        if self.weights is None:
            notes.append("Per-trigram contributions need a linear classifier; this one is not.")
        if self.vectorizer is not None and not any(c.known for c in contributions) and embedding_share is None:
            notes.append("None of these trigrams occurred in the training data: the answer only reflects the "
                         "class bias. Try English words of the model's domain.")
        return IntentPrediction(
            text=text,
            intent=self.labels[best],
            probabilities=tuple((self.labels[i], float(probabilities[i])) for i in order),
            probability_kind=self.probability_kind,
            contributions=tuple(contributions),
            embedding_contribution=embedding_share,
            notes=tuple(notes),
        )

    def _contributions(self, text: str, intent: int) -> tuple[list[TrigramContribution], float | None]:
        prepared = self.config.preprocessing(text) if self.vectorizer is not None else ""
        index = self.vectorizer.index() if self.vectorizer is not None else {}
        relative = None if self.weights is None else self.weights[intent] - self.weights.mean(axis=0)
        values: dict[int, float] = {}
        if relative is not None:
            row = self.features([text])
            values = dict(zip(row.indices.tolist(), row.data.tolist()))
        occurrences: dict[str, int] = {}
        for trigram in semhash_tokens(prepared):
            occurrences[trigram] = occurrences.get(trigram, 0) + 1
        contributions = []
        for word_index, word in enumerate(prepared.split()):
            for trigram in subword_trigrams(word):
                column = index.get(trigram)
                weight = 0.0
                if column is not None and relative is not None:
                    weight = values.get(column, 0.0) * float(relative[column]) / occurrences[trigram]
                contributions.append(TrigramContribution(trigram, word_index, weight, column is not None))
        embedding_share = None
        if self.config.features != "semhash" and relative is not None:
            start = len(index)
            embedding_share = float(sum(v * relative[c] for c, v in values.items() if c >= start))
        return contributions, embedding_share


def _fit_estimator(spec: classifiers.ClassifierSpec, rows: sparse.csr_matrix, labels: list[str],
                   seed: int) -> BaseEstimator:
    smallest = min(np.unique(labels, return_counts=True)[1])
    return spec.build(seed, int(smallest)).fit(rows, labels)


def fit(data: LabelledTexts, config: IntentConfig | None = None, info: ModelInfo | None = None,
        progress: Progress | None = None) -> IntentModel:
    """Train an intent model on labelled sentences.

    Steps: optional oversampling (seeded, with synonyms/typos in copies), preprocessing, trigram
    vocabulary and idf fitted on these sentences only, optional sentence embeddings, classifier.

    Args:
        data: at least two intents.
        config: the pipeline (default: the CV-selected default).
        info: provenance to record (name, source); ``n_train`` and timing are filled in.
        progress: ``progress(fraction in 0..1, message)`` callback.
    """
    config = config or IntentConfig()
    require_trainable(data)
    report = progress or (lambda fraction, message: None)
    start = time.perf_counter()
    report(0.0, f"preparing {len(data):,} sentences")
    train = oversample(data, config.seed, config.synonyms, config.typos) if config.oversample else data
    vectorizer = None
    if config.features != "embedding":
        prep = config.preprocessing
        vectorizer = SemhashVectorizer().fit([prep(t) for t in train.texts])
        report(0.2, f"{len(vectorizer.vocabulary):,} trigrams in the vocabulary")
    model = IntentModel(config, tuple(sorted(set(data.labels))), vectorizer, None, None, data,
                        info or ModelInfo())
    embed_progress = (lambda f, m: report(0.2 + 0.4 * f, m)) if config.features != "semhash" else None
    rows = model.features(list(train.texts), embed_progress)
    report(0.6, f"fitting {config.classifier} on {rows.shape[0]:,} x {rows.shape[1]:,} features")
    spec = classifiers.spec(config.classifier)
    estimator = _fit_estimator(spec, rows, list(train.labels), config.seed)
    if tuple(estimator.classes_) != model.labels:
        raise WorkbenchError("Internal error: the classifier's classes differ from the data's intents.")
    if spec.linear:
        model.weights, model.bias = classifiers.linear_weights(estimator, rows.shape[1])
    else:
        model.estimator = estimator
    model.info = replace(model.info, n_train=len(data), train_seconds=round(time.perf_counter() - start, 3),
                         created_at=model.info.created_at or time.strftime("%Y-%m-%d %H:%M"))
    report(1.0, f"trained in {model.info.train_seconds:.1f} s")
    return model


def evaluate(model: IntentModel, data: LabelledTexts) -> Metrics:
    """Accuracy, micro-, weighted- and macro-F1 of ``model`` on ``data`` (unknown intents count as errors)."""
    if len(data) == 0:
        raise InputError("There are no sentences to evaluate on.")
    from sklearn.metrics import accuracy_score, f1_score  # sklearn loads on first use, not with the app

    predicted = model.predict_labels(list(data.texts))
    truth = list(data.labels)
    return Metrics(
        accuracy=float(accuracy_score(truth, predicted)),
        micro_f1=float(f1_score(truth, predicted, average="micro", zero_division=0)),
        weighted_f1=float(f1_score(truth, predicted, average="weighted", zero_division=0)),
        macro_f1=float(f1_score(truth, predicted, average="macro", zero_division=0)),
        n=len(truth),
    )
