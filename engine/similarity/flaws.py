"""The flaw suite of "Identifying and Mitigating Flaws of Deep Perceptual Similarity Metrics".

The paper's challenge images are hand-made and unlicensed, so this module draws its own, at 96x96,
in code (spec ``dps.md`` section 2):

* ``translate``: an object in the bottom-left quadrant moved 48 px to the top-right (5 pairs);
* ``rotate``: six disc-shaped images rotated by 22, 45, 67, 90 and 180 degrees (30 pairs);
* ``invert``: eleven binary patterns with black and white swapped (for the chessboard that equals a
  one-square shift) (11 pairs);
* ``color_stain``: an object on a large coloured area, the same object on white (the *stain*
  removed) and the coloured area with the object replaced by a flat block or noise (5 triplets);
* seven references: black, white, gray, red, green, blue and uniform RGB noise.

A translate/rotate/invert pair **passes** when the changed image is at least as close to its
original as every reference (``d(orig, variant) <= d(orig, R)`` for all 7); a colour-stain triplet
passes when the object on white is closer than the coloured area without the object. Every distinct
image goes through each backbone once; all comparison functions and both normalisations reuse
those features.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from engine.backbones import FeatureExtractor
from engine.samples import natural_image
from engine.similarity.metric import COMPARISONS, DeepPerceptualSimilarity

SIZE = 96
ANGLES = (22, 45, 67, 90, 180)
CATEGORIES = ("translate", "rotate", "invert", "color_stain")
Progress = Callable[[float, str], None]

WHITE, BLACK = np.ones(3, np.float32), np.zeros(3, np.float32)


def _coordinates(size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x, y) relative to the image centre."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5 - size / 2
    return x, y


def _paint(mask: np.ndarray, color: Sequence[float], background: np.ndarray | None = None) -> np.ndarray:
    base = np.ones((*mask.shape, 3), np.float32) if background is None else background.copy()
    base[mask] = np.asarray(color, np.float32)
    return base


def _disc_crop(photo: str, box: tuple[int, int, int], size: int) -> tuple[np.ndarray, np.ndarray]:
    """A square crop ``(top, left, side)`` of a bundled photograph, resized, with a disc-shaped mask."""
    top, left, side = box
    crop = natural_image(photo)[top:top + side, left:left + side]
    pixels = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((size, size), Image.Resampling.LANCZOS),
                        np.float32) / 255.0
    x, y = _coordinates(size)
    return pixels, np.hypot(x, y) <= size / 2 - 1


def _rings(size: int) -> tuple[np.ndarray, np.ndarray]:
    radius = np.hypot(*_coordinates(size)) / (size / 2)
    pixels = np.ones((size, size, 3), np.float32)
    for (low, high), color in zip(((0.1, 0.35), (0.45, 0.7), (0.8, 0.97)), ((0.9, 0.1, 0.1), (0.1, 0.7, 0.2),
                                                                           (0.1, 0.2, 0.9))):
        pixels[(radius >= low) & (radius < high)] = color
    return pixels, radius <= 0.97


def _blob(size: int) -> tuple[np.ndarray, np.ndarray]:
    noise = np.random.default_rng(3).standard_normal((size, size))
    smooth = ndimage.gaussian_filter(noise, size / 10)
    radius = np.hypot(*_coordinates(size)) / (size / 2)
    mask = (smooth - 0.9 * smooth.std() * radius ** 2 > 0) & (radius < 0.95)
    return _paint(mask, (0.95, 0.55, 0.1)), mask


def _geometric(size: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = _coordinates(size)
    unit = size / 2
    triangle = (y > -0.75 * unit) & (y < -0.05 * unit) & (np.abs(x + 0.4 * unit) < (y + 0.75 * unit) * 0.6)
    square = (np.abs(x - 0.35 * unit) < 0.3 * unit) & (np.abs(y - 0.35 * unit) < 0.3 * unit)
    circle = np.hypot(x - 0.4 * unit, y + 0.4 * unit) < 0.25 * unit
    bar = (np.abs(x + 0.45 * unit) < 0.12 * unit) & (y > 0.1 * unit) & (y < 0.8 * unit)
    pixels = _paint(triangle, (0.9, 0.1, 0.1))
    pixels = _paint(square, (0.1, 0.2, 0.9), pixels)
    pixels = _paint(circle, (0.1, 0.7, 0.2), pixels)
    pixels = _paint(bar, (0.95, 0.8, 0.1), pixels)
    return pixels, triangle | square | circle | bar


def _colorwheel(size: int) -> tuple[np.ndarray, np.ndarray]:
    from skimage.color import hsv2rgb

    x, y = _coordinates(size)
    radius = np.hypot(x, y) / (size / 2)
    hsv = np.stack([(np.arctan2(y, x) / (2 * np.pi)) % 1.0, np.clip(radius, 0, 1), np.ones_like(x)], axis=-1)
    mask = radius <= 0.97
    return _paint(~mask, WHITE, hsv2rgb(hsv).astype(np.float32)), mask


def _yinyang(size: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = _coordinates(size)
    big = size / 2 - 2
    inside = np.hypot(x, y) <= big
    dark = x < 0
    upper, lower = np.hypot(x, y + big / 2) <= big / 2, np.hypot(x, y - big / 2) <= big / 2
    dark = (dark | upper) & ~lower
    dark ^= (np.hypot(x, y + big / 2) <= big / 7) | (np.hypot(x, y - big / 2) <= big / 7)
    ring = (np.hypot(x, y) > big - 1.5) & (np.hypot(x, y) <= big)
    black = (inside & dark) | ring
    return _paint(black, BLACK), inside


OBJECTS: dict[str, Callable[[int], tuple[np.ndarray, np.ndarray]]] = {
    "3ring": _rings,
    "blob": _blob,
    "geometric": _geometric,
    "cat": functools.partial(_disc_crop, "chelsea", (20, 100, 260)),
    "astronaut": functools.partial(_disc_crop, "astronaut", (0, 130, 240)),
    "coffee": functools.partial(_disc_crop, "coffee", (20, 130, 360)),
    "colorwheel": _colorwheel,
    "yinyang": _yinyang,
}


def _object_on(background: np.ndarray, name: str, side: int, top: int, left: int) -> np.ndarray:
    pixels, mask = OBJECTS[name](side)
    image = background.copy()
    region = image[top:top + side, left:left + side]
    region[mask] = pixels[mask]
    return image


def _blank(color: Sequence[float]) -> np.ndarray:
    return np.broadcast_to(np.asarray(color, np.float32), (SIZE, SIZE, 3)).copy()


def _rotate(image: np.ndarray, angle: float) -> np.ndarray:
    turned = ndimage.rotate(image, angle, axes=(1, 0), reshape=False, order=1, mode="constant", cval=1.0)
    return np.clip(turned, 0.0, 1.0).astype(np.float32)


def _patterns() -> dict[str, np.ndarray]:
    """Eleven binary (black on white) patterns for the inversion check."""
    x, y = _coordinates()
    row, col = np.mgrid[0:SIZE, 0:SIZE]
    k = 2 * np.pi / 16
    hexagonal = np.cos(k * x) + np.cos(k * (x / 2 + np.sqrt(3) / 2 * y)) + np.cos(k * (x / 2 - np.sqrt(3) / 2 * y))
    from skimage.data import binary_blobs

    masks = {
        "blacksquare": (np.abs(x) < 24) & (np.abs(y) < 24),
        "chessboard": ((row // 12 + col // 12) % 2) == 0,
        "honeycomb": hexagonal < -0.2,
        "stripes": (row // 8) % 2 == 0,
        "diagonal_stripes": ((row + col) // 10) % 2 == 0,
        "dots": np.hypot((col % 16) - 7.5, (row % 16) - 7.5) < 4,
        "grid": ((row % 16) < 3) | ((col % 16) < 3),
        "concentric_squares": (np.maximum(np.abs(x), np.abs(y)) // 8) % 2 == 0,
        "binary_blobs": binary_blobs(length=SIZE, blob_size_fraction=0.15, rng=7),
        "zigzag": ((row + 2 * np.abs((col % 24) - 12)) // 8) % 2 == 0,
    }
    patterns = {name: _paint(mask, BLACK) for name, mask in masks.items()}
    patterns["yinyang"] = OBJECTS["yinyang"](SIZE)[0]
    return patterns


@dataclass(frozen=True)
class Case:
    """One check: ``variant`` should be close to ``original``; for colour stains, closer than ``foil``."""

    category: str
    original: str
    variant: str
    foil: str | None = None


@dataclass
class ChallengeImages:
    """All images by name (``float32 [96, 96, 3]`` in 0..1), the reference names and the cases."""

    images: dict[str, np.ndarray]
    references: list[str]
    cases: list[Case]

    def count(self, category: str) -> int:
        """Number of cases in ``category``."""
        return sum(case.category == category for case in self.cases)


REFERENCE_COLORS = {"black": (0, 0, 0), "white": (1, 1, 1), "gray": (0.5, 0.5, 0.5), "red": (1, 0, 0),
                    "green": (0, 1, 0), "blue": (0, 0, 1)}
STAIN_COLORS = {"3ring": (0.85, 0.15, 0.15), "cat": (0.2, 0.6, 0.25), "coffee": (0.2, 0.3, 0.85),
                "astronaut": (0.9, 0.8, 0.1), "yinyang": (0.6, 0.2, 0.7)}


@functools.cache
def challenge_images() -> ChallengeImages:
    """Generate every challenge image (deterministic; about 100 images of 96x96)."""
    images: dict[str, np.ndarray] = {f"ref_{name}": _blank(color) for name, color in REFERENCE_COLORS.items()}
    images["ref_noise"] = np.random.default_rng(0).random((SIZE, SIZE, 3), dtype=np.float32)
    references = list(images)
    cases: list[Case] = []
    white = _blank(WHITE)
    for name in ("3ring", "blob", "cat", "geometric", "astronaut"):
        images[f"translate/{name}"] = _object_on(white, name, 44, 48, 4)
        images[f"translate/{name}_translate"] = _object_on(white, name, 44, 4, 48)
        cases.append(Case("translate", f"translate/{name}", f"translate/{name}_translate"))
    for name in ("3ring", "cat", "geometric", "astronaut", "colorwheel", "yinyang"):
        original = _object_on(white, name, SIZE, 0, 0)
        images[f"rotate/{name}"] = original
        for angle in ANGLES:
            images[f"rotate/{name}_{angle}"] = _rotate(original, angle)
            cases.append(Case("rotate", f"rotate/{name}", f"rotate/{name}_{angle}"))
    for name, pattern in _patterns().items():
        images[f"invert/{name}"] = pattern
        images[f"invert/{name}_invert"] = 1.0 - pattern
        cases.append(Case("invert", f"invert/{name}", f"invert/{name}_invert"))
    for index, (name, color) in enumerate(STAIN_COLORS.items()):
        pixels, mask = OBJECTS[name](64)
        coloured = _blank(color)
        images[f"color_stain/{name}"] = _object_on(coloured, name, 64, 16, 16)
        images[f"color_stain/{name}_stain"] = _object_on(white, name, 64, 16, 16)
        foil = coloured.copy()
        if index % 2 == 0:
            foil[16:80, 16:80][mask] = pixels[mask].mean(axis=0)  # a flat block of the object's mean colour
        else:
            foil[16:80, 16:80][mask] = np.random.default_rng(index).random((int(mask.sum()), 3))
        images[f"color_stain/{name}_ref"] = foil
        cases.append(Case("color_stain", f"color_stain/{name}", f"color_stain/{name}_stain",
                          f"color_stain/{name}_ref"))
    for image in images.values():
        image.setflags(write=False)
    return ChallengeImages(images, references, cases)


@dataclass(frozen=True)
class CaseResult:
    """One case under one configuration, with the raw distances."""

    backbone: str
    comparison: str
    channel_norm: bool
    case: Case
    distance: float  # d(original, variant)
    bound: float  # closest reference (or the foil for colour stains)
    bound_name: str
    passed: bool


@dataclass
class FlawReport:
    """Pass counts per configuration and category, every raw distance, and the weights' provenance."""

    results: list[CaseResult]
    totals: dict[str, int]
    provenance: dict[str, str]
    configurations: list[tuple[str, str, bool]] = field(default_factory=list)

    def passes(self, backbone: str, comparison: str, channel_norm: bool) -> dict[str, int]:
        """Passed cases per category for one configuration."""
        counts = dict.fromkeys(CATEGORIES, 0)
        for result in self.results:
            if (result.backbone, result.comparison, result.channel_norm) == (backbone, comparison, channel_norm):
                counts[result.case.category] += int(result.passed)
        return counts

    def table(self) -> list[list[object]]:
        """Rows ``[backbone, comparison, channel norm, translate, rotate, invert, color_stain, total]``
        with ``passed/total`` cells."""
        rows: list[list[object]] = []
        total = sum(self.totals.values())
        for backbone, comparison, norm in self.configurations:
            counts = self.passes(backbone, comparison, norm)
            cells = [f"{counts[c]}/{self.totals[c]}" for c in CATEGORIES]
            rows.append([backbone, comparison, "on" if norm else "off", *cells, f"{sum(counts.values())}/{total}"])
        return rows

    def to_json(self) -> dict[str, object]:
        """Pass counts and raw distances as plain JSON values."""
        return {
            "totals": self.totals,
            "provenance": self.provenance,
            "passes": [{"backbone": b, "comparison": c, "channel_norm": n, **self.passes(b, c, n)}
                       for b, c, n in self.configurations],
            "distances": [{"backbone": r.backbone, "comparison": r.comparison, "channel_norm": r.channel_norm,
                           "category": r.case.category, "original": r.case.original, "variant": r.case.variant,
                           "distance": r.distance, "bound": r.bound, "bound_name": r.bound_name,
                           "passed": r.passed} for r in self.results],
        }


