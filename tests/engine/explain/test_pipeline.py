"""The pipeline on toy models: known answers for every attributer, seeds, memory, configuration."""

from __future__ import annotations

import dataclasses
import json
import tracemalloc

import numpy as np
import pytest

from engine.errors import InputError, WorkbenchError
from engine.explain.attributers import ATTRIBUTERS, KernelShapAttributer
from engine.explain.classifier import FunctionClassifier
from engine.explain.params import ConfigError
from engine.explain.perturbers import ColorPerturber, NoisePerturber
from engine.explain.pipeline import PRESETS, ExplainConfig, explain
from engine.explain.samplers import KernelShapSampler, OrthogonalSampler, RandomSampler, SingleFeatureSampler
from engine.explain.segmenters import GaussianSmoothing, GridSegmenter, MaskBuilder, NoSmoothing


def sampler_for(attributer: str, inverse: bool = False):  # type: ignore[no-untyped-def]
    return SingleFeatureSampler(inverse=inverse) if attributer == "ciu" else RandomSampler(0.5)


@pytest.mark.parametrize("attribution", ["segment", "pixel"])
@pytest.mark.parametrize("attributer", ATTRIBUTERS.names())
def test_every_attributer_finds_the_quadrant_the_model_looks_at(attributer: str, attribution: str,
                                                                quadrant_classifier, white_image) -> None:  # type: ignore[no-untyped-def]
    config = ExplainConfig(segmenter=GridSegmenter(4, 4), smoothing=GaussianSmoothing(sigma=2.0),
                           sampler=sampler_for(attributer), n_samples=300, add_none=True,
                           perturber=ColorPerturber("black"), attributer=ATTRIBUTERS.make(attributer),
                           attribution=attribution, eval_perturber=ColorPerturber("black"))
    result = explain(white_image, quadrant_classifier, config, target=0, seed=1)
    quadrant_cells = [0, 1, 4, 5]
    assert set(np.argsort(result.scores)[-4:]) == set(quadrant_cells)
    top = np.unravel_index(result.attribution_map.argmax(), result.attribution_map.shape)
    assert top[0] < 16 and top[1] < 16
    assert result.evaluation.srg > 0.4
    assert result.attribution_map.shape == (32, 32) and result.segmentation.n_segments == 16


def test_inverse_ciu_finds_the_quadrant_too(quadrant_classifier, white_image) -> None:  # type: ignore[no-untyped-def]
    config = ExplainConfig(segmenter=GridSegmenter(4, 4), smoothing=NoSmoothing(), sampler=SingleFeatureSampler(True),
                           add_all=True, perturber=ColorPerturber("black"), attributer=ATTRIBUTERS.make(
                               {"name": "ciu", "inverse": True}), attribution="segment")
    result = explain(white_image, quadrant_classifier, config, target=0)
    assert set(np.argsort(result.scores)[-4:]) == {0, 1, 4, 5}
    assert len(result.samples) == 17 and result.model_calls == 1 + 17 + 18


def test_same_seed_same_explanation_other_seed_other_samples(quadrant_classifier, white_image) -> None:  # type: ignore[no-untyped-def]
    config = ExplainConfig(segmenter=GridSegmenter(4, 4), n_samples=50, perturber=ColorPerturber("black"))
    first = explain(white_image, quadrant_classifier, config, seed=7)
    again = explain(white_image, quadrant_classifier, config, seed=7)
    other = explain(white_image, quadrant_classifier, config, seed=8)
    np.testing.assert_array_equal(first.samples, again.samples)
    np.testing.assert_array_equal(first.attribution_map, again.attribution_map)
    assert first.evaluation.srg == again.evaluation.srg
    assert not np.array_equal(first.samples, other.samples)


def test_random_perturbations_and_shift_follow_the_seed(quadrant_classifier, white_image) -> None:  # type: ignore[no-untyped-def]
    config = ExplainConfig.from_dict({**PRESETS["rise"].to_dict(), "n_samples": 40, "perturber": {"name": "noise"}})
    first = explain(white_image, quadrant_classifier, config, seed=3)
    again = explain(white_image, quadrant_classifier, config, seed=3)
    np.testing.assert_array_equal(first.pixel_map, again.pixel_map)
    assert not np.array_equal(first.pixel_map, explain(white_image, quadrant_classifier, config, seed=4).pixel_map)


