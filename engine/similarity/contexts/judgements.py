"""A context from people's 2AFC judgements of distorted triplets.

:func:`context_triplet` makes a triplet to judge in the 2AFC annotation view: a crop of a bundled
photograph and two copies distorted by two different context distortions; the item's source
records which (``context distortions: p0 blur, p1 hue; ...``). Each judgement of such a triplet says
which of the two distortions the annotator found more similar to the reference. A Bradley-Terry
model turns these pairwise outcomes into one strength per distortion (how often it wins, corrected
for whom it met); the context lists the distortions from strongest (most similar) to weakest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from engine.annotations import AnnotationStore
from engine.errors import InputError
from engine.similarity.annotate import TASK, Triplet, store_triplet
from engine.similarity.bapps import random_patch
from engine.similarity.contexts.distortions import DISTORTIONS, canonical_name
from engine.similarity.contexts.triplets import NAMES

_SOURCE = re.compile(r"context distortions: p0 (?P<p0>[\w-]+), p1 (?P<p1>[\w-]+)")


def context_triplet(seed: int, size: int = 64) -> Triplet:
    """A triplet for judging a context: a photo crop, p0 and p1 distorted by two different distortions."""
    rng = np.random.default_rng(seed)
    reference, where = random_patch(rng, size)
    first, second = rng.choice(len(NAMES), size=2, replace=False)
    generator = torch.Generator().manual_seed(seed)
    image = torch.from_numpy(reference).permute(2, 0, 1)
    p0, p1 = (DISTORTIONS[NAMES[k]](image, generator).permute(1, 2, 0).numpy() for k in (first, second))
    return store_triplet(reference, p0, p1, f"context distortions: p0 {NAMES[first]}, p1 {NAMES[second]}; {where}")


def context_outcomes(store: AnnotationStore) -> list[tuple[str, str]]:
    """``(more similar, less similar)`` distortion pairs from every standing judgement of a context
    triplet (skips and other triplets are ignored)."""
    outcomes = []
    for annotation in store.current_labels(TASK):
        match = _SOURCE.match(annotation.source)
        choice = annotation.label.get("choice") if isinstance(annotation.label, dict) else None
        if match and choice in ("p0", "p1"):
            other = "p1" if choice == "p0" else "p0"
            outcomes.append((match[choice], match[other]))
    return outcomes


@dataclass(frozen=True)
class ContextEstimate:
    """The context a set of judgements implies, with each distortion's strength and evidence."""

    context: tuple[str, ...]
    strengths: dict[str, float]  # Bradley-Terry strengths, summing to 1
    wins: dict[str, int]
    comparisons: dict[str, int]
    judgements: int


def estimate_context(outcomes: Iterable[tuple[str, str]], prior: float = 0.5, iterations: int = 200) -> ContextEstimate:
    """Order the six distortions from pairwise outcomes ``(more similar, less similar)``.

    Args:
        outcomes: one ``(winner, loser)`` pair of distortion names per judgement.
        prior: pseudo-wins added to both sides of every pair, so that unbeaten distortions keep a
            finite strength and sparse data is pulled towards "no preference".
        iterations: minorisation-maximisation steps of the Bradley-Terry fit.

    Raises:
        InputError: a distortion was never compared (more judgements are needed).
    """
    index = {name: k for k, name in enumerate(NAMES)}
    wins = np.zeros((len(NAMES), len(NAMES)))
    for winner, loser in outcomes:
        a, b = index[canonical_name(winner)], index[canonical_name(loser)]
        if a != b:
            wins[a, b] += 1
    games = wins + wins.T
    seen = games.sum(axis=1)
    if (seen == 0).any():
        missing = [NAMES[k] for k in np.flatnonzero(seen == 0)]
        raise InputError(f"No judgement involves {', '.join(missing)} yet; judge more context triplets "
                         f"({int(wins.sum())} so far).")
    smoothed = wins + prior * (1 - np.eye(len(NAMES)))
    total_games = smoothed + smoothed.T
    strengths = np.ones(len(NAMES)) / len(NAMES)
    for _ in range(iterations):
        denominator = (total_games / (strengths[:, None] + strengths[None, :])).sum(axis=1)
        strengths = smoothed.sum(axis=1) / denominator
        strengths /= strengths.sum()
    order = np.argsort(-strengths, kind="stable")
    return ContextEstimate(
        context=tuple(NAMES[k] for k in order),
        strengths={NAMES[k]: round(float(strengths[k]), 4) for k in order},
        wins={NAMES[k]: int(wins[k].sum()) for k in range(len(NAMES))},
        comparisons={NAMES[k]: int(seen[k]) for k in range(len(NAMES))},
        judgements=int(wins.sum()),
    )
