"""The six distortions of "Deep Perceptual Similarity is Adaptable to Ambiguous Contexts".

Each distortion draws its parameters from the paper's range with a caller-owned
``torch.Generator`` (so every triplet is reproducible from a seed) and applies them to images
``float32 [3, H, W]`` or ``[B, 3, H, W]`` in 0..1, returning the same shape and range.

| name | parameters (paper's torchvision transform) |
|---|---|
| rotate | angle uniform in [30, 330] degrees, nearest interpolation, black corners (RandomRotation) |
| translate | shift uniform in +-50 % of width and of height, black fill (RandomAffine translate) |
| darken | brightness factor uniform in [0.1, 0.5] (ColorJitter brightness) |
| hue | hue shift uniform in [-0.5, 0.5], the full circle (ColorJitter hue; "color" in the code) |
| blur | Gaussian, fixed 11 wide x 21 high kernel, sigma uniform in [4, 10] (GaussianBlur) |
| zoom-in | centre zoom by a factor uniform in [1.1, 2], nearest (RandomAffine scale; "zoom_in") |
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from engine.errors import InputError

# Each function distorts a batch ``[B, 3, H, W]`` with per-image parameters ``[B, P]`` in one pass
# (thousands of tiny per-image calls are what makes triplet generation slow on a CPU).


def _affine(images: torch.Tensor, angle: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """torchvision's ``affine`` (about the centre, nearest, black fill) with per-image parameters.

    ``angle`` degrees counter-clockwise ``[B]``, ``shift`` pixels (right, down) ``[B, 2]``, ``scale`` ``[B]``.
    The output pixel at ``p`` samples the input at ``M^-1 (p - shift) / scale`` (centred pixel units).
    """
    batch, _, height, width = images.shape
    radians = angle * (math.pi / 180)
    cos, sin = torch.cos(radians), torch.sin(radians)
    half = torch.tensor([width / 2, height / 2], dtype=images.dtype)
    inverse = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2) / scale.view(-1, 1, 1)
    linear = inverse * half.view(1, 1, 2) / half.view(1, 2, 1)  # D^-1 M^-1 D in normalised coordinates
    offset = -(inverse @ shift.unsqueeze(-1)).squeeze(-1) / half
    theta = torch.cat([linear, offset.unsqueeze(-1)], dim=2).to(images.dtype)
    grid = F.affine_grid(theta, [batch, 3, height, width], align_corners=False)
    return F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _rotate(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    zeros = torch.zeros(len(p))
    return _affine(images, p[:, 0], torch.zeros(len(p), 2), torch.ones_like(zeros))


def _translate(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    height, width = images.shape[-2:]
    shift = torch.round(p * torch.tensor([width, height], dtype=p.dtype))
    return _affine(images, torch.zeros(len(p)), shift, torch.ones(len(p)))


def _zoom_in(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return _affine(images, torch.zeros(len(p)), torch.zeros(len(p), 2), p[:, 0])


def _darken(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return images * p[:, 0].view(-1, 1, 1, 1)


def _hue(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Shift hue by ``p`` turns in HSV space, as torchvision's ``adjust_hue``."""
    value, _ = images.max(dim=1)
    low, _ = images.min(dim=1)
    chroma = value - low
    saturation = torch.where(value > 0, chroma / value.clamp_min(1e-12), torch.zeros_like(value))
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    red, green, blue = images.unbind(dim=1)
    hue = torch.where(value == red, (green - blue) / safe,
                      torch.where(value == green, 2.0 + (blue - red) / safe, 4.0 + (red - green) / safe))
    hue = torch.where(chroma > 0, (hue / 6.0) % 1.0, torch.zeros_like(hue))
    hue = (hue + p[:, 0].view(-1, 1, 1)) % 1.0
    sector = hue * 6.0
    k = torch.stack([(5.0 + sector) % 6.0, (3.0 + sector) % 6.0, (1.0 + sector) % 6.0], dim=1)
    weight = torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    return value.unsqueeze(1) - (value * saturation).unsqueeze(1) * weight


