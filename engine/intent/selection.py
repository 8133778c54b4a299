"""Choosing the pipeline on the user's training data only: stratified cross-validation within a time budget.

The paper picked its classifier and its best run on the test split; here every choice is made by
cross-validation inside the training file (spec pitfall 3), and test sentences are touched only to
report the chosen model's score.

``train(data, "auto")`` scores a small fixed set of candidate pipelines (:data:`CANDIDATES`) by
stratified k-fold cross-validation, refits the best on the whole file and calibrates its
probabilities on the held-out scores. The folds are visited round-robin (fold 1 of every candidate,
then fold 2, ...) so that when the budget runs out every candidate still scored has been measured on
the same first folds; a candidate whose next fold would end past the budget stops there, and one
that cannot finish even its first fold is listed as ``skipped``. Sentence embeddings are computed
once per distinct sentence before the folds (cached by content hash), and only when the projected
time fits the budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine.errors import WorkbenchError
from engine.intent import classifiers, embeddings
from engine.intent.data import LabelledTexts, require_trainable
from engine.intent.model import IntentConfig, IntentModel, ModelInfo, Progress, fit, fit_temperature

AUTO = "auto"
DEFAULT_BUDGET_S = 90.0
WARM_UP = 32  # sentences embedded right after loading the model, before timing
EMBED_PROBE = 256  # sentences embedded next, timed, to project how long all of them take
LARGE = 3_000  # from this many sentences, 3 folds (each held-out part still has 1,000+ sentences)

_RAW_NGRAMS = {"lemmatize": False, "oversample": False, "synonyms": False, "sublinear_tf": True,
               "classifier": classifiers.LINEAR_SVM}
BLEND = "blend"
BLEND_WEIGHTS = tuple(float(w) for w in np.geomspace(0.03, 30, 19))  # embedding score weights tried


@dataclass(frozen=True)
class Candidate:
    """One pipeline the automatic choice may pick; ``cost`` is its fit time relative to ``char-2-4``.

    The ``blend`` candidate is not fitted during the choice: it adds the held-out scores of the best
    n-gram candidate and of ``embedding`` with a weight chosen on other folds (see :func:`_blend`).
    """

    name: str
    config: IntentConfig
    summary: str
    cost: float = 1.0


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("char-2-4", IntentConfig(ngram_min=2, ngram_max=4, **_RAW_NGRAMS),
              "letter 2- to 4-grams of #word# (raw words, sublinear TF), linear SVM"),
    Candidate("char-1-5", IntentConfig(ngram_min=1, ngram_max=5, **_RAW_NGRAMS),
              "letter 1- to 5-grams of #word# (raw words, sublinear TF), linear SVM", 1.3),
    Candidate("semhash-svm", IntentConfig(classifier=classifiers.LINEAR_SVM),
              "the paper's subword semantic hashing (#-padded trigrams of lemmas, oversampling with synonyms), "
              "the paper's linear SVM", 1.5),
    Candidate("embedding", IntentConfig(features="embedding", oversample=False, synonyms=False,
                                        classifier=classifiers.EMBEDDING_LOGISTIC),
              "MiniLM sentence embedding (all-MiniLM-L6-v2), logistic regression", 1.5),
    Candidate("hybrid", IntentConfig(features="semhash+embedding", embedding_weight=2.0, ngram_min=2, ngram_max=4,
                                     **_RAW_NGRAMS),
              "letter 2- to 4-grams next to the MiniLM embedding (weight 2), one linear SVM on both", 3.0),
    Candidate("semhash", IntentConfig(),
              "the paper's subword semantic hashing with logistic regression (the default before automatic "
              "choice)", 4.0),
    Candidate(BLEND, IntentConfig(features="semhash+embedding", embedding_classifier=classifiers.EMBEDDING_LOGISTIC),
              "the best n-gram candidate and the embedding candidate, their scores added with a weight chosen "
              "on held-out folds (no extra fitting)", 0.0),
)
PIPELINES: tuple[str, ...] = (AUTO, *(c.name for c in CANDIDATES))


def candidate(name: str) -> Candidate:
    """The candidate called ``name``."""
    for found in CANDIDATES:
        if found.name == name:
            return found
    raise WorkbenchError(f"Unknown pipeline {name!r}; choose one of {', '.join(PIPELINES)}.")


@dataclass(frozen=True)
class CvScore:
    """Accuracy over the held-out folds: mean, standard deviation and every fold's score."""

    mean: float
    std: float
    folds: tuple[float, ...]

    def to_json(self) -> dict[str, object]:
        """The score as a JSON object."""
        return {"mean": self.mean, "std": self.std, "folds": list(self.folds)}


