"""Figures: the LIF/MIF curves, with the convergence panel below when the samples were random."""

from __future__ import annotations

import dataclasses

from engine.explain import figures
from engine.explain.perturbers import ColorPerturber
from engine.explain.pipeline import ExplainConfig, explain
from engine.explain.samplers import RandomSampler, SingleFeatureSampler
from engine.explain.segmenters import GridSegmenter, NoSmoothing


def test_curves_show_convergence_for_random_samples_only(quadrant_classifier, white_image) -> None:  # type: ignore[no-untyped-def]
    config = ExplainConfig(segmenter=GridSegmenter(3, 3), smoothing=NoSmoothing(), sampler=RandomSampler(),
                           n_samples=128, until=0.999,
                           max_samples=128, perturber=ColorPerturber("black"), eval_perturber=ColorPerturber("black"),
                           eval_steps=4)
    result = explain(white_image, quadrant_classifier, config, target=0, seed=0)
    top, bottom = figures.curves(result).axes
    assert top.get_xlabel() == "fraction of pixels deleted" and len(top.lines) == 2
    samples, estimates = bottom.lines[0].get_data()
    assert list(samples) == [p.samples for p in result.convergence] and samples[-1] == 128
    assert list(estimates) == [p.r for p in result.convergence]
    assert bottom.lines[1].get_ydata()[0] == 0.999  # the target
    assert bottom.get_title().startswith(f"stopped at the budget: r = {result.settled_r:.3f} after 128 samples")
    occlusion = explain(white_image, quadrant_classifier, dataclasses.replace(config, sampler=SingleFeatureSampler(),
                                                                              until=0.0), target=0)
    assert occlusion.settled_r == 1.0 and len(figures.curves(occlusion).axes) == 1  # exact design: no curve
