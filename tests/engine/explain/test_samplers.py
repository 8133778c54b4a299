"""Samplers: shapes, probabilities, orthogonal blocks, Kernel-SHAP enumeration and pairs, streams, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from engine.explain.params import ConfigError
from engine.explain.samplers import (
    BOTH,
    KernelShapSampler,
    OrthogonalSampler,
    RandomSampler,
    SingleFeatureSampler,
    UniqueRandomSampler,
    enumerated_levels,
    kernel_mass,
    reference_rows,
    with_reference_rows,
)


def test_random_sampler_keeps_with_probability_p_and_follows_the_seed() -> None:
    samples = RandomSampler(0.3)(20, 4000, np.random.default_rng(5))
    assert samples.shape == (4000, 20) and samples.dtype == np.uint8
    assert samples.mean() == pytest.approx(0.3, abs=0.01)
    np.testing.assert_array_equal(samples, RandomSampler(0.3)(20, 4000, np.random.default_rng(5)))
    assert not np.array_equal(samples, RandomSampler(0.3)(20, 4000, np.random.default_rng(6)))


def test_unique_random_rows_are_distinct() -> None:
    samples = UniqueRandomSampler(0.5)(6, 60, np.random.default_rng(0))
    assert len({row.tobytes() for row in samples}) == 60
    with pytest.raises(ConfigError, match="Only 64 distinct"):
        UniqueRandomSampler(0.5)(6, 65, np.random.default_rng(0))


def test_orthogonal_blocks_are_balanced_orthogonal_complement_pairs() -> None:
    m = 10
    stream = OrthogonalSampler().stream(m, np.random.default_rng(0))
    stream.grow(3 * stream.unit)
    assert stream.unit == 32 and stream.rows.shape == (96, m)  # Hadamard order 16 > M, with complements
    for block in range(3):
        rows = stream.rows[block * 32:(block + 1) * 32].astype(float)
        np.testing.assert_array_equal(rows[0::2] + rows[1::2], 1.0)  # every row followed by its complement
        np.testing.assert_array_equal(rows.mean(axis=0), 0.5)  # each segment kept exactly half the time
        centred = rows - 0.5
        np.testing.assert_array_equal(centred.T @ centred, 8 * np.eye(m))  # every two segments orthogonal
        assert (stream.halves[block * 32:(block + 1) * 32] == block % 2).all()
        assert len(set(stream.groups[block * 32:(block + 1) * 32])) == 1  # a block shares its shift
    assert len(set(stream.groups.tolist())) == 3
    assert not np.array_equal(stream.rows[:32], stream.rows[32:64])  # blocks are drawn afresh


def test_orthogonal_rows_are_each_uniform_so_rise_stays_unbiased() -> None:
    """Randomised over seeds, any one row (here the 5th) is uniform on the 8 patterns of M = 3 segments."""
    patterns = [OrthogonalSampler()(3, 5, np.random.default_rng(seed))[4] @ [4, 2, 1] for seed in range(4000)]
    frequencies = np.bincount(patterns, minlength=8) / 4000
    np.testing.assert_allclose(frequencies, 1 / 8, atol=0.02)


def test_kernel_shap_enumerates_the_levels_its_budget_covers() -> None:
    """The SHAP reference rule: a level (s and M-s kept) is enumerated when its kernel share of the
    remaining budget covers all its coalitions. M = 16: level 1 has 32, level 2 240 coalitions."""
    assert enumerated_levels(16, 90) == 0  # 90 x 0.32 < 32
    assert enumerated_levels(16, 198) == 1  # 198 x 0.32 >= 32; then 166 x 0.25 < 240
    assert enumerated_levels(16, 998) == 2  # 966 x 0.254 >= 240; then 726 x 0.244 < 1120
    assert enumerated_levels(4, 14) == 2  # everything: 8 + 6 coalitions
    samples = KernelShapSampler()(16, 200, np.random.default_rng(0))
    perturbed = 16 - samples.sum(axis=1)
    assert perturbed[:2].tolist() == [0, 16]  # both endpoints first
    assert len(samples) == 200 and len({row.tobytes() for row in samples}) == 200
    assert np.isin(perturbed, (1, 15)).sum() == 32  # level 1 complete
    rest = samples[np.isin(perturbed, range(2, 15))]
    as_set = {row.tobytes() for row in rest}
    assert all((1 - row).tobytes() in as_set for row in rest)  # drawn in complement pairs
    levels = np.minimum(16 - rest.sum(axis=1), rest.sum(axis=1))
    counts = np.bincount(levels, minlength=9)[2:]
    share = kernel_mass(16, np.arange(2, 9)) * np.array([2, 2, 2, 2, 2, 2, 1])
    np.testing.assert_allclose(counts / counts.sum(), share / share.sum(), atol=0.02)  # stratified by size
    np.testing.assert_array_equal(samples, KernelShapSampler()(16, 200, np.random.default_rng(0)))
    everything = KernelShapSampler()(4, 100, np.random.default_rng(0))
    assert len(everything) == 16 and len({row.tobytes() for row in everything}) == 16


def test_kernel_shap_stream_grows_nested_designs_without_repeats() -> None:
    stream = KernelShapSampler().stream(16, np.random.default_rng(1))
    first = stream.grow(100).copy()
    assert len(first) == 98 and (stream.halves[:2] == BOTH).all()  # 2 endpoints, then random pairs
    random_halves = stream.halves[2:]
    assert set(random_halves.tolist()) == {0, 1} and abs(int(random_halves.sum()) - 48) <= 1
    np.testing.assert_array_equal(stream.groups[2::2], stream.groups[3::2])  # a pair shares its shift group
    stream.grow(400)
    np.testing.assert_array_equal(stream.rows[2:100], first)  # earlier rows are kept
    assert len(stream.rows) >= 400 and len({row.tobytes() for row in stream.rows}) == len(stream.rows)
    perturbed = 16 - stream.rows.sum(axis=1)
    level_one = np.isin(perturbed, (1, 15))
    assert level_one.sum() == 32 and (stream.halves[level_one] == BOTH).all()  # enumerated now: no noise
    assert (stream.halves[~level_one & (perturbed % 16 != 0)] != BOTH).all()
    assert not stream.complete
    whole = KernelShapSampler().stream(5, np.random.default_rng(0))
    whole.grow(10_000)
    assert whole.complete and len(whole.rows) == 32 and (whole.halves == BOTH).all()


def test_single_feature_samplers_and_reference_rows() -> None:
    occlusion = SingleFeatureSampler()(5, 999, np.random.default_rng(0))
    np.testing.assert_array_equal(occlusion, 1 - np.eye(5, dtype=np.uint8))
    keep_one = SingleFeatureSampler(inverse=True)(5, 999, np.random.default_rng(0))
    np.testing.assert_array_equal(keep_one, np.eye(5, dtype=np.uint8))
    both = with_reference_rows(occlusion, add_none=True, add_all=True)
    assert both.shape == (7, 5) and both[0].all() and not both[1].any()
    shap = KernelShapSampler()(5, 20, np.random.default_rng(0))
    assert len(with_reference_rows(shap, add_none=True, add_all=True)) == len(shap)  # already there


def test_streams_label_halves_and_take_reference_rows_into_both() -> None:
    stream = RandomSampler().stream(6, np.random.default_rng(0))
    stream.include(reference_rows(6, add_none=True, add_all=True))
    stream.grow(50)
    assert len(stream.rows) == 50 and stream.rows[0].all() and not stream.rows[1].any()
    assert stream.halves[:2].tolist() == [BOTH, BOTH]
    assert stream.halves[2:].tolist() == [0, 1] * 24
    assert len(set(stream.groups.tolist())) == 50  # independent rows: a shift each
    single = SingleFeatureSampler().stream(5, np.random.default_rng(0))
    single.grow(2)  # a fixed design comes whole
    assert len(single.rows) == 5 and (single.halves == BOTH).all()
    assert len(single.grow(100)) == 0 and single.complete
