"""A context recovered from pairwise 2AFC judgements (Bradley-Terry)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.similarity.contexts.judgements import estimate_context

TRUE_CONTEXT = ("zoom-in", "blur", "darken", "translate", "hue", "rotate")


def simulated_judgements(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """People who prefer earlier distortions, with Bradley-Terry noise (strength halves per rank)."""
    rng = np.random.default_rng(seed)
    strength = {name: 0.5 ** rank for rank, name in enumerate(TRUE_CONTEXT)}
    outcomes = []
    for _ in range(count):
        a, b = rng.choice(TRUE_CONTEXT, size=2, replace=False)
        p_a = strength[a] / (strength[a] + strength[b])
        outcomes.append((a, b) if rng.random() < p_a else (b, a))
    return outcomes


def test_recovers_the_context_people_judge_by() -> None:
    estimate = estimate_context(simulated_judgements(600))
    assert estimate.context == TRUE_CONTEXT
    assert estimate.judgements == 600 and sum(estimate.comparisons.values()) == 1200
    assert sum(estimate.strengths.values()) == pytest.approx(1.0, abs=1e-3)
    assert list(estimate.strengths.values()) == sorted(estimate.strengths.values(), reverse=True)


def test_strength_ratios_match_the_simulation() -> None:
    strengths = estimate_context(simulated_judgements(4000, seed=1), prior=0.1).strengths
    assert strengths["zoom-in"] / strengths["blur"] == pytest.approx(2.0, rel=0.25)


def test_unbeaten_distortions_stay_finite_and_missing_ones_are_reported() -> None:
    perfect = [(a, b) for i, a in enumerate(TRUE_CONTEXT) for b in TRUE_CONTEXT[i + 1:]]
    estimate = estimate_context(perfect)
    assert estimate.context == TRUE_CONTEXT and all(np.isfinite(list(estimate.strengths.values())))
    with pytest.raises(InputError, match="rotate"):
        estimate_context([("blur", "hue"), ("darken", "translate"), ("zoom_in", "color")])


def test_judged_context_triplets_become_outcomes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from engine.annotations import AnnotationStore
    from engine.similarity.annotate import record
    from engine.similarity.contexts.judgements import context_outcomes, context_triplet

    store = AnnotationStore(tmp_path / "a.sqlite")
    triplet = context_triplet(seed=4)
    first, second = triplet.source.removeprefix("context distortions: p0 ").split(";")[0].split(", p1 ")
    assert first != second and {first, second} <= set(TRUE_CONTEXT)
    assert all(triplet.image(name).is_file() for name in ("ref", "p0", "p1"))
    record(store, triplet, ["p1", "p0"], "left", "ada")  # left shows p1: p1 judged closer
    record(store, triplet, ["p0", "p1"], "skip", "bob")
    assert context_outcomes(store) == [(second, first)]
