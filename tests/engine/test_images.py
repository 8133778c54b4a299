"""engine.images: every odd image a user may upload is read or refused clearly."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import InputError
from engine.images import load_image, load_image_collection


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_rgb_round_trip_is_exact() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    loaded = load_image(png_bytes(rgb))
    assert loaded.pixels.shape == (20, 30, 3) and loaded.pixels.dtype == np.float32
    assert np.array_equal((loaded.pixels * 255).round().astype(np.uint8), rgb) and loaded.notes == []


def test_sixteen_bit_grayscale_keeps_its_range() -> None:
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    loaded = load_image(png_bytes(ramp))
    assert loaded.pixels.min() == 0.0 and loaded.pixels.max() == pytest.approx(1.0)
    assert np.allclose(loaded.pixels[..., 0], ramp / 65535, atol=1e-6)
    assert (loaded.pixels[..., 0] == loaded.pixels[..., 2]).all()
    assert any("65535" in note for note in loaded.notes)


def test_transparency_is_composited_on_white_with_a_note() -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:4, :, 3] = 255  # top half opaque black, bottom half transparent
    loaded = load_image(png_bytes(rgba))
    assert loaded.pixels[:4].max() == 0.0 and loaded.pixels[4:].min() == 1.0
    assert any("white" in note for note in loaded.notes)


def test_huge_images_are_downsized_with_a_note() -> None:
    wide = np.zeros((50, 5000, 3), dtype=np.uint8)
    loaded = load_image(png_bytes(wide), max_side=1000)
    assert loaded.pixels.shape == (10, 1000, 3) and loaded.original_size == (5000, 50)
    assert any("Downsized" in note for note in loaded.notes)


@pytest.mark.parametrize("data, message", [(b"", "empty"), (b"GIF89a-truncated", "not a readable image"),
                                           (b"%PDF-1.4 not an image", "not a readable image")])
def test_broken_files_are_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_image(data, name="upload.png")


def test_collection_from_zip_skips_bad_members(tmp_path: Path) -> None:
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("b.png", png_bytes(np.full((4, 4, 3), 200, dtype=np.uint8)))
        handle.writestr("a.png", png_bytes(np.zeros((4, 4), dtype=np.uint8)))
        handle.writestr("broken.jpg", b"not a jpeg")
        handle.writestr("notes.txt", b"ignored")
    collection = load_image_collection(archive)
    assert list(collection.images) == ["a.png", "b.png"]
    assert list(collection.skipped) == ["broken.jpg"]
    assert collection.images["b.png"].pixels.mean() == pytest.approx(200 / 255)


def test_collection_refuses_empty_or_wrong_sources(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no readable image"):
        load_image_collection(tmp_path / "empty")
    text = tmp_path / "file.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match="neither a folder nor"):
        load_image_collection(text)
