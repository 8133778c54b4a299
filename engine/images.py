"""Reading user images safely: any common format, bit depth or mode, with a clear error otherwise.

Every tab that accepts images goes through :func:`load_image`, which returns ``float32 [H, W, 3]``
RGB in 0..1 plus notes on what was changed (alpha removed, 16-bit scaled, downsized), so the UI can
tell the user instead of silently altering their data.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import InputError

MAX_PIXELS = 100_000_000  # larger images are refused before decoding (decompression-bomb guard)
DEFAULT_MAX_SIDE = 4096

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass
class LoadedImage:
    """An image as ``pixels``: ``float32 [H, W, 3]`` RGB in 0..1, and what loading changed."""

    pixels: np.ndarray
    original_size: tuple[int, int]  # (width, height) of the file
    original_mode: str
    notes: list[str] = field(default_factory=list)


def _to_float_rgb(image: Image.Image, sixteen_bit: bool, notes: list[str]) -> np.ndarray:
    mode = image.mode
    if mode.startswith("I"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if sixteen_bit or values.max(initial=0) > 255 else 255.0
        notes.append(f"Integer image scaled from 0..{int(peak)} to 0..1.")
        gray = np.clip(values / peak, 0, 1).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        values = np.asarray(image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        notes.append("Floating-point image rescaled to 0..1.")
        gray = (values - low) / (high - low) if high > low else np.zeros_like(values)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba, dtype=np.float32)[..., 3:] / 255.0
        if alpha.min() < 1.0:
            notes.append("Transparent areas were composited onto white.")
        rgb = np.asarray(rgba, dtype=np.float32)[..., :3] / 255.0
        return rgb * alpha + (1.0 - alpha)
    if mode in ("L", "1"):
        notes.append("Grayscale image repeated over the three colour channels.")
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def load_image(source: str | Path | bytes | Image.Image, max_side: int | None = DEFAULT_MAX_SIDE,
               name: str | None = None) -> LoadedImage:
    """Decode an image file (or bytes, or a PIL image) into RGB floats in 0..1.

    Args:
        source: a path, the file's bytes, or an already-open PIL image.
        max_side: images whose longer side exceeds this are downsized (with a note); None keeps all.
        name: how to call the file in messages (defaults to the file name).

    Raises:
        InputError: empty, corrupt, non-image or absurdly large files.
    """
    label = name or (Path(source).name if isinstance(source, (str, Path)) else "the image")
    try:
        if isinstance(source, Image.Image):
            image = source
        else:
            data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
            if not data:
                raise InputError(f"{label} is empty (0 bytes).")
            image = Image.open(io.BytesIO(data))
            image.load()
    except InputError:
        raise
    except Image.DecompressionBombError as error:
        raise InputError(f"{label} is too large to open safely ({error}). Downsize it below "
                         f"{MAX_PIXELS // 1_000_000} megapixels.") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{label} is not a readable image ({type(error).__name__}: {error}). "
                         "Upload a PNG, JPEG, TIFF, BMP or WebP file.") from error
    notes: list[str] = []
    original_size, original_mode = image.size, image.mode
    if getattr(image, "n_frames", 1) > 1:
        notes.append("Only the first frame of the animated/multi-page image is used.")
    image = ImageOps.exif_transpose(image)
    sixteen_bit = image.mode.startswith("I;16")
    if sixteen_bit:
        image = image.convert("I")  # lossless; PIL resizes "I" but not every 16-bit layout
    if max_side is not None and max(image.size) > max_side:
        scale = max_side / max(image.size)
        new_size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        if image.mode not in ("RGB", "RGBA", "L", "LA", "I", "F"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image = image.resize(new_size, Image.Resampling.LANCZOS)
        notes.append(f"Downsized from {original_size[0]}x{original_size[1]} to {new_size[0]}x{new_size[1]}.")
    pixels = _to_float_rgb(image, sixteen_bit, notes)
    return LoadedImage(np.ascontiguousarray(pixels, dtype=np.float32), original_size, original_mode, notes)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
MAX_COLLECTION_BYTES = 2_000_000_000  # uncompressed total accepted from one folder or zip


@dataclass
class ImageCollection:
    """Images read from a folder or zip: ``images`` by file name, and the files that were skipped."""

    images: dict[str, LoadedImage]
    skipped: dict[str, str]  # file name -> why


def load_image_collection(source: str | Path, max_side: int | None = DEFAULT_MAX_SIDE,
                          limit: int = 10_000) -> ImageCollection:
    """Read every image in a folder (recursively) or a ``.zip`` file, in sorted name order.

    Unreadable files are skipped and reported, not fatal; zip members are read in memory (never
    extracted), and the total size is capped against zip bombs.

    Raises:
        InputError: the source is neither a folder nor a zip, is too large, or holds no readable image.
    """
    import zipfile

    path = Path(source)
    members: list[tuple[str, Callable[[], bytes]]] = []
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if sum(p.stat().st_size for p in files) > MAX_COLLECTION_BYTES:
            raise InputError(f"{path.name} holds more than {MAX_COLLECTION_BYTES // 10**9} GB of images.")
        members = [(str(p.relative_to(path)), p.read_bytes) for p in files]
    elif path.is_file() and zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        infos = sorted((i for i in archive.infolist() if not i.is_dir()
                        and Path(i.filename).suffix.lower() in IMAGE_SUFFIXES
                        and not Path(i.filename).name.startswith(".")), key=lambda i: i.filename)
        if sum(i.file_size for i in infos) > MAX_COLLECTION_BYTES:
            raise InputError(f"{path.name} would unpack to more than {MAX_COLLECTION_BYTES // 10**9} GB.")
        members = [(i.filename, functools.partial(archive.read, i)) for i in infos]
    else:
        raise InputError(f"{path.name} is neither a folder nor a .zip file of images.")
    images: dict[str, LoadedImage] = {}
    skipped: dict[str, str] = {}
    for name, read in members[:limit]:
        try:
            images[name] = load_image(read(), max_side=max_side, name=name)
        except InputError as error:
            skipped[name] = str(error)
    if not images:
        raise InputError(f"{path.name} holds no readable image ({len(skipped)} files skipped; supported: "
                         f"{', '.join(IMAGE_SUFFIXES)}).")
    return ImageCollection(images, skipped)
