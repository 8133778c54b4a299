"""Ranking accuracy of a metric on a frozen triplet set, overall and per pair of distortions.

Distances on the frozen set do not depend on the context, only the labels do; so
:func:`triplet_distances` (or, for lin weights on a frozen backbone, :func:`triplet_statistics`) runs
the backbone once and :func:`ranking_accuracy` scores any number of contexts from the distances.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.similarity.contexts.model import channel_statistics, twoafc_scores
from engine.similarity.contexts.triplets import NAMES, Triplets, judge_for
from engine.similarity.metric import DeepPerceptualSimilarity, Embedding


@dataclass(frozen=True)
class RankingAccuracy:
    """Accuracy overall and per unordered pair of distortions.

    ``per_pair[a, b]`` (= ``per_pair[b, a]``, indices into :data:`NAMES`) is the share of triplets
    with distortions a and b (in either order) that the metric ranks as the context does; the
    diagonal is NaN.
    """

    overall: float
    per_pair: np.ndarray  # float [6, 6]

    @classmethod
    def from_pairs(cls, overall: float, pairs: dict[str, float]) -> "RankingAccuracy":
        """The inverse of :meth:`pair_dict` (e.g. read back from a saved summary)."""
        per_pair = np.full((len(NAMES), len(NAMES)), np.nan)
        for key, value in pairs.items():
            a, b = (NAMES.index(name) for name in key.split(" vs "))
            per_pair[a, b] = per_pair[b, a] = value
        return cls(overall, per_pair)

    def pair_dict(self) -> dict[str, float]:
        """``{"blur vs darken": accuracy, ...}`` over the 15 unordered pairs, in :data:`NAMES` order."""
        return {f"{NAMES[a]} vs {NAMES[b]}": round(float(self.per_pair[a, b]), 4)
                for a in range(len(NAMES)) for b in range(a + 1, len(NAMES))}


def _embedded(metric: DeepPerceptualSimilarity, triplets: Triplets, batch_size: int,
              on_batch: Callable[[float], None] | None) -> Iterator[tuple[Embedding, Embedding, Embedding]]:
    """Embeddings of (reference, p0, p1) per batch; consecutive duplicate references are embedded once
    (a frozen set holds each reference 30 times in a row, once per ordered pair)."""
    metric.eval()
    for start in range(0, len(triplets), batch_size):
        stop = min(start + batch_size, len(triplets))
        reference = triplets.reference[start:stop]
        repeated = torch.zeros(len(reference), dtype=torch.bool)
        repeated[1:] = (reference[1:] == reference[:-1]).flatten(1).all(dim=1)
        unique = reference[~repeated]
        embedded = metric.embed(torch.cat([unique, triplets.p0[start:stop], triplets.p1[start:stop]]))
        count, first = stop - start, len(unique)
        yield (embedded.select(torch.cumsum(~repeated, 0) - 1),
               embedded.select(slice(first, first + count)),
               embedded.select(slice(first + count, first + 2 * count)))
        if on_batch is not None:
            on_batch(stop / len(triplets))


@torch.no_grad()
def triplet_distances(metric: DeepPerceptualSimilarity, triplets: Triplets, batch_size: int = 120,
                   on_batch: Callable[[float], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``d(ref, p0)`` and ``d(ref, p1)`` for every triplet."""
    pairs = [(metric.distance(ref, p0).total, metric.distance(ref, p1).total)
             for ref, p0, p1 in _embedded(metric, triplets, batch_size, on_batch)]
    return torch.cat([d0 for d0, _ in pairs]), torch.cat([d1 for _, d1 in pairs])


@torch.no_grad()
def triplet_statistics(metric: DeepPerceptualSimilarity, triplets: Triplets, batch_size: int = 120,
                       on_batch: Callable[[float], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel statistics ``[N, K]`` of (ref, p0) and (ref, p1) (see :class:`ChannelStatistics`).

    With lin weights ``w`` (all entries' vectors concatenated), ``s0 @ w`` equals the metric's d0.
    """
    pairs = [(channel_statistics(ref, p0), channel_statistics(ref, p1))
             for ref, p0, p1 in _embedded(metric, triplets, batch_size, on_batch)]
    return torch.cat([s0 for s0, _ in pairs]), torch.cat([s1 for _, s1 in pairs])


def ranking_accuracy(d0: torch.Tensor, d1: torch.Tensor, pairs: torch.Tensor,
                     context: Sequence[str]) -> RankingAccuracy:
    """Score distances against the labels ``context`` gives the triplets' distortion ``pairs``."""
    scores = twoafc_scores(d0, d1, judge_for(pairs, context).to(d0.device))
    size = len(NAMES)
    totals = np.zeros((size, size))
    counts = np.zeros((size, size))
    for (a, b), score in zip(pairs.tolist(), scores.tolist()):
        for row, column in ((a, b), (b, a)):
            totals[row, column] += score
            counts[row, column] += 1
    with np.errstate(invalid="ignore"):
        per_pair = totals / counts
    return RankingAccuracy(float(scores.mean()), per_pair)


@dataclass(frozen=True)
class Difficulty:
    """Whether the pairs that were hardest before adaptation stay the hardest after it."""

    hardest_before: list[str]  # the k worst pairs before, worst first
    their_rank_after: list[int]  # 1 = still the worst pair after adaptation
    rank_correlation: float  # Spearman correlation of the 15 per-pair accuracies before vs after


def difficulty(before: RankingAccuracy, after: RankingAccuracy, k: int = 3) -> Difficulty:
    """Compare per-pair accuracies before and after (the paper: hard contexts stay hard)."""
    from scipy.stats import spearmanr

    first, second = before.pair_dict(), after.pair_dict()
    names = list(first)
    order_before = sorted(names, key=lambda name: first[name])
    order_after = sorted(names, key=lambda name: second[name])
    correlation = spearmanr([first[n] for n in names], [second[n] for n in names]).statistic
    return Difficulty(order_before[:k], [order_after.index(name) + 1 for name in order_before[:k]],
                      float(correlation) if np.isfinite(correlation) else float("nan"))
