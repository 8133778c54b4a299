"""Attributers: exact Shapley values, regression known answers, PDA, CIU, and the paper's equivalences."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from engine.explain.attributers import (
    ATTRIBUTERS,
    CiuAttributer,
    IncompatibleSamples,
    KernelShapAttributer,
    LimeAttributer,
    LinearLimeAttributer,
    PdaAttributer,
    RiseAttributer,
)
from engine.explain.samplers import KernelShapSampler, RandomSampler, SingleFeatureSampler, with_reference_rows

WEIGHTS = np.array([0.5, -0.2, 0.1, 0.3, 0.05])


def game(kept: np.ndarray) -> np.ndarray:
    """A set function with interactions: linear part, a pairwise synergy and a three-way term."""
    kept = kept.astype(np.float64)
    return 0.1 + kept @ WEIGHTS + 0.4 * kept[:, 0] * kept[:, 1] - 0.3 * kept[:, 2] * kept[:, 3] * kept[:, 4]


def exact_shapley(value, m: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    phi = np.zeros(m)
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for size in range(m):
            for coalition in itertools.combinations(others, size):
                without = np.zeros((1, m))
                without[0, list(coalition)] = 1
                with_i = without.copy()
                with_i[0, i] = 1
                weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
                phi[i] += weight * (value(with_i)[0] - value(without)[0])
    return phi


def test_kernel_shap_matches_exact_shapley_values_on_small_m() -> None:
    samples = KernelShapSampler()(5, 32, np.random.default_rng(0))
    assert len(samples) == 32
    phi = KernelShapAttributer()(game(samples), samples)
    np.testing.assert_allclose(phi, exact_shapley(game, 5), atol=1e-10)
    assert phi.sum() == pytest.approx(game(np.ones((1, 5)))[0] - game(np.zeros((1, 5)))[0])  # efficiency


def test_kernel_shap_is_exact_for_additive_models_from_few_samples() -> None:
    samples = KernelShapSampler()(5, 12, np.random.default_rng(0))  # none, all, singles, one pair group part
    linear = lambda z: 0.1 + z.astype(float) @ WEIGHTS  # noqa: E731
    np.testing.assert_allclose(KernelShapAttributer()(linear(samples), samples), WEIGHTS, atol=1e-10)
    random_rows = RandomSampler()(5, 40, np.random.default_rng(1))  # no endpoints: weighted regression
    np.testing.assert_allclose(KernelShapAttributer()(linear(random_rows), random_rows), WEIGHTS, atol=1e-8)


def test_regressions_recover_a_linear_model() -> None:
    samples = RandomSampler()(5, 200, np.random.default_rng(2))
    outputs = 0.1 + samples @ WEIGHTS
    np.testing.assert_allclose(LinearLimeAttributer()(outputs, samples), WEIGHTS, atol=1e-10)
    np.testing.assert_allclose(LimeAttributer(alpha=0.0)(outputs, samples), WEIGHTS, atol=1e-8)
    shrunk = LimeAttributer(alpha=50.0)(outputs, samples)
    assert np.abs(shrunk).sum() < np.abs(WEIGHTS).sum()  # ridge shrinks
    assert shrunk.argmax() == WEIGHTS.argmax() and shrunk.argmin() == WEIGHTS.argmin()


def test_rise_is_the_conditional_mean_given_kept() -> None:
    samples = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], np.uint8)
    outputs = np.array([0.2, 0.8, 0.4, 0.0])
    np.testing.assert_allclose(RiseAttributer()(outputs, samples), [0.5, 0.6])


def test_pda_is_fx_minus_the_mean_when_perturbed() -> None:
    samples = with_reference_rows(SingleFeatureSampler()(5, 0, np.random.default_rng(0)), True, False)
    outputs = samples @ WEIGHTS  # at most 0.95: probabilities are not rescaled
    np.testing.assert_allclose(PdaAttributer()(outputs, samples), WEIGHTS, atol=1e-12)
    np.testing.assert_allclose(PdaAttributer()(2 * outputs, samples), WEIGHTS / 0.95, atol=1e-12)  # divided by max
    info = PdaAttributer(mode="infodiff")(outputs / outputs.max(), samples)
    assert np.argsort(info).tolist() == np.argsort(WEIGHTS).tolist()


def test_ciu_needs_single_feature_samples_and_ranks_like_occlusion() -> None:
    with pytest.raises(IncompatibleSamples, match="single-feature"):
        CiuAttributer()(np.zeros(10), RandomSampler()(5, 10, np.random.default_rng(0)))
    occlusion = with_reference_rows(SingleFeatureSampler()(5, 0, np.random.default_rng(0)), True, False)
    influence = CiuAttributer()(0.1 + occlusion @ WEIGHTS, occlusion)
    assert np.sign(influence).tolist() == np.sign(WEIGHTS).tolist()
    keep_one = with_reference_rows(SingleFeatureSampler(inverse=True)(5, 0, np.random.default_rng(0)), False, True)
    inverse = CiuAttributer(inverse=True)(0.1 + keep_one @ WEIGHTS, keep_one)
    assert np.argsort(inverse).tolist() == np.argsort(WEIGHTS).tolist()
    with pytest.raises(IncompatibleSamples, match="keep exactly one"):
        CiuAttributer(inverse=True)(np.zeros(6), occlusion)


def test_with_single_feature_samples_every_attributer_gives_the_same_ranking() -> None:
    """The paper's point (spec 3.3): on leave-one-out samples the attribution rules agree."""
    samples = with_reference_rows(SingleFeatureSampler()(5, 0, np.random.default_rng(0)), True, False)
    outputs = game(samples)
    rankings = {name: np.argsort(ATTRIBUTERS.make(name)(outputs, samples)).tolist() for name in ATTRIBUTERS.names()}
    assert len({tuple(r) for r in rankings.values()}) == 1, rankings
