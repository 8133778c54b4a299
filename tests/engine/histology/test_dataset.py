"""BreakHis layout and grammar, generic layouts, CSV collections, and the scan command's JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import InputError
from engine.histology.__main__ import main
from engine.histology.dataset import accession_group, parse_file_name, read_dataset

SCAN_KEYS = {"images", "patients", "by_magnification", "by_class", "by_subtype", "problems"}


def test_file_name_grammar() -> None:
    parts = parse_file_name("SOB_B_A-14-22549AB-40-001.png")
    assert parts == {"label": "benign", "subtype": "adenosis", "magnification": "40X",
                     "patient": "SOB_B_A_14-22549AB", "group": "22549", "sequence": "001"}
    assert parse_file_name("SOB_M_DC-14-13412-400-026.png")["subtype"] == "ductal_carcinoma"
    assert parse_file_name("SOB_X_A-14-1-40-001.png") is None
    assert parse_file_name("SOB_B_ZZ-14-1-40-001.png") is None  # unknown tumour type
    assert parse_file_name("photo.png") is None
    assert accession_group("21998CD") == "21998"


def test_fixture_counts_and_identity(breakhis: Path) -> None:
    dataset = read_dataset(breakhis)
    counts = dataset.counts()
    assert set(counts) == SCAN_KEYS and dataset.layout == "breakhis"
    assert counts["images"] == 192 and counts["patients"] == 16 and counts["problems"] == []
    assert counts["by_magnification"] == {"40X": 48, "100X": 48, "200X": 48, "400X": 48}
    assert counts["by_class"] == {"benign": 96, "malignant": 96}
    assert list(counts["by_subtype"])[:2] == ["adenosis", "fibroadenoma"] and set(counts["by_subtype"].values()) == {24}
    # sibling sections (AB, CD) share one accession group; the slide filed as DC and LC is one group too
    groups = {s.patient: s.group for s in dataset.samples}
    assert groups["SOB_B_A_14-10001AB"] == groups["SOB_B_A_14-10001CD"] == "10001"
    assert dataset.duplicate_slides == [("SOB_M_DC_14-10009", "SOB_M_LC_14-10009")]
    assert len({s.group for s in dataset.samples}) == 14
    keys = {s.key for s in dataset.samples if s.patient == "SOB_B_F_14-10003"}
    assert keys == {f"SOB_B_F_14-10003/00{i}" for i in (1, 2, 3)}


def _copy(breakhis: Path, target: Path) -> Path:
    shutil.copytree(breakhis.parents[2], target / "copy")
    return target / "copy" / "BreaKHis_v1" / "histology_slides" / "breast"


def test_problems_are_listed_not_fatal(breakhis: Path, tmp_path: Path) -> None:
    root = _copy(breakhis, tmp_path)
    folder = root / "benign" / "SOB" / "adenosis" / "SOB_B_A_14-10001AB"
    (folder / "40X" / "SOB_B_A-14-10001AB-40-009.png").write_bytes(b"")
    (folder / "40X" / "SOB_B_A-14-10001AB-40-010.png").write_text("not a png")
    (folder / "40X" / "notes.txt").write_text("x")
    (folder / "40X" / "scan 3.png").write_bytes((folder / "40X" / "SOB_B_A-14-10001AB-40-001.png").read_bytes())
    shutil.copy(folder / "40X" / "SOB_B_A-14-10001AB-40-001.png", folder / "100X" / "SOB_B_A-14-10001AB-40-011.png")
    Image.fromarray(np.zeros((456, 700, 3), np.uint8)).save(folder / "40X" / "SOB_B_A-14-10001AB-40-012.png")
    dataset = read_dataset(root.parents[2])
    problems = "\n".join(dataset.problems)
    assert len(dataset.problems) == 5 and dataset.counts()["images"] == 193  # the 700x456 image is accepted
    assert "40-009.png: empty file" in problems and "40-010.png: not a readable image" in problems
    assert "notes.txt: not an image file" in problems and "scan 3.png: name does not follow" in problems
    assert "40-011.png: file of 40X in a 100X folder" in problems


def test_generic_folders_and_csv(tmp_path: Path) -> None:
    image = np.full((20, 30, 3), 120, np.uint8)
    for label, patient in (("tumour", "p1"), ("normal", "p2")):
        for magnification in ("10x", "40"):
            folder = tmp_path / "data" / label / patient / magnification
            folder.mkdir(parents=True)
            Image.fromarray(image).save(folder / ("a.png" if label == "tumour" else f"a_{magnification}.png"))
    dataset = read_dataset(tmp_path / "data")
    assert dataset.layout == "folders" and dataset.magnifications == ["10X", "40X"]
    assert dataset.labels == ["normal", "tumour"] and {s.key for s in dataset.samples} == {"p1/a", "p2/a"}
    table = tmp_path / "data" / "list.csv"
    table.write_text("path,label,patient,magnification\ntumour/p1/10x/a.png,tumour,p1,10X\nmissing.png,normal,p2,40X\n")
    listed = read_dataset(table)
    assert len(listed.samples) == 1 and listed.samples[0].magnification == "10X"
    assert listed.problems == ["list.csv line 3 (missing.png): file not found"]
    (tmp_path / "bad.csv").write_text("path,label\nx.png,a\n")
    with pytest.raises(InputError, match="missing: patient, magnification"):
        read_dataset(tmp_path / "bad.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no usable histology image"):
        read_dataset(tmp_path / "empty")


def test_scan_command_json(breakhis: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(breakhis.parents[2]), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert set(counts) == SCAN_KEYS and counts["images"] == 192 and counts["patients"] == 16
    assert main(["scan", str(breakhis / "nowhere"), "--json"]) == 2
    assert "neither a folder nor a .csv" in capsys.readouterr().err
