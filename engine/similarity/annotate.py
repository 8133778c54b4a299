"""2AFC annotation: triplets to judge, decisions in the annotation store, export as a BAPPS folder.

A triplet is a reference and two candidates, p0 and p1. Its images are saved once under
``<data_dir>/similarity/triplets/<hash>/{ref,p0,p1}.png`` (the hash of the three images), so a
decision can always be traced back to exactly what was shown. Each decision is one annotation of
task ``similarity-2afc``: the label records the choice (``p0``, ``p1`` or ``skip``), the order in
which the candidates were shown and the side that was clicked; the item payload records the
triplet's folder and where its images came from.

:func:`export_bapps` writes every item's standing decisions as a BAPPS 2AFC set, ``judge`` being
the fraction of (non-skipping) annotators who preferred p1, which
:func:`engine.similarity.twoafc.evaluate` reads back.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import settings
from engine.annotations import AnnotationStore, content_hash
from engine.errors import InputError
from engine.images import LoadedImage, load_image, load_image_collection
from engine.similarity.bapps import DISTORTIONS, distort, random_patch, write_set

TASK = "similarity-2afc"
CANDIDATES = ("p0", "p1")


@dataclass(frozen=True)
class Triplet:
    """A stored triplet: its ``key`` (content hash), folder, and a description of its origin."""

    key: str
    folder: Path
    source: str

    def image(self, name: str) -> Path:
        """Path of ``ref``, ``p0`` or ``p1``."""
        return self.folder / f"{name}.png"


def triplets_dir() -> Path:
    """Where triplet images live (inside the configured data folder)."""
    return settings.current().data_dir / "similarity" / "triplets"


def store_triplet(ref: np.ndarray, p0: np.ndarray, p1: np.ndarray, source: str) -> Triplet:
    """Save a triplet's images (``float32 [H, W, 3]`` in 0..1, same size) once, keyed by their content."""
    shapes = {ref.shape, p0.shape, p1.shape}
    if len(shapes) != 1:
        raise InputError(f"The reference and both candidates must have the same size, got {sorted(shapes)}.")
    quantised = [np.clip(np.round(a * 255), 0, 255).astype(np.uint8) for a in (ref, p0, p1)]
    key = content_hash(np.stack(quantised))
    folder = triplets_dir() / key[:32]
    if not (folder / "p1.png").exists():
        from PIL import Image

        folder.mkdir(parents=True, exist_ok=True)
        for name, pixels in zip(("ref", *CANDIDATES), quantised):
            temporary = folder / f".{name}.png.partial"
            Image.fromarray(pixels).save(temporary, format="PNG")
            temporary.replace(folder / f"{name}.png")
    return Triplet(key, folder, source)


def generate_triplet(seed: int, size: int = 128) -> Triplet:
    """A triplet from a bundled photograph: the reference and two candidates, each distorted by a
    different, randomly chosen known distortion at a random strength (like BAPPS' traditional set)."""
    rng = np.random.default_rng(seed)
    ref, where = random_patch(rng, size)
    families = rng.choice(list(DISTORTIONS), size=2, replace=False)
    strengths = rng.uniform(0.2, 0.9, size=2)
    p0, p1 = (distort(ref, str(f), float(s), rng) for f, s in zip(families, strengths))
    source = f"{where}; p0 {families[0]} {strengths[0]:.2f}, p1 {families[1]} {strengths[1]:.2f}"
    return store_triplet(ref, p0, p1, source)


def _same_size(images: Sequence[LoadedImage]) -> tuple[list[np.ndarray], list[str]]:
    from engine.similarity.compare import resize, to_tensor

    height, width = images[0].pixels.shape[:2]
    pixels, notes = [], []
    for name, image in zip(("reference", "p0", "p1"), images):
        notes += image.notes
        array = image.pixels
        if array.shape[:2] != (height, width):
            notes.append(f"{name} resized from {array.shape[1]}x{array.shape[0]} to {width}x{height}.")
            array = resize(to_tensor(array), (height, width))[0].permute(1, 2, 0).numpy()
        pixels.append(array)
    return pixels, notes


def triplet_from_files(ref: str | Path, p0: str | Path, p1: str | Path) -> tuple[Triplet, list[str]]:
    """A triplet from three uploaded images (candidates resized to the reference's size, with notes)."""
    loaded = [load_image(path, max_side=1024) for path in (ref, p0, p1)]
    pixels, notes = _same_size(loaded)
    names = ", ".join(Path(p).name for p in (ref, p0, p1))
    return store_triplet(*pixels, source=f"upload: {names}"), notes


