"""Samplers: which segments each perturbed image keeps (spec section 1.3).

``sampler(n_features, n_samples, rng) -> uint8 [N, M]`` with 1 = segment kept, 0 = perturbed.
Random samplers draw from the given ``np.random.Generator`` only, so a seed reproduces them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from engine.explain.params import Catalog, Component, ConfigError, flag, number


class Sampler(Component):
    """Base class. ``fixed_size`` samplers ignore ``n_samples`` (their N follows from M)."""

    fixed_size = False

    def __call__(self, n_features: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class RandomSampler(Sampler):
    """Every segment kept independently with probability p (the RISE and LIME sampler)."""

    NAME = "random"
    TITLE = "Random (Bernoulli p)"
    p: float = number(0.5, 0.01, 0.99, "Keep probability p")

    def __call__(self, n_features: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        return (rng.random((n_samples, n_features)) < self.p).astype(np.uint8)


@dataclass(frozen=True)
class UniqueRandomSampler(RandomSampler):
    """Like :class:`RandomSampler` but without repeated rows."""

    NAME = "unique-random"
    TITLE = "Unique random"

    def __call__(self, n_features: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        if n_features < 63 and n_samples > 2**n_features:
            raise ConfigError(f"Only {2**n_features} distinct samples exist for {n_features} segments; "
                              f"ask for at most that many (got {n_samples}).")
        rows: dict[bytes, np.ndarray] = {}
        for _ in range(1000):
            for row in super().__call__(n_features, n_samples, rng):
                rows.setdefault(row.tobytes(), row)
                if len(rows) == n_samples:
                    return np.stack(list(rows.values()))
        raise ConfigError(f"Could not draw {n_samples} distinct samples with p={self.p}; lower the count "
                          "or move p towards 0.5.")


def kernel_mass(n_features: int, n_perturbed: np.ndarray) -> np.ndarray:
    """Kernel SHAP weight of a whole size group, ``(M-1) / (s (M-s))`` (infinite for s = 0 or M)."""
    sizes = np.asarray(n_perturbed, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return (n_features - 1) / (sizes * (n_features - sizes))


@dataclass(frozen=True)
class KernelShapSampler(Sampler):
    """Coalitions in Kernel-SHAP weight order: none perturbed, all perturbed, then 1 and M-1, 2 and M-2, ...

    Whole size groups are enumerated while they fit in N; the rest of the budget is drawn at random
    from the remaining sizes, in proportion to their kernel weight, each with its complement (as the
    shap package does), so no group is cut in a biased, lexicographic way.
    """

    NAME = "kernel-shap"
    TITLE = "Kernel SHAP order"

    def __call__(self, n_features: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        m = n_features
        rows = [np.ones(m, np.uint8), np.zeros(m, np.uint8)][:n_samples]
        level = 1
        while level <= m // 2:
            sizes = sorted({level, m - level})
            count = sum(math.comb(m, s) for s in sizes)
            if len(rows) + count > n_samples:
                break
            for perturbed in sizes:
                for chosen in itertools.combinations(range(m), perturbed):
                    row = np.ones(m, np.uint8)
                    row[list(chosen)] = 0
                    rows.append(row)
            level += 1
        if len(rows) < n_samples and level <= m // 2:
            rows += self._random_fill(m, level, n_samples - len(rows), rng)
        return np.stack(rows)

    @staticmethod
    def _random_fill(m: int, level: int, budget: int, rng: np.random.Generator) -> list[np.ndarray]:
        sizes = np.arange(level, m - level + 1)
        weights = kernel_mass(m, sizes)
        seen: set[bytes] = set()
        rows: list[np.ndarray] = []
        for _ in range(100 * budget):
            perturbed = rng.choice(sizes, p=weights / weights.sum())
            row = np.ones(m, np.uint8)
            row[rng.permutation(m)[:perturbed]] = 0
            for candidate in (row, 1 - row):
                if len(rows) < budget and candidate.tobytes() not in seen:
                    seen.add(candidate.tobytes())
                    rows.append(candidate)
            if len(rows) == budget:
                break
        return rows


@dataclass(frozen=True)
class SingleFeatureSampler(Sampler):
    """M rows: each perturbs exactly one segment (occlusion), or with ``inverse`` keeps exactly one."""

    NAME = "single-feature"
    TITLE = "Single feature"
    fixed_size = True
    inverse: bool = flag(False, "Inverse", "keep one segment per row and perturb all others")

    def __call__(self, n_features: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        identity = np.eye(n_features, dtype=np.uint8)
        return identity if self.inverse else 1 - identity


SAMPLERS: Catalog[Sampler] = Catalog(
    "sampler", [RandomSampler, UniqueRandomSampler, KernelShapSampler, SingleFeatureSampler]
)


def with_reference_rows(samples: np.ndarray, add_none: bool, add_all: bool) -> np.ndarray:
    """Prepend the unperturbed row (``add_none``) and/or the fully perturbed row (``add_all``) if missing."""
    n_features = samples.shape[1]
    extra = []
    for wanted, row in ((add_none, np.ones(n_features, np.uint8)), (add_all, np.zeros(n_features, np.uint8))):
        if wanted and not (samples == row).all(axis=1).any():
            extra.append(row)
    return np.concatenate([np.stack(extra), samples]) if extra else samples
