"""Compare two user images with a DPS metric, and inspect a layer's feature maps.

:func:`compare` is the verb the tab and ``python -m engine.similarity compare`` use: it takes two
RGB images ``float32 [H, W, 3]`` in 0..1 (as :func:`engine.images.load_image` returns them), brings
them to one size (with a note saying how), and returns a :class:`SimilarityResult` with the
distance, the per-entry distances and the upsampled distance map.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from engine.errors import InputError
from engine.similarity.metric import DeepPerceptualSimilarity, normalize_channels

MIN_SIDE = 32  # smaller inputs leave no spatial extent in AlexNet's deeper layers
RESIZE_METHOD = "bilinear, antialiased"


@dataclass
class SimilarityResult:
    """One comparison: ``distance`` (sum of ``per_entry``), a ``map`` ``[H, W]`` and what shaped them."""

    distance: float
    per_entry: dict[str, float]
    map: np.ndarray
    image_a: np.ndarray
    image_b: np.ndarray
    metric: str
    provenance: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """The numbers and labels (no arrays), for the API and the CLI's ``--json``."""
        return {"distance": self.distance, "per_entry": self.per_entry, "metric": self.metric,
                "provenance": self.provenance, "size": list(self.map.shape), "notes": self.notes}


def to_tensor(pixels: np.ndarray, name: str = "image") -> torch.Tensor:
    """``[H, W, 3]`` floats in 0..1 as a ``[1, 3, H, W]`` tensor; raises :class:`InputError` otherwise."""
    array = np.asarray(pixels)
    if array.ndim != 3 or array.shape[2] != 3:
        raise InputError(f"{name} must be an RGB array [H, W, 3], got shape {array.shape}.")
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{name} must hold floats in 0..1, got {array.dtype} (divide 8-bit images by 255).")
    if array.size and (not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0):
        raise InputError(f"{name} must hold values in 0..1; load it with engine.images.load_image.")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)


def resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``[B, 3, H, W]`` resized to ``size`` ``(H, W)`` with antialiased bilinear interpolation, kept in 0..1."""
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0.0, 1.0)


def working_size(height: int, width: int, size: int | None, max_side: int) -> tuple[int, int]:
    """The ``(H, W)`` two images are compared at: ``size`` x ``size`` if given, else the first image's
    size with its longer side capped at ``max_side``."""
    if size is not None:
        target = (size, size)
    elif max(height, width) > max_side:
        scale = max_side / max(height, width)
        target = (max(1, round(height * scale)), max(1, round(width * scale)))
    else:
        target = (height, width)
    if min(target) < MIN_SIDE:
        raise InputError(f"Images must be at least {MIN_SIDE} pixels on each side to compare, got "
                         f"{target[1]}x{target[0]}; choose a larger working size.")
    return target


def prepare_pair(a: np.ndarray, b: np.ndarray, size: int | None = None,
                 max_side: int = 512) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Two images as same-size ``[1, 3, H, W]`` tensors, with notes on every resize."""
    first, second = to_tensor(a, "the first image"), to_tensor(b, "the second image")
    height, width = first.shape[-2:]
    target = working_size(int(height), int(width), size, max_side)
    notes = []
    for name, image in (("first", first), ("second", second)):
        if tuple(image.shape[-2:]) != target:
            notes.append(f"The {name} image was resized from {image.shape[-1]}x{image.shape[-2]} to "
                         f"{target[1]}x{target[0]} ({RESIZE_METHOD}).")
    return resize(first, target), resize(second, target), notes


def compare(a: np.ndarray, b: np.ndarray, metric: DeepPerceptualSimilarity, size: int | None = None,
            max_side: int = 512) -> SimilarityResult:
    """The DPS distance between two images, per entry and as a map.

    Args:
        a, b: RGB ``float32 [H, W, 3]`` in 0..1 (ImageNet normalisation happens inside the metric).
        metric: a :class:`DeepPerceptualSimilarity` (see :func:`engine.similarity.build_metric`).
        size: compare at ``size`` x ``size`` (64 for BAPPS-comparable numbers); None keeps ``a``'s
            size, longer side capped at ``max_side``. ``b`` is resized to ``a``'s size if they differ.

    Returns:
        A :class:`SimilarityResult`; ``map`` is ``[H, W]`` at the working size.
    """
    first, second, notes = prepare_pair(a, b, size, max_side)
    with torch.inference_mode():
        both = metric.embed(torch.cat([first, second]))
        distances = metric.distance(both.select(0), both.select(1), with_map=True)
    assert distances.map is not None
    per_entry = {name: float(value) for name, value in zip(metric.entry_names, distances.per_entry[0])}
    return SimilarityResult(
        distance=float(distances.total[0]), per_entry=per_entry, map=distances.map[0].cpu().numpy(),
        image_a=first[0].permute(1, 2, 0).numpy(), image_b=second[0].permute(1, 2, 0).numpy(),
        metric=metric.label, provenance=metric.provenance, notes=notes,
    )


@dataclass
class FeatureInspection:
    """The ``count`` most active channels of one layer: ``raw`` and ``normalized`` maps ``[K, h, w]``."""

    layer: str
    channels: list[int]
    raw: np.ndarray
    normalized: np.ndarray
    total_channels: int
    zero_positions: float  # fraction of positions whose channel vector is all zero

    @property
    def shape(self) -> tuple[int, int]:
        """``(h, w)`` of the maps."""
        return int(self.raw.shape[1]), int(self.raw.shape[2])


def inspect_layer(image: np.ndarray, metric: DeepPerceptualSimilarity, layer: str, count: int = 16,
                  size: int | None = None, max_side: int = 512) -> FeatureInspection:
    """One layer's feature maps for an image, raw and channel-normalised (as paper (a)'s analysis shows).

    Channel normalisation divides each position's C-vector by its norm, so a position with a weak
    but non-zero response becomes as loud as a strong one; that is what the normalised maps show.
    The ``count`` channels with the largest mean activation are returned.
    """
    names = [item.name for item in metric.extractor.layers]
    if layer not in names:
        raise InputError(f"Layer {layer!r} is not extracted; choose from {', '.join(names)}.")
    tensor = to_tensor(image)
    tensor = resize(tensor, working_size(int(tensor.shape[-2]), int(tensor.shape[-1]), size, max_side))
    with torch.inference_mode():
        maps = metric.features(tensor)[layer][0]
        normalized = normalize_channels(maps.unsqueeze(0))[0]
        order = maps.mean(dim=(1, 2)).argsort(descending=True)[: max(1, count)]
        zero = float((maps.abs().sum(dim=0) == 0).float().mean())
    return FeatureInspection(layer, [int(i) for i in order], maps[order].cpu().numpy(),
                             normalized[order].cpu().numpy(), int(maps.shape[0]), zero)
