"""Pictures of explanations: the map over the image with segment boundaries, and the LIF/MIF curves."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
from skimage.segmentation import find_boundaries

from engine.explain.pipeline import Explanation
from engine.plotting import colormap, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

BOUNDARY_COLOR = np.array([1.0, 1.0, 1.0])


def display_values(attribution_map: np.ndarray, by_rank: bool) -> np.ndarray:
    """The map scaled to 0..1 for colouring: min-max (display only), or each pixel's rank ("colour by
    rank", which shows exactly the ordering that LIF/MIF/SRG measure)."""
    values = np.asarray(attribution_map, dtype=np.float64)
    if by_rank:
        ranks = np.empty(values.size)
        ranks[np.argsort(np.round(values.ravel(), 9), kind="stable")] = np.arange(values.size)
        return (ranks / max(values.size - 1, 1)).reshape(values.shape)
    low, high = values.min(), values.max()
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def overlay(explanation: Explanation, image: np.ndarray | None = None, by_rank: bool = False,
            boundaries: bool = True, opacity: float = 0.5, max_side: int = 512) -> np.ndarray:
    """``uint8 [h + 34, w, 3]``: the attribution map (jet colours, red = most supportive) blended over the image,
    with the segment boundaries in white, and the colour scale below it (the map's lowest and highest values,
    or ranks).

    Args:
        explanation: the result of :func:`engine.explain.pipeline.explain`.
        image: the picture to draw on, ``float32 [H, W, 3]`` in 0..1 (e.g. the original upload); default the
            model-sized image that was explained.
        by_rank: colour by rank instead of by value.
        boundaries: draw segment boundaries.
        opacity: weight of the colours against the image, 0..1.
        max_side: the picture is downsized so that its longer side is at most this.
    """
    picture = explanation.image if image is None else image
    scale = min(1.0, max_side / max(picture.shape[:2]))
    height, width = max(1, round(picture.shape[0] * scale)), max(1, round(picture.shape[1] * scale))
    picture = cv2.resize(picture.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    values = explanation.map_at(height, width)
    colours = colormap("jet")(display_values(values, by_rank))[..., :3]
    blended = (1 - opacity) * picture + opacity * colours
    if boundaries:
        labels = cv2.resize(explanation.segmentation.labels.astype(np.float32), (width, height),
                            interpolation=cv2.INTER_NEAREST).astype(np.int32)
        blended[find_boundaries(labels, mode="inner")] = BOUNDARY_COLOR
    ends = ("least supportive", "most supportive") if by_rank else (f"{values.min():.3g}", f"{values.max():.3g}")
    return with_colour_bar(np.round(np.clip(blended, 0, 1) * 255).astype(np.uint8), *ends)


def with_colour_bar(picture: np.ndarray, low: str, high: str, height: int = 34) -> np.ndarray:
    """``picture`` (``uint8 [h, w, 3]``) with the jet colour scale below it, its ends labelled ``low`` and ``high``."""
    width = picture.shape[1]
    bar = np.full((height, width, 3), 255, dtype=np.uint8)
    ramp = colormap("jet")(np.linspace(0, 1, width))[:, :3]
    bar[2:14] = np.round(ramp * 255).astype(np.uint8)[None]
    scale = 0.35 if width < 300 else 0.45
    cv2.putText(bar, low, (2, height - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    (text_width, _), _ = cv2.getTextSize(high, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.putText(bar, high, (max(width - text_width - 2, 0), height - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                1, cv2.LINE_AA)
    return np.concatenate([picture, bar], axis=0)


def curves(explanation: Explanation, title: str = "") -> Figure:
    """LIF (least important deleted first, higher is better) and MIF (most important first, lower is
    better) against the fraction of pixels deleted; the area between them is SRG. Below, when the
    samples were random and checked more than once, how settled the map became as they were drawn
    (:func:`convergence_axes`)."""
    result = explanation.evaluation
    shown = sum(np.isfinite(point.r) for point in explanation.convergence) >= 2  # a curve, not one exact design
    figure = new_figure(5.2, 6.0 if shown else 3.4)
    axes = figure.add_subplot(2, 1, 1) if shown else figure.add_subplot()
    axes.plot(result.fractions, result.lif, "o-", color="tab:green", label=f"LIF (mean {result.lif_auc:.3f})")
    axes.plot(result.fractions, result.mif, "s-", color="tab:red", label=f"MIF (mean {result.mif_auc:.3f})")
    axes.fill_between(result.fractions, result.mif, result.lif, color="tab:blue", alpha=0.12,
                      label=f"SRG = {result.srg:.3f}")
    axes.set_xlabel("fraction of pixels deleted")
    axes.set_ylabel(f"p({explanation.label})")
    axes.set_xlim(0, 1)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    axes.set_title(title or f"seed {explanation.seed}, {explanation.model_calls} model calls", fontsize=9)
    if shown:
        convergence_axes(figure.add_subplot(2, 1, 2), explanation)
    return figure


def convergence_axes(axes: Axes, explanation: Explanation) -> None:
    """The estimated correlation of the map with its converged self (split-half) against the number of
    samples drawn, with the ``until`` target when there was one (needs at least one finite estimate)."""
    points = [point for point in explanation.convergence if np.isfinite(point.r)]
    samples = [point.samples for point in points]
    axes.plot(samples, [point.r for point in points], "o-", color="tab:purple", markersize=3,
              label="estimated r with the converged map")
    target = explanation.config.until
    if target:
        axes.axhline(target, color="tab:gray", linestyle="--", linewidth=1, label=f"target {target:g}")
    axes.set_xscale("log")
    axes.set_xlabel("perturbed images drawn")
    axes.set_ylabel("r (split-half)")
    axes.set_ylim(min(0.5, *(point.r for point in points)), 1.005)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8, loc="lower right")
    last = points[-1]
    state = ("converged" if explanation.converged else "stopped at the budget") if target else "after N samples"
    axes.set_title(f"{state}: r = {last.r:.3f} after {last.samples} samples", fontsize=9)
