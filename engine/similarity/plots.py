"""Matplotlib figures of similarity results: per-layer bars, distance heat map, flaw suite, feature maps, 2AFC."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from engine.plotting import new_figure
from engine.similarity.compare import FeatureInspection, SimilarityResult
from engine.similarity.flaws import CATEGORIES, FlawReport
from engine.similarity.twoafc import Evaluation

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def layer_bars(result: SimilarityResult) -> Figure:
    """Horizontal bars of each entry's contribution to the distance (they sum to it)."""
    names = list(result.per_entry)
    values = np.array([result.per_entry[name] for name in names])
    figure = new_figure(6, 0.35 * len(names) + 1.2)
    axes = figure.add_subplot()
    colors = ["tab:blue" if " " not in name else "tab:orange" for name in names]
    axes.barh(names[::-1], values[::-1], color=colors[::-1])
    for index, value in enumerate(values[::-1]):
        axes.text(value, index, f" {value:.4f}", va="center", fontsize=8)
    axes.set_xlabel("distance contributed (sum = total)")
    axes.set_title(f"Total {result.distance:.4f}: {result.metric}", fontsize=9)
    axes.set_xlim(0, max(values.max() * 1.25, 1e-6))
    return figure


def distance_heatmap(result: SimilarityResult) -> Figure:
    """Both images and the per-pixel distance map, the map also laid over the first image."""
    figure = new_figure(10, 3.2)
    panels = figure.subplots(1, 4)
    panels[0].imshow(result.image_a)
    panels[0].set_title("first image", fontsize=9)
    panels[1].imshow(result.image_b)
    panels[1].set_title("second image", fontsize=9)
    shown = panels[2].imshow(result.map, cmap="magma")
    panels[2].set_title("distance map", fontsize=9)
    figure.colorbar(shown, ax=panels[2], fraction=0.046)
    panels[3].imshow(result.image_a)
    panels[3].imshow(result.map, cmap="magma", alpha=0.55)
    panels[3].set_title("map over first image", fontsize=9)
    for axes in panels:
        axes.axis("off")
    return figure


def flaw_plot(report: FlawReport) -> Figure:
    """Pass fraction per category for every configuration (grouped bars), totals on top."""
    labels = [f"{arch}\n{comparison}\nnorm {'on' if norm else 'off'}"
              for arch, comparison, norm in report.configurations]
    figure = new_figure(max(6.0, 0.9 * len(labels) + 1.5), 4.2)
    axes = figure.add_subplot()
    width = 0.8 / len(CATEGORIES)
    positions = np.arange(len(labels))
    for offset, category in enumerate(CATEGORIES):
        fractions = [report.passes(*configuration)[category] / report.totals[category]
                     for configuration in report.configurations]
        axes.bar(positions + (offset - 1.5) * width, fractions, width, label=f"{category} ({report.totals[category]})")
    total = sum(report.totals.values())
    for position, configuration in zip(positions, report.configurations):
        axes.text(position, 1.03, f"{sum(report.passes(*configuration).values())}/{total}", ha="center", fontsize=8)
    axes.set_xticks(positions, labels, fontsize=7)
    axes.set_ylim(0, 1.12)
    axes.set_ylabel("fraction of cases passed")
    axes.legend(fontsize=8, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.06))
    return figure


def feature_grid(inspection: FeatureInspection, columns: int = 8) -> Figure:
    """The inspected channels, raw (top block) and channel-normalised (bottom block), each with its own scale."""
    count = len(inspection.channels)
    rows = -(-count // columns)
    figure = new_figure(1.3 * columns, 1.45 * 2 * rows + 0.6)
    grid = figure.subplots(2 * rows, columns, squeeze=False)
    for block, (maps, title) in enumerate(((inspection.raw, "raw"), (inspection.normalized, "channel-normalised"))):
        for index in range(rows * columns):
            axes = grid[block * rows + index // columns][index % columns]
            axes.axis("off")
            if index < count:
                axes.imshow(maps[index], cmap="viridis")
                axes.set_title(f"{title} c{inspection.channels[index]}", fontsize=6)
    figure.suptitle(f"{inspection.layer}: {count} most active of {inspection.total_channels} channels, "
                    f"{inspection.shape[1]}x{inspection.shape[0]} map; {inspection.zero_positions:.0%} of positions "
                    "all-zero", fontsize=9)
    return figure


def twoafc_plot(evaluations: Sequence[Evaluation]) -> Figure:
    """2AFC score (and JND mAP) per set for each evaluated metric."""
    subsets = list(dict.fromkeys(s.subset for e in evaluations for s in e.subsets))
    figure = new_figure(max(5.0, 1.2 * len(subsets) + 2), 3.5)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(evaluations))
    for offset, evaluation in enumerate(evaluations):
        by_name = {s.subset: (s.score if s.kind == "2afc" else s.map) for s in evaluation.subsets}
        values = [by_name.get(name) or 0.0 for name in subsets]
        axes.bar(np.arange(len(subsets)) + offset * width, values, width, label=evaluation.metric)
    axes.set_xticks(np.arange(len(subsets)) + width * (len(evaluations) - 1) / 2, subsets, fontsize=7, rotation=20)
    axes.set_ylim(0, 1)
    axes.set_ylabel("2AFC score / JND mAP")
    axes.legend(fontsize=7)
    return figure
