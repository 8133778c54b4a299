"""BAPPS-layout folders (read and write) and triplets made from bundled photographs with known distortions.

The Berkeley-Adobe Perceptual Patch Similarity layout (spec ``dps.md`` section 4.1)::

    <root>/2afc/<split>/<set>/{ref,p0,p1}/000000.png  and  judge/000000.npy  (fraction preferring p1)
    <root>/jnd/<split>/<set>/{p0,p1}/000000.png       and  same/000000.npy   (fraction answering "same")

Files of a set are matched by sorted stem. :func:`find_sets` accepts the dataset root, any folder
inside it, or one set folder. BAPPS itself cannot be downloaded here; :func:`write_synthetic` builds
a small dataset in the same layout from scikit-image's photographs with distortions of known
strength, so the right answer of every triplet is known.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from engine.archives import extract
from engine.errors import InputError
from engine.samples import NATURAL_IMAGES, natural_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass(frozen=True)
class ImageSet:
    """One BAPPS set: ``kind`` is ``2afc`` (``images`` ref, p0, p1; ``labels`` judge) or ``jnd``
    (``images`` p0, p1; ``labels`` same). ``labels`` are floats in 0..1."""

    name: str
    kind: str
    images: dict[str, list[Path]]
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


LAYOUTS = {"2afc": (("ref", "p0", "p1"), "judge"), "jnd": (("p0", "p1"), "same")}


def _read_label(path: Path) -> float:
    try:
        value = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise InputError(f"{path} is not a readable .npy file ({error}).") from error
    flat = np.asarray(value, dtype=np.float64).ravel()
    if flat.size != 1 or not 0.0 <= flat[0] <= 1.0:
        raise InputError(f"{path} must hold one number in 0..1, got {flat[:3]}.")
    return float(flat[0])


def _read_set(folder: Path, name: str, kind: str) -> ImageSet:
    image_folders, label_folder = LAYOUTS[kind]
    label_files = sorted((folder / label_folder).glob("*.npy"))
    images = {sub: sorted(p for p in (folder / sub).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
              for sub in image_folders}
    counts = {sub: len(files) for sub, files in images.items()} | {label_folder: len(label_files)}
    if len(set(counts.values())) != 1 or not label_files:
        raise InputError(f"Set {name}: its folders hold different numbers of files ({counts}); each triplet "
                         f"needs one file in each of {', '.join((*image_folders, label_folder))}.")
    stems = [p.stem for p in label_files]
    for sub, files in images.items():
        if [p.stem for p in files] != stems:
            raise InputError(f"Set {name}: file names in {sub}/ do not match those in {label_folder}/.")
    return ImageSet(name, kind, images, np.array([_read_label(p) for p in label_files]))


def find_sets(root: str | Path) -> list[ImageSet]:
    """Every 2AFC and JND set under ``root`` (sorted by name; names are paths relative to ``root``).

    Raises:
        InputError: ``root`` is missing, holds no set, or a set's files do not line up.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder; give a BAPPS-layout folder (see python -m "
                         "engine.similarity.twoafc --help).")
    sets = []
    for folder in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
        for kind, (image_folders, label_folder) in LAYOUTS.items():
            if all((folder / sub).is_dir() for sub in (*image_folders, label_folder)):
                name = folder.relative_to(root).as_posix() if folder != root else root.name
                sets.append(_read_set(folder, name, kind))
    if not sets:
        raise InputError(f"{root} holds no BAPPS set: expected folders ref/, p0/, p1/, judge/ (2AFC) or "
                         "p0/, p1/, same/ (JND).")
    return sets


def unpack(source: str | Path, destination: str | Path) -> Path:
    """A BAPPS folder from ``source``: the folder itself, or a ``.zip`` unpacked into ``destination``
    (members checked and bounded by :func:`engine.archives.extract`)."""
    source = Path(source)
    if source.is_dir():
        return source
    return extract(source, destination)


def _save_png(pixels: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(np.round(pixels * 255), 0, 255).astype(np.uint8)).save(path)


def write_set(folder: str | Path, kind: str, items: Iterable[tuple[list[np.ndarray], float]],
              start: int = 0) -> int:
    """Write ``(images, label)`` items into a set folder (PNG and ``.npy``); returns how many.

    ``images`` are ``float32 [H, W, 3]`` in 0..1: ``[ref, p0, p1]`` for ``2afc``, ``[p0, p1]`` for
    ``jnd``; ``label`` is judge or same.
    """
    image_folders, label_folder = LAYOUTS[kind]
    folder = Path(folder)
    count = 0
    for index, (images, label) in enumerate(items, start=start):
        stem = f"{index:06d}"
        for sub, pixels in zip(image_folders, images, strict=True):
            _save_png(pixels, folder / sub / f"{stem}.png")
        (folder / label_folder).mkdir(parents=True, exist_ok=True)
        np.save(folder / label_folder / f"{stem}.npy", np.array([label], dtype=np.float32))
        count += 1
    return count