@dataclass
class CandidateReport:
    """How one candidate fared: CV accuracy over its completed folds, seconds spent, status.

    ``status`` is ``selected`` (the winner), ``scored`` or ``skipped`` (it could not be scored in the
    budget, or its features are unavailable; ``note`` says why).
    """

    pipeline: str
    description: str
    fold_accuracies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "scored"
    note: str = ""
    held_out: list[np.ndarray] = field(default_factory=list, repr=False)  # per split: scores [n_test, n_intents]

    @property
    def cv(self) -> CvScore | None:
        """The CV score, None when no fold was completed."""
        if not self.fold_accuracies:
            return None
        return CvScore(float(np.mean(self.fold_accuracies)), float(np.std(self.fold_accuracies)),
                       tuple(self.fold_accuracies))

    def to_json(self) -> dict[str, Any]:
        """``{"pipeline", "cv_accuracy", "seconds", "status", ...}`` (``cv_accuracy`` None when skipped)."""
        cv = self.cv
        return {"pipeline": self.pipeline, "cv_accuracy": None if cv is None else round(cv.mean, 5),
                "seconds": round(self.seconds, 2), "status": self.status,
                "cv_std": None if cv is None else round(cv.std, 5), "folds": len(self.fold_accuracies),
                "description": self.description, "note": self.note}


@dataclass(frozen=True)
class Selection:
    """The outcome of the automatic choice: every candidate's report, the winner and why it won."""

    candidates: tuple[CandidateReport, ...]
    winner: str
    reason: str
    folds: int
    n_sentences: int
    budget_s: float
    seconds: float
    embedding_seconds: float

    def to_json(self) -> dict[str, Any]:
        """The selection as JSON (``metrics.json`` keeps ``candidates`` under ``selection``)."""
        return {"winner": self.winner, "reason": self.reason, "folds": self.folds, "n_sentences": self.n_sentences,
                "budget_s": self.budget_s, "seconds": round(self.seconds, 2),
                "embedding_seconds": round(self.embedding_seconds, 2),
                "candidates": [c.to_json() for c in self.candidates]}


def fold_count(data: LabelledTexts, folds: int) -> int:
    """``folds`` capped by the largest intent's size (and by 3 from :data:`LARGE` sentences), at least 2.

    An intent with fewer sentences than folds is missing from some folds' training parts; its
    held-out sentences then count as errors, which is what a model trained on so few would do.
    """
    largest = max(data.counts().values())
    return max(2, min(folds, largest, 3 if len(data) >= LARGE else folds))


MAX_SPLITS = 20


