"""Pictures of a prediction: the top intents as a bar chart, the subwords as scored spans, typo robustness."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.intent.model import IntentPrediction
from engine.plotting import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_SPANS = 400


def probability_chart(prediction: IntentPrediction, k: int = 8) -> Figure:
    """Horizontal bars of the ``k`` most likely intents (values 0..1), the predicted one highlighted."""
    top = prediction.top(k)[::-1]
    figure = new_figure(6, 0.45 * len(top) + 1.2)
    axes = figure.add_subplot()
    colours = ["#4f46e5" if label == prediction.intent else "#a5b4fc" for label, _ in top]
    bars = axes.barh([label for label, _ in top], [p for _, p in top], color=colours)
    axes.bar_label(bars, labels=[f"{p:.2f}" for _, p in top], padding=3, fontsize=9)
    axes.set_xlim(0, 1.1)
    axes.set_xlabel("probability" if prediction.probability_kind == "probability" else "softmax of decision scores")
    axes.set_title(f"Predicted: {prediction.intent}", fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def highlight_spans(prediction: IntentPrediction, limit: int = MAX_SPANS) -> list[tuple[str, float | None]]:
    """The sentence's subwords as ``(text, score)`` spans for a highlighted-text view.

    With the paper's trigrams every trigram is a span; with a range of n-gram lengths each word is
    one span scored by the sum of its n-grams. Scores lie in -1..1 (contribution divided by the
    largest absolute one; positive pushes towards the predicted intent); subwords unknown to the
    model and separators get ``None``. At most ``limit`` spans are listed, then a note of how many
    were left out.
    """
    units = _units(prediction)
    scale = max((abs(weight) for _, _, weight, _ in units), default=0.0) or 1.0
    spans: list[tuple[str, float | None]] = []
    previous_word = None
    for text, word_index, weight, known in units[:limit]:
        if previous_word is not None:
            spans.append(("   " if word_index != previous_word else " ", None))
        spans.append((text, round(weight / scale, 3) if known else None))
        previous_word = word_index
    if len(units) > limit:
        spans.append((f"   … {len(units) - limit:,} more {'trigrams' if _single(prediction) else 'words'}", None))
    return spans


def _single(prediction: IntentPrediction) -> bool:
    return prediction.ngram_range[0] == prediction.ngram_range[1]


def _units(prediction: IntentPrediction) -> list[tuple[str, int, float, bool]]:
    """(text, word index, contribution, known) per n-gram, or per word for a range of lengths."""
    if _single(prediction):
        return [(c.ngram, c.word_index, c.weight, c.known) for c in prediction.contributions]
    words: dict[int, list[Any]] = {}
    for c in prediction.contributions:
        words.setdefault(c.word_index, []).append(c)
    units = []
    for index, parts in words.items():
        longest = max(parts, key=lambda c: len(c.ngram))
        word = longest.ngram.strip("#") if len(parts) == 1 else _word_of(parts)
        units.append((word, index, sum(c.weight for c in parts), any(c.known for c in parts)))
    return units


def _word_of(parts: list[Any]) -> str:
    """The word behind its n-grams: the ``#``-padded windows of one length, stitched back together."""
    shortest = min(len(c.ngram) for c in parts)
    windows = [c.ngram for c in parts if len(c.ngram) == shortest]
    return (windows[0] + "".join(w[-1] for w in windows[1:])).strip("#")


def typo_chart(curves: dict[str, Any] | None, sentence: dict[str, Any] | None, rate: float) -> Figure:
    """Accuracy on test sentences vs typo rate (model and word TF-IDF baseline, when known) and the
    share of perturbed copies of the current sentence that keep its intent; a line marks ``rate``."""
    figure = new_figure(6, 3.2)
    axes = figure.add_subplot()
    if curves:
        for key, label, style in (("model", "this model, test accuracy", "o-"),
                                  ("word_tfidf", "word TF-IDF baseline, test accuracy", "s--")):
            if key in curves:
                found = curves[key]
                axes.plot([100 * r for r in found["rates"]], found["accuracy"], style, label=label)
    if sentence:
        axes.plot([100 * r for r in sentence["rates"]], sentence["kept"], "^:",
                  label=f"this sentence: copies still '{sentence['intent']}'")
    axes.axvline(100 * rate, color="grey", linewidth=1, linestyle="-.")
    axes.set_xlabel("typo rate (% of words with a keyboard typo)")
    axes.set_ylabel("share right")
    axes.set_ylim(0, 1.05)
    axes.legend(fontsize=8, loc="lower left")
    axes.spines[["top", "right"]].set_visible(False)
    if not curves:
        axes.set_title("No test curve stored: train with a test file to see one", fontsize=9)
    return figure
