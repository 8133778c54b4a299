"""Whole-slide and large images, read by region and scored tile by tile.

Whole-slide images (``.svs``, ``.ndpi``, ``.mrxs``, ``.scn``, pyramidal ``.tif``/``.tiff``, ...) are read through
OpenSlide (PyPI ``openslide-python`` with the library from ``openslide-bin``): only the regions asked for are
decoded, never the whole slide. Plain images (PNG, JPEG, flat TIFF) go through :mod:`engine.images` (bomb-guarded)
and are then tiled the same way. Tissue is found on a thumbnail (saturation above an Otsu threshold), the tissue
tiles are cut at the field of view of a BreakHis magnification, scored in batches by any function (a classifier's
probability, the similarity to a chosen tile), and drawn as a heat map over the thumbnail.

Coordinates are level-0 pixels ``(x, y)`` from the top-left corner; images are ``uint8 [H, W, 3]`` RGB unless
said otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from engine.errors import InputError
from engine.images import load_image

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SLIDE_SUFFIXES = (".svs", ".ndpi", ".mrxs", ".scn", ".svslide", ".bif", ".vms", ".vmu", ".tif", ".tiff")
# Approximate width of a BreakHis image's field of view in micrometres: 700 pixels of 6.5 um behind a 3.3x relay
# lens and a 4x/10x/20x/40x objective (Spanhol et al. 2016). Used to cut slide tiles "at" a BreakHis
# magnification; give an explicit tile size where this approximation does not suit.
BREAKHIS_FIELD_UM = {"40X": 344.7, "100X": 137.9, "200X": 68.9, "400X": 34.5}
MAX_TILES = 4096
WHITE = 255


class Slide:
    """A slide or large image read by region. Subclasses set the attributes and implement :meth:`_read`."""

    name: str
    dimensions: tuple[int, int]  # (width, height) at level 0
    level_downsamples: tuple[float, ...]
    mpp: float | None  # micrometres per level-0 pixel, when the file says
    objective: float | None  # scanner objective power, when the file says
    reader: str  # what decodes it, for provenance

    def read_region(self, x: int, y: int, width: int, height: int, level: int = 0) -> np.ndarray:
        """``uint8 [height, width, 3]`` read at ``level`` from level-0 position ``(x, y)``; outside is white."""
        if width < 1 or height < 1:
            raise InputError(f"A region must be at least 1x1 pixels, not {width}x{height}.")
        if width * height > 64_000_000:
            raise InputError(f"A {width}x{height} region is too large to read at once; read smaller tiles.")
        return self._read(int(x), int(y), int(width), int(height), level)

    def _read(self, x: int, y: int, width: int, height: int, level: int) -> np.ndarray:
        raise NotImplementedError

    def best_level(self, downsample: float) -> int:
        """The coarsest level whose downsample does not exceed ``downsample``."""
        fitting = [i for i, d in enumerate(self.level_downsamples) if d <= downsample + 1e-6]
        return max(fitting, key=lambda i: self.level_downsamples[i]) if fitting else 0

    def thumbnail(self, max_side: int = 1024) -> np.ndarray:
        """The whole slide with its longer side at most ``max_side`` pixels (read from the best level)."""
        width, height = self.dimensions
        scale = min(1.0, max_side / max(width, height))
        level = self.best_level(1 / scale)
        downsample = self.level_downsamples[level]
        region = self.read_region(0, 0, math.ceil(width / downsample), math.ceil(height / downsample), level)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cv2.resize(region, size, interpolation=cv2.INTER_AREA)

    def describe(self) -> str:
        """One line: name, size, levels, resolution and reader."""
        width, height = self.dimensions
        resolution = f", {self.mpp:.3f} um/px" if self.mpp else ", resolution unknown"
        objective = f", scanned at {self.objective:g}x" if self.objective else ""
        return (f"{self.name}: {width}x{height} px, {len(self.level_downsamples)} level(s){resolution}{objective} "
                f"({self.reader})")

    def close(self) -> None:
        """Release the file."""


class OpenSlideFile(Slide):
    """A whole-slide image read through OpenSlide."""

    def __init__(self, path: Path) -> None:
        import openslide

        try:
            self._slide = openslide.OpenSlide(str(path))
        except (openslide.OpenSlideError, OSError) as error:
            raise InputError(f"{path.name} could not be opened as a slide: {error}") from error
        self.name = path.name
        self.dimensions = tuple(self._slide.dimensions)  # type: ignore[assignment]
        self.level_downsamples = tuple(float(d) for d in self._slide.level_downsamples)
        properties = self._slide.properties
        mpp = properties.get(openslide.PROPERTY_NAME_MPP_X)
        objective = properties.get(openslide.PROPERTY_NAME_OBJECTIVE_POWER)
        self.mpp = float(mpp) if mpp else None
        self.objective = float(objective) if objective else None
        vendor = properties.get(openslide.PROPERTY_NAME_VENDOR, "unknown vendor")
        self.reader = f"OpenSlide {openslide.__library_version__}, {vendor}"

    def _read(self, x: int, y: int, width: int, height: int, level: int) -> np.ndarray:
        import openslide

        try:
            rgba = np.asarray(self._slide.read_region((x, y), level, (width, height)))
        except openslide.OpenSlideError as error:
            raise InputError(f"{self.name} could not be read at ({x}, {y}): {error}") from error
        alpha = rgba[..., 3:].astype(np.float32) / 255.0  # transparent = outside the scanned area: white
        return np.round(rgba[..., :3] * alpha + WHITE * (1 - alpha)).astype(np.uint8)

    def close(self) -> None:
        self._slide.close()


class ImageSlide(Slide):
    """A plain image held in memory and read like a one-level slide (with a coarser copy for thumbnails)."""

    def __init__(self, pixels: np.ndarray, name: str, mpp: float | None = None) -> None:
        if pixels.ndim != 3 or pixels.shape[2] != 3:
            raise InputError(f"Expected an RGB image [H, W, 3]; got shape {pixels.shape}.")
        self._pixels = pixels if pixels.dtype == np.uint8 else np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)
        self.name = name
        self.dimensions = (self._pixels.shape[1], self._pixels.shape[0])
        self.level_downsamples = (1.0,)
        self.mpp = mpp
        self.objective = None
        self.reader = "image decoded in memory"

    def _read(self, x: int, y: int, width: int, height: int, level: int) -> np.ndarray:
        canvas = np.full((height, width, 3), WHITE, dtype=np.uint8)
        image_height, image_width = self._pixels.shape[:2]
        left, top = max(x, 0), max(y, 0)
        right, bottom = min(x + width, image_width), min(y + height, image_height)
        if right > left and bottom > top:
            canvas[top - y:bottom - y, left - x:right - x] = self._pixels[top:bottom, left:right]
        return canvas


def open_slide(path: str | Path, mpp: float | None = None) -> Slide:
    """Open a whole-slide image through OpenSlide, or any other image in memory.

    Args:
        path: the file (``.mrxs`` needs its companion folder beside it).
        mpp: micrometres per pixel of a plain image (slides carry their own).

    Raises:
        InputError: missing, unreadable or unsupported file.
    """
    import openslide

    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source} does not exist.")
    if source.stat().st_size == 0:
        raise InputError(f"{source.name} is empty (0 bytes).")
    if source.suffix.lower() in SLIDE_SUFFIXES:
        try:
            detected = openslide.OpenSlide.detect_format(str(source))
        except (openslide.OpenSlideError, OSError):
            detected = None
        if detected is not None:
            return OpenSlideFile(source)
    loaded = load_image(source, max_side=None)
    return ImageSlide(loaded.pixels, source.name, mpp)


def tissue_mask(image: np.ndarray) -> np.ndarray:
    """``bool [H, W]``: where ``image`` (``uint8 [H, W, 3]``) shows stained tissue rather than glass.

    Saturation above Otsu's threshold (at least 0.05, so blank glass stays background), not near-black,
    then small specks removed and small holes filled.
    """
    from skimage.filters import threshold_otsu
    from skimage.morphology import remove_small_holes, remove_small_objects

    rgb = image.astype(np.float32) / 255.0
    high, low = rgb.max(axis=2), rgb.min(axis=2)
    saturation = (high - low) / np.maximum(high, 1e-6)
    threshold = max(float(threshold_otsu(saturation)) if saturation.max() > saturation.min() else 1.0, 0.05)
    mask = (saturation > threshold) & (high > 0.1)
    area = max(4, mask.size // 5000)
    return remove_small_holes(remove_small_objects(mask, max_size=area), max_size=area)


def tile_size_for(slide: Slide, magnification: str) -> int:
    """Level-0 pixels across a tile covering a BreakHis image's field of view at ``magnification``.

    Raises:
        InputError: the slide does not say its resolution (give a tile size in pixels instead).
    """
    if magnification not in BREAKHIS_FIELD_UM:
        raise InputError(f"Unknown magnification {magnification!r}; choose from {', '.join(BREAKHIS_FIELD_UM)}.")
    if not slide.mpp:
        raise InputError(f"{slide.name} does not record its resolution (micrometres per pixel), so a BreakHis "
                         "magnification cannot be matched; give the tile size in pixels instead.")
    return max(8, round(BREAKHIS_FIELD_UM[magnification] / slide.mpp))


@dataclass(frozen=True)
class TileGrid:
    """Square tiles of ``tile_size`` level-0 pixels over the slide; ``positions`` ``int [N, 2]`` are the (x, y)
    corners of the tissue tiles, ``cells`` ``int [N, 2]`` their (row, column), ``tissue`` ``[N]`` their tissue
    fraction in 0..1 and ``shape`` the grid's (rows, columns)."""

    tile_size: int
    positions: np.ndarray
    cells: np.ndarray
    tissue: np.ndarray
    shape: tuple[int, int]

    def __len__(self) -> int:
        return len(self.positions)


