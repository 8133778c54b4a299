"""Perturbers: what perturbed pixels become (spec section 1.4).

``perturber(image [H, W, 3], masks [B, H, W], rng, labels) -> float32 [B, H, W, 3]`` blends each pixel
between the image and a replacement c: ``x' = c + (x - c) * mask`` (mask 1 = keep). Everything happens
in 0..1 RGB; normalisation for the model happens later, in the classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from scipy import ndimage

from engine.explain.params import Catalog, Component, ConfigError, choice, number
from engine.registry import IMAGENET_MEAN

COLORS = {
    "imagenet-mean": IMAGENET_MEAN,  # zero after ImageNet normalisation: RISE's "multiply by the mask"
    "gray": (0.5, 0.5, 0.5),
    "black": (0.0, 0.0, 0.0),
    "white": (1.0, 1.0, 1.0),
}


class Perturber(Component):
    """Base class: subclasses give the replacement, broadcastable to ``[B, H, W, 3]``. ``random`` perturbers
    draw a new replacement for every image, so equal samples still give different perturbed images."""

    random: ClassVar[bool] = False

    def replacement(self, image: np.ndarray, masks: np.ndarray, rng: np.random.Generator,
                    labels: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, image: np.ndarray, masks: np.ndarray, rng: np.random.Generator,
                 labels: np.ndarray | None = None) -> np.ndarray:
        fill = np.asarray(self.replacement(image, masks, rng, labels), dtype=np.float32)
        # Blend channel-first so that each mask value multiplies long runs of pixels (numpy is ~6x slower
        # broadcasting a mask over a trailing axis of 3); the result is a [B, H, W, 3] view of that memory.
        fill = np.moveaxis(fill.reshape((1,) * (4 - fill.ndim) + fill.shape), -1, 1)
        blended = np.empty((len(masks), 3, *image.shape[:2]), dtype=np.float32)
        np.subtract(np.moveaxis(image, -1, 0)[None], fill, out=blended)
        blended *= masks[:, None]
        blended += fill
        return blended.transpose(0, 2, 3, 1)


@dataclass(frozen=True)
class ColorPerturber(Perturber):
    """One colour everywhere: a fixed one (ImageNet mean is the paper's), or the image's mean/median."""

    NAME = "color"
    TITLE = "Constant colour"
    color: str = choice("imagenet-mean", [*COLORS, "image-mean", "image-median"], "Colour")

    def replacement(self, image: np.ndarray, masks: np.ndarray, rng: np.random.Generator,
                    labels: np.ndarray | None) -> np.ndarray:
        if self.color == "image-mean":
            return image.reshape(-1, 3).mean(axis=0)
        if self.color == "image-median":
            return np.median(image.reshape(-1, 3), axis=0)
        return np.asarray(COLORS[self.color])


@dataclass(frozen=True)
class SegmentMeanPerturber(Perturber):
    """Each segment becomes its own mean colour (the lime package's ``hide_color=None``)."""

    NAME = "segment-mean"
    TITLE = "Segment mean colour"

    def replacement(self, image: np.ndarray, masks: np.ndarray, rng: np.random.Generator,
                    labels: np.ndarray | None) -> np.ndarray:
        if labels is None:
            raise ConfigError("The segment-mean perturber needs a segmentation; choose another perturber here.")
        counts = np.bincount(labels.ravel())
        means = np.stack([np.bincount(labels.ravel(), weights=image[..., c].ravel()) for c in range(3)], axis=1)
        return (means / np.maximum(counts, 1)[:, None])[labels]


@dataclass(frozen=True)
class BlurPerturber(Perturber):
    """A Gaussian-blurred copy of the image."""

    NAME = "blur"
    TITLE = "Blur"
    sigma: float = number(10.0, 0.5, 100.0, "Blur sigma (px)")

    def replacement(self, image: np.ndarray, masks: np.ndarray, rng: np.random.Generator,
                    labels: np.ndarray | None) -> np.ndarray:
        return ndimage.gaussian_filter(image, sigma=(self.sigma, self.sigma, 0), mode="reflect")


@dataclass(frozen=True)
class NoisePerturber(Perturber):
    """Uniform random colours, drawn anew for every perturbed image."""

    NAME = "noise"
    TITLE = "Uniform noise"
    random = True

    def replacement(self, image: np.ndarray, masks: np.ndarray, rng: np.random.Generator,
                    labels: np.ndarray | None) -> np.ndarray:
        return rng.random((len(masks), *image.shape), dtype=np.float32)


@dataclass(frozen=True)
class InpaintPerturber(Perturber):
    """OpenCV inpainting of each image's perturbed area (mask < 0.5); one inpainting per image, slow."""

    NAME = "inpaint"
    TITLE = "Inpainting (OpenCV)"
    method: str = choice("telea", ["telea", "navier-stokes"], "Method")
    radius: int = number(3, 1, 20, "Radius (px)", integer=True)

    def replacement(self, image: np.ndarray, masks: np.ndarray, rng: np.random.Generator,
                    labels: np.ndarray | None) -> np.ndarray:
        flags = cv2.INPAINT_TELEA if self.method == "telea" else cv2.INPAINT_NS
        pixels = np.round(image * 255).astype(np.uint8)
        filled = [cv2.inpaint(pixels, (mask < 0.5).astype(np.uint8), self.radius, flags) for mask in masks]
        return np.stack(filled).astype(np.float32) / 255.0


@dataclass(frozen=True)
class HistogramPerturber(Perturber):
    """Per image, one colour: the median colour of a histogram cell drawn in proportion to its size (PDA)."""

    NAME = "histogram"
    TITLE = "Colour histogram"
    random = True
    bins: int = number(8, 2, 32, "Bins per channel", integer=True)

    def replacement(self, image: np.ndarray, masks: np.ndarray, rng: np.random.Generator,
                    labels: np.ndarray | None) -> np.ndarray:
        pixels = image.reshape(-1, 3)
        index = np.minimum((pixels * self.bins).astype(np.int64), self.bins - 1)
        cell = (index[:, 0] * self.bins + index[:, 1]) * self.bins + index[:, 2]
        order = np.argsort(cell, kind="stable")
        counts = np.unique(cell, return_counts=True)[1]
        groups = np.split(pixels[order], np.cumsum(counts)[:-1])
        medians = np.stack([np.median(group, axis=0) for group in groups])
        drawn = rng.choice(len(counts), size=len(masks), p=counts / counts.sum())
        return medians[drawn][:, None, None, :]


PERTURBERS: Catalog[Perturber] = Catalog(
    "perturber", [ColorPerturber, SegmentMeanPerturber, BlurPerturber, NoisePerturber, InpaintPerturber,
                  HistogramPerturber]
)
