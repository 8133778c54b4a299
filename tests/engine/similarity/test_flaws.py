"""engine.similarity.flaws: the generated challenge images and the pass-count grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.backbones import FeatureExtractor
from engine.similarity.flaws import ANGLES, CATEGORIES, HEADERS, challenge_images, run_flaw_suite
from engine.similarity.metric import DeepPerceptualSimilarity


def test_the_suite_has_the_papers_shape_and_valid_images() -> None:
    suite = challenge_images()
    assert {c: suite.count(c) for c in CATEGORIES} == {"translate": 5, "rotate": 30, "invert": 11, "color_stain": 5}
    assert suite.references == ["ref_black", "ref_white", "ref_gray", "ref_red", "ref_green", "ref_blue", "ref_noise"]
    for name, image in suite.images.items():
        assert image.shape == (96, 96, 3) and image.dtype == np.float32, name
        assert 0.0 <= image.min() and image.max() <= 1.0, name
    assert sorted({case.variant.rsplit("_", 1)[1] for case in suite.cases if case.category == "rotate"}) == sorted(
        str(a) for a in ANGLES)


def test_variants_are_what_their_names_say() -> None:
    images = challenge_images().images
    for case in challenge_images().cases:
        original, variant = images[case.original], images[case.variant]
        if case.category == "invert":
            np.testing.assert_allclose(variant, 1.0 - original)
        if case.category == "translate":  # the object moves from (48, 4) to (4, 48): up and right by 44 px
            np.testing.assert_array_equal(variant[4:48, 48:92], original[48:92, 4:48])
            assert (variant[48:92, 4:48] == 1.0).all()
        if case.category == "color_stain":  # the stain keeps the object, the foil keeps the colour
            foil = images[case.foil or ""]
            np.testing.assert_array_equal(foil[0, 0], original[0, 0])
            assert not np.allclose(variant[0, 0], original[0, 0])
    np.testing.assert_allclose(images["rotate/cat_180"], images["rotate/cat"][::-1, ::-1], atol=1e-5)


def test_generation_is_deterministic() -> None:
    again = challenge_images.__wrapped__()  # type: ignore[attr-defined]
    for name, image in challenge_images().images.items():
        np.testing.assert_array_equal(again.images[name], image)


def test_each_image_is_embedded_once_and_passes_follow_the_rule(alexnet_random: FeatureExtractor) -> None:
    seen: list[int] = []
    hook = alexnet_random.trunk[0].register_forward_hook(lambda module, args, output: seen.append(args[0].shape[0]))
    fractions: list[float] = []
    try:
        report = run_flaw_suite([alexnet_random], progress=lambda fraction, message: fractions.append(fraction))
    finally:
        hook.remove()
    assert sum(seen) == len(challenge_images().images)  # 90 images, whatever the 10 configurations
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert len(report.configurations) == 10 and len(report.table()) == 10 and len(HEADERS) == 8
    assert len(report.results) == 10 * 51

    case_result = next(r for r in report.results if r.comparison == "sort" and not r.channel_norm
                       and r.case.category == "rotate")
    metric = DeepPerceptualSimilarity(alexnet_random, comparison="sort", channel_norm=False)
    images = challenge_images().images

    def distance(a: str, b: str) -> float:
        as_tensor = [torch.from_numpy(images[n]).permute(2, 0, 1)[None] for n in (a, b)]
        with torch.inference_mode():
            return float(metric(*as_tensor))

    references = {ref: distance(case_result.case.original, ref) for ref in challenge_images().references}
    assert case_result.distance == pytest.approx(distance(case_result.case.original, case_result.case.variant),
                                                 rel=1e-4)
    assert case_result.bound_name == min(references, key=references.__getitem__)
    assert case_result.passed == (case_result.distance <= min(references.values()))
    for row in report.table():
        passed = sum(int(cell.split("/")[0]) for cell in row[3:7])
        assert row[7] == f"{passed}/51"


def test_pretrained_mobilenet_reproduces_the_papers_translation_finding() -> None:
    """With real ImageNet weights, comparing positions fails the translated objects, ignoring them does not."""
    extractor = FeatureExtractor("mobilenet_v2")
    report = run_flaw_suite([extractor], comparisons=("spatial", "mean", "sort"), channel_norms=(True,))
    translate = {c: report.passes("mobilenet_v2", c, True)["translate"] for c in ("spatial", "mean", "sort")}
    assert translate["spatial"] <= 1 and translate["mean"] == 5 and translate["sort"] == 5
    assert "RANDOM" not in report.provenance["mobilenet_v2"]