def _blur(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Gaussian blur with a fixed 11 (wide) x 21 (high) kernel, per-image sigma, reflect padding."""
    batch, channels, height, width = images.shape

    def kernels(size: int) -> torch.Tensor:
        x = torch.arange(size, dtype=images.dtype) - (size - 1) / 2
        weights = torch.exp(-0.5 * (x.view(1, -1) / p[:, :1]) ** 2)
        return (weights / weights.sum(dim=1, keepdim=True)).repeat_interleave(channels, dim=0)

    flat = images.reshape(1, batch * channels, height, width)
    flat = F.pad(flat, (5, 5, 10, 10), mode="reflect")
    flat = F.conv2d(flat, kernels(11).view(-1, 1, 1, 11), groups=batch * channels)
    flat = F.conv2d(flat, kernels(21).view(-1, 1, 21, 1), groups=batch * channels)
    return flat.view(batch, channels, height, width)


@dataclass(frozen=True)
class Distortion:
    """One distortion: its parameter ranges (one ``(low, high)`` per parameter) and how to apply it."""

    name: str
    ranges: tuple[tuple[float, float], ...]
    units: str
    function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def sample(self, generator: torch.Generator, count: int = 1) -> torch.Tensor:
        """Parameters ``[count, P]`` drawn uniformly from the paper's ranges."""
        low = torch.tensor([r[0] for r in self.ranges])
        high = torch.tensor([r[1] for r in self.ranges])
        return low + (high - low) * torch.rand(count, len(self.ranges), generator=generator)

    def apply(self, images: torch.Tensor, parameters: torch.Tensor | Sequence[float]) -> torch.Tensor:
        """Distort ``[3, H, W]`` or ``[B, 3, H, W]`` images in 0..1.

        ``parameters`` is ``[B, P]`` (one row per image) or one row for all.
        """
        single = images.ndim == 3
        batch = images.unsqueeze(0) if single else images
        rows = torch.as_tensor(parameters, dtype=torch.float32).reshape(-1, len(self.ranges))
        if len(rows) == 1:
            rows = rows.expand(len(batch), -1)
        if len(rows) != len(batch):
            raise InputError(f"{self.name}: {len(rows)} parameter rows for {len(batch)} images.")
        distorted = self.function(batch.float(), rows).clamp(0.0, 1.0)
        return distorted[0] if single else distorted

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Distort with freshly drawn parameters (one draw per image)."""
        count = 1 if images.ndim == 3 else len(images)
        return self.apply(images, self.sample(generator, count))


DISTORTIONS: dict[str, Distortion] = {
    d.name: d
    for d in (
        Distortion("rotate", ((30.0, 330.0),), "degrees", _rotate),
        Distortion("translate", ((-0.5, 0.5), (-0.5, 0.5)), "fraction of width, of height", _translate),
        Distortion("darken", ((0.1, 0.5),), "brightness factor", _darken),
        Distortion("hue", ((-0.5, 0.5),), "hue shift (turns)", _hue),
        Distortion("blur", ((4.0, 10.0),), "sigma (px), kernel 11x21", _blur),
        Distortion("zoom-in", ((1.1, 2.0),), "scale factor", _zoom_in),
    )
}

ALIASES = {"color": "hue", "colour": "hue", "zoom_in": "zoom-in", "zoom": "zoom-in", "zoomin": "zoom-in",
           "rotation": "rotate", "translation": "translate", "dark": "darken"}


def canonical_name(name: str) -> str:
    """The distortion's name in :data:`DISTORTIONS` (accepts the paper code's names, e.g. ``color``)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in DISTORTIONS:
        raise InputError(f"Unknown distortion {name!r}; use {', '.join(DISTORTIONS)}.")
    return key


def parse_context(ranking: str | Sequence[str]) -> tuple[str, ...]:
    """A context: all six distortions ordered from most to least similar.

    Accepts a comma-separated string or a sequence of names; raises :class:`InputError` unless
    it names each of the six exactly once.
    """
    names = [n for n in ranking.split(",")] if isinstance(ranking, str) else list(ranking)
    context = tuple(canonical_name(n) for n in names if n.strip())
    if sorted(context) != sorted(DISTORTIONS):
        missing = sorted(set(DISTORTIONS) - set(context))
        repeated = sorted({n for n in context if context.count(n) > 1})
        raise InputError(
            "A context orders all six distortions exactly once "
            f"({', '.join(DISTORTIONS)}); missing: {', '.join(missing) or 'none'}, "
            f"repeated: {', '.join(repeated) or 'none'}."
        )
    return context


def random_context(generator: torch.Generator) -> tuple[str, ...]:
    """A uniformly random ordering of the six distortions."""
    names = list(DISTORTIONS)
    return tuple(names[i] for i in torch.randperm(len(names), generator=generator).tolist())
