"""Figures for results: bare matplotlib ``Figure`` objects, never pyplot.

pyplot keeps global state that the app's worker threads would share; a bare ``Figure`` needs no backend
and is garbage-collected like any object. matplotlib is imported on the first figure, not at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` x ``height`` inches with constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def colormap(name: str) -> Colormap:
    """The registered matplotlib colormap called ``name``."""
    import matplotlib

    return matplotlib.colormaps[name]


def training_curves(steps: Sequence[int], losses: Sequence[float | None],
                    metrics: Mapping[str, tuple[Sequence[int], Sequence[float]]], title: str) -> Figure:
    """Loss per step (with its running mean) and any metrics over the same steps (right axis).

    Args:
        steps: the step of each loss value (1-based, over the whole run).
        losses: the loss at each step (None where a report carried no loss).
        metrics: name -> (steps, values), e.g. held-out accuracy after each epoch.
        title: shown above the plot.
    """
    import numpy as np

    figure = new_figure(7, 3.2)
    axes = figure.add_subplot()
    pairs = [(s, v) for s, v in zip(steps, losses) if v is not None and np.isfinite(v)]
    if pairs:
        x, y = np.array(pairs, dtype=float).T
        axes.plot(x, y, color="tab:blue", alpha=0.3, linewidth=0.8, label="loss")
        window = max(1, min(50, len(y) // 10))
        if window > 1:
            axes.plot(x[window - 1:], np.convolve(y, np.ones(window) / window, mode="valid"), color="tab:blue",
                      label=f"loss, mean of {window}")
        if (y > 0).all() and y.max() / max(y.min(), 1e-12) > 20:
            axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("loss", color="tab:blue")
    if metrics:
        other = axes.twinx()
        for (name, (metric_steps, values)), colour in zip(metrics.items(), colormap("tab10").colors[1:]):
            other.plot(metric_steps, values, "o-", markersize=3, color=colour, label=name)
        other.legend(loc="center right", fontsize=8)
    if pairs:
        axes.legend(loc="upper right", fontsize=8)
    figure.suptitle(title, fontsize=10)
    return figure
