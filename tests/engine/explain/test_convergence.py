"""The split-half convergence estimate: the formula, its edge cases, that it predicts the true correlation,
and the schedule of checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.explain.convergence import map_correlation, next_check, settled_correlation


def test_equal_halves_give_the_square_root_of_spearman_brown() -> None:
    for r in (0.3, 0.8, 0.95):
        assert settled_correlation(r, 100, 100) == pytest.approx(math.sqrt(2 * r / (1 + r)))
    assert settled_correlation(1.0, 10, 10) == 1.0
    assert settled_correlation(0.0, 10, 10) == 0.0 and settled_correlation(-0.2, 10, 10) == 0.0
    assert settled_correlation(0.5, 0, 0) == 1.0  # nothing random: the map is exact
    assert math.isnan(settled_correlation(0.9, 40, 0)) and math.isnan(settled_correlation(math.nan, 5, 5))


@pytest.mark.parametrize("sizes", [(200, 200), (300, 100)])
def test_the_estimate_predicts_the_correlation_with_the_converged_map(sizes: tuple[int, int]) -> None:
    """Monte-Carlo maps (mean of n noisy draws around a fixed map): the estimate from the two halves
    matches the full map's actual correlation with the converged map, also for unequal halves."""
    rng = np.random.default_rng(0)
    converged = rng.normal(size=2000)
    estimates, truths = [], []
    for _ in range(20):
        draws = converged + 6.0 * rng.normal(size=(sum(sizes), 2000))
        first, second = draws[:sizes[0]].mean(axis=0), draws[sizes[0]:].mean(axis=0)
        estimates.append(settled_correlation(map_correlation(first, second), *sizes))
        truths.append(map_correlation(draws.mean(axis=0), converged))
    assert np.mean(estimates) == pytest.approx(np.mean(truths), abs=0.005)
    assert 0.9 < np.mean(truths) < 0.97  # a regime where the estimate matters


def test_map_correlation_is_pearson_and_nan_for_flat_maps() -> None:
    a = np.arange(12.0).reshape(3, 4)
    assert map_correlation(a, 3 * a + 1) == pytest.approx(1.0)
    assert map_correlation(a, -a) == pytest.approx(-1.0)
    assert math.isnan(map_correlation(a, np.ones_like(a)))


def test_checks_come_at_multiples_of_the_unit_at_least_ten_percent_apart() -> None:
    done, checks = 0, []
    while done < 8000:
        done = next_check(done, 128, 8000)
        checks.append(done)
    assert checks[:4] == [128, 256, 384, 512] and checks[-1] == 8000
    assert all(b % 128 == 0 and b >= 1.1 * a for a, b in zip(checks[:-2], checks[1:-1]))
    assert len(checks) < 40
    assert next_check(90, 32, 100) == 100
