"""Whole-slide reading through OpenSlide (the CC0 Aperio file), tissue tiles, scoring and heat maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import InputError
from engine.histology import slides
from engine.histology.synthetic import source_path, source_region


@pytest.fixture(scope="module")
def slide() -> slides.Slide:
    opened = slides.open_slide(source_path())
    yield opened
    opened.close()


def test_openslide_reads_regions_like_the_full_decode(slide: slides.Slide) -> None:
    assert isinstance(slide, slides.OpenSlideFile) and slide.dimensions == (2220, 2967)
    assert slide.mpp == pytest.approx(0.499) and slide.objective == 20 and "aperio" in slide.reader
    region = slide.read_region(1000, 1200, 64, 48)
    reference = source_region()[1200:1248, 1000:1064]
    assert region.shape == (48, 64, 3) and np.abs(region.astype(int) - reference).mean() < 2  # JPEG decoders
    outside = slide.read_region(2200, 2950, 40, 40)
    assert (outside[-10:, -10:] == 255).all()  # beyond the slide: white glass
    assert slide.thumbnail(200).shape == (200, 150, 3)


def test_tissue_tiles_scores_and_heat_map(slide: slides.Slide) -> None:
    tile = slides.tile_size_for(slide, "40X")
    assert tile == round(344.7 / 0.499)
    grid = slides.tile_grid(slide, 256, min_tissue=0.5)
    assert grid.shape == (11, 8) and 10 < len(grid) < 88
    assert (grid.tissue >= 0.5).all() and (grid.positions % 256 == 0).all()
    redness = slides.score_tiles(slide, grid, lambda tiles: tiles[..., 0].mean(axis=(1, 2)), out_size=16,
                                 batch_size=7)
    assert redness.shape == (len(grid),) and 0 < redness.min() <= redness.max() < 1
    values = slides.heat_map(grid, redness)
    assert np.isnan(values).sum() == 88 - len(grid) and values[tuple(grid.cells[0])] == redness[0]
    figure = slides.heat_map_figure(slide.thumbnail(256), slide, grid, redness, "test", "red")
    assert len(figure.axes) == 2  # the map and its colour bar
    with pytest.raises(InputError, match="does not fit"):
        slides.tile_grid(slide, 4000)


def test_plain_images_and_bad_files(tmp_path: Path) -> None:
    pixels = np.full((300, 400, 3), 245, np.uint8)
    pixels[100:200, 150:300] = (150, 60, 140)  # a purple "tissue" block on glass
    Image.fromarray(pixels).save(tmp_path / "large.png")
    image = slides.open_slide(tmp_path / "large.png")
    assert isinstance(image, slides.ImageSlide) and image.mpp is None
    grid = slides.tile_grid(image, 50, min_tissue=0.9)
    assert {tuple(p) for p in grid.positions} == {(x, y) for x in (150, 200, 250) for y in (100, 150)}
    with pytest.raises(InputError, match="does not record its resolution"):
        slides.tile_size_for(image, "40X")
    (tmp_path / "broken.svs").write_bytes(b"II*\x00garbage")
    with pytest.raises(InputError):
        slides.open_slide(tmp_path / "broken.svs")
    (tmp_path / "empty.ndpi").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        slides.open_slide(tmp_path / "empty.ndpi")
