"""Samplers: which segments each perturbed image keeps (spec section 1.3), drawn as a growing stream.

``sampler(n_features, n_samples, rng) -> uint8 [N, M]`` with 1 = segment kept, 0 = perturbed.
``sampler.stream(n_features, rng)`` draws the same kind of rows a few at a time (:class:`SampleStream`),
so that an explanation can stop once its map has settled. Every row carries a split-half label, 0 or 1,
or :data:`BOTH` for rows without sampling noise (enumerated Kernel SHAP coalitions, reference rows);
:mod:`engine.explain.convergence` compares the maps of the two halves.

Variance reduction that keeps the estimators unbiased: :class:`OrthogonalSampler` draws each block
from a randomised Hadamard design with its complement (every row is still uniform on {0, 1}^M, but
within a block every pair of segments is kept together exactly a quarter of the time), and
:class:`KernelShapSampler` enumerates the coalition sizes its budget covers, then samples the other
sizes in proportion to their kernel weight, in complement pairs, never repeating a coalition.
Random samplers draw from the given ``np.random.Generator`` only, so a seed reproduces them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from engine.explain.params import Catalog, Component, ConfigError, flag, number

BOTH = -1  # split-half label of a row that belongs to both halves (it carries no sampling noise)
# rows uint8 [B, M], their split-half labels int8 [B] and shift groups int [B] (numbered within the block)
Block = tuple[np.ndarray, np.ndarray, np.ndarray]


class SampleStream:
    """The rows drawn so far for one explanation, grown on demand: ``rows`` uint8 [N, M], their split-half
    labels ``halves`` int8 [N] and their shift groups ``groups`` int64 [N] (rows of one design block share
    RISE's random shift, see :class:`engine.explain.segmenters.MaskBuilder`).

    ``unit`` is the number of rows after which the two halves are again alike (a design block), so
    convergence is best judged at multiples of it; ``complete`` turns true once no new row can be drawn.
    """

    unit = 32

    def __init__(self, n_features: int, blocks: Iterator[Block] | None = None, truncate: bool = True) -> None:
        """
        Args:
            n_features: M, the number of segments.
            blocks: the sampler's rows, block after block (the stream ends when the iterator does).
            truncate: whether a block may be cut to reach exactly the requested count (fixed designs,
                such as single-feature samples, are always taken whole).
        """
        self.rows = np.zeros((0, n_features), np.uint8)
        self.halves = np.zeros(0, np.int8)
        self.groups = np.zeros(0, np.int64)
        self.complete = False
        self._next_group = 0
        self._blocks = blocks
        self._truncate = truncate
        self._pending: Block | None = None

    def include(self, rows: np.ndarray) -> None:
        """Add reference ``rows`` (e.g. the unperturbed image) to both halves, unless already drawn."""
        for row in rows:
            if not (self.rows == row).all(axis=1).any():
                self._append(row[None], np.array([BOTH], np.int8), self._new_groups(1))

    def grow(self, total: int) -> np.ndarray:
        """Draw rows until there are ``total`` (fewer once the sampler is exhausted); returns the new rows."""
        start = len(self.rows)
        while len(self.rows) < total and not self.complete:
            if self._pending is None:
                block = next(self._blocks, None) if self._blocks is not None else None
                if block is None:
                    self.complete = True
                    break
                rows, halves, groups = block
                self._pending = rows, halves, self._new_groups(int(groups.max()) + 1)[groups]
            rows, halves, groups = self._pending
            take = min(len(rows), total - len(self.rows)) if self._truncate else len(rows)
            self._append(rows[:take], halves[:take], groups[:take])
            self._pending = (rows[take:], halves[take:], groups[take:]) if take < len(rows) else None
        return self.rows[start:]

    def _new_groups(self, count: int) -> np.ndarray:
        """``count`` shift groups not used before."""
        self._next_group += count
        return np.arange(self._next_group - count, self._next_group)

    def _append(self, rows: np.ndarray, halves: np.ndarray, groups: np.ndarray) -> None:
        self.rows = np.concatenate([self.rows, rows.astype(np.uint8)])
        self.halves = np.concatenate([self.halves, halves.astype(np.int8)])
        self.groups = np.concatenate([self.groups, groups.astype(np.int64)])


def alternating(count: int, first: int = 0) -> np.ndarray:
    """Split-half labels 0, 1, 0, 1, ... starting at ``first``."""
    return ((np.arange(count) + first) % 2).astype(np.int8)


class Sampler(Component):
    """Base class. ``fixed_size`` samplers ignore ``n_samples`` (their N follows from M)."""

    fixed_size = False

    def stream(self, n_features: int, rng: np.random.Generator) -> SampleStream:
        """The sampler's rows for ``n_features`` segments, drawn on demand."""
        raise NotImplementedError

    def __call__(self, n_features: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        stream = self.stream(n_features, rng)
        stream.grow(max(n_samples, 1) if self.fixed_size else n_samples)
        return stream.rows


@dataclass(frozen=True)
class RandomSampler(Sampler):
    """Every segment kept independently with probability p (the RISE and LIME sampler)."""

    NAME = "random"
    TITLE = "Random (Bernoulli p)"
    p: float = number(0.5, 0.01, 0.99, "Keep probability p")

    def draw(self, n_features: int, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` independent rows."""
        return (rng.random((count, n_features)) < self.p).astype(np.uint8)

    def stream(self, n_features: int, rng: np.random.Generator) -> SampleStream:
        def blocks() -> Iterator[Block]:
            while True:
                count = SampleStream.unit
                yield self.draw(n_features, count, rng), alternating(count), np.arange(count)

        return SampleStream(n_features, blocks())


@dataclass(frozen=True)
class UniqueRandomSampler(RandomSampler):
    """Like :class:`RandomSampler` but without repeated rows."""

    NAME = "unique-random"
    TITLE = "Unique random"

    def stream(self, n_features: int, rng: np.random.Generator) -> SampleStream:
        def blocks() -> Iterator[Block]:
            seen: set[bytes] = set()
            for _ in range(1000 * (1 + 2 ** min(n_features, 20) // SampleStream.unit)):
                fresh = []
                for row in self.draw(n_features, SampleStream.unit, rng):
                    if row.tobytes() not in seen:
                        seen.add(row.tobytes())
                        fresh.append(row)
                if fresh:
                    yield np.stack(fresh), alternating(len(fresh), len(seen) - len(fresh)), np.arange(len(fresh))
                if n_features < 63 and len(seen) == 2**n_features:
                    return

        return SampleStream(n_features, blocks())

    def __call__(self, n_features: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        if n_features < 63 and n_samples > 2**n_features:
            raise ConfigError(f"Only {2**n_features} distinct samples exist for {n_features} segments; "
                              f"ask for at most that many (got {n_samples}).")
        rows = super().__call__(n_features, n_samples, rng)
        if len(rows) < n_samples:
            raise ConfigError(f"Could not draw {n_samples} distinct samples with p={self.p}; lower the count "
                              "or move p towards 0.5.")
        return rows


def hadamard_columns(n_features: int) -> np.ndarray:
    """``int8 [n, n - 1]``: the non-constant columns of the smallest Sylvester Hadamard matrix with
    ``n - 1 >= n_features``, as 0/1 (every column balanced, every two columns orthogonal)."""
    order = 2 ** max(1, math.ceil(math.log2(n_features + 1)))
    return (scipy.linalg.hadamard(order)[:, 1:] > 0).astype(np.int8)


@dataclass(frozen=True)
class OrthogonalSampler(Sampler):
    """Keep probability 0.5 with variance-reduced blocks: a randomised Hadamard design and its complement.

    Each block takes M random non-constant columns of a Hadamard matrix of order n > M, flips each
    column with probability 1/2 and shuffles the rows; then it adds every row's complement. Every row
    is uniform on {0, 1}^M (so RISE, LIME and PDA stay unbiased), but within a block each segment is
    kept exactly half the time, every two segments are kept together exactly a quarter of the time,
    and complements cancel the even part of the model's response. Blocks of 2n rows are independent
    and alternate between the two halves.
    """

    NAME = "orthogonal"
    TITLE = "Orthogonal pairs (p = 0.5)"

    def stream(self, n_features: int, rng: np.random.Generator) -> SampleStream:
        design = hadamard_columns(n_features)
        size = len(design)

        def blocks() -> Iterator[Block]:
            for index in itertools.count():
                columns = rng.choice(design.shape[1], n_features, replace=False)
                flips = rng.integers(0, 2, n_features, dtype=np.int8)
                rows = (design[rng.permutation(size)][:, columns] ^ flips).astype(np.uint8)
                pairs = np.empty((2 * size, n_features), np.uint8)
                pairs[0::2], pairs[1::2] = rows, 1 - rows
                yield pairs, np.full(2 * size, index % 2, np.int8), np.zeros(2 * size, np.int64)

        stream = SampleStream(n_features, blocks())
        stream.unit = 2 * size
        return stream


def kernel_mass(n_features: int, n_perturbed: np.ndarray) -> np.ndarray:
    """Kernel SHAP weight of a whole size group, ``(M-1) / (s (M-s))`` (infinite for s = 0 or M)."""
    sizes = np.asarray(n_perturbed, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return (n_features - 1) / (sizes * (n_features - sizes))


def enumerated_levels(n_features: int, budget: int) -> int:
    """How many coalition levels (sizes s and M - s, for s = 1, 2, ...) a budget of ``budget`` rows
    besides the two endpoints enumerates completely: a level is enumerated when its share of the
    remaining budget, in proportion to its kernel weight, covers all its coalitions (the rule of the
    SHAP authors' reference sampler)."""
    m = n_features
    levels = np.arange(1, m // 2 + 1)
    paired = levels != m - levels
    weights = kernel_mass(m, levels) * np.where(paired, 2, 1)
    left = float(budget)
    for index, level in enumerate(levels):
        share = weights[index] / weights[index:].sum()
        count = math.comb(m, int(level)) * (2 if paired[index] else 1)
        if left * share < count - 1e-8:
            return index
        left -= count
    return len(levels)


class KernelShapStream(SampleStream):
    """Kernel SHAP coalitions for a growing budget, with no coalition drawn twice.

    For every budget the levels that :func:`enumerated_levels` grants are complete; the other rows are
    complement pairs whose level is chosen so that each level's count stays proportional to its kernel
    weight (stratified by size), each pair a uniformly random coalition of that level not yet drawn.
    Earlier rows are kept as the budget grows (the designs are nested); enumerated rows and the two
    endpoints belong to both halves, random pairs alternate between them.
    """

    def __init__(self, n_features: int, rng: np.random.Generator) -> None:
        super().__init__(n_features)
        self.rng = rng
        self.levels = 0  # levels enumerated so far
        self._index: dict[bytes, int] = {}  # every row drawn -> its position
        self._new: list[tuple[np.ndarray, int]] = []  # rows drawn in this call of grow, not yet appended
        self._pairs = 0
        for row in (np.ones(n_features, np.uint8), np.zeros(n_features, np.uint8)):
            self._add(row, BOTH)
            self._next_group += 1
        self._flush()
        self.complete = n_features <= 1

    def _add(self, row: np.ndarray, half: int) -> bool:
        """Draw ``row`` unless it was drawn before; whether it is new."""
        key = row.tobytes()
        if key in self._index:
            return False
        self._index[key] = len(self.rows) + len(self._new)
        self._new.append((row, half, self._next_group))
        return True

    def _flush(self) -> None:
        if self._new:
            rows, halves, groups = zip(*self._new)
            self._append(np.stack(rows), np.array(halves), np.array(groups))
            self._new = []

    def grow(self, total: int) -> np.ndarray:
        start, m = len(self.rows), self.rows.shape[1]
        wanted = enumerated_levels(m, max(total - 2, 0))
        for level in range(self.levels + 1, wanted + 1):
            for size in sorted({level, m - level}):
                for chosen in itertools.combinations(range(m), size):
                    row = np.ones(m, np.uint8)
                    row[list(chosen)] = 0
                    if not self._add(row, BOTH):  # drawn at random before: no sampling noise any more
                        self.halves[self._index[row.tobytes()]] = BOTH
                    self._next_group += 1
        self.levels = max(self.levels, wanted)
        self.complete = self.complete or self.levels == m // 2
        levels = np.arange(self.levels + 1, m // 2 + 1)
        if len(levels) and len(self.rows) + len(self._new) < total:
            self._draw_pairs(levels, total)
        self._flush()
        return self.rows[start:]

    def _draw_pairs(self, levels: np.ndarray, total: int) -> None:
        m = self.rows.shape[1]
        mass = kernel_mass(m, levels) * np.where(levels != m - levels, 2, 1)
        share = mass / mass.sum()
        perturbed = m - np.concatenate([self.rows, *(row[None] for row, *_ in self._new)]).sum(axis=1)
        counts = np.array([np.isin(perturbed, (level, m - level)).sum() for level in levels], np.float64)
        available = sum(math.comb(m, size) for level in levels.tolist() for size in {level, m - level})
        misses = 0
        while len(self.rows) + len(self._new) < total and counts.sum() < available and misses < 1000:
            index = int(np.argmax(share * (counts.sum() + 2) - counts))  # the level furthest below its share
            row = np.ones(m, np.uint8)
            row[self.rng.permutation(m)[:levels[index]]] = 0
            added = sum(self._add(candidate, self._pairs % 2) for candidate in (row, 1 - row))
            counts[index] += added
            self._pairs += added > 0
            self._next_group += added > 0  # a pair shares its shift
            misses = 0 if added else misses + 1
        self.complete = self.complete or counts.sum() >= available


@dataclass(frozen=True)
class KernelShapSampler(Sampler):
    """Kernel SHAP coalitions: the all-kept and none-kept rows, the levels 1 and M-1, 2 and M-2, ...
    that the budget covers, and the rest drawn in complement pairs, stratified by size (see
    :class:`KernelShapStream`)."""

    NAME = "kernel-shap"
    TITLE = "Kernel SHAP order"

    def stream(self, n_features: int, rng: np.random.Generator) -> SampleStream:
        return KernelShapStream(n_features, rng)


@dataclass(frozen=True)
class SingleFeatureSampler(Sampler):
    """M rows: each perturbs exactly one segment (occlusion), or with ``inverse`` keeps exactly one."""

    NAME = "single-feature"
    TITLE = "Single feature"
    fixed_size = True
    inverse: bool = flag(False, "Inverse", "keep one segment per row and perturb all others")

    def stream(self, n_features: int, rng: np.random.Generator) -> SampleStream:
        identity = np.eye(n_features, dtype=np.uint8)
        rows = identity if self.inverse else 1 - identity
        block = (rows, np.full(n_features, BOTH, np.int8), np.arange(n_features))
        return SampleStream(n_features, iter([block]), truncate=False)


SAMPLERS: Catalog[Sampler] = Catalog(
    "sampler", [RandomSampler, UniqueRandomSampler, OrthogonalSampler, KernelShapSampler, SingleFeatureSampler]
)


def reference_rows(n_features: int, add_none: bool, add_all: bool) -> np.ndarray:
    """The unperturbed row (``add_none``) and/or the fully perturbed row (``add_all``), ``uint8 [0..2, M]``."""
    rows = [np.ones(n_features, np.uint8)] * add_none + [np.zeros(n_features, np.uint8)] * add_all
    return np.stack(rows) if rows else np.zeros((0, n_features), np.uint8)


def with_reference_rows(samples: np.ndarray, add_none: bool, add_all: bool) -> np.ndarray:
    """Prepend the unperturbed row (``add_none``) and/or the fully perturbed row (``add_all``) if missing."""
    extra = [row for row in reference_rows(samples.shape[1], add_none, add_all)
             if not (samples == row).all(axis=1).any()]
    return np.concatenate([np.stack(extra), samples]) if extra else samples
