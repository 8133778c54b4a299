"""engine.similarity.annotate: triplets in, decisions stored, BAPPS export read back by the evaluator."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.annotations import AnnotationStore
from engine.errors import InputError
from engine.similarity import annotate
from engine.similarity.bapps import find_sets
from engine.similarity.twoafc import evaluate


def _png(path: Path, pixels: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(pixels, mode=mode).save(path) if mode else Image.fromarray(pixels).save(path)
    return path


def test_generated_triplets_are_stored_once_by_content() -> None:
    first, again, other = annotate.generate_triplet(3), annotate.generate_triplet(3), annotate.generate_triplet(4)
    assert first.key == again.key and first.key != other.key
    images = [np.asarray(Image.open(first.image(n))) for n in ("ref", "p0", "p1")]
    assert all(image.shape == (128, 128, 3) for image in images)
    assert not np.array_equal(images[1], images[2])
    assert " p0 " in first.source and " p1 " in first.source


def test_choice_follows_the_shown_order(tmp_path: Path) -> None:
    store = AnnotationStore(tmp_path / "choice.sqlite")
    triplet = annotate.generate_triplet(7)
    assert annotate.record(store, triplet, ["p1", "p0"], "left", "ann") == "p1"
    assert annotate.record(store, triplet, ["p1", "p0"], "right", "ann") == "p0"
    assert annotate.record(store, triplet, ["p0", "p1"], "skip", "ann") == "skip"
    labels = [a.label for a in store.annotations(annotate.TASK)]
    assert labels[0] == {"choice": "p1", "shown": ["p1", "p0"], "side": "left"}
    with pytest.raises(InputError, match="permutation"):
        annotate.record(store, triplet, ["p0", "p0"], "left", "ann")
    with pytest.raises(InputError, match="left, right or skip"):
        annotate.record(store, triplet, ["p0", "p1"], "up", "ann")


def test_export_writes_judge_fractions_that_the_evaluator_reads_back(tmp_path: Path, alex_metric) -> None:  # type: ignore[no-untyped-def]
    store = AnnotationStore(tmp_path / "annotations.sqlite")
    a, b, c = (annotate.generate_triplet(seed) for seed in (11, 12, 13))
    annotate.record(store, a, ["p0", "p1"], "right", "ann")   # p1
    annotate.record(store, a, ["p1", "p0"], "right", "bob")   # p0
    annotate.record(store, a, ["p1", "p0"], "left", "cyd")    # p1  -> judge 2/3
    annotate.record(store, b, ["p0", "p1"], "left", "ann")    # p0
    annotate.record(store, b, ["p0", "p1"], "right", "ann")   # ann changes her mind: p1 -> judge 1
    annotate.record(store, c, ["p0", "p1"], "left", "ann")    # p0, then undone
    store.undo(annotate.TASK, "ann")
    annotate.record(store, c, ["p0", "p1"], "skip", "bob")    # only skipped -> left out
    summary = annotate.export_bapps(store, tmp_path / "export")
    assert (summary.triplets, summary.decisions, summary.skipped_items) == (2, 4, 1)
    (image_set,) = find_sets(tmp_path / "export")
    assert image_set.name == "2afc/val/annotated" and image_set.kind == "2afc"
    expected = {a.key: 2 / 3, b.key: 1.0}
    order = sorted(expected)
    np.testing.assert_allclose(image_set.labels, [expected[k] for k in order], rtol=1e-6)
    exported_ref = np.asarray(Image.open(image_set.images["ref"][0]))
    original_ref = np.asarray(Image.open(annotate.triplet_of(order[0]).image("ref")))
    np.testing.assert_array_equal(exported_ref, original_ref)
    result = evaluate([image_set], alex_metric)
    assert result.subsets[0].count == 2 and 0.0 <= result.subsets[0].score <= 1.0
    assert (tmp_path / "export" / "2afc" / "val" / "annotated" / "sources.jsonl").read_text().count("\n") == 2


def test_export_without_decisions_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No 2AFC decisions"):
        annotate.export_bapps(AnnotationStore(tmp_path / "empty.sqlite"), tmp_path / "out")


def test_uploaded_files_of_any_size_and_mode(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ref = _png(tmp_path / "ref.png", (rng.random((50, 60, 3)) * 255).astype(np.uint8))
    gray = _png(tmp_path / "gray.png", (rng.random((30, 30)) * 255).astype(np.uint8))
    deep = tmp_path / "deep.png"
    Image.fromarray((rng.random((50, 60)) * 65535).astype(np.uint16)).save(deep)
    triplet, notes = annotate.triplet_from_files(ref, gray, deep)
    assert np.asarray(Image.open(triplet.image("p0"))).shape == (50, 60, 3)
    assert any("resized from 30x30 to 60x50" in note for note in notes)
    assert any("Grayscale" in note for note in notes) and any("0..65535" in note for note in notes)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(InputError, match="not a readable image"):
        annotate.triplet_from_files(ref, broken, gray)


def test_zip_of_triplets_skips_incomplete_ones(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    archive = tmp_path / "triplets.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for stem in ("a", "b"):
            for folder in ("ref", "p0", "p1") if stem == "a" else ("ref", "p0"):
                path = _png(tmp_path / f"{folder}-{stem}.png", (rng.random((32, 32, 3)) * 255).astype(np.uint8))
                handle.write(path, f"set/{folder}/{stem}.png")
        handle.writestr("set/p1/notes.txt", "not an image")
    triplets, notes = annotate.triplets_from_collection(archive)
    assert len(triplets) == 1 and "set/a" in triplets[0].source
    assert any("set/b: missing p1" in note for note in notes)
    only_broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(only_broken, "w") as handle:
        handle.writestr("ref/x.png", b"garbage")
        handle.writestr("p0/x.png", b"garbage")
    with pytest.raises(InputError):
        annotate.triplets_from_collection(only_broken)
