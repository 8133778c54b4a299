"""How settled an explanation's map is, judged from its own samples while they are drawn.

The samples fall into two halves with independent sampling noise (rows labelled 0 and 1 by the
sampler; rows without noise belong to both). The Pearson correlation ``r`` of the two half maps gives,
through the Spearman-Brown formula (generalised here to halves of unequal size), the reliability of
the whole map, and its square root estimates the correlation of the whole map with the converged map
(the limit of infinitely many samples). The model behind it: a map from N samples is the converged
map plus noise whose variance falls as 1/N, as for every Monte-Carlo estimator here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConvergencePoint:
    """The estimate after ``samples`` perturbed images (``model_calls`` forward passes, fewer when
    samples repeat): ``r`` is the estimated correlation with the converged map, in 0..1."""

    samples: int
    model_calls: int
    r: float


def map_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Pearson correlation of two maps over their pixels (NaN when either is constant)."""
    a = np.ravel(first).astype(np.float64) - np.mean(first)
    b = np.ravel(second).astype(np.float64) - np.mean(second)
    norm = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / norm if norm > 0 else math.nan


def settled_correlation(r_halves: float, size_a: int, size_b: int) -> float:
    """Estimated correlation with the converged map of the map from all ``size_a + size_b`` noisy samples,
    given the correlation ``r_halves`` between the maps of the two halves (``size_a`` and ``size_b`` noisy
    samples each, plus any shared noise-free rows).

    With noise-to-signal ratios ``a`` and ``a k`` (``k = size_a / size_b``) in the halves,
    ``r_halves^2 = 1 / ((1 + a)(1 + k a))``; the whole map has ratio ``c = a size_a / (size_a + size_b)``
    and correlation ``1 / sqrt(1 + c)`` with the converged map. For equal halves this is
    ``sqrt(2 r / (1 + r))``, the square root of the Spearman-Brown reliability. Returns 1 when no
    sample is noisy, NaN when only one half has samples or ``r_halves`` is NaN, and 0 for ``r_halves <= 0``.
    """
    if size_a == 0 and size_b == 0:
        return 1.0
    if size_a == 0 or size_b == 0 or math.isnan(r_halves):
        return math.nan
    if r_halves <= 0:
        return 0.0
    r = min(r_halves, 1.0)
    k = size_a / size_b
    a = (-(1 + k) + math.sqrt((1 + k) ** 2 + 4 * k * (1 / r**2 - 1))) / (2 * k)
    return 1 / math.sqrt(1 + a * size_a / (size_a + size_b))


def next_check(done: int, unit: int, budget: int) -> int:
    """The sample count of the next convergence check: a multiple of the sampler's ``unit`` at least 10%
    beyond ``done`` (so a long run is checked about 50 times, not thousands), at most ``budget``."""
    goal = max(done + unit, math.ceil(1.1 * done))
    return min(budget, math.ceil(goal / unit) * unit)