def repeat_count(data: LabelledTexts, folds: int = 5) -> int:
    """How often k-fold CV is repeated with other splits: up to 1,000 / N times, at most :data:`MAX_SPLITS`
    splits in all (10 x 2 folds for 30 sentences, 4 x 5 folds for 240), once from 1,000 sentences."""
    return max(1, min(round(1000 / len(data)), MAX_SPLITS // fold_count(data, folds)))


def _splits(data: LabelledTexts, folds: int, repeats: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    import warnings

    from sklearn.model_selection import RepeatedStratifiedKFold  # sklearn loads on first use

    splitter = RepeatedStratifiedKFold(n_splits=fold_count(data, folds), n_repeats=repeats, random_state=seed)
    with warnings.catch_warnings():  # "the least populated class has fewer members than folds": intended
        warnings.simplefilter("ignore", UserWarning)
        return list(splitter.split(np.zeros(len(data)), np.array(data.labels, dtype=object)))


def _subset(data: LabelledTexts, index: np.ndarray) -> LabelledTexts:
    return LabelledTexts(tuple(data.texts[i] for i in index), tuple(data.labels[i] for i in index), data.source)


def _fold(data: LabelledTexts, config: IntentConfig, train_index: np.ndarray, test_index: np.ndarray,
          seed: int) -> tuple[float, np.ndarray]:
    """Fit on one fold's training part; its accuracy on the held-out part and the held-out scores
    ``[n_test, n_intents of data]`` (-inf for an intent missing from this fold's training part)."""
    model = fit(_subset(data, train_index), replace(config, seed=seed))
    labels = sorted(set(data.labels))
    scores = np.full((len(test_index), len(labels)), -np.inf)
    scores[:, [labels.index(label) for label in model.labels]] = model.scores([data.texts[i] for i in test_index])
    return _accuracy(scores, data, test_index), scores


def _accuracy(scores: np.ndarray, data: LabelledTexts, test_index: np.ndarray) -> float:
    labels = sorted(set(data.labels))
    truth = np.array([labels.index(data.labels[i]) for i in test_index])
    return float(np.mean(scores.argmax(axis=1) == truth))


def cross_validate(data: LabelledTexts, config: IntentConfig, folds: int = 5, repeats: int = 1, seed: int = 0,
                   progress: Progress | None = None) -> CvScore:
    """Accuracy of ``config`` over ``repeats`` x k stratified folds of ``data`` (vocabulary refitted per fold)."""
    require_trainable(data)
    splits = _splits(data, folds, repeats, seed)
    scores = []
    for number, (train_index, test_index) in enumerate(splits):
        scores.append(_fold(data, config, train_index, test_index, config.seed + number)[0])
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


def _embed_within(texts: list[str], deadline: float, report: Progress) -> tuple[bool, float, str]:
    """Embed every distinct sentence if the projected time fits before ``deadline``.

    Returns (done, seconds spent, note). A first batch of :data:`EMBED_PROBE` sentences measures
    the speed; what was embedded stays cached either way.
    """
    if embeddings.model_dir() is None:
        return False, 0.0, f"the sentence-embedding package {embeddings.DISTRIBUTION} is not installed"
    start = time.monotonic()
    missing = embeddings.uncached(texts)
    if not missing:
        return True, 0.0, ""
    embeddings.load()
    embeddings.encode(missing[:WARM_UP])  # the first batches pay one-off set-up costs: not timed
    began = time.monotonic()
    probe = missing[WARM_UP:WARM_UP + EMBED_PROBE]
    embeddings.encode(probe)
    rest = missing[WARM_UP + len(probe):]
    projected = (time.monotonic() - began) / max(len(probe), 1) * len(rest)
    if time.monotonic() + projected > deadline:
        return False, time.monotonic() - start, (
            f"embedding {len(missing):,} sentences would take about {projected + time.monotonic() - began:.0f} s, "
            f"more than the {max(0.0, deadline - began):.0f} s of budget left")
    embeddings.encode(rest, lambda f, m: report(f, m))
    return True, time.monotonic() - start, ""


def _reason(reports: list[CandidateReport], winner: CandidateReport, held_out: int,
            losses: dict[str, float]) -> str:
    scored = sorted((r for r in reports if r.cv is not None and r is not winner), key=lambda r: -r.cv.mean)
    cv = winner.cv
    if cv is None:
        return f"{winner.pipeline} was the only pipeline asked for (not cross-validated: {winner.note})"
    text = (f"{winner.pipeline} had the best cross-validated accuracy, {cv.mean:.3f} over {len(cv.folds)} "
            f"fold{'s' if len(cv.folds) > 1 else ''}")
    if not scored:
        return text
    runner_up = scored[0]
    gap = cv.mean - runner_up.cv.mean
    text += (f", ahead of {runner_up.pipeline} ({runner_up.cv.mean:.3f}, {100 * gap:+.1f} points, about "
             f"{round(gap * held_out):,} more of {held_out:,} held-out predictions right)")
    if gap <= 0 and losses:
        text += ("; tied on accuracy, so the lower held-out log loss (calibrated) decided: "
                 + ", ".join(f"{name} {loss:.3f}" for name, loss in sorted(losses.items(), key=lambda x: x[1])))
    return text


def _blend(ngrams: CandidateReport, embedding: CandidateReport, data: LabelledTexts,
           splits: list[tuple[np.ndarray, np.ndarray]]) -> tuple[list[float], float, list[np.ndarray]]:
    """Held-out accuracy of ``ngram scores + w * embedding scores`` per split, with ``w`` picked on the
    other splits only (so the estimate stays honest), the ``w`` picked on all of them, and the blended
    held-out scores."""
    done = min(len(ngrams.held_out), len(embedding.held_out))

    def accuracy(weight: float, numbers: list[int]) -> float:
        right = sum(_accuracy(ngrams.held_out[j] + weight * embedding.held_out[j], data, splits[j][1])
                    * len(splits[j][1]) for j in numbers)
        return right / sum(len(splits[j][1]) for j in numbers)

    def best(numbers: list[int]) -> float:
        return max(BLEND_WEIGHTS, key=lambda w: accuracy(w, numbers))  # max keeps the smallest of equals

    accuracies = [accuracy(best([k for k in range(done) if k != j] or [j]), [j]) for j in range(done)]
    weight = best(list(range(done)))
    return accuracies, weight, [ngrams.held_out[j] + weight * embedding.held_out[j] for j in range(done)]


def _held_out_matrix(found: CandidateReport, data: LabelledTexts,
                     splits: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """A candidate's held-out scores as one ``[N, n_intents]`` matrix (NaN rows: never held out)."""
    held = np.full((len(data), len(set(data.labels))), np.nan)
    for (_, test_index), scores in zip(splits, found.held_out):
        held[test_index] = scores  # a later repeat replaces the row
    return held


def held_out_log_loss(held: np.ndarray, data: LabelledTexts) -> tuple[float, float | None]:
    """Mean log loss of temperature-scaled held-out scores and the fitted temperature, over the rows
    held out with their true intent known to the fold's model (``(inf, None)`` when there are none)."""
    from scipy.special import logsumexp

    labels = sorted(set(data.labels))
    truth = np.array([labels.index(label) for label in data.labels])
    rows = ~np.isnan(held).any(axis=1) & np.isfinite(held[np.arange(len(truth)), truth])
    if not rows.any():
        return float("inf"), None
    temperature = fit_temperature(held[rows], truth[rows])
    scaled = held[rows] * temperature
    return float(np.mean(logsumexp(scaled, axis=1) - scaled[np.arange(rows.sum()), truth[rows]])), temperature


def _score_round_robin(data: LabelledTexts, fitted: list[Candidate], reports: dict[str, CandidateReport],
                       splits: list[tuple[np.ndarray, np.ndarray]], seed: int, start: float, deadline: float,
                       report: Progress) -> None:
    """Fit and score the candidates split by split (split 1 of each, then split 2, ...) until ``deadline``.

    A candidate whose next split would end past the deadline (its mean split time so far; for the
    first split, the first candidate's time scaled by ``cost``) stops; one that gets no split at all
    is marked skipped. Results go into ``reports``.
    """
    unit = None  # seconds per unit of candidate cost, measured on the first split
    for number, (train_index, test_index) in enumerate(splits):
        for c in fitted:
            found = reports[c.name]
            if found.status == "skipped" or len(found.fold_accuracies) < number:
                continue
            estimate = found.seconds / number if number else (unit or 0.0) * c.cost
            if time.monotonic() + estimate > deadline and (number or unit is not None):
                if not number:
                    found.status = "skipped"
                    found.note = (f"one fold would take about {estimate:.0f} s; "
                                  f"{max(0.0, deadline - time.monotonic()):.0f} s of the budget were left")
                continue
            report(min(0.95, 0.3 + 0.7 * (time.monotonic() - start) / (deadline - start)),
                   f"split {number + 1}/{len(splits)}: {c.name}")
            began = time.monotonic()
            accuracy, scores = _fold(data, c.config, train_index, test_index, seed + number)
            found.seconds += time.monotonic() - began
            found.fold_accuracies.append(accuracy)
            found.held_out.append(scores)
            if unit is None:
                unit = found.seconds / c.cost


def select(data: LabelledTexts, candidates: tuple[Candidate, ...] = CANDIDATES, budget_s: float = DEFAULT_BUDGET_S,
           folds: int = 5, seed: int = 0,
           progress: Progress | None = None) -> tuple[Selection, IntentConfig, np.ndarray | None]:
    """Score ``candidates`` by stratified k-fold CV on ``data`` within ``budget_s`` seconds; pick the best.

    Small files get the k-fold CV repeated with other splits (:func:`repeat_count`), so that the
    choice does not hinge on one split of a few dozen sentences.

    Returns the :class:`Selection`, the winner's configuration (for ``blend``, with its n-gram part
    and weight filled in) and its held-out scores ``[N, n_intents]`` (rows never held out are
    NaN; None when the winner was not cross-validated), on which :func:`train` calibrates.
    """
    require_trainable(data)
    if budget_s <= 0:
        raise WorkbenchError(f"The time budget must be positive, not {budget_s} s.")
    report = progress or (lambda fraction, message: None)
    start = time.monotonic()
    deadline = start + budget_s
    reports = {c.name: CandidateReport(c.name, c.summary) for c in candidates}
    splits = _splits(data, folds, repeat_count(data, folds), seed)
    embedding_seconds = 0.0
    if any(c.config.uses_embedding for c in candidates):
        report(0.0, "embedding the training sentences (once per distinct sentence)")
        done, embedding_seconds, note = _embed_within(list(data.texts), deadline, lambda f, m: report(0.3 * f, m))
        for c in candidates:
            if c.config.uses_embedding and not done:
                reports[c.name].status, reports[c.name].note = "skipped", note
    _score_round_robin(data, [c for c in candidates if c.name != BLEND], reports, splits, seed, start, deadline,
                       report)
    configs = {c.name: c.config for c in candidates}
    ngram_reports = [reports[c.name] for c in candidates
                     if c.name != BLEND and not c.config.uses_embedding and reports[c.name].cv]
    if BLEND in reports:
        found, embedding = reports[BLEND], reports.get("embedding")
        if embedding is None or embedding.cv is None or not ngram_reports:
            found.status, found.note = "skipped", "needs a scored n-gram candidate and the embedding candidate"
        else:
            best_ngrams = max(ngram_reports, key=lambda r: r.cv.mean)  # type: ignore[union-attr]
            found.fold_accuracies, weight, found.held_out = _blend(best_ngrams, embedding, data, splits)
            found.note = f"{best_ngrams.pipeline} + embedding x {weight:.3g}"
            configs[BLEND] = replace(configs[best_ngrams.pipeline], features="semhash+embedding",
                                      embedding_classifier=configs["embedding"].classifier, embedding_weight=weight)
    scored = [r for r in reports.values() if r.cv is not None]
    best = max((r.cv.mean for r in scored), default=None)  # type: ignore[union-attr]
    tied = [r for r in scored if abs(r.cv.mean - best) < 1e-9]  # type: ignore[union-attr,operator]
    losses = {r.pipeline: held_out_log_loss(_held_out_matrix(r, data, splits), data)[0] for r in tied} \
        if len(tied) > 1 else {}
    # equal accuracy: the better calibrated held-out probabilities, then the one earlier in the list
    winner = min(tied, key=lambda r: losses.get(r.pipeline, 0.0)) if tied else reports[candidates[0].name]
    if winner.cv is not None:
        winner.status = "selected"
    done_splits = max((len(r.fold_accuracies) for r in scored), default=0)
    held_out_count = sum(len(test) for _, test in splits[:done_splits])
    selection = Selection(tuple(reports.values()), winner.pipeline, _reason(list(reports.values()), winner,
                                                                            held_out_count, losses),
                          len(splits), len(data), float(budget_s), time.monotonic() - start, embedding_seconds)
    held = _held_out_matrix(winner, data, splits) if winner.held_out else None
    return selection, configs[winner.pipeline], held


@dataclass
class Trained:
    """A trained model and, when pipelines were compared or cross-validated, the selection behind it."""

    model: IntentModel
    selection: Selection | None


def pipeline_candidates(pipeline: str | IntentConfig) -> tuple[Candidate, ...]:
    """The candidates a pipeline name stands for: all of them for ``auto``, else one."""
    if isinstance(pipeline, IntentConfig):
        return (Candidate("custom", pipeline, pipeline.describe()),)
    if pipeline == AUTO:
        return CANDIDATES
    return (candidate(pipeline),)


def train(data: LabelledTexts, pipeline: str | IntentConfig = AUTO, budget_s: float = DEFAULT_BUDGET_S,
          folds: int = 5, seed: int = 0, info: ModelInfo | None = None, progress: Progress | None = None,
          oos_threshold: float = 0.0) -> Trained:
    """Choose (``auto``) or take a pipeline, cross-validate, refit on all of ``data`` and calibrate.

    Args:
        data: labelled training sentences (at least two intents).
        pipeline: ``auto``, a candidate's name (:data:`PIPELINES`) or an explicit configuration.
        budget_s: seconds for the choice (embedding + cross-validation); the final refit comes on top.
        folds: k of the stratified k-fold CV (capped by the smallest intent); 0 skips CV for a single
            pipeline (then there is nothing to calibrate on; ``auto`` needs ``folds`` >= 2).
        seed: seed of the folds, augmentation and classifiers.
        info: provenance for the model (name, source).
        progress: ``progress(fraction in 0..1, message)``; it may raise to cancel.
        oos_threshold: the model's out-of-scope threshold (probability in [0, 1)).
    """
    require_trainable(data)
    candidates = pipeline_candidates(pipeline)
    report = progress or (lambda fraction, message: None)
    start = time.perf_counter()
    selection, held_out = None, None
    if folds:
        selection, config, held_out = select(data, candidates, budget_s, folds, seed,
                                             lambda f, m: report(0.85 * f, m))
        name = selection.winner
    elif len(candidates) > 1:
        raise WorkbenchError("The automatic pipeline is chosen by cross-validation: give at least 2 folds.")
    else:
        name, config = candidates[0].name, candidates[0].config
    config = replace(config, seed=seed, oos_threshold=oos_threshold)
    report(0.85, f"fitting {name} on all {len(data):,} sentences")
    model = fit(data, config, info, lambda f, m: report(0.85 + 0.15 * f, m))
    if held_out is not None:
        model.temperature = held_out_log_loss(held_out, data)[1]
    winner = next((r for r in selection.candidates if r.pipeline == name), None) if selection else None
    model.info = replace(model.info, train_seconds=round(time.perf_counter() - start, 3),
                         cv=winner.cv.to_json() if winner is not None and winner.cv is not None else None,
                         selection=selection.to_json() if selection is not None and len(candidates) > 1 else None)
    return Trained(model, selection)

