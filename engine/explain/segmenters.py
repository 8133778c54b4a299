"""Segmenters, mask smoothing and perturbation masks (spec sections 1.2 and 1.6).

A segmenter turns an image ``float32 [H, W, 3]`` in 0..1 into a :class:`Segmentation`: a label map
``int32 [H, W]`` with contiguous labels ``0..M-1`` and soft masks ``float32 [M, H, W]`` that sum to
one at every pixel. Hard segmenters (SLIC, quickshift, ...) give one-hot soft masks; the grid can give
bilinear "tent" masks (RISE-like); :class:`GaussianSmoothing` fades any segmentation's masks.
:class:`MaskBuilder` turns samples ``[B, M]`` (1 = segment kept) into perturbation masks ``[B, H, W]``
one batch at a time, optionally with RISE's random shift (masks drawn on a larger canvas, see
:func:`shift_canvas`, and cropped at offsets from :func:`lattice_offsets`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import color, filters, segmentation

from engine.explain.params import Catalog, Component, ConfigError, flag, number

MAX_SEGMENTS = 1000  # soft masks take M x H x W floats: 1000 at 224 px is 200 MB


@dataclass(frozen=True)
class Segmentation:
    """Segments of one image: ``labels`` ``int32 [H, W]`` in ``0..M-1`` and ``soft_masks`` ``float32 [M, H, W]``.

    ``soft_masks`` sum to one over M at every pixel; they equal the one-hot ``labels`` for hard
    segmentations and are smooth for bilinear grids or after Gaussian smoothing.
    """

    labels: np.ndarray
    soft_masks: np.ndarray

    @property
    def n_segments(self) -> int:
        """M, the number of segments."""
        return int(self.soft_masks.shape[0])

    @classmethod
    def from_labels(cls, labels: np.ndarray) -> Segmentation:
        """A hard segmentation from any integer label map (relabelled to contiguous ``0..M-1``)."""
        _, contiguous = np.unique(labels, return_inverse=True)
        contiguous = contiguous.reshape(labels.shape).astype(np.int32)
        count = int(contiguous.max()) + 1
        if count > MAX_SEGMENTS:
            raise ConfigError(f"The segmenter produced {count} segments (at most {MAX_SEGMENTS} are supported); "
                              "choose settings that give larger segments.")
        one_hot = (contiguous[None] == np.arange(count, dtype=np.int32)[:, None, None]).astype(np.float32)
        return cls(contiguous, one_hot)

    def crop(self, top: int, left: int, height: int, width: int) -> Segmentation:
        """The window ``[top:top+height, left:left+width]`` of this segmentation (M unchanged)."""
        window = (slice(top, top + height), slice(left, left + width))
        return Segmentation(self.labels[window], self.soft_masks[(slice(None), *window)])

    def project(self, scores: np.ndarray, per_pixel: bool) -> np.ndarray:
        """An attribution map ``float64 [H, W]`` from per-segment ``scores`` ``[M]``.

        Per segment, every pixel gets its segment's score; per pixel ("RISE-style"), every pixel gets
        the soft-mask-weighted mean ``sum_m w_m(p) a_m / sum_m w_m(p)``.
        """
        scores = np.asarray(scores, dtype=np.float64)
        if not per_pixel:
            return scores[self.labels]
        weighted = np.tensordot(scores, self.soft_masks, axes=1)
        return weighted / np.maximum(self.soft_masks.sum(axis=0, dtype=np.float64), 1e-12)


class Segmenter(Component):
    """Base class: ``segmenter(image [H, W, 3] in 0..1) -> Segmentation``."""

    def __call__(self, image: np.ndarray) -> Segmentation:
        return Segmentation.from_labels(self.label_map(image))

    def label_map(self, image: np.ndarray) -> np.ndarray:
        """Integer labels ``[H, W]`` (any values; they are made contiguous afterwards)."""
        raise NotImplementedError


def linear_weights(n_cells: int, size: int, align_corners: bool) -> np.ndarray:
    """``[size, n_cells]``: each pixel's bilinear weight on each cell centre (rows sum to one).

    Centres sit at the middle of equal cells (``align_corners=False``, skimage's ``resize`` and the
    original RISE) or on the first and last pixel (``align_corners=True``, torch's ``interpolate`` with
    that flag, as captum-rise uses); beyond the outer centres a pixel belongs to the outer cell.
    """
    if align_corners:
        centres = np.linspace(0.0, size - 1.0, n_cells) if n_cells > 1 else np.zeros(1)
    else:
        centres = (np.arange(n_cells) + 0.5) * size / n_cells - 0.5
    pixels = np.arange(size, dtype=np.float64)
    return np.stack([np.interp(pixels, centres, row) for row in np.eye(n_cells)], axis=1)


@dataclass(frozen=True)
class GridSegmenter(Segmenter):
    """A rows x cols grid of rectangles; with ``bilinear`` the masks are tents that overlap (RISE-like)."""

    NAME = "grid"
    TITLE = "Grid"
    rows: int = number(7, 1, 64, "Rows", "cells along the height", integer=True)
    cols: int = number(7, 1, 64, "Columns", "cells along the width", integer=True)
    bilinear: bool = flag(False, "Bilinear masks", "upsample each cell bilinearly (smooth edges, as in RISE)")
    align_corners: bool = flag(False, "Align corners", "bilinear centres on the border pixels (torch's "
                               "align_corners, as captum-rise) instead of mid-cell (skimage, original RISE)")

    def label_map(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        row_of = np.minimum(np.arange(height) * self.rows // height, self.rows - 1)
        col_of = np.minimum(np.arange(width) * self.cols // width, self.cols - 1)
        return row_of[:, None] * self.cols + col_of[None, :]

    def __call__(self, image: np.ndarray) -> Segmentation:
        hard = super().__call__(image)
        if not self.bilinear:
            return hard
        height, width = image.shape[:2]
        along_height = linear_weights(self.rows, height, self.align_corners)
        along_width = linear_weights(self.cols, width, self.align_corners)
        tents = np.einsum("hi,wj->ijhw", along_height, along_width).reshape(self.rows * self.cols, height, width)
        return Segmentation(hard.labels, tents.astype(np.float32))


@dataclass(frozen=True)
class SlicSegmenter(Segmenter):
    """SLIC superpixels (k-means in colour + position), as in the paper (n_segments=49)."""

    NAME = "slic"
    TITLE = "SLIC superpixels"
    n_segments: int = number(49, 2, 400, "Segments", "approximate number of superpixels", integer=True)
    compactness: float = number(10.0, 0.01, 100.0, "Compactness", "higher gives squarer superpixels")

    def label_map(self, image: np.ndarray) -> np.ndarray:
        return segmentation.slic(image, n_segments=self.n_segments, compactness=self.compactness, start_label=0)


@dataclass(frozen=True)
class QuickshiftSegmenter(Segmenter):
    """Quickshift mode seeking (the lime package's default segmentation)."""

    NAME = "quickshift"
    TITLE = "Quickshift"
    kernel_size: float = number(4.0, 1.0, 20.0, "Kernel size", "width of the Gaussian density kernel (px)")
    max_dist: float = number(200.0, 1.0, 1000.0, "Max distance", "cut-off for links between pixels")
    ratio: float = number(0.2, 0.0, 1.0, "Colour/space ratio", "weight of colour against position")

    def label_map(self, image: np.ndarray) -> np.ndarray:
        return segmentation.quickshift(image.astype(np.float64), kernel_size=self.kernel_size,
                                       max_dist=self.max_dist, ratio=self.ratio, rng=0)


@dataclass(frozen=True)
class FelzenszwalbSegmenter(Segmenter):
    """Felzenszwalb's graph-based segmentation."""

    NAME = "felzenszwalb"
    TITLE = "Felzenszwalb"
    scale: float = number(100.0, 1.0, 10000.0, "Scale", "higher gives larger segments")
    sigma: float = number(0.5, 0.0, 5.0, "Pre-blur sigma (px)")
    min_size: int = number(50, 1, 10000, "Minimum size (px)", integer=True)

    def label_map(self, image: np.ndarray) -> np.ndarray:
        return segmentation.felzenszwalb(image, scale=self.scale, sigma=self.sigma, min_size=self.min_size)


@dataclass(frozen=True)
class WatershedSegmenter(Segmenter):
    """Compact watershed on the image's Sobel gradient, seeded by a grid of markers."""

    NAME = "watershed"
    TITLE = "Watershed"
    markers: int = number(49, 2, 400, "Markers", "number of seeds (about the number of segments)", integer=True)
    compactness: float = number(0.001, 0.0, 1.0, "Compactness", "0 is classic watershed; higher is more regular")

    def label_map(self, image: np.ndarray) -> np.ndarray:
        gradient = filters.sobel(color.rgb2gray(image))
        return segmentation.watershed(gradient, markers=self.markers, compactness=self.compactness)


SEGMENTERS: Catalog[Segmenter] = Catalog(
    "segmenter", [GridSegmenter, SlicSegmenter, QuickshiftSegmenter, FelzenszwalbSegmenter, WatershedSegmenter]
)


class Smoothing(Component):
    """Base class: ``smoothing(segmentation) -> Segmentation`` with new soft masks."""

    def __call__(self, segments: Segmentation) -> Segmentation:
        return segments


@dataclass(frozen=True)
class NoSmoothing(Smoothing):
    """Keep the segmenter's masks as they are."""

    NAME = "none"
    TITLE = "None"


def auto_sigma(n_segments: int, shape: tuple[int, int]) -> float:
    """The paper's smoothing width, 70/sqrt(M) px at 224 x 224, scaled with the image's size."""
    return 70.0 / math.sqrt(max(n_segments, 1)) * math.sqrt(shape[0] * shape[1]) / 224.0


@dataclass(frozen=True)
class GaussianSmoothing(Smoothing):
    """Gaussian-filter every mask over H and W; linear, so the masks still sum to one."""

    NAME = "gaussian"
    TITLE = "Gaussian"
    sigma: float = number(0.0, 0.0, 200.0, "Sigma (px)", "0 = automatic, 70/sqrt(M) px at 224 px (paper)")

    def sigma_for(self, segments: Segmentation) -> float:
        """The sigma used for ``segments`` (the automatic one when ``sigma`` is 0)."""
        return self.sigma or auto_sigma(segments.n_segments, segments.labels.shape)

    def __call__(self, segments: Segmentation) -> Segmentation:
        sigma = self.sigma_for(segments)
        faded = ndimage.gaussian_filter(segments.soft_masks, sigma=(0, sigma, sigma), mode="reflect")
        faded /= np.maximum(faded.sum(axis=0, keepdims=True), 1e-12)  # remove float drift
        return Segmentation(segments.labels, faded.astype(np.float32))


SMOOTHINGS: Catalog[Smoothing] = Catalog("smoothing", [NoSmoothing, GaussianSmoothing])


def shift_canvas(image: np.ndarray, shift: float) -> tuple[np.ndarray, tuple[int, int]]:
    """``image`` reflected outwards by ``shift`` x its size in total (half on each side), and the
    (top, left) where the image sits in that canvas. RISE draws its masks on such a larger canvas."""
    height, width = image.shape[:2]
    extra = (round(shift * height), round(shift * width))
    before = (extra[0] // 2, extra[1] // 2)
    padding = ((before[0], extra[0] - before[0]), (before[1], extra[1] - before[1]), (0, 0))
    return np.pad(image, padding, mode="reflect"), before


PLASTIC = 1.324717957244746  # x^3 = x + 1; its powers give the R2 low-discrepancy sequence in two dimensions


def lattice_offsets(groups: np.ndarray, room: tuple[int, int], rotation: np.ndarray) -> np.ndarray:
    """Window offsets ``int64 [B, 2]`` in ``[0, room)``: for shift group g, point g of the R2 sequence
    ``rotation + g (1/P, 1/P^2) mod 1`` (P the plastic number) scaled to ``room``.

    With ``rotation`` uniform on [0, 1)^2, every offset on its own is uniform (so RISE stays unbiased),
    while consecutive groups cover the range far more evenly than independent draws.
    """
    steps = np.array([1 / PLASTIC, 1 / PLASTIC**2])
    points = (rotation[None, :] + np.outer(np.asarray(groups, dtype=np.float64), steps)) % 1.0
    limits = np.asarray(room)
    return np.minimum((points * limits).astype(np.int64), limits - 1)


class MaskBuilder:
    """Perturbation masks ``float32 [B, H, W]`` (1 = keep the pixel) for a batch of samples ``[B, M]``.

    ``mask_b(p) = sum_m z_bm w_m(p)``, with the soft masks w summing to one. When the segmentation
    covers a canvas larger than the ``window`` (the image), each mask is a window of the canvas at an
    offset of its own: RISE's random shift, so that cell edges fall everywhere on the image. Samples of
    one shift group share their offset (a sampler's design block, whose balance then holds pixel for
    pixel), and groups follow a randomly rotated low-discrepancy sequence (:func:`lattice_offsets`).
    """

    def __init__(self, segments: Segmentation, window: tuple[int, int] | None = None) -> None:
        self.canvas = segments.labels.shape
        self.window = tuple(window or self.canvas)
        masks = segments.soft_masks
        self._flat = np.ascontiguousarray(masks.reshape(masks.shape[0], -1), dtype=np.float32)
        self._rotation: np.ndarray | None = None
        self._next_group = 0

    @property
    def shifts(self) -> bool:
        """Whether masks move (the canvas is larger than the window)."""
        return self.window != self.canvas

    def __call__(self, samples: np.ndarray, rng: np.random.Generator, groups: np.ndarray | None = None) -> np.ndarray:
        """Masks for ``samples``; ``groups`` ``[B]`` are their shift groups (default: a new group per sample)."""
        masks = (np.asarray(samples, dtype=np.float32) @ self._flat).reshape(-1, *self.canvas)
        if not self.shifts:
            return masks
        if groups is None:
            groups = self._next_group + np.arange(len(masks))
        self._next_group = max(self._next_group, int(np.max(groups, initial=-1)) + 1)
        if self._rotation is None:
            self._rotation = rng.random(2)
        (height, width), (canvas_height, canvas_width) = self.window, self.canvas
        room = (max(canvas_height - height, 1), max(canvas_width - width, 1))
        offsets = lattice_offsets(groups, room, self._rotation)
        return np.stack([m[y:y + height, x:x + width] for m, (y, x) in zip(masks, offsets)])
