"""The six distortions: the paper's parameter ranges, torchvision's semantics, batched and seeded."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from engine.errors import InputError
from engine.similarity.contexts.distortions import DISTORTIONS, parse_context, random_context

NEAREST = InterpolationMode.NEAREST
PAPER_RANGES = {
    "rotate": [(30, 330)], "translate": [(-0.5, 0.5), (-0.5, 0.5)], "darken": [(0.1, 0.5)],
    "hue": [(-0.5, 0.5)], "blur": [(4, 10)], "zoom-in": [(1.1, 2.0)],
}


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand(4, 3, 8, 8, generator=generator), size=(48, 48),
                                             mode="bilinear", align_corners=False)
    return smooth.clamp(0, 1)


@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_parameters_cover_the_papers_ranges(name: str) -> None:
    drawn = DISTORTIONS[name].sample(torch.Generator().manual_seed(1), 4000)
    for column, (low, high) in enumerate(PAPER_RANGES[name]):
        values = drawn[:, column]
        assert low <= values.min() and values.max() <= high
        assert values.min() < low + 0.02 * (high - low) and values.max() > high - 0.02 * (high - low)


@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_output_keeps_shape_and_range_and_is_seeded(name: str, images: torch.Tensor) -> None:
    first = DISTORTIONS[name](images, torch.Generator().manual_seed(5))
    again = DISTORTIONS[name](images, torch.Generator().manual_seed(5))
    other = DISTORTIONS[name](images, torch.Generator().manual_seed(6))
    assert first.shape == images.shape and 0 <= first.min() and first.max() <= 1
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert not torch.allclose(first, images, atol=1e-3)  # every draw really distorts


@pytest.mark.parametrize("name, reference", [
    ("rotate", lambda x, p: TF.rotate(x, p[0], interpolation=NEAREST, fill=[0.0])),
    ("translate", lambda x, p: TF.affine(x, angle=0.0, translate=[round(p[0] * 48), round(p[1] * 48)], scale=1.0,
                                         shear=[0.0, 0.0], interpolation=NEAREST, fill=[0.0])),
    ("darken", lambda x, p: TF.adjust_brightness(x, p[0])),
    ("hue", lambda x, p: TF.adjust_hue(x, p[0])),
    ("blur", lambda x, p: TF.gaussian_blur(x, [11, 21], [p[0], p[0]])),
])
def test_batched_distortions_match_torchvision_per_image(name: str, reference, images: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
    parameters = DISTORTIONS[name].sample(torch.Generator().manual_seed(2), len(images))
    batched = DISTORTIONS[name].apply(images, parameters)
    for image, row, ours in zip(images, parameters.tolist(), batched):
        assert torch.allclose(ours, reference(image, row).clamp(0, 1), atol=1e-5)


def test_zoom_matches_torchvision_up_to_nearest_neighbour_ties(images: torch.Tensor) -> None:
    ours = DISTORTIONS["zoom-in"].apply(images, [[2.0]])
    exact = TF.affine(images, angle=0.0, translate=[0, 0], scale=2.0, shear=[0.0, 0.0], interpolation=NEAREST)
    assert torch.equal(ours, exact)  # integer scale: no ties
    ours = DISTORTIONS["zoom-in"].apply(images, [[1.37]])
    near = TF.affine(images, angle=0.0, translate=[0, 0], scale=1.37, shear=[0.0, 0.0], interpolation=NEAREST)
    assert (ours - near).abs().gt(1e-4).float().mean() < 0.1


def test_known_answers(images: torch.Tensor) -> None:
    assert torch.allclose(DISTORTIONS["darken"].apply(images, [0.25]), images * 0.25)
    assert torch.equal(DISTORTIONS["rotate"].apply(images, [180.0]), images.flip(-1, -2))
    shifted = DISTORTIONS["translate"].apply(images, [0.25, 0.0])  # 12 px to the right, black on the left
    assert torch.equal(shifted[..., 12:], images[..., :-12]) and shifted[..., :12].abs().max() == 0
    gray = torch.full((1, 3, 48, 48), 0.4)
    assert torch.allclose(DISTORTIONS["hue"].apply(gray, [0.3]), gray, atol=1e-6)  # no hue to shift
    assert torch.allclose(DISTORTIONS["blur"].apply(gray, [6.0]), gray, atol=1e-6)
    assert torch.allclose(DISTORTIONS["hue"].apply(images, [0.5]), DISTORTIONS["hue"].apply(images, [-0.5]), atol=1e-5)


def test_contexts_are_permutations_of_the_six() -> None:
    assert parse_context("blur, darken,COLOR,rotate,translate,zoom_in") == (
        "blur", "darken", "hue", "rotate", "translate", "zoom-in")
    with pytest.raises(InputError, match="missing: zoom-in"):
        parse_context("blur,darken,hue,rotate,translate")
    with pytest.raises(InputError, match="repeated: blur"):
        parse_context("blur,blur,darken,hue,rotate,translate")
    with pytest.raises(InputError, match="Unknown distortion 'sharpen'"):
        parse_context("sharpen,blur,darken,hue,rotate,translate")
    drawn = {random_context(torch.Generator().manual_seed(seed)) for seed in range(20)}
    assert len(drawn) > 15 and all(sorted(c) == sorted(DISTORTIONS) for c in drawn)
