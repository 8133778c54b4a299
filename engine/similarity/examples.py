"""Example image pairs for the Compare view, made from bundled photographs and the flaw suite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from engine.errors import InputError
from engine.samples import natural_image
from engine.similarity.bapps import distort
from engine.similarity.flaws import challenge_images


def _crop(name: str, top: int, left: int, side: int = 256) -> np.ndarray:
    return np.ascontiguousarray(natural_image(name)[top:top + side, left:left + side])


def _flaw(first: str, second: str) -> tuple[np.ndarray, np.ndarray]:
    images = challenge_images().images
    return images[first], images[second]


EXAMPLES: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "astronaut, shifted by 6 px": lambda: (_crop("astronaut", 0, 150), _crop("astronaut", 6, 156)),
    "coffee, JPEG at quality 10": lambda: (_crop("coffee", 60, 200),
                                           distort(_crop("coffee", 60, 200), "jpeg", 0.94, np.random.default_rng(0))),
    "cat, blurred": lambda: (_crop("chelsea", 20, 120),
                             distort(_crop("chelsea", 20, 120), "blur", 0.6, np.random.default_rng(0))),
    "flaw: object moved 48 px": lambda: _flaw("translate/cat", "translate/cat_translate"),
    "flaw: chessboard inverted": lambda: _flaw("invert/chessboard", "invert/chessboard_invert"),
    "flaw: yin-yang rotated 90 degrees": lambda: _flaw("rotate/yinyang", "rotate/yinyang_90"),
}


def write_example(name: str, folder: str | Path) -> tuple[Path, Path]:
    """Save example ``name``'s two images as PNG files in ``folder``; returns their paths."""
    if name not in EXAMPLES:
        raise InputError(f"Unknown example {name!r}; choose from {', '.join(EXAMPLES)}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, pixels in zip(("a", "b"), EXAMPLES[name]()):
        path = folder / f"example-{suffix}.png"
        Image.fromarray(np.clip(np.round(pixels * 255), 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths[0], paths[1]
