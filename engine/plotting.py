"""Figures for results: bare matplotlib ``Figure`` objects, never pyplot.

pyplot keeps global state that the app's worker threads would share; a bare ``Figure`` needs no backend
and is garbage-collected like any object. matplotlib is imported on the first figure, not at start-up.
"""

from __future__ import annotations

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
