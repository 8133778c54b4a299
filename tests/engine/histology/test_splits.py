"""Leak-free folds by accession group, label fractions and manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InputError
from engine.histology.dataset import read_dataset
from engine.histology.splits import leaks, make_folds, read_manifest, with_label_fraction, write_manifest


def test_folds_are_leak_free_and_cover_every_group(breakhis: Path) -> None:
    dataset = read_dataset(breakhis)
    folds = make_folds(dataset, k=5, seed=3)
    tested = [g for split in folds for g in {s.group for s in split.samples(dataset, "test")}]
    assert sorted(tested) == sorted({s.group for s in dataset.samples})  # each group tested exactly once
    for split in folds:
        assert leaks(split, dataset) == []
        assert split.patients("val") and split.patients("train") and split.patients("test")
        assert set(split.parts) == set(dataset.patients)
        # the duplicated slide and the sibling sections never straddle parts
        assert split.parts["SOB_M_DC_14-10009"] == split.parts["SOB_M_LC_14-10009"]
        assert split.parts["SOB_B_A_14-10001AB"] == split.parts["SOB_B_A_14-10001CD"]
    assert [f.parts for f in make_folds(dataset, 5, 3)] == [f.parts for f in folds]
    assert [f.parts for f in make_folds(dataset, 5, 4)] != [f.parts for f in folds]
    with pytest.raises(InputError, match="cannot be split into 20 folds"):
        make_folds(dataset, k=20)


def test_label_fraction_keeps_a_stratified_subset(breakhis: Path) -> None:
    dataset = read_dataset(breakhis)
    split = make_folds(dataset, 5, 0)[0]
    reduced = with_label_fraction(split, dataset, 0.2, seed=1)
    kept, before = reduced.patients("train"), split.patients("train")
    assert set(kept) < set(before) and reduced.patients("unused") == sorted(set(before) - set(kept))
    assert reduced.patients("test") == split.patients("test") and reduced.patients("val") == split.patients("val")
    assert {s.label for s in reduced.samples(dataset, "train")} == {"benign", "malignant"}
    assert with_label_fraction(split, dataset, 1.0, 1) is split


def test_manifest_round_trip_and_leak_check(breakhis: Path, tmp_path: Path) -> None:
    dataset = read_dataset(breakhis)
    split = make_folds(dataset, 5, 0)[1]
    path = write_manifest(tmp_path / "split.csv", split, dataset)
    assert path.read_text().splitlines()[0] == "path,patient,split"
    assert read_manifest(path, dataset).parts == split.parts
    lines = path.read_text().splitlines()
    other = split.parts["SOB_M_DC_14-10009"]
    moved = "train" if other != "train" else "test"
    leaky = [line.replace(f"SOB_M_DC_14-10009,{other}", f"SOB_M_DC_14-10009,{moved}") for line in lines]
    (tmp_path / "leaky.csv").write_text("\n".join(leaky) + "\n")
    with pytest.raises(InputError, match="not leak-free: accession group"):
        read_manifest(tmp_path / "leaky.csv", dataset)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="is not a split manifest"):
        read_manifest(tmp_path / "other.csv", dataset)