def test_memory_does_not_grow_with_the_number_of_masks() -> None:
    """Peak memory at 224 x 224 with 100 and 800 RISE masks: [N, H, W] float32 masks would add 140 MB."""
    classifier = FunctionClassifier(lambda images: images.mean(axis=(1, 2)), ["r", "g", "b"], (224, 224))
    image = np.random.default_rng(0).random((224, 224, 3)).astype(np.float32)
    peaks = []
    for n in (100, 800):
        config = ExplainConfig.from_dict({**PRESETS["rise"].to_dict(), "n_samples": n, "eval_steps": 2})
        tracemalloc.start()
        result = explain(image, classifier, config, target=0)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert len(result.outputs) == n
    assert peaks[1] - peaks[0] < 2 * 2**20, f"peaks {peaks[0] / 2**20:.0f} and {peaks[1] / 2**20:.0f} MB"


def test_config_json_round_trip_and_clear_errors() -> None:
    for preset in PRESETS.values():
        assert ExplainConfig.from_dict(json.loads(json.dumps(preset.to_dict()))) == preset
    with pytest.raises(ConfigError, match="between 1 and 20000"):
        ExplainConfig.from_dict({"n_samples": 0})
    with pytest.raises(ConfigError, match="Unknown segmenter 'voronoi'"):
        ExplainConfig.from_dict({"segmenter": {"name": "voronoi"}})
    with pytest.raises(ConfigError, match="has no setting 'rows'"):
        ExplainConfig.from_dict({"segmenter": {"name": "slic", "rows": 3}})
    with pytest.raises(ConfigError, match="Unknown configuration field"):
        ExplainConfig.from_dict({"samples": 3})
    with pytest.raises(ConfigError, match="only per-pixel RISE"):
        ExplainConfig.from_dict({"shift": 0.1, "attributer": {"name": "lime-ls"}})
    with pytest.raises(ConfigError, match="one of"):
        ExplainConfig.from_dict({"perturber": {"name": "color", "color": "purple"}})


def test_bad_images_and_classes_are_input_errors(quadrant_classifier, white_image) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=r"\[H, W, 3\]"):
        explain(np.ones((8, 8)), quadrant_classifier)
    with pytest.raises(InputError, match="0..1"):
        explain(np.full((8, 8, 3), 255, np.uint8), quadrant_classifier)
    with pytest.raises(InputError, match="classes 0..1"):
        explain(white_image, quadrant_classifier, target=5)


def test_any_image_size_is_resized_and_the_map_comes_back_at_that_size(quadrant_classifier) -> None:  # type: ignore[no-untyped-def]
    image = np.ones((50, 70, 3), np.float32)
    config = ExplainConfig(segmenter=GridSegmenter(2, 2), n_samples=20, perturber=ColorPerturber("black"))
    result = explain(image, quadrant_classifier, config, target=0)
    assert result.image.shape == (32, 32, 3)
    resized = result.map_at(50, 70)
    assert resized.shape == (50, 70)
    assert np.unravel_index(resized.argmax(), resized.shape)[0] < 25


def cubic_quadrant_model(images: np.ndarray) -> np.ndarray:
    """Like the quadrant model, but the cube of the quadrant's brightness: cells interact."""
    seen = images[:, :16, :16].mean(axis=(1, 2, 3)) ** 3
    return np.stack([seen, 1.0 - seen], axis=1)


def test_until_converged_stops_when_the_map_has_settled_and_its_estimate_holds(white_image) -> None:  # type: ignore[no-untyped-def]
    classifier = FunctionClassifier(cubic_quadrant_model, ["top-left", "other"], (32, 32))
    config = ExplainConfig(segmenter=GridSegmenter(4, 4), smoothing=GaussianSmoothing(sigma=2.0),
                           sampler=RandomSampler(0.5), until=0.95, max_samples=3000, perturber=ColorPerturber("black"),
                           eval_perturber=ColorPerturber("black"), eval_steps=3)
    result = explain(white_image, classifier, config, target=0, seed=2)
    assert result.converged and 64 <= len(result.samples) < 3000
    assert result.settled_r == result.convergence[-1].r >= 0.95 > result.convergence[-2].r
    assert [p.samples for p in result.convergence] == sorted({p.samples for p in result.convergence})
    assert result.summary()["converged"] and result.summary()["n_samples"] == len(result.samples)
    converged = explain(white_image, classifier, dataclasses.replace(config, until=0.0, n_samples=20000), target=0)
    assert np.corrcoef(result.pixel_map.ravel(), converged.pixel_map.ravel())[0, 1] > 0.93
    capped = explain(white_image, classifier, dataclasses.replace(config, until=0.999, max_samples=96), target=0)
    assert not capped.converged and len(capped.samples) == 96
    fixed = explain(white_image, classifier, dataclasses.replace(config, until=0.0, n_samples=100), target=0)
    assert len(fixed.samples) == 100 and not fixed.converged and fixed.convergence[-1].samples == 100


