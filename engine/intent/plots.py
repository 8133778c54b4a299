"""Pictures of a prediction: the top intents as a bar chart and the trigrams as scored spans."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    """The sentence's trigrams as ``(text, score)`` spans for a highlighted-text view.

    Scores lie in -1..1 (contribution divided by the largest absolute one; positive pushes towards
    the predicted intent); trigrams unknown to the model and separators get ``None``. At most
    ``limit`` trigrams are listed, followed by a note of how many were left out.
    """
    contributions = prediction.contributions
    scale = max((abs(c.weight) for c in contributions), default=0.0) or 1.0
    spans: list[tuple[str, float | None]] = []
    previous_word = None
    for contribution in contributions[:limit]:
        if previous_word is not None:
            spans.append(("   " if contribution.word_index != previous_word else " ", None))
        spans.append((contribution.trigram, round(contribution.weight / scale, 3) if contribution.known else None))
        previous_word = contribution.word_index
    if len(contributions) > limit:
        spans.append((f"   … {len(contributions) - limit:,} more trigrams", None))
    return spans
