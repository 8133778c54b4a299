"""What the Histopathology tab can show on first launch: the shipped MPCS encoder and CC0 example tiles.

``assets/histology/`` holds the MobileNetV2 encoder that ``python -m trainers.histology demo`` pretrained with MPCS
on training regions of the CC0 scan (only the tensors that differ from the ImageNet weights, in shards under
5 MB; sha256 and figures in its model card). The example tiles are held-out regions of the same scan rendered at
the four magnifications; they are generated on first use into ``<data dir>/histology/tiles/`` and indexed with the
shipped encoder, so neighbour search and the embedding view work without any user data.
"""

from __future__ import annotations

import functools
from pathlib import Path

from engine.errors import WorkbenchError
from engine.histology import synthetic
from engine.histology.encoders import Encoder, load_encoder, load_tensors
from engine.histology.index import EmbeddingIndex, build_index
from engine.histology.jobs import storage

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "histology"
SHIPPED_PATTERN = "mpcs_mobilenet_v2*.safetensors"
EXAMPLE_INDEX = "cc0-heldout"
EXAMPLE_REGIONS = 24


def shipped_encoder_path() -> Path:
    """The first file of the shipped MPCS encoder.

    Raises:
        WorkbenchError: the asset is missing (the repository is incomplete).
    """
    files = sorted(ASSETS.glob(SHIPPED_PATTERN))
    if not files:
        raise WorkbenchError(f"The shipped MPCS encoder ({SHIPPED_PATTERN}) is missing from assets/histology; "
                             "recreate it with `python -m trainers.histology demo --out DIR` and copy its files.")
    return files[0]


def shipped_image_size() -> int:
    """The view size (pixels) the shipped encoder was pretrained at."""
    _, metadata = load_tensors(shipped_encoder_path())
    return int(metadata.get("image_size", 96))  # type: ignore[call-overload]


@functools.lru_cache(maxsize=1)
def shipped_encoder() -> Encoder:
    """The shipped MPCS encoder (loaded once per process), in eval mode."""
    return load_encoder(shipped_encoder_path())


def example_tiles_folder() -> Path:
    """Held-out CC0 regions at every magnification as ``cc0-tissue/<region>/<magnification>/<region>.png``
    (written on first use)."""
    folder = storage("tiles") / EXAMPLE_INDEX
    expected = EXAMPLE_REGIONS * 4
    if len(list(folder.rglob("*.png"))) < expected:
        heldout = synthetic.region_split(size=shipped_image_size()).heldout
        synthetic.write_region_tiles(folder, heldout, EXAMPLE_REGIONS)
    return folder


def example_tiles(count: int = 8) -> list[Path]:
    """A few example tiles (one region per tile, magnifications in turn) for the tab's examples."""
    files = sorted(example_tiles_folder().rglob("*.png"))
    return [files[(i * 5) % len(files)] for i in range(min(count, len(files)))]


def example_index() -> EmbeddingIndex:
    """The index of the example tiles with the shipped encoder (built on first use, then read from disk)."""
    folder = storage("indexes") / EXAMPLE_INDEX
    encoder = shipped_encoder()
    if (folder / "index.json").is_file():
        index = EmbeddingIndex.load(folder)
        if index.provenance == encoder.provenance:
            return index
    index = build_index(example_tiles_folder(), encoder, EXAMPLE_INDEX, shipped_image_size(),
                        encoder_file=str(shipped_encoder_path()))
    index.save(folder)
    return index


IMAGENET = "ImageNet MobileNetV2 (no histology training)"
SHIPPED = "MPCS MobileNetV2 (shipped; CC0 demo regions)"


def encoder_choices() -> dict[str, str]:
    """Encoders a user can pick: display name -> file ("" for ImageNet weights), the shipped one first, then
    the encoders pretrained in this app (newest first)."""
    choices = {SHIPPED: str(shipped_encoder_path()), IMAGENET: ""}
    kept = sorted(storage("encoders").glob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True)
    choices.update({f"MPCS {path.stem} (pretrained here)": str(path) for path in kept})
    return choices


@functools.lru_cache(maxsize=4)
def encoder_by_file(file: str) -> Encoder:
    """The encoder stored in ``file`` ("" for ImageNet MobileNetV2), loaded once per process."""
    return load_encoder(file) if file else Encoder("mobilenet_v2").eval()
