"""Intent models: configuration, training, prediction with explanations, evaluation.

``fit(data, config) -> IntentModel`` trains one pipeline (``engine.intent.selection.train`` chooses
it automatically); ``model.predict(text) -> IntentPrediction`` gives the intents with probabilities
and the subword n-grams that pushed the decision. A linear model scores ``s = x @ W.T + b`` on the
feature row ``x`` (TF-IDF subword n-grams, optionally followed by a weighted sentence embedding);
the contribution of n-gram ``j`` to the predicted intent ``c`` is ``x_j * (W[c, j] - mean_k W[k, j])``,
so contributions, the embedding's share and the bias term add up exactly to ``s_c - mean_k s_k``.
Probabilities are ``softmax(t * s)``: ``t`` = 1 for probabilistic classifiers (logistic regression),
and for the others a temperature fitted on cross-validated scores (see :func:`fit_temperature`), or
1 with a note that the numbers are not calibrated.
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
from engine.intent.augment import oversample_with_origins
from engine.intent.data import LabelledTexts, require_trainable
from engine.intent.features import Preprocessing, SemhashVectorizer, subword_ngrams

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

Features = Literal["semhash", "embedding", "semhash+embedding"]
FEATURE_SETS: tuple[str, ...] = ("semhash", "embedding", "semhash+embedding")
MAX_TEXT_CHARS = 5_000
MAX_NGRAM = 6
OUT_OF_SCOPE = "out_of_scope"  # the answer when no intent reaches the out-of-scope threshold
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Option:
    """A training option declared once; the CLI and the tab build their controls from it."""

    name: str
    label: str
    help: str
    choices: tuple[str, ...] = ()
    kind: type = bool  # bool (a switch), str (one of ``choices``), int or float


OPTIONS: tuple[Option, ...] = (
    Option("classifier", "Classifier", "which classifier of the suite to train", tuple(classifiers.SUITE), str),
    Option("features", "Features", "subword n-grams, MiniLM sentence embeddings, or both", FEATURE_SETS, str),
    Option("ngram_min", "Shortest subword n-gram", "shortest window of #word# (3 and 3: the paper's trigrams)",
           kind=int),
    Option("ngram_max", "Longest subword n-gram", "longest window of #word#", kind=int),
    Option("sublinear_tf", "Sublinear TF", "weight repeated n-grams by 1 + log(count)"),
    Option("embedding_weight", "Embedding weight", "scale of the sentence embedding next to the n-grams",
           kind=float),
    Option("embedding_classifier", "Embedding classifier",
           "with both feature sets: a classifier of its own for the embedding, whose scores are added "
           "(late fusion, weighted by the embedding weight); empty: one classifier on both",
           ("", *classifiers.SUITE), str),
    Option("lowercase", "Lower-case", "lower-case every token before hashing"),
    Option("remove_stop_words", "Remove stop words", "drop scikit-learn's English stop words (also 'not', 'how')"),
    Option("lemmatize", "Lemmatize", "replace words by their lemma (simplemma English table)"),
    Option("oversample", "Oversample", "fill every intent up to the largest one by copying (paper v2/v3)"),
    Option("synonyms", "Synonyms in copies", "replace words of oversampled copies by Moby-thesaurus synonyms"),
    Option("typos", "Typos in copies", "add keyboard typos to oversampled copies"),
)


@dataclass(frozen=True)
class IntentConfig:
    """How to build one pipeline; the defaults are the paper's trigram hashing with logistic regression
    (candidate ``semhash`` of :mod:`engine.intent.selection`, which chooses among pipelines)."""

    classifier: str = classifiers.DEFAULT
    features: Features = "semhash"
    ngram_min: int = 3
    ngram_max: int = 3
    sublinear_tf: bool = False
    embedding_weight: float = 1.0
    embedding_classifier: str = ""
    lowercase: bool = True
    remove_stop_words: bool = False
    lemmatize: bool = True
    oversample: bool = True
    synonyms: bool = True
    typos: bool = False
    oos_threshold: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        classifiers.spec(self.classifier)
        if self.features not in FEATURE_SETS:
            raise WorkbenchError(f"Unknown features {self.features!r}; choose one of {', '.join(FEATURE_SETS)}.")
        if (self.synonyms or self.typos) and not self.oversample:
            raise WorkbenchError("Synonyms and typos are added to oversampled copies: turn on oversampling too.")
        if self.features != "semhash" and classifiers.spec(self.classifier).needs_nonnegative:
            raise WorkbenchError(f"{self.classifier} needs non-negative features; use 'semhash' features with it.")
        if self.embedding_classifier:
            if self.features != "semhash+embedding":
                raise WorkbenchError("A separate embedding classifier needs both feature sets (semhash+embedding).")
            if not classifiers.spec(self.embedding_classifier).linear or not classifiers.spec(self.classifier).linear:
                raise WorkbenchError("Late fusion adds the scores of two linear classifiers; choose linear ones.")
        if not 1 <= self.ngram_min <= self.ngram_max <= MAX_NGRAM:
            raise WorkbenchError(f"Subword n-grams must satisfy 1 <= shortest <= longest <= {MAX_NGRAM}, not "
                                 f"{self.ngram_min}..{self.ngram_max}.")
        if not 0 < self.embedding_weight <= 100:
            raise WorkbenchError(f"The embedding weight must lie in (0, 100], not {self.embedding_weight}.")
        if not 0 <= self.oos_threshold < 1:
            raise WorkbenchError(f"The out-of-scope threshold is a probability in [0, 1), not {self.oos_threshold}.")

    @property
    def ngram_range(self) -> tuple[int, int]:
        """Shortest and longest subword n-gram (inclusive)."""
        return self.ngram_min, self.ngram_max

    @property
    def uses_ngrams(self) -> bool:
        """Whether the features include subword n-grams."""
        return self.features != "embedding"

    @property
    def uses_embedding(self) -> bool:
        """Whether the features include the MiniLM sentence embedding."""
        return self.features != "semhash"

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
                                       ("synonyms", self.synonyms), ("typos", self.typos),
                                       ("sublinear tf", self.sublinear_tf)) if on and self.uses_ngrams]
        features = self.features
        if self.uses_ngrams and self.ngram_range != (3, 3):
            features = features.replace("semhash", f"subword {self.ngram_min}-{self.ngram_max}-grams")
        if self.uses_ngrams and self.uses_embedding and self.embedding_weight != 1:
            features += f" (embedding x{self.embedding_weight:g})"
        classifier = self.classifier
        if self.embedding_classifier:
            classifier += f" + {self.embedding_classifier} on the embedding (scores added)"
        return f"{classifier} on {features} ({', '.join(steps) or 'raw sentences'})"


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
    selection: dict[str, Any] | None = None
    typo_curve: dict[str, Any] | None = None

    def summary(self) -> str:
        """One line for the Models tab and the model picker."""
        parts = [f"trained on {self.source or 'unnamed data'} ({self.n_train:,} sentences) {self.created_at}"]
        if self.corrections:
            parts.append(f"+{self.corrections} corrections to {self.parent}")
        if self.test:
            parts.append(f"test micro-F1 {self.test['micro_f1']:.3f} on {self.test.get('source', 'test data')}")
        if self.cv:
            parts.append(f"CV accuracy {self.cv['mean']:.3f} ± {self.cv['std']:.3f}")
        if self.selection:
            parts.append(f"pipeline chosen automatically: {self.selection['reason']}")
        return "; ".join(parts)


@dataclass(frozen=True)
class SubwordContribution:
    """How much one subword n-gram occurrence pushed the predicted intent (score units, positive = towards it)."""

    ngram: str
    word_index: int
    weight: float
    known: bool


@dataclass(frozen=True)
class IntentPrediction:
    """The answer for one sentence.

    ``probabilities`` covers every intent, highest first. ``intent`` is the most likely one, or
    :data:`OUT_OF_SCOPE` when its probability is below the out-of-scope threshold. ``contributions``
    lists the sentence's subword n-grams in reading order with their push towards the most likely
    intent; ``embedding_contribution`` is the sentence vector's share (None without embedding features).
    """

    text: str
    intent: str
    probabilities: tuple[tuple[str, float], ...]
    probability_kind: str
    contributions: tuple[SubwordContribution, ...]
    embedding_contribution: float | None
    notes: tuple[str, ...] = ()
    ngram_range: tuple[int, int] = (3, 3)

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
    ``temperature`` (> 0) scales the scores before the softmax; None when not calibrated.
    """

    config: IntentConfig
    labels: tuple[str, ...]
    vectorizer: SemhashVectorizer | None
    weights: np.ndarray | None
    bias: np.ndarray | None
    training: LabelledTexts
    info: ModelInfo = field(default_factory=ModelInfo)
    estimator: BaseEstimator | None = None
    temperature: float | None = None

    @property
    def probability_kind(self) -> str:
        """What the numbers in ``probabilities`` are."""
        if classifiers.spec(self.config.classifier).probabilistic or (
                self.estimator is not None and hasattr(self.estimator, "predict_proba")):
            return "probability"
        if self.temperature is not None:
            return "calibrated probability"
        return "softmax of decision scores (not calibrated probabilities)"

    def features(self, texts: list[str], progress: Progress | None = None,
                 embedded: list[str] | None = None) -> sparse.csr_matrix:
        """Feature rows ``float32 [N, n_features]``: n-gram TF-IDF, then the weighted 384-d embedding if used.

        ``embedded`` (same length as ``texts``) names the sentence whose embedding each row gets
        (augmented copies get their original's); default: ``texts``.
        """
        blocks = []
        if self.vectorizer is not None:
            prep = self.config.preprocessing
            blocks.append(self.vectorizer.transform([prep(t) for t in texts]))
        if self.config.uses_embedding:
            vectors = embeddings.encode(list(texts if embedded is None else embedded), progress)
            blocks.append(sparse.csr_matrix(vectors * np.float32(self.config.embedding_weight)))
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
        return _softmax(self.scores(texts) * (self.temperature or 1.0))

    def _threshold(self, oos_threshold: float | None) -> float:
        threshold = self.config.oos_threshold if oos_threshold is None else float(oos_threshold)
        if not 0 <= threshold < 1:
            raise InputError(f"The out-of-scope threshold is a probability in [0, 1), not {threshold}.")
        return threshold

    def predict_labels(self, texts: list[str], oos_threshold: float | None = None) -> list[str]:
        """The most likely intent of each sentence, or :data:`OUT_OF_SCOPE` below the threshold.

        ``oos_threshold`` (a probability in [0, 1)) overrides the model's own; 0 never answers out of scope.
        """
        if not texts:
            return []
        threshold = self._threshold(oos_threshold)
        if not threshold:
            return [self.labels[i] for i in self.scores(texts).argmax(axis=1)]
        probabilities = self.probabilities(texts)
        return [self.labels[i] if row[i] >= threshold else OUT_OF_SCOPE
                for row, i in zip(probabilities, probabilities.argmax(axis=1))]

    def predict(self, text: str, oos_threshold: float | None = None) -> IntentPrediction:
        """Classify one sentence and explain the decision.

        Text longer than 5,000 characters is cut (noted in ``notes``). ``oos_threshold`` overrides
        the model's out-of-scope threshold. Raises :class:`InputError` for empty text.
        """
        if not isinstance(text, str) or not text.strip():
            raise InputError("Type a sentence to classify.")
        threshold = self._threshold(oos_threshold)
        notes = []
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS]
            notes.append(f"Only the first {MAX_TEXT_CHARS:,} characters were classified.")
        scores = self.scores([text])[0]
        probabilities = _softmax(scores[None] * (self.temperature or 1.0))[0]
        order = np.argsort(-probabilities, kind="stable")
        best = int(order[0])
        contributions, embedding_share = self._contributions(text, best)
        if self.weights is None:
            notes.append("Per-n-gram contributions need a linear classifier; this one is not.")
        if self.vectorizer is not None and not any(c.known for c in contributions) and embedding_share is None:
            notes.append("None of these subwords occurred in the training data: the answer only reflects the "
                         "class bias. Try English words of the model's domain.")
        intent = self.labels[best]
        if probabilities[best] < threshold:
            notes.append(f"Out of scope: the most likely intent, {intent}, has probability {probabilities[best]:.2f}, "
                         f"below the threshold {threshold:.2f}.")
            intent = OUT_OF_SCOPE
        return IntentPrediction(
            text=text,
            intent=intent,
            probabilities=tuple((self.labels[i], float(probabilities[i])) for i in order),
            probability_kind=self.probability_kind,
            contributions=tuple(contributions),
            embedding_contribution=embedding_share,
            notes=tuple(notes),
            ngram_range=self.config.ngram_range,
        )

    def _contributions(self, text: str, intent: int) -> tuple[list[SubwordContribution], float | None]:
        prepared = self.config.preprocessing(text) if self.vectorizer is not None else ""
        index = self.vectorizer.index() if self.vectorizer is not None else {}
        relative = None if self.weights is None else self.weights[intent] - self.weights.mean(axis=0)
        values: dict[int, float] = {}
        if relative is not None:
            row = self.features([text])
            values = dict(zip(row.indices.tolist(), row.data.tolist()))
        words = [subword_ngrams(word, self.config.ngram_range) for word in prepared.split()]
        occurrences: dict[str, int] = {}
        for ngram in (ngram for ngrams in words for ngram in ngrams):
            occurrences[ngram] = occurrences.get(ngram, 0) + 1
        contributions = []
        for word_index, ngrams in enumerate(words):
            for ngram in ngrams:
                column = index.get(ngram)
                weight = 0.0
                if column is not None and relative is not None:
                    weight = values.get(column, 0.0) * float(relative[column]) / occurrences[ngram]
                contributions.append(SubwordContribution(ngram, word_index, weight, column is not None))
        embedding_share = None
        if self.config.uses_embedding and relative is not None:
            start = len(index)
            embedding_share = float(sum(v * relative[c] for c, v in values.items() if c >= start))
        return contributions, embedding_share


