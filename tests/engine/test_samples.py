"""engine.samples: bundled photographs load offline as RGB floats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.images import load_image
from engine.samples import NATURAL_IMAGES, natural_image, write_natural_images


@pytest.mark.parametrize("name", list(NATURAL_IMAGES))
def test_every_sample_is_a_colour_photograph(name: str) -> None:
    pixels = natural_image(name)
    assert pixels.ndim == 3 and pixels.shape[2] == 3 and min(pixels.shape[:2]) >= 300
    assert pixels.dtype == np.float32 and 0.0 <= pixels.min() and pixels.max() <= 1.0
    chroma = np.abs(pixels - pixels.mean(axis=2, keepdims=True)).mean()
    assert chroma > 0.01  # not a gray image stored as RGB
    assert not pixels.flags.writeable  # cached: callers must not change it


def test_written_files_read_back_identically(tmp_path: Path) -> None:
    [path] = write_natural_images(tmp_path, ["coffee"])
    assert np.allclose(load_image(path, max_side=None).pixels, natural_image("coffee"), atol=1 / 255)
    with pytest.raises(InputError, match="Unknown sample"):
        natural_image("lena")
