"""Ranking triplets for a context: a reference, two distorted copies, and which one is more similar.

For a context (an ordering of the six distortions, earlier = more similar) a triplet is made from
an image x and an ordered pair of different distortions (a, b): ``p0 = a(x)``, ``p1 = b(x)``,
``judge = 0`` if a comes before b in the context (p0 is the more similar one) else 1. All 30
ordered pairs are equally likely, as in the paper.

Training draws fresh crops and distortion parameters on every read (:class:`TripletSampler`);
evaluation uses a frozen set (:func:`frozen_triplets`) made once from a seed, covering every ordered
pair for every test crop, so before/after accuracies are comparable and per-pair accuracies are
balanced. The distorted images do not depend on the context, only the labels do, so one frozen set
serves every context (:meth:`Triplets.labelled`).

All images are ``float32 [B, 3, S, S]`` in 0..1; metrics normalise them (reference included - the
paper's code forgets to normalise the reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch.nn import functional as F

from engine.errors import InputError
from engine.similarity.contexts.distortions import DISTORTIONS

NAMES = tuple(DISTORTIONS)
ORDERED_PAIRS = tuple((a, b) for a in range(len(NAMES)) for b in range(len(NAMES)) if a != b)


@dataclass(frozen=True)
class Triplets:
    """A batch of triplets. ``pairs[k] = (a, b)`` indexes :data:`NAMES`: p0 = a(ref), p1 = b(ref)."""

    reference: torch.Tensor
    p0: torch.Tensor
    p1: torch.Tensor
    pairs: torch.Tensor  # long [B, 2]
    judge: torch.Tensor | None = None  # float [B]: 0 = p0 more similar, 1 = p1 more similar

    def __len__(self) -> int:
        return int(self.pairs.shape[0])

    def labelled(self, context: Sequence[str]) -> "Triplets":
        """The same triplets with the labels ``context`` implies."""
        return replace(self, judge=judge_for(self.pairs, context))


def judge_for(pairs: torch.Tensor, context: Sequence[str]) -> torch.Tensor:
    """0 where the first distortion of a pair ranks earlier (more similar) in ``context``, else 1."""
    rank = torch.tensor([list(context).index(name) for name in NAMES])
    return (rank[pairs[:, 0]] > rank[pairs[:, 1]]).float()


def random_crops(sources: Sequence[torch.Tensor], count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` crops of ``size`` x ``size`` from randomly chosen sources, at random scales.

    Each crop covers a random square of 1/4 to all of the source's shorter side (never less than
    ``size`` unless the source is smaller), resized with antialiasing, so a handful of photographs
    yields many different training images.
    """
    crops = []
    for _ in range(count):
        source = sources[int(torch.randint(len(sources), (), generator=generator))]
        height, width = source.shape[-2:]
        short = min(height, width)
        smallest = min(short, max(size, short // 4))  # sources smaller than a crop are upsampled
        side = int(torch.randint(smallest, short + 1, (), generator=generator))
        top = int(torch.randint(height - side + 1, (), generator=generator))
        left = int(torch.randint(width - side + 1, (), generator=generator))
        patch = source[None, :, top:top + side, left:left + side]
        crops.append(F.interpolate(patch, size=(size, size), mode="bilinear", antialias=True, align_corners=False))
    return torch.cat(crops).clamp(0.0, 1.0)


def distort(references: torch.Tensor, which: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Distort each reference with distortion ``NAMES[which[k]]`` (fresh parameters), one batch per kind."""
    distorted = torch.empty_like(references)
    for index, name in enumerate(NAMES):
        rows = (which == index).nonzero().flatten()
        if len(rows):
            distorted[rows] = DISTORTIONS[name](references[rows], generator)
    return distorted


def distort_pairs(references: torch.Tensor, pairs: torch.Tensor, generator: torch.Generator) -> Triplets:
    """Apply each row's pair of distortions (fresh parameters) to its reference."""
    return Triplets(references, distort(references, pairs[:, 0], generator),
                    distort(references, pairs[:, 1], generator), pairs)


class TripletSampler:
    """Fresh labelled triplets on every call: new crops, pairs and distortion parameters."""

    def __init__(self, sources: Sequence[torch.Tensor], context: Sequence[str], size: int = 64, seed: int = 0) -> None:
        if not sources:
            raise InputError("Training needs at least one image.")
        self.sources = list(sources)
        self.context = tuple(context)
        self.size = size
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, count: int) -> Triplets:
        """``count`` labelled triplets."""
        references = random_crops(self.sources, count, self.size, self.generator)
        choice = torch.randint(len(ORDERED_PAIRS), (count,), generator=self.generator)
        pairs = torch.tensor(ORDERED_PAIRS)[choice]
        return distort_pairs(references, pairs, self.generator).labelled(self.context)


def frozen_triplets(sources: Sequence[torch.Tensor], crops_per_source: int = 4, size: int = 64,
                    seed: int = 1234) -> Triplets:
    """A reproducible test set: every ordered pair for every crop (30 triplets per crop), unlabelled."""
    if not sources:
        raise InputError("The test set needs at least one image.")
    generator = torch.Generator().manual_seed(seed)
    references = torch.cat([random_crops([source], crops_per_source, size, generator) for source in sources])
    pairs = torch.tensor(ORDERED_PAIRS).repeat(len(references), 1)
    return distort_pairs(references.repeat_interleave(len(ORDERED_PAIRS), dim=0), pairs, generator)
