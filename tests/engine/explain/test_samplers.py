"""Samplers: shapes, probabilities, Kernel-SHAP order, reference rows, seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.explain.params import ConfigError
from engine.explain.samplers import (
    KernelShapSampler,
    RandomSampler,
    SingleFeatureSampler,
    UniqueRandomSampler,
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


def test_kernel_shap_order_enumerates_size_groups_in_weight_order() -> None:
    samples = KernelShapSampler()(4, 10, np.random.default_rng(0))
    perturbed = 4 - samples.sum(axis=1)
    assert perturbed.tolist() == [0, 4, 1, 1, 1, 1, 3, 3, 3, 3]
    everything = KernelShapSampler()(4, 100, np.random.default_rng(0))
    assert len(everything) == 16 and len({row.tobytes() for row in everything}) == 16


def test_kernel_shap_order_fills_an_incomplete_level_randomly_with_complements() -> None:
    m = 12
    samples = KernelShapSampler()(m, 200, np.random.default_rng(3))
    complete = 2 + 2 * m + 2 * math.comb(m, 2)  # none, all, 1 and m-1 perturbed, 2 and m-2 perturbed
    assert len(samples) == 200 and len({row.tobytes() for row in samples}) == 200
    rest = samples[complete:]
    sizes = m - rest.sum(axis=1)
    assert sorted(set((m - samples[:complete].sum(axis=1)).tolist())) == [0, 1, 2, 10, 11, 12]
    assert sizes.min() >= 3 and sizes.max() <= m - 3
    as_set = {row.tobytes() for row in rest}
    assert sum((1 - row).tobytes() in as_set for row in rest) >= len(rest) - 1  # paired with complements
    assert len(rest) == 200 - complete < 2 * math.comb(m, 3)  # level 3 did not fit, so it was sampled
    np.testing.assert_array_equal(samples, KernelShapSampler()(m, 200, np.random.default_rng(3)))


def test_single_feature_samplers_and_reference_rows() -> None:
    occlusion = SingleFeatureSampler()(5, 999, np.random.default_rng(0))
    np.testing.assert_array_equal(occlusion, 1 - np.eye(5, dtype=np.uint8))
    keep_one = SingleFeatureSampler(inverse=True)(5, 999, np.random.default_rng(0))
    np.testing.assert_array_equal(keep_one, np.eye(5, dtype=np.uint8))
    both = with_reference_rows(occlusion, add_none=True, add_all=True)
    assert both.shape == (7, 5) and both[0].all() and not both[1].any()
    shap = KernelShapSampler()(5, 20, np.random.default_rng(0))
    assert len(with_reference_rows(shap, add_none=True, add_all=True)) == len(shap)  # already there
