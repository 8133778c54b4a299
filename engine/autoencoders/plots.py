"""Figures of the Perceptual loss tab: reconstructions, feature maps, predictor scores, embeddings, studies.

All functions return bare matplotlib figures (:func:`engine.plotting.new_figure`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.autoencoders.loss_networks import FeatureLayout
from engine.plotting import colormap, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _rgb(image: torch.Tensor) -> np.ndarray:
    return image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def _bare(axes: Any) -> None:
    axes.set_xticks([])
    axes.set_yticks([])


def reconstructions(images: torch.Tensor, outputs: Mapping[str, torch.Tensor], title: str) -> Figure:
    """Inputs (top row) and each model's reconstruction below (``[B, 3, S, S]`` in 0..1 each)."""
    rows, columns = 1 + len(outputs), len(images)
    figure = new_figure(1.1 * columns + 0.8, 1.15 * rows + 0.4)
    grid = figure.subplots(rows, columns, squeeze=False)
    for row, (name, batch) in enumerate([("input", images), *outputs.items()]):
        for column in range(columns):
            axes = grid[row][column]
            axes.imshow(_rgb(batch[column]), interpolation="nearest")
            _bare(axes)
        grid[row][0].set_ylabel(name, fontsize=8)
    figure.suptitle(title, fontsize=10)
    return figure


def _maps(vectors: torch.Tensor, layout: FeatureLayout) -> torch.Tensor:
    side_h, side_w = (layout.side, layout.side) if layout.side else (layout.height, layout.width)
    return vectors.reshape(len(vectors), layout.channels, side_h, side_w)


def feature_maps(images: torch.Tensor, true: torch.Tensor, predicted: torch.Tensor, layout: FeatureLayout,
                 title: str, images_shown: int = 4, channels: int = 3) -> Figure:
    """For a few images: the input, then true and predicted maps of its most active channels.

    Args:
        images: ``[B, 3, S, S]`` inputs.
        true, predicted: ``[B, P]`` feature vectors laid out as ``layout``.
        layout: their ``[C, s, s]`` shape.
        title: shown above.
        images_shown: rows (one image each).
        channels: channels shown per image (true and predicted side by side, same colour scale).
    """
    true_maps, predicted_maps = _maps(true, layout), _maps(predicted, layout)
    count = min(images_shown, len(images))
    figure = new_figure(1.0 + 1.1 * (1 + 2 * channels), 1.15 * count + 0.5)
    grid = figure.subplots(count, 1 + 2 * channels, squeeze=False)
    for row in range(count):
        grid[row][0].imshow(_rgb(images[row]), interpolation="nearest")
        _bare(grid[row][0])
        strongest = true_maps[row].flatten(1).var(1).argsort(descending=True)[:channels]
        for k, channel in enumerate(strongest.tolist()):
            low, high = float(true_maps[row, channel].min()), float(true_maps[row, channel].max())
            for offset, (maps, name) in enumerate(((true_maps, "true"), (predicted_maps, "predicted"))):
                axes = grid[row][1 + 2 * k + offset]
                axes.imshow(maps[row, channel].numpy(), cmap="viridis", vmin=low, vmax=high if high > low else low + 1)
                _bare(axes)
                if row == 0:
                    axes.set_title(f"{name} ch {channel}", fontsize=7)
    figure.suptitle(f"{title}\nfeature vector {layout.label}", fontsize=9)
    return figure


def predictor_scores(evaluations: Mapping[str, Sequence[Mapping[str, Any]]], position_unit: str = "px") -> Figure:
    """Test scores of every predictor for every model: position error (lower is better) and accuracy.

    Args:
        evaluations: model name -> its predictor results (``PredictorResult`` as dicts).
        position_unit: the unit of the position error.
    """
    tasks = [task for task in ("position", "class")
             if any(result["task"] == task for results in evaluations.values() for result in results)]
    figure = new_figure(4.2 * max(1, len(tasks)) + 0.5, 3.3)
    names = list(evaluations)
    colours = colormap("tab10").colors
    for index, task in enumerate(tasks):
        axes = figure.add_subplot(1, len(tasks), index + 1)
        predictors = list(dict.fromkeys(r["predictor"] for results in evaluations.values() for r in results
                                        if r["task"] == task))
        width = 0.8 / max(1, len(names))
        for offset, name in enumerate(names):
            values = {r["predictor"]: r["score"] for r in evaluations[name] if r["task"] == task}
            positions = np.arange(len(predictors)) + offset * width - 0.4 + width / 2
            axes.bar(positions, [values.get(p, np.nan) for p in predictors], width, label=name,
                     color=colours[offset % len(colours)])
        axes.set_xticks(np.arange(len(predictors)), predictors, rotation=45, fontsize=7)
        axes.set_ylabel(f"position error ({position_unit}, lower is better)" if task == "position"
                        else "class accuracy (higher is better)", fontsize=8)
        axes.set_title("position regression" if task == "position" else "shape classification", fontsize=9)
        if index == 0:
            axes.legend(fontsize=7)
    return figure