class CountingClassifier(FunctionClassifier):
    """Counts the images it is shown."""

    images_seen = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.images_seen += len(images)
        return super().__call__(images)


def test_one_forward_pass_per_distinct_perturbation(white_image) -> None:  # type: ignore[no-untyped-def]
    config = ExplainConfig(segmenter=GridSegmenter(2, 2), smoothing=NoSmoothing(), sampler=RandomSampler(0.5),
                           n_samples=200, perturber=ColorPerturber("black"), eval_steps=3)
    counting = CountingClassifier(cubic_quadrant_model, ["a", "b"], (32, 32))
    result = explain(white_image, counting, config, target=0, seed=1)
    distinct = len({row.tobytes() for row in result.samples})
    assert len(result.samples) == 200 and distinct == 16
    assert counting.images_seen == result.model_calls == 1 + 16 + 4
    masks = MaskBuilder(result.segmentation)(result.samples, np.random.default_rng(0))
    expected = cubic_quadrant_model(ColorPerturber("black")(white_image, masks, np.random.default_rng(0)))[:, 0]
    np.testing.assert_allclose(result.outputs, expected, atol=1e-6)  # every sample has its output
    noisy = CountingClassifier(cubic_quadrant_model, ["a", "b"], (32, 32))
    explain(white_image, noisy, dataclasses.replace(config, perturber=NoisePerturber()), target=0, seed=1)
    assert noisy.images_seen == 1 + 200 + 4  # random replacements: every sample is a new image


def test_orthogonal_blocks_make_rise_exact_for_an_additive_model(quadrant_classifier, white_image) -> None:  # type: ignore[no-untyped-def]
    """The quadrant model is additive over the 4 x 4 cells (its output is the share of the 4 quadrant cells
    kept), so RISE is 0.625 for those cells and 0.5 elsewhere: every orthogonal block (64 rows for 16
    segments) gets this exactly, for every seed, and so its two halves agree perfectly; independent
    samples of the same size do not."""
    exact = np.where(np.isin(np.arange(16), [0, 1, 4, 5]), 0.625, 0.5)
    config = ExplainConfig(segmenter=GridSegmenter(4, 4), smoothing=NoSmoothing(), sampler=OrthogonalSampler(),
                           n_samples=128, perturber=ColorPerturber("black"), attribution="segment", eval_steps=2)
    for seed in range(3):
        result = explain(white_image, quadrant_classifier, config, target=0, seed=seed)
        np.testing.assert_allclose(result.scores, exact, atol=1e-6)
        assert result.settled_r == pytest.approx(1.0)
    iid = explain(white_image, quadrant_classifier, dataclasses.replace(config, sampler=RandomSampler()), target=0)
    assert np.abs(iid.scores - exact).max() > 0.01


def test_exhausted_kernel_shap_is_exact_and_bfloat16_needs_a_torch_network(quadrant_classifier, white_image) -> None:  # type: ignore[no-untyped-def]
    config = ExplainConfig(segmenter=GridSegmenter(2, 2), smoothing=NoSmoothing(), sampler=KernelShapSampler(),
                           until=0.99, perturber=ColorPerturber("black"), attributer=KernelShapAttributer(),
                           attribution="segment", eval_steps=2)
    result = explain(white_image, quadrant_classifier, config, target=0)
    assert len(result.samples) == 16 and result.converged and result.settled_r == 1.0  # all 2^4 coalitions
    np.testing.assert_allclose(result.scores, [1, 0, 0, 0], atol=1e-9)  # the top-left cell is all it sees
    with pytest.raises(WorkbenchError, match="needs a torch network"):
        explain(white_image, quadrant_classifier, dataclasses.replace(config, precision="bfloat16"))
