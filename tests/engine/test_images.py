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


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_decompression_bomb_is_refused_from_the_header_before_decoding() -> None:
    # a 20000 x 20000 PNG compresses to a few hundred KB; decoding it would take 1.2 GB
    bomb = encoded(Image.new("L", (20000, 20000)), "PNG", optimize=False)
    with pytest.raises(InputError, match="20000x20000 pixels .* more than the 100 megapixels"):
        load_image(bomb, name="bomb.png")


def test_large_jpeg_is_decoded_at_reduced_scale_by_the_codec() -> None:
    big = encoded(Image.new("RGB", (6000, 4000), (10, 200, 30)), "JPEG", quality=50)
    loaded = load_image(big, max_side=1000)
    assert loaded.original_size == (6000, 4000) and loaded.pixels.shape == (667, 1000, 3)
    assert np.allclose(loaded.pixels.mean(axis=(0, 1)), np.array([10, 200, 30]) / 255, atol=0.02)


def test_cmyk_and_sixteen_bit_colour_get_a_note() -> None:
    cmyk = load_image(encoded(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"))
    assert any("CMYK" in note for note in cmyk.notes) and cmyk.pixels[..., 0].mean() > 0.9
    import cv2

    deep = (np.arange(8 * 8 * 3).reshape(8, 8, 3) * 300).astype(np.uint16)
    loaded = load_image(cv2.imencode(".png", deep)[1].tobytes())
    assert any("16 bits per channel" in note for note in loaded.notes)


def test_animated_and_palette_images_are_read_with_notes() -> None:
    frames = [Image.new("RGB", (6, 6), colour).convert("P") for colour in ("red", "green", "blue")]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    loaded = load_image(gif.getvalue())
    assert loaded.pixels.shape == (6, 6, 3) and any("first of its 3 frames" in n for n in loaded.notes)


def test_truncated_image_is_refused_clearly() -> None:
    data = encoded(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")
    with pytest.raises(InputError, match="not a readable image") as caught:
        load_image(data[: len(data) // 2], name="cut.png")
    assert "BytesIO" not in str(caught.value)


def test_collection_is_bounded_by_decoded_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import images

    for index in range(3):
        Image.new("RGB", (100, 100)).save(tmp_path / f"{index}.png")
    monkeypatch.setattr(images, "MAX_COLLECTION_PIXELS", 25_000)
    with pytest.raises(InputError, match="30,000 pixels"):
        load_image_collection(tmp_path)


def test_corrupt_zip_is_a_clear_message(tmp_path: Path) -> None:
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("a.png", png_bytes(np.zeros((4, 4, 3), dtype=np.uint8)))
    archive.write_bytes(archive.read_bytes()[:-30])  # cut the central directory
    with pytest.raises(InputError, match="not a readable .zip file"):
        load_image_collection(archive)