def embedding_scatter(points: np.ndarray, colour_by: np.ndarray, title: str, names: Sequence[str] = (),
                      continuous_label: str = "") -> Figure:
    """A 2-D projection coloured by class (with ``names``) or by a continuous value (``continuous_label``)."""
    figure = new_figure(5.2, 4.4)
    axes = figure.add_subplot()
    if names:
        palette = colormap("tab10").colors
        for index, name in enumerate(names):
            chosen = colour_by == index
            axes.scatter(points[chosen, 0], points[chosen, 1], s=9, color=palette[index % len(palette)], label=name)
        axes.legend(fontsize=7, markerscale=1.5)
    else:
        shown = axes.scatter(points[:, 0], points[:, 1], s=9, c=colour_by, cmap="viridis")
        figure.colorbar(shown, ax=axes, label=continuous_label)
    axes.set_title(title, fontsize=9)
    return figure


def study_by_architecture(table: Any, title: str = "") -> Figure:
    """Grouped bars: one group per architecture, one bar per layer (shallow to deep), one panel per metric.

    ``table`` is the study's results (a pandas DataFrame with arch, layer, depth, task, metric, value).
    """
    groups = list(table.groupby(["task", "metric"], sort=False))
    figure = new_figure(max(5.0, 1.0 + 0.9 * table["arch"].nunique()), 3.2 * max(1, len(groups)))
    for index, ((task, metric), rows) in enumerate(groups):
        axes = figure.add_subplot(len(groups), 1, index + 1)
        archs = list(dict.fromkeys(rows["arch"]))
        depths = sorted(rows["depth"].unique())
        width = 0.8 / max(1, len(depths))
        palette = colormap("viridis")
        for offset, depth in enumerate(depths):
            values = [rows[(rows["arch"] == arch) & (rows["depth"] == depth)]["value"].mean() for arch in archs]
            axes.bar(np.arange(len(archs)) + offset * width - 0.4 + width / 2, values, width,
                     color=palette(offset / max(1, len(depths) - 1)), label=f"layer {depth}")
        axes.set_xticks(np.arange(len(archs)), archs, rotation=20, fontsize=8)
        better = "higher" if bool(rows["higher_is_better"].iloc[0]) else "lower"
        axes.set_ylabel(f"{metric} ({better} is better)", fontsize=8)
        axes.set_title(f"{task}: {metric} by architecture", fontsize=9)
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def study_by_layer(table: Any, title: str = "") -> Figure:
    """Lines over layer depth (1 = shallowest of the architecture's layers), one per architecture and metric."""
    groups = list(table.groupby(["task", "metric"], sort=False))
    figure = new_figure(5.5 * max(1, len(groups)), 3.6)
    palette = colormap("tab20").colors
    for index, ((task, metric), rows) in enumerate(groups):
        axes = figure.add_subplot(1, len(groups), index + 1)
        for offset, (arch, per_arch) in enumerate(rows.groupby("arch", sort=False)):
            ordered = per_arch.groupby("depth")["value"].mean()
            axes.plot(ordered.index, ordered.values, "o-", color=palette[offset % len(palette)], label=arch)
            for depth, layer in per_arch.groupby("depth")["layer"].first().items():
                axes.annotate(layer, (depth, ordered[depth]), fontsize=6, xytext=(2, 2), textcoords="offset points")
        better = "higher" if bool(rows["higher_is_better"].iloc[0]) else "lower"
        axes.set_xlabel("layer depth (1 = shallowest)")
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.set_ylabel(f"{metric} ({better} is better)", fontsize=8)
        axes.set_title(f"{task}: {metric} by layer", fontsize=9)
        axes.legend(fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
