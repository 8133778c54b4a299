"""Image sets for the autoencoders: generated scenes or a user's folder of images, with optional labels.

An :class:`ImageData` holds images at the autoencoder's working size and whatever labels exist:
``positions`` (regression targets, e.g. an object's centre) and ``classes`` (classification). The
generated scenes have both; a folder of images has those its CSV gives (columns ``file``, optional
``x``/``y`` and optional ``label``/``class``), or none (then only the reconstructions can be judged).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from engine.autoencoders import scenes
from engine.errors import InputError
from engine.images import load_image_collection
from engine.paths import safe_file_name

MAX_FOLDER_IMAGES = 20_000
UPLOAD_PREFIX = re.compile(r"^\d{4}_")  # the job runner keeps uploads as 0000_<safe name>
CLASS_COLUMNS = ("label", "class")


def check_size(size: int) -> int:
    """``size`` if the four-layer autoencoder accepts it (64 + 16 n pixels), else an :class:`InputError`."""
    if size < 64 or (size - 64) % 16:
        raise InputError(f"The four-layer autoencoder needs images of 64 + 16 n pixels a side (64, 80, 96, ...), "
                         f"not {size}.")
    return size


@dataclass(frozen=True)
class Labels:
    """What the predictors learn: ``positions`` (``float32 [N, 2]``) and/or ``classes`` (``int64 [N]``)."""

    positions: torch.Tensor | None
    classes: torch.Tensor | None
    class_names: tuple[str, ...] = ()
    position_unit: str = "px"


@dataclass(frozen=True)
class ImageData:
    """Images and their labels.

    Attributes:
        images: ``float32 [N, 3, S, S]`` RGB in 0..1.
        positions: ``float32 [N, 2]`` regression targets (the object's centre in px for scenes), or None.
        classes: ``int64 [N]`` class indices into ``class_names``, or None.
        class_names: the classes' names.
        description: where the images came from, for labels and logs.
        position_unit: the unit of ``positions`` (``px`` for scenes; as given in a CSV otherwise).
    """

    images: torch.Tensor
    positions: torch.Tensor | None
    classes: torch.Tensor | None
    class_names: tuple[str, ...]
    description: str
    position_unit: str = "px"

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def size(self) -> int:
        """The image side in pixels."""
        return int(self.images.shape[-1])

    @property
    def labels(self) -> Labels:
        """The labels alone."""
        return Labels(self.positions, self.classes, self.class_names, self.position_unit)

    def subset(self, index: torch.Tensor) -> ImageData:
        """The images (and labels) at ``index`` (``int64 [M]``)."""
        return replace(self, images=self.images[index],
                       positions=self.positions[index] if self.positions is not None else None,
                       classes=self.classes[index] if self.classes is not None else None)


def generated(count: int, size: int = 64, seed: int = 0, start: int = 0) -> ImageData:
    """``count`` generated scenes (see :mod:`engine.autoencoders.scenes`) with positions and shape classes."""
    made = scenes.generate_scenes(count, size, seed, start)
    return ImageData(made.images, made.positions, made.classes, scenes.SHAPES,
                     f"{count} generated scenes ({size} px, seed {seed}, from #{start})")


def _read_targets(source: Path, names: list[str]) -> tuple[np.ndarray | None, list[str] | None]:
    """Positions and class names of the images ``names`` from a CSV; a missing row is an error."""
    import pandas as pd

    try:
        table = pd.read_csv(source, dtype=str)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise InputError(f"The targets CSV could not be read ({type(error).__name__}: {error}).") from error
    table.columns = [str(column).strip().lower() for column in table.columns]
    if "file" not in table.columns:
        raise InputError(f"The targets CSV needs a 'file' column (found {', '.join(table.columns) or 'none'}); "
                         "add 'x' and 'y' for positions and/or 'label' for classes.")
    rows = {safe_file_name(Path(str(name)).name): row for name, row in table.set_index("file").iterrows()}

    def row_of(name: str) -> object:
        plain = safe_file_name(Path(name).name)
        return rows.get(plain, rows.get(UPLOAD_PREFIX.sub("", plain)))

    missing = [name for name in names if row_of(name) is None]
    if missing:
        raise InputError(f"The targets CSV has no row for {len(missing)} images (e.g. {missing[0]}).")
    ordered = [row_of(name) for name in names]
    positions = None
    if {"x", "y"} <= set(table.columns):
        try:
            positions = np.array([[float(row["x"]), float(row["y"])] for row in ordered], dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise InputError(f"The targets CSV's x and y must be numbers ({error}).") from error
        if not np.isfinite(positions).all():
            raise InputError("The targets CSV's x and y must be finite numbers for every image.")
    column = next((c for c in CLASS_COLUMNS if c in table.columns), None)
    labels = [str(row[column]).strip() for row in ordered] if column else None
    if positions is None and labels is None:
        raise InputError("The targets CSV has neither 'x' and 'y' columns nor a 'label' column.")
    return positions, labels


def from_folder(source: str | Path, size: int = 64, targets: str | Path | None = None,
                limit: int = MAX_FOLDER_IMAGES) -> ImageData:
    """Every image of a folder (or zip), resized to ``size`` x ``size``, with targets from a CSV if given.

    The CSV has a ``file`` column (the image's file name; uploaded copies named ``0000_<name>`` match
    ``<name>``) and ``x``, ``y`` (positions, any unit) and/or ``label`` (or ``class``: any text).
    Unreadable images are skipped (their number is in the description).

    Raises:
        InputError: no readable image, a bad size, or a CSV that is unreadable or misses images.
    """
    check_size(size)
    collection = load_image_collection(source, max_side=4 * size, limit=limit)
    names = list(collection.images)
    tensors = [torch.from_numpy(image.pixels).permute(2, 0, 1)[None] for image in collection.images.values()]
    images = torch.cat([F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
                        for t in tensors]).clamp_(0, 1)
    positions = classes = None
    class_names: tuple[str, ...] = ()
    if targets is not None:
        found, labels = _read_targets(Path(targets), names)
        positions = torch.from_numpy(found) if found is not None else None
        if labels is not None:
            class_names = tuple(sorted(set(labels)))
            if len(class_names) < 2:
                raise InputError(f"The targets CSV names only one class ({class_names[0]!r}); classification "
                                 "needs at least two.")
            classes = torch.tensor([class_names.index(label) for label in labels])
    skipped = f", {len(collection.skipped)} unreadable files skipped" if collection.skipped else ""
    return ImageData(images, positions, classes, class_names,
                     f"{len(names)} images from {Path(source).name} ({size} px{skipped})", "CSV units")


@dataclass(frozen=True)
class Splits:
    """Disjoint index sets of one :class:`ImageData` (``int64`` tensors)."""

    train: torch.Tensor
    validation: torch.Tensor
    test: torch.Tensor


def split(count: int, validation: float = 0.2, test: float = 0.2, seed: int = 0) -> Splits:
    """A seeded random split of ``range(count)``; each part gets at least one item when ``count >= 3``."""
    if count < 3:
        raise InputError(f"At least 3 images are needed to split them into train, validation and test, not {count}.")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(count * validation))
    n_test = max(1, round(count * test)) if test > 0 else 0
    n_train = count - n_val - n_test
    if n_train < 1:
        raise InputError(f"{count} images leave none for training after validation and test.")
    return Splits(order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:])