def _fit_estimator(spec: classifiers.ClassifierSpec, rows: sparse.csr_matrix, labels: list[str],
                   seed: int) -> BaseEstimator:
    smallest = min(np.unique(labels, return_counts=True)[1])
    return spec.build(seed, int(smallest)).fit(rows, labels)


def _fit_linear(name: str, rows: sparse.csr_matrix, labels: list[str], seed: int,
                intents: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A linear suite classifier fitted on ``rows`` as ``(W [n_intents, n_features], b [n_intents])``."""
    estimator = _fit_estimator(classifiers.spec(name), rows, labels, seed)
    if tuple(estimator.classes_) != intents:
        raise WorkbenchError("Internal error: the classifier's classes differ from the data's intents.")
    return classifiers.linear_weights(estimator, rows.shape[1])


def fit(data: LabelledTexts, config: IntentConfig | None = None, info: ModelInfo | None = None,
        progress: Progress | None = None) -> IntentModel:
    """Train one pipeline on labelled sentences (no selection, no calibration: see ``selection.train``).

    Steps: optional oversampling (seeded, with synonyms/typos in copies), preprocessing, n-gram
    vocabulary and idf fitted on these sentences only, optional sentence embeddings (each distinct
    original sentence encoded once; augmented copies reuse their original's vector), classifier.

    Args:
        data: at least two intents.
        config: the pipeline (default: the paper's semantic hashing with logistic regression).
        info: provenance to record (name, source); ``n_train`` and timing are filled in.
        progress: ``progress(fraction in 0..1, message)`` callback.
    """
    config = config or IntentConfig()
    require_trainable(data)
    report = progress or (lambda fraction, message: None)
    start = time.perf_counter()
    report(0.0, f"preparing {len(data):,} sentences")
    if config.oversample:
        train, origins = oversample_with_origins(data, config.seed, config.synonyms, config.typos)
    else:
        train, origins = data, tuple(range(len(data)))
    vectorizer = None
    if config.uses_ngrams:
        prep = config.preprocessing
        vectorizer = SemhashVectorizer(ngram_range=config.ngram_range, sublinear_tf=config.sublinear_tf)
        vectorizer.fit([prep(t) for t in train.texts])
        report(0.2, f"{len(vectorizer.vocabulary):,} subword n-grams in the vocabulary")
    model = IntentModel(config, tuple(sorted(set(data.labels))), vectorizer, None, None, data,
                        info or ModelInfo())
    embed_progress = (lambda f, m: report(0.2 + 0.4 * f, m)) if config.uses_embedding else None
    if config.embedding_classifier:  # late fusion: augmentation reaches the n-gram block only
        ngram_rows = vectorizer.transform([config.preprocessing(t) for t in train.texts])  # type: ignore[union-attr]
        embedding_rows = sparse.csr_matrix(embeddings.encode(list(data.texts), embed_progress))
        report(0.6, f"fitting {config.classifier} on the n-grams and {config.embedding_classifier} on the embedding")
        w1, b1 = _fit_linear(config.classifier, ngram_rows, list(train.labels), config.seed, model.labels)
        w2, b2 = _fit_linear(config.embedding_classifier, embedding_rows, list(data.labels), config.seed,
                             model.labels)
        model.weights, model.bias = np.hstack([w1, w2]), b1 + np.float32(config.embedding_weight) * b2
    else:
        rows = model.features(list(train.texts), embed_progress, [data.texts[i] for i in origins])
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


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """The temperature ``t`` minimising the log loss of ``softmax(t * scores)`` (temperature scaling).

    Args:
        scores: held-out decision scores ``[N, n_intents]`` (e.g. from cross-validation).
        truth: the column of each row's true intent ``[N]`` (int).

    Returns:
        ``t`` in [0.01, 100]; a single parameter, so it changes confidence, never the ranking.
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp

    def loss(log_t: float) -> float:
        scaled = scores * np.exp(log_t)
        return float(np.mean(logsumexp(scaled, axis=1) - scaled[np.arange(len(truth)), truth]))

    found = minimize_scalar(loss, bounds=(np.log(0.01), np.log(100.0)), method="bounded")
    return float(np.exp(found.x))


def evaluate(model: IntentModel, data: LabelledTexts, oos_threshold: float | None = None) -> Metrics:
    """Accuracy, micro-, weighted- and macro-F1 of ``model`` on ``data`` (unknown intents count as errors).

    With an out-of-scope threshold (the model's, or ``oos_threshold``), a sentence labelled
    :data:`OUT_OF_SCOPE` is right when the model rejects it.
    """
    if len(data) == 0:
        raise InputError("There are no sentences to evaluate on.")
    from sklearn.metrics import accuracy_score, f1_score  # sklearn loads on first use, not with the app

    predicted = model.predict_labels(list(data.texts), oos_threshold)
    truth = list(data.labels)
    return Metrics(
        accuracy=float(accuracy_score(truth, predicted)),
        micro_f1=float(f1_score(truth, predicted, average="micro", zero_division=0)),
        weighted_f1=float(f1_score(truth, predicted, average="weighted", zero_division=0)),
        macro_f1=float(f1_score(truth, predicted, average="macro", zero_division=0)),
        n=len(truth),
    )
