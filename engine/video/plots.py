"""Figures of the video rater: the per-window timeline, training curves and the discrimination probe."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.plotting import new_figure, training_curves
from engine.video.labels import LEVELS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from engine.training import History
    from engine.video.probing import ProbeResult
    from engine.video.scoring import HarmScores

LEVEL_COLOURS = ("#2ca02c", "#e6c300", "#ff7f0e", "#d62728")  # Btl green ... 15 red
MODALITIES = (("video", "Picture"), ("audio", "Sound"), ("fused", "Fused"))


def _segments(scores: HarmScores) -> tuple[np.ndarray, np.ndarray]:
    """Step edges: each window owns ``centre +- stride / 2`` (clipped to the clip), as ``(x, window index)``."""
    edges, owners = [], []
    for index, window in enumerate(scores.windows):
        centre = (window.start_s + window.end_s) / 2
        half = min(scores.stride_s, window.end_s - window.start_s) / 2
        low, high = max(0.0, centre - half), min(scores.duration_s, centre + half)
        if index == 0:
            low = 0.0
        if index == len(scores.windows) - 1:
            high = max(scores.duration_s, high)
        edges += [low, high]
        owners += [index, index]
    return np.array(edges), np.array(owners)


def timeline(scores: HarmScores) -> Figure:
    """Stacked areas of the level probabilities over time, one row per modality (picture, sound, fused),
    with the window that drove the rating shaded."""
    figure = new_figure(9, 5.2)
    axes = figure.subplots(3, 1, sharex=True)
    x, owners = _segments(scores)
    worst = scores.worst
    for row, (modality, title) in zip(axes, MODALITIES):
        probabilities = scores.probabilities(modality)[owners]
        if np.isnan(probabilities).all():
            row.text(0.5, 0.5, "no sound", transform=row.transAxes, ha="center", va="center", color="0.4")
        else:
            row.stackplot(x, np.nan_to_num(probabilities).T, colors=LEVEL_COLOURS, labels=LEVELS, alpha=0.9,
                          linewidth=0)
        row.axvspan(worst.start_s, worst.end_s, facecolor="none", edgecolor="black", linewidth=1.5, linestyle="--")
        row.set_ylim(0, 1)
        row.set_xlim(0, max(scores.duration_s, 1e-3))
        row.set_ylabel(title)
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="level")
    axes[-1].set_xlabel("time (s)")
    figure.suptitle(f"Rating {scores.rating}: worst window {worst.start_s:.1f}-{worst.end_s:.1f} s "
                    f"(dashed), pushed by {worst.pushed_by}", fontsize=10)
    return figure


def stage_curves(stage: str, history: History) -> Figure:
    """Loss per step and validation score per epoch of one trained stage (video, audio or fusion)."""
    return training_curves(list(range(1, len(history.losses) + 1)), history.losses,
                           _epoch_metrics(history, len(history.losses)), f"{stage} stage")


def _epoch_metrics(history: History, steps: int) -> dict[str, tuple[list[int], list[float]]]:
    """Validation metrics per epoch, placed at the last step of their epoch."""
    epochs = len(history.epoch_metrics)
    per_epoch = steps // epochs if epochs else 0
    result: dict[str, tuple[list[int], list[float]]] = {}
    for number, values in enumerate(history.epoch_metrics, 1):
        for name, value in values.items():
            if name != "epoch":
                xs, ys = result.setdefault(name, ([], []))
                xs.append(number * per_epoch)
                ys.append(value)
    return result


def probe_bars(result: ProbeResult) -> Figure:
    """Predicted level shares per group (stacked bars) with each group's mean harm score."""
    figure = new_figure(7, 0.5 + 0.45 * max(len(result.groups), 2))
    axes = figure.add_subplot()
    names = [group.name for group in result.groups]
    left = np.zeros(len(names))
    for level, (name, colour) in enumerate(zip(LEVELS, LEVEL_COLOURS)):
        shares = np.array([group.level_shares[level] for group in result.groups])
        axes.barh(names, shares, left=left, color=colour, label=name)
        left += shares
    for row, group in enumerate(result.groups):
        axes.text(1.01, row, f"mean {group.mean_harm_score:.2f} (n={group.clips})", va="center", fontsize=8)
    axes.set_xlim(0, 1)
    axes.set_xlabel("share of clips per predicted level")
    axes.legend(loc="lower right", fontsize=8, ncols=4)
    axes.set_title(f"Predicted levels per group; largest gap in mean harm score {result.gap:.2f}", fontsize=10)
    return figure