def _jpeg(pixels: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray((pixels * 255).round().astype(np.uint8)).save(buffer, "JPEG",
                                                                  quality=int(round(95 - 90 * strength)))
    return np.asarray(Image.open(buffer).convert("RGB"), np.float32) / 255.0


def _pixelate(pixels: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    block = 1 + int(round(7 * strength))
    small = pixels[::block, ::block]
    return np.repeat(np.repeat(small, block, 0), block, 1)[: pixels.shape[0], : pixels.shape[1]]


# Distortions of a float image [H, W, 3] in 0..1 with a strength in 0..1 (0 leaves it unchanged).
DISTORTIONS: dict[str, Callable[[np.ndarray, float, np.random.Generator], np.ndarray]] = {
    "noise": lambda p, s, rng: p + rng.normal(0.0, 0.25 * s, p.shape).astype(np.float32),
    "blur": lambda p, s, rng: ndimage.gaussian_filter(p, sigma=(3.0 * s, 3.0 * s, 0)),
    "jpeg": _jpeg,
    "darken": lambda p, s, rng: p * (1.0 - 0.7 * s),
    "pixelate": _pixelate,
}


def distort(pixels: np.ndarray, family: str, strength: float, rng: np.random.Generator) -> np.ndarray:
    """``pixels`` distorted by ``family`` at ``strength`` (0..1), clipped to 0..1."""
    if family not in DISTORTIONS:
        raise InputError(f"Unknown distortion {family!r}; choose from {', '.join(DISTORTIONS)}.")
    return np.clip(DISTORTIONS[family](pixels, float(strength), rng), 0.0, 1.0).astype(np.float32)


def random_patch(rng: np.random.Generator, size: int = 64, photos: list[str] | None = None) -> tuple[np.ndarray, str]:
    """A random square crop of a bundled photograph, resized to ``size``, and where it came from."""
    names = photos or list(NATURAL_IMAGES)
    photo = names[int(rng.integers(len(names)))]
    pixels = natural_image(photo)
    side = int(rng.integers(size, max(size + 1, min(pixels.shape[:2]) // 2)))
    top, left = int(rng.integers(pixels.shape[0] - side + 1)), int(rng.integers(pixels.shape[1] - side + 1))
    crop = Image.fromarray((pixels[top:top + side, left:left + side] * 255).round().astype(np.uint8))
    patch = np.asarray(crop.resize((size, size), Image.Resampling.LANCZOS), np.float32) / 255.0
    return patch, f"{photo} crop {side}px at ({left}, {top})"


def write_synthetic(root: str | Path, count: int = 12, size: int = 64, seed: int = 0) -> Path:
    """A BAPPS-layout dataset whose answers are known, from bundled photographs.

    ``2afc/val/<family>``: p0 and p1 are the same distortion at two different strengths; the
    weaker one is the right answer and ``judge`` says so softly (0.2 or 0.8, as five judges with one
    dissenter). ``jnd/val/mixed``: pairs of a patch and a copy barely distorted (``same`` 1.0) or
    with strong noise (``same`` 0.0). Returns ``root``.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    for family in ("noise", "blur", "jpeg"):
        items = []
        for _ in range(count):
            ref, _ = random_patch(rng, size)
            weak = float(rng.uniform(0.1, 0.5))
            strong = float(rng.uniform(weak + 0.3, 1.0))
            p0_strength, p1_strength = (weak, strong) if rng.random() < 0.5 else (strong, weak)
            judge = 0.2 if p0_strength < p1_strength else 0.8
            items.append(([ref, distort(ref, family, p0_strength, rng), distort(ref, family, p1_strength, rng)], judge))
        write_set(root / "2afc" / "val" / family, "2afc", items)
    pairs = []
    for index in range(count):
        patch, _ = random_patch(rng, size)
        if index % 2 == 0:  # barely visible: any distortion at 5 % strength
            pairs.append(([patch, distort(patch, ("noise", "blur", "jpeg")[index % 3], 0.05, rng)], 1.0))
        else:  # obvious: strong noise
            pairs.append(([patch, distort(patch, "noise", 1.0, rng)], 0.0))
    write_set(root / "jnd" / "val" / "mixed", "jnd", pairs)
    return root