def tile_grid(slide: Slide, tile_size: int, min_tissue: float = 0.5, max_tiles: int = MAX_TILES,
              thumbnail: np.ndarray | None = None) -> TileGrid:
    """The tiles of ``tile_size`` level-0 pixels holding at least ``min_tissue`` tissue (found on a thumbnail).

    Raises:
        InputError: a tile larger than the slide, no tissue found, or more tissue tiles than ``max_tiles``.
    """
    width, height = slide.dimensions
    if tile_size < 8 or tile_size > min(width, height):
        raise InputError(f"A tile of {tile_size} pixels does not fit {slide.name} ({width}x{height}).")
    columns, rows = width // tile_size, height // tile_size
    picture = thumbnail if thumbnail is not None else slide.thumbnail(max(1024, 4 * max(columns, rows)))
    mask = tissue_mask(picture).astype(np.float32)
    scale_x, scale_y = picture.shape[1] / width, picture.shape[0] / height
    covered = cv2.resize(mask[: round(rows * tile_size * scale_y), : round(columns * tile_size * scale_x)],
                         (columns, rows), interpolation=cv2.INTER_AREA)
    cells = np.argwhere(covered >= min_tissue)
    if len(cells) == 0:
        raise InputError(f"No tile of {slide.name} holds {min_tissue:.0%} tissue; lower the tissue threshold or the "
                         "tile size.")
    if len(cells) > max_tiles:
        raise InputError(f"{len(cells)} tissue tiles exceed the limit of {max_tiles}; choose a lower magnification "
                         "(larger tiles).")
    positions = cells[:, ::-1] * tile_size
    return TileGrid(tile_size, positions, cells, covered[cells[:, 0], cells[:, 1]], (rows, columns))


