"""Generated scenes: a small object (one of several shapes and colours) on a varied textured background.

The positioning task of the perceptual-autoencoder paper needs images where something small decides
the label: its position (regression) and its shape (classification), while most pixels belong to a
busy background that a pixel-wise loss spends its capacity on. Every scene is drawn from its own
seed ``(seed, index)``, so scene ``i`` is the same whatever the number of scenes asked for, and any
number can be made without files.

Labels: ``positions`` are the object's centre ``(x, y)`` in pixels from the top-left corner (0..size);
``classes`` the shape index into :data:`SHAPES`. The colour index into :data:`COLOURS` and the
background kind into :data:`BACKGROUNDS` come along for colouring plots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from engine.errors import InputError

SHAPES = ("square", "disc", "triangle", "cross")
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.95, 0.1, 0.1), "green": (0.1, 0.85, 0.15), "blue": (0.15, 0.3, 1.0),
    "yellow": (1.0, 0.9, 0.1), "magenta": (0.95, 0.2, 0.9), "white": (1.0, 1.0, 1.0),
}
BACKGROUNDS = ("stripes", "checks", "noise", "gradient", "blobs")
MAX_SCENES = 200_000
RADIUS = (0.06, 0.09)  # object half-size as a fraction of the image side: 4-6 px at 64 px
CONTRAST = 0.25  # largest difference per channel between a texture's colours (the object's colours are saturated)


@dataclass(frozen=True)
class Scenes:
    """Generated scenes and their labels.

    Attributes:
        images: ``float32 [N, 3, size, size]`` RGB in 0..1.
        positions: ``float32 [N, 2]`` object centre ``(x, y)`` in pixels.
        classes: ``int64 [N]`` shape index into :data:`SHAPES`.
        colours: ``int64 [N]`` colour index into :data:`COLOURS`.
        backgrounds: ``int64 [N]`` background kind index into :data:`BACKGROUNDS`.
    """

    images: torch.Tensor
    positions: torch.Tensor
    classes: torch.Tensor
    colours: torch.Tensor
    backgrounds: torch.Tensor


def _two_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    base = rng.uniform(0.2, 0.8, 3)
    return base, np.clip(base + rng.uniform(-CONTRAST, CONTRAST, 3), 0, 1)


def _mix(weight: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return weight[..., None] * first + (1.0 - weight[..., None]) * second


def _stripes(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    angle, cycles, phase = rng.uniform(0, np.pi), rng.uniform(2, 9), rng.uniform(0, 2 * np.pi)
    wave = np.sin(2 * np.pi * cycles * (x * np.cos(angle) + y * np.sin(angle)) + phase)
    return _mix(0.5 + 0.5 * wave, *_two_colours(rng))


def _checks(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    cells, angle = rng.uniform(3, 10), rng.uniform(0, np.pi / 2)
    u, v = x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)
    parity = (np.floor(u * cells) + np.floor(v * cells)) % 2
    return _mix(parity, *_two_colours(rng))


def _noise(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    cells = int(rng.integers(4, 12))
    coarse = rng.uniform(0.2, 0.8, 3) + rng.uniform(-CONTRAST, CONTRAST, (cells, cells, 3))
    return ndimage.zoom(coarse, (x.shape[0] / cells, x.shape[1] / cells, 1), order=3, mode="nearest")


def _gradient(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    ramp = x * np.cos(angle) + y * np.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    return _mix(ramp, *_two_colours(rng)) + rng.normal(0, 0.03, (*x.shape, 3))


def _blobs(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    base = rng.uniform(0.2, 0.8, 3)
    canvas = np.broadcast_to(base, (*x.shape, 3)).copy()
    for _ in range(int(rng.integers(3, 7))):
        cx, cy, width = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.08, 0.3)
        weight = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
        canvas = _mix(weight, base + rng.uniform(-CONTRAST, CONTRAST, 3), canvas)
    return canvas


_TEXTURES: tuple[Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray], ...] = (
    _stripes, _checks, _noise, _gradient, _blobs)


def _signed_distance(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Distance in pixels outside the shape (negative inside), for anti-aliased drawing."""
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) - radius
    if shape == "disc":
        return np.hypot(dx, dy) - radius
    if shape == "triangle":  # pointing down (y grows downwards), centred on its bounding box
        edge = np.maximum(np.abs(dx) * 0.894 + dy * 0.447 - radius * 0.447, -dy - radius)
        return np.maximum(edge, dy - radius)
    arm = radius * 0.38  # cross
    return np.minimum(np.maximum(np.abs(dx) - radius, np.abs(dy) - arm),
                      np.maximum(np.abs(dx) - arm, np.abs(dy) - radius))


def scene(index: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, tuple[float, float], int, int, int]:
    """Draw scene ``index``: ``float32 [size, size, 3]`` in 0..1, centre (x, y) in px, shape, colour, background."""
    rng = np.random.default_rng([seed, index])
    coordinates = (np.arange(size) + 0.5) / size
    x, y = np.meshgrid(coordinates, coordinates)
    background = int(rng.integers(len(BACKGROUNDS)))
    canvas = _TEXTURES[background](rng, x, y)
    shape, colour = int(rng.integers(len(SHAPES))), int(rng.integers(len(COLOURS)))
    radius = rng.uniform(*RADIUS) * size
    margin = radius + 1.0
    cx, cy = rng.uniform(margin, size - margin, 2)
    pixels = np.arange(size) + 0.5
    px, py = np.meshgrid(pixels, pixels)
    coverage = np.clip(0.5 - _signed_distance(SHAPES[shape], px - cx, py - cy, radius), 0.0, 1.0)
    canvas = _mix(coverage, np.array(list(COLOURS.values())[colour]), canvas)
    return np.clip(canvas, 0, 1).astype(np.float32), (float(cx), float(cy)), shape, colour, background


def generate_scenes(count: int, size: int = 64, seed: int = 0, start: int = 0) -> Scenes:
    """Scenes ``start .. start + count - 1`` of the set ``seed``, at ``size`` x ``size`` pixels.

    Raises:
        InputError: ``count`` outside 1..:data:`MAX_SCENES` or ``size`` below 16.
    """
    if not 1 <= count <= MAX_SCENES:
        raise InputError(f"Ask for 1 to {MAX_SCENES} generated scenes, not {count}.")
    if size < 16:
        raise InputError(f"Generated scenes need at least 16 pixels a side, not {size}.")
    drawn = [scene(start + index, size, seed) for index in range(count)]
    images = torch.from_numpy(np.stack([d[0] for d in drawn])).permute(0, 3, 1, 2).contiguous()
    return Scenes(images=images, positions=torch.tensor([d[1] for d in drawn], dtype=torch.float32),
                  classes=torch.tensor([d[2] for d in drawn]), colours=torch.tensor([d[3] for d in drawn]),
                  backgrounds=torch.tensor([d[4] for d in drawn]))