def triplets_from_collection(source: str | Path) -> tuple[list[Triplet], list[str]]:
    """Triplets from a folder or zip in BAPPS layout (``.../ref/X.png``, ``.../p0/X.png``, ``.../p1/X.png``).

    Images are matched by their folder (ref, p0, p1) and file stem; incomplete triplets and
    unreadable files are skipped and reported.
    """
    collection = load_image_collection(source, max_side=1024)
    groups: dict[tuple[str, str], dict[str, LoadedImage]] = defaultdict(dict)
    for name, image in collection.images.items():
        path = Path(name)
        if path.parent.name in ("ref", *CANDIDATES):
            groups[(path.parent.parent.as_posix(), path.stem)][path.parent.name] = image
    notes = [f"skipped {name}: {why}" for name, why in collection.skipped.items()]
    triplets = []
    for (folder, stem), parts in sorted(groups.items()):
        if set(parts) != {"ref", *CANDIDATES}:
            notes.append(f"skipped {folder}/{stem}: missing {', '.join(sorted({'ref', *CANDIDATES} - set(parts)))}")
            continue
        pixels, _ = _same_size([parts["ref"], parts["p0"], parts["p1"]])
        triplets.append(store_triplet(*pixels, source=f"{Path(source).name}: {folder}/{stem}"))
    if not triplets:
        raise InputError(f"{Path(source).name} holds no complete triplet: put images in folders named ref/, p0/ "
                         "and p1/ with matching file names.")
    return triplets, notes


def record(store: AnnotationStore, triplet: Triplet, shown: Sequence[str], side: str, annotator: str,
           lead_time_s: float | None = None) -> str:
    """Store one decision. ``shown`` is the left-to-right order of the candidates (e.g. ``["p1", "p0"]``),
    ``side`` is ``left``, ``right`` or ``skip``. Returns the choice (``p0``, ``p1`` or ``skip``)."""
    if sorted(shown) != sorted(CANDIDATES):
        raise InputError(f"The shown order must be a permutation of p0 and p1, got {list(shown)}.")
    if side not in ("left", "right", "skip"):
        raise InputError(f"Choose left, right or skip, not {side!r}.")
    choice = "skip" if side == "skip" else shown[0 if side == "left" else 1]
    store.add(TASK, triplet.key, {"choice": choice, "shown": list(shown), "side": side}, annotator,
              source=triplet.source, payload={"folder": triplet.folder.name}, lead_time_s=lead_time_s)
    return choice


def triplet_of(key: str, source: str = "") -> Triplet:
    """The stored triplet with content hash ``key`` (a sha256 in hex; anything else is refused)."""
    if not re.fullmatch(r"[0-9a-f]{64}", key or ""):
        raise InputError(f"{str(key)[:40]!r} is not a triplet key.")
    folder = triplets_dir() / key[:32]
    if not (folder / "p1.png").is_file():
        raise InputError(f"The images of triplet {key[:12]} are missing from {folder.parent}.")
    return Triplet(key, folder, source)


@dataclass
class ExportSummary:
    """What :func:`export_bapps` wrote."""

    folder: Path
    triplets: int
    decisions: int
    skipped_items: int


def export_bapps(store: AnnotationStore, folder: str | Path, subset: str = "annotated") -> ExportSummary:
    """Write every judged triplet as ``<folder>/2afc/val/<subset>/{ref,p0,p1,judge}``.

    ``judge`` is the fraction of annotators whose standing decision was p1 (skips do not count;
    items only skipped are left out). A ``sources.jsonl`` beside the set lists each file's origin.
    """
    votes: dict[str, list[str]] = defaultdict(list)
    sources: dict[str, str] = {}
    for annotation in store.current_labels(TASK):
        choice = annotation.label.get("choice") if isinstance(annotation.label, dict) else None
        sources[annotation.content_hash] = annotation.source
        if choice in CANDIDATES:
            votes[annotation.content_hash].append(choice)
    if not votes:
        raise InputError("No 2AFC decisions to export yet: judge some triplets first.")
    target = Path(folder) / "2afc" / "val" / subset
    items, lines = [], []
    from PIL import Image

    for key in sorted(votes):
        triplet = triplet_of(key)
        images = [np.asarray(Image.open(triplet.image(name)).convert("RGB"), np.float32) / 255.0
                  for name in ("ref", *CANDIDATES)]
        judge = votes[key].count("p1") / len(votes[key])
        items.append((images, judge))
        lines.append(json.dumps({"index": len(items) - 1, "triplet": key, "source": sources[key],
                                 "judges": len(votes[key]), "judge": judge}))
    write_set(target, "2afc", items)
    (target / "sources.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    skipped = len(sources) - len(votes)
    return ExportSummary(Path(folder), len(items), sum(len(v) for v in votes.values()), skipped)