def read_tile(slide: Slide, x: int, y: int, tile_size: int, out_size: int) -> np.ndarray:
    """The tile at level-0 ``(x, y)`` as ``float32 [out_size, out_size, 3]`` in 0..1, read from the coarsest level
    that still has ``out_size`` pixels across."""
    level = slide.best_level(tile_size / out_size)
    downsample = slide.level_downsamples[level]
    side = max(1, round(tile_size / downsample))
    region = slide.read_region(x, y, side, side, level)
    if side != out_size:
        interpolation = cv2.INTER_AREA if side > out_size else cv2.INTER_LINEAR
        region = cv2.resize(region, (out_size, out_size), interpolation=interpolation)
    return region.astype(np.float32) / 255.0


TileScorer = Callable[[np.ndarray], np.ndarray]  # tiles float32 [B, S, S, 3] in 0..1 -> scores [B]


def score_tiles(slide: Slide, grid: TileGrid, scorer: TileScorer, out_size: int = 96, batch_size: int = 16,
                progress: Callable[[float, str], None] | None = None) -> np.ndarray:
    """``float64 [N]``: ``scorer`` applied to every tissue tile, ``batch_size`` tiles at a time (memory stays
    bounded whatever the slide's size)."""
    scores = np.empty(len(grid), dtype=np.float64)
    for start in range(0, len(grid), batch_size):
        positions = grid.positions[start:start + batch_size]
        tiles = np.stack([read_tile(slide, int(x), int(y), grid.tile_size, out_size) for x, y in positions])
        scores[start:start + len(tiles)] = np.asarray(scorer(tiles), dtype=np.float64).reshape(-1)
        if progress is not None:
            progress((start + len(tiles)) / len(grid), f"scored {start + len(tiles)}/{len(grid)} tiles")
    return scores


def heat_map(grid: TileGrid, scores: np.ndarray) -> np.ndarray:
    """``float64 [rows, columns]``: each tile's score at its cell, NaN where no tissue tile was scored."""
    values = np.full(grid.shape, np.nan)
    values[grid.cells[:, 0], grid.cells[:, 1]] = scores
    return values


def heat_map_figure(thumbnail: np.ndarray, slide: Slide, grid: TileGrid, scores: np.ndarray, title: str,
                    label: str, value_range: tuple[float, float] | None = None) -> Figure:
    """The heat map over the slide's thumbnail (tiles without tissue left clear), with a colour bar."""
    from engine.plotting import colormap, new_figure

    width, height = slide.dimensions
    figure = new_figure(7, 7 * min(1.6, max(0.5, height / width)) + 0.4)
    axes = figure.add_subplot()
    axes.imshow(thumbnail, extent=(0, width, height, 0))
    rows, columns = grid.shape
    low, high = value_range or (float(np.nanmin(scores)), float(np.nanmax(scores)))
    image = axes.imshow(heat_map(grid, scores), extent=(0, columns * grid.tile_size, rows * grid.tile_size, 0),
                        cmap=colormap("magma"), alpha=0.55, vmin=low, vmax=high if high > low else low + 1e-6,
                        interpolation="nearest")
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)
    axes.set_xlabel("x (level-0 pixels)")
    axes.set_ylabel("y (level-0 pixels)")
    figure.colorbar(image, ax=axes, label=label, shrink=0.8)
    axes.set_title(title, fontsize=9)
    return figure
