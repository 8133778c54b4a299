"""Scoring attribution maps by perturbation: LIF / MIF / SRG (spec section 2) and RISE's deletion / insertion.

Both metrics delete (or insert) pixels in the order the map ranks them and watch the explained class's
output. They depend only on the pixel ordering; scores are rounded to 9 decimals so that ties group,
and ties keep their raster order (a stable sort).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.explain.perturbers import BlurPerturber, ColorPerturber, Perturber

Predict = Callable[[np.ndarray], np.ndarray]  # images [B, H, W, 3] in 0..1 -> outputs [B, classes]


def deletion_order(attribution_map: np.ndarray, most_first: bool) -> np.ndarray:
    """Flat pixel indices in the order they are deleted: highest score first (``most_first``) or lowest first.

    Scores are rounded to 9 decimals so that ties group; ties go in raster order.
    """
    scores = np.round(np.asarray(attribution_map, dtype=np.float64).ravel(), 9)
    return np.argsort(-scores if most_first else scores, kind="stable")


def keep_masks(attribution_map: np.ndarray, deleted: np.ndarray, most_first: bool) -> np.ndarray:
    """Masks ``float32 [S, H, W]``: 1 where a pixel survives after deleting ``deleted[s]`` pixels
    in :func:`deletion_order`."""
    order = deletion_order(attribution_map, most_first)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    masks = rank[None, :] >= np.asarray(deleted)[:, None]
    return masks.reshape(len(deleted), *attribution_map.shape).astype(np.float32)


def _normalised(curve: np.ndarray) -> np.ndarray:
    span = curve[0] - curve[-1]
    if abs(span) < 1e-6:
        return np.full_like(curve, np.nan)  # the class barely reacts: the normalised curve is meaningless
    return (curve - curve[-1]) / span


@dataclass(frozen=True)
class SrgResult:
    """LIF and MIF curves (``[K]`` outputs after deleting ``fractions`` of the pixels) and their summaries.

    LIF deletes the least important pixels first (higher is better), MIF the most important first
    (lower is better); AUC is the plain mean over the K points; SRG = LIF - MIF (higher is better).
    The normalised variants rescale each curve to run from 1 to 0 and are NaN when the class's output
    hardly changes between the intact and the fully deleted image.
    """

    fractions: np.ndarray
    lif: np.ndarray
    mif: np.ndarray

    @property
    def lif_auc(self) -> float:
        return float(self.lif.mean())

    @property
    def mif_auc(self) -> float:
        return float(self.mif.mean())

    @property
    def srg(self) -> float:
        return self.lif_auc - self.mif_auc

    @property
    def norm_lif(self) -> float:
        return float(_normalised(self.lif).mean())

    @property
    def norm_mif(self) -> float:
        return float(_normalised(self.mif).mean())

    @property
    def norm_srg(self) -> float:
        return self.norm_lif - self.norm_mif

    def summary(self) -> dict[str, float]:
        """The six numbers the study logs."""
        return {"lif": self.lif_auc, "mif": self.mif_auc, "srg": self.srg, "norm_lif": self.norm_lif,
                "norm_mif": self.norm_mif, "norm_srg": self.norm_srg}


def srg(image: np.ndarray, attribution_map: np.ndarray, predict: Predict, target: int,
        perturber: Perturber | None = None, steps: int = 10, rng: np.random.Generator | None = None,
        labels: np.ndarray | None = None) -> SrgResult:
    """LIF, MIF and SRG of ``attribution_map`` ``[H, W]`` for ``image`` ``[H, W, 3]`` (0..1).

    Step k of ``steps`` (K, the paper uses 10) deletes a fraction k/(K-1) of the pixels with
    ``perturber`` (default: the image's mean colour). Costs 2K-2 model calls in one batch (both curves
    share the intact and the fully deleted image).
    """
    if steps < 2:
        raise ValueError("steps must be at least 2 (the intact and the fully deleted image).")
    perturber = perturber or ColorPerturber("image-mean")
    rng = rng or np.random.default_rng(0)
    fractions = np.linspace(0.0, 1.0, steps)
    deleted = np.round(fractions * attribution_map.size).astype(np.int64)
    masks = np.concatenate([keep_masks(attribution_map, deleted, most_first=False),
                            keep_masks(attribution_map, deleted[1:-1], most_first=True)])
    outputs = predict(perturber(image, masks, rng, labels))[:, target].astype(np.float64)
    lif = outputs[:steps]
    mif = np.concatenate([[lif[0]], outputs[steps:], [lif[-1]]])
    return SrgResult(fractions, lif, mif)


@dataclass(frozen=True)
class CausalCurves:
    """RISE's causal metrics: output while deleting (to the ImageNet-mean colour) or inserting (into a
    blurred copy) the most important pixels first; AUCs by the trapezoid rule over fractions 0..1."""

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray

    @property
    def deletion_auc(self) -> float:
        return float(np.trapezoid(self.deletion, self.fractions))

    @property
    def insertion_auc(self) -> float:
        return float(np.trapezoid(self.insertion, self.fractions))


def causal_curves(image: np.ndarray, attribution_map: np.ndarray, predict: Predict, target: int,
                  steps: int = 29) -> CausalCurves:
    """Deletion (lower is better) and insertion (higher is better) curves with ``steps`` points each."""
    fractions = np.linspace(0.0, 1.0, steps)
    changed = np.round(fractions * attribution_map.size).astype(np.int64)
    rng = np.random.default_rng(0)
    deleting = ColorPerturber("imagenet-mean")(image, keep_masks(attribution_map, changed, True), rng)
    # Inserting the top c pixels keeps what survives deleting the other size - c from the bottom.
    inserting = BlurPerturber(sigma=5.0)(image, keep_masks(attribution_map, attribution_map.size - changed, False), rng)
    outputs = predict(np.concatenate([deleting, inserting]))[:, target].astype(np.float64)
    return CausalCurves(fractions, outputs[:steps], outputs[steps:])
