"""Natural images that ship inside installed packages, for examples, demos and training offline.

scikit-image bundles a few photographs (astronaut, cat, coffee, rocket, ...), scikit-learn two
(china, flower) and matplotlib one portrait (grace_hopper). They need no download. Every image is
returned as ``float32 [H, W, 3]`` RGB in 0..1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.errors import InputError


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        image = getattr(data, name)()
        return image[0] if isinstance(image, tuple) else image  # stereo_motorcycle -> left view

    return load


def _sklearn(index: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_images

        return load_sample_images().images[index]

    return load


def _grace_hopper() -> np.ndarray:
    import matplotlib
    from PIL import Image

    return np.asarray(Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB"))


# Colour photographs only (grayscale ones would make colour distortions and colour flaws vanish).
NATURAL_IMAGES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "chelsea": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "rocket": _skimage("rocket"),
    "motorcycle": _skimage("stereo_motorcycle"),
    "hubble": _skimage("hubble_deep_field"),
    "retina": _skimage("retina"),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "china": _sklearn(0),
    "flower": _sklearn(1),
    "grace_hopper": _grace_hopper,
}


@functools.lru_cache(maxsize=None)
def _cached(name: str) -> np.ndarray:
    pixels = NATURAL_IMAGES[name]()
    pixels = np.asarray(pixels, dtype=np.float32) / 255.0
    pixels.setflags(write=False)
    return pixels


def natural_image(name: str) -> np.ndarray:
    """The bundled photograph ``name`` as read-only ``float32 [H, W, 3]`` in 0..1."""
    if name not in NATURAL_IMAGES:
        raise InputError(f"Unknown sample image {name!r}; choose from {', '.join(NATURAL_IMAGES)}.")
    return _cached(name)


def write_natural_images(folder: str | Path, names: list[str] | None = None) -> list[Path]:
    """Save bundled photographs as PNG files in ``folder`` (for CLIs that read a folder)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or list(NATURAL_IMAGES):
        path = folder / f"{name}.png"
        Image.fromarray((natural_image(name) * 255).round().astype(np.uint8)).save(path)
        paths.append(path)
    return paths