HEADERS = ["backbone", "comparison", "channel norm", *CATEGORIES, "total"]


def _to_batch(images: Sequence[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def run_flaw_suite(extractors: Sequence[FeatureExtractor], comparisons: Sequence[str] = tuple(COMPARISONS),
                   channel_norms: Sequence[bool] = (True, False), layers: Sequence[str] | None = None,
                   progress: Progress | None = None, batch_size: int = 32) -> FlawReport:
    """Run every case under every (backbone, comparison, channel norm) configuration.

    Args:
        extractors: one frozen extractor per backbone.
        layers: layers to compare (default: each backbone's default layers among those extracted).
        comparisons: comparison functions to test (default all five).
        channel_norms: which normalisation settings to test (default on and off).
        progress: called with (fraction done, message) after each batch and configuration.

    Returns:
        A :class:`FlawReport`; with the 3 LPIPS backbones and the defaults this is paper (a)'s 30-configuration grid.
    """
    suite = challenge_images()
    names = list(suite.images)
    position = {name: index for index, name in enumerate(names)}
    batch = _to_batch([suite.images[name] for name in names])
    steps = len(extractors) * (1 + len(comparisons) * len(channel_norms))
    done = 0
    results: list[CaseResult] = []
    configurations: list[tuple[str, str, bool]] = []
    # Every distance needed, grouped by original: {original: [names it is compared with]}.
    bounds = [suite.references if case.foil is None else [case.foil] for case in suite.cases]
    partners: dict[str, list[str]] = {}
    for case, names_of_bounds in zip(suite.cases, bounds):
        wanted = partners.setdefault(case.original, [])
        wanted += [name for name in (case.variant, *names_of_bounds) if name not in wanted]
    for extractor in extractors:
        arch = extractor.spec.arch
        with torch.inference_mode():
            chunks = []
            for start in range(0, len(names), batch_size):
                chunks.append(extractor(batch[start:start + batch_size]))
            maps = {layer: torch.cat([chunk[layer] for chunk in chunks]).float() for layer in chunks[0]}
        done += 1
        if progress:
            progress(done / steps, f"{arch}: features of {len(names)} images")
        for comparison in comparisons:
            for norm in channel_norms:
                chosen = layers or [name for name in extractor.spec.default_layers if name in extractor.layer_names]
                metric = DeepPerceptualSimilarity(extractor, chosen, comparison, norm)  # type: ignore[arg-type]
                with torch.inference_mode():
                    embedded = metric.embed_features(maps, (SIZE, SIZE))
                    distance_to: dict[tuple[str, str], float] = {}
                    for original, others in partners.items():
                        row = metric.distance(embedded.select(position[original]),
                                              embedded.select(torch.tensor([position[n] for n in others]))).total
                        distance_to.update({(original, other): value for other, value in zip(others, row.tolist())})
                for case, names_of_bounds in zip(suite.cases, bounds):
                    distance = distance_to[(case.original, case.variant)]
                    bound_name = min(names_of_bounds, key=lambda name: distance_to[(case.original, name)])
                    bound = distance_to[(case.original, bound_name)]
                    passed = distance <= bound if case.foil is None else bound > distance
                    results.append(CaseResult(arch, comparison, norm, case, distance, bound, bound_name, passed))
                configurations.append((arch, comparison, norm))
                done += 1
                if progress:
                    progress(done / steps, f"{arch} {comparison}, channel norm {'on' if norm else 'off'}")
    totals = {category: suite.count(category) for category in CATEGORIES}
    provenance = {extractor.spec.arch: extractor.info.label for extractor in extractors}
    return FlawReport(results, totals, provenance, configurations)
