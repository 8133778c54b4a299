"""The CC0 magnification data: nested zoom views, spatially held-out regions, BreakHis-layout fixture looks."""

from __future__ import annotations

import numpy as np
import pytest

from engine.histology import synthetic


def test_views_are_nested_crops_of_one_centre() -> None:
    image = synthetic.source_region()
    centre = (1500.0, 1100.0)
    wide = synthetic.render(image, centre, "200X", 64, (128, 128))  # 128 source px at 1:1
    close = synthetic.render(image, centre, "400X", 64, (64, 64))
    assert np.abs(wide[32:96, 32:96].astype(int) - close).max() == 0  # the 400X view is the 200X view's centre
    far = synthetic.render(image, centre, "40X", 64, (64, 64))
    assert far.shape == (64, 64, 3) and not np.array_equal(far, close)
    edge = synthetic.crop(image, (0, 0), 10, 10)
    assert (edge[:5, :5] == 255).all() and edge[5:, 5:].shape == (5, 5, 3)


def test_held_out_regions_are_below_a_gap() -> None:
    split = synthetic.region_split(size=32)
    gap = 64 * synthetic.ZOOM["40X"] / 2
    assert split.train.centres[:, 0].max() + gap <= split.heldout.centres[:, 0].min() + 1e-9
    assert len(split.heldout.keys) > 20 and len(split.train.keys) > 60
    rng = np.random.default_rng(0)
    first, second = split.train.views(split.train.keys[0], ["40X", "40X"], rng)
    assert np.array_equal(first, second)  # one jitter per draw, shared by the views
    again = split.train.views(split.train.keys[0], ["40X"], rng)[0]
    assert not np.array_equal(first, again)


def test_class_looks_shift_the_stain() -> None:
    view = synthetic.render(synthetic.source_region(), (1500.0, 1100.0), "100X", 64, (46, 70))
    benign = synthetic.restain(view, synthetic.CLASS_LOOKS["benign"].haematoxylin,
                               synthetic.CLASS_LOOKS["benign"].eosin)
    malignant = synthetic.restain(view, synthetic.CLASS_LOOKS["malignant"].haematoxylin,
                                  synthetic.CLASS_LOOKS["malignant"].eosin)
    assert malignant.mean() < benign.mean()  # more haematoxylin: darker
    assert synthetic.restain(view, 1.0, 1.0).astype(int).mean() == pytest.approx(view.mean(), abs=1.5)
    dotted = synthetic.retexture(view, "nuclei", np.random.default_rng(0))
    assert (dotted != view).any() and synthetic.retexture(view, "none", np.random.default_rng(0)) is view
