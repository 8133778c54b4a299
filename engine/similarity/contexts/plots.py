"""Figures of a context adaptation: before/after accuracy per pair (the live curve is the job's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.plotting import new_figure
from engine.similarity.contexts.evaluate import RankingAccuracy
from engine.similarity.contexts.triplets import NAMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure



def _matrix(axes: object, values: np.ndarray, title: str, cmap: str, limits: tuple[float, float]) -> object:
    shown = axes.imshow(values, cmap=cmap, vmin=limits[0], vmax=limits[1])  # type: ignore[attr-defined]
    axes.set_xticks(range(len(NAMES)), NAMES, rotation=45, ha="right", fontsize=8)  # type: ignore[attr-defined]
    axes.set_yticks(range(len(NAMES)), NAMES, fontsize=8)  # type: ignore[attr-defined]
    for row in range(len(NAMES)):
        for column in range(len(NAMES)):
            if row != column and np.isfinite(values[row, column]):
                axes.text(column, row, f"{values[row, column]:.2f}", ha="center", va="center",  # type: ignore[attr-defined]
                          fontsize=7, color="black")
    axes.set_title(title, fontsize=9)  # type: ignore[attr-defined]
    return shown


def pair_heatmaps(before: RankingAccuracy, after: RankingAccuracy | None = None) -> Figure:
    """Accuracy per pair of distortions before (and after) adaptation, and the change.

    The hardest pairs for the baseline are the darkest cells on the left; the paper observes that
    they tend to stay the hardest after adaptation.
    """
    panels = 1 if after is None else 3
    figure = new_figure(4.2 * panels, 3.9)
    grid = figure.subplots(1, panels, squeeze=False)[0]
    shown = _matrix(grid[0], before.per_pair, f"before: {before.overall:.3f}", "RdYlGn", (0, 1))
    if after is not None:
        _matrix(grid[1], after.per_pair, f"after: {after.overall:.3f}", "RdYlGn", (0, 1))
        change = after.per_pair - before.per_pair
        limit = max(0.05, float(np.nanmax(np.abs(change))))
        changed = _matrix(grid[2], change, "change", "PiYG", (-limit, limit))
        figure.colorbar(changed, ax=grid[2], fraction=0.046)
    figure.colorbar(shown, ax=grid[: 2 if after is not None else 1].tolist(), fraction=0.046)
    return figure
