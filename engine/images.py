"""Reading user images safely: any common format, bit depth or mode, with a clear error otherwise.

Every tab that accepts images goes through :func:`load_image`, which returns ``float32 [H, W, 3]``
RGB in 0..1 plus notes on what was changed (alpha removed, 16-bit scaled, CMYK converted, downsized),
so the UI can tell the user instead of silently altering their data.

Memory is bounded before any pixel is decoded: the header's size is checked against a pixel budget
(decompression bombs are refused), JPEGs larger than needed are decoded at 1/2, 1/4 or 1/8 scale by
the codec itself, and folders and zips are bounded by file count and by decoded pixels, not only bytes.
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.archives import file_members, open_zip, read_member
from engine.errors import InputError

MAX_PIXELS = 100_000_000  # decoded pixels allowed for one image (checked on the header, before decoding)
MAX_HEADER_PIXELS = 64 * MAX_PIXELS  # a JPEG may claim up to this: the codec decodes it at 1/8 scale
DEFAULT_MAX_SIDE = 4096
MAX_COLLECTION_PIXELS = 2_000_000_000  # decoded pixels of all images of one folder or zip together

Image.MAX_IMAGE_PIXELS = None  # the budget below is checked on every header instead (PIL only warns at 1x)


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


def open_image(source: str | Path | bytes, name: str | None = None) -> Image.Image:
    """Open an image lazily (only its header is read) and check its size against the pixel budget.

    Raises:
        InputError: empty, not an image, or larger than the budget allows.
    """
    label = name or (Path(source).name if isinstance(source, (str, Path)) else "the image")
    try:
        data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
        if not data:
            raise InputError(f"{label} is empty (0 bytes).")
        image = Image.open(io.BytesIO(data))
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{label} is not a readable image ({_reason(error)}). "
                         "Upload a PNG, JPEG, TIFF, BMP or WebP file.") from error
    width, height = image.size
    limit = MAX_HEADER_PIXELS if image.format == "JPEG" else MAX_PIXELS
    if width * height > limit or width <= 0 or height <= 0:
        raise InputError(f"{label} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), more than "
                         f"the {limit / 1e6:.0f} megapixels that can be opened safely. Downsize it first.")
    return image


def _reason(error: Exception) -> str:
    text = str(error)
    if "cannot identify image file" in text:  # PIL names the in-memory buffer object here
        return "unknown or damaged format"
    return f"{type(error).__name__}: {text}"


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
    image = source if isinstance(source, Image.Image) else open_image(source, label)
    notes: list[str] = []
    original_size, original_mode = image.size, image.mode
    raw_modes = [tile.args if isinstance(tile.args, str) else tile.args[0] for tile in getattr(image, "tile", [])
                 if tile.args]
    if any(str(mode).startswith(("RGB;16", "RGBA;16")) for mode in raw_modes):
        notes.append("16 bits per channel were reduced to 8 bits per channel (colour image).")
    if image.format == "JPEG" and max_side is not None and max(image.size) > 2 * max_side:
        image.draft(image.mode, (max_side, max_side))  # the codec decodes at 1/2, 1/4 or 1/8 scale
    if image.size[0] * image.size[1] > MAX_PIXELS:
        raise InputError(f"{label} is {original_size[0]}x{original_size[1]} pixels, more than the "
                         f"{MAX_PIXELS / 1e6:.0f} megapixels that can be decoded safely. Downsize it first.")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InputError(f"{label} is not a readable image ({_reason(error)}); the file may be truncated. "
                         "Upload a PNG, JPEG, TIFF, BMP or WebP file.") from error
    if getattr(image, "n_frames", 1) > 1:
        notes.append(f"Only the first of its {image.n_frames} frames is used (animated or multi-page image).")
    image = ImageOps.exif_transpose(image)
    if original_mode == "CMYK":
        image = image.convert("RGB")
        notes.append("CMYK image converted to RGB (colours may shift slightly without its colour profile).")
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
    extracted). The number of files, their bytes and their decoded pixels (from each header, before
    decoding) are bounded against zip bombs.

    Raises:
        InputError: the source is neither a folder nor a zip, is too large, or holds no readable image.
    """
    path = Path(source)
    members: list[tuple[str, Callable[[], bytes]]] = []
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) > limit:
            raise InputError(f"{path.name} holds {len(files):,} images; at most {limit:,} are read at once.")
        if sum(p.stat().st_size for p in files) > MAX_COLLECTION_BYTES:
            raise InputError(f"{path.name} holds more than {MAX_COLLECTION_BYTES // 10**9} GB of images.")
        members = [(str(p.relative_to(path)), p.read_bytes) for p in files]
    elif path.is_file() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)):
        archive = open_zip(path)
        infos = file_members(archive, IMAGE_SUFFIXES, max_members=limit, max_bytes=MAX_COLLECTION_BYTES)
        members = [(info.filename, functools.partial(read_member, archive, info)) for info in infos]
    else:
        raise InputError(f"{path.name} is neither a folder nor a .zip file of images.")
    opened: dict[str, Image.Image] = {}
    skipped: dict[str, str] = {}
    for name, read in members:
        try:
            opened[name] = open_image(read(), name=name)
        except InputError as error:
            skipped[name] = str(error)
    pixels = sum(image.size[0] * image.size[1] for image in opened.values())
    if pixels > MAX_COLLECTION_PIXELS:
        raise InputError(f"{path.name} holds {pixels:,} pixels in all, more than the {MAX_COLLECTION_PIXELS:,} "
                         "that can be decoded at once. Send fewer or smaller images.")
    images: dict[str, LoadedImage] = {}
    for name, image in opened.items():
        try:
            images[name] = load_image(image, max_side=max_side, name=name)
        except InputError as error:
            skipped[name] = str(error)
    if not images:
        raise InputError(f"{path.name} holds no readable image ({len(skipped)} files skipped; supported: "
                         f"{', '.join(IMAGE_SUFFIXES)}).")
    return ImageCollection(images, skipped)
