"""python -m trainers.histology: the finetune and demo contracts, pretrain, evaluate, resume and errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from engine.histology.dataset import read_dataset
from engine.histology.synthetic import write_breakhis_fixture
from trainers import histology


@pytest.fixture(scope="module")
def breakhis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_breakhis_fixture(tmp_path_factory.mktemp("breakhis"))


def test_finetune_writes_the_split_and_metrics_contract(breakhis: Path, tmp_path: Path) -> None:
    out = tmp_path / "ft"
    assert histology.main(["finetune", "--data", str(breakhis), "--epochs", "3", "--folds", "1", "--out", str(out),
                           "--image-size", "32", "--checkpoint-dir", str(tmp_path / "ck")]) == 0
    with (out / "split.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["path", "patient", "split"] and len(rows) == 192
    parts: dict[str, set[str]] = {}
    groups: dict[str, set[str]] = {}
    dataset = read_dataset(breakhis)
    group_of = {s.relative: s.group for s in dataset.samples}
    for row in rows:
        parts.setdefault(row["patient"], set()).add(row["split"])
        groups.setdefault(group_of[row["path"]], set()).add(row["split"])
    assert all(len(found) == 1 for found in parts.values()) and all(len(found) == 1 for found in groups.values())
    assert {row["split"] for row in rows} == {"train", "val", "test"}
    summary = json.loads((out / "metrics.json").read_text())
    assert 0 <= summary["ila_mean"] <= 1 and 0 <= summary["pla_mean"] <= 1
    assert set(summary["per_magnification"]) == {"40X", "100X", "200X", "400X"}
    for values in summary["per_magnification"].values():
        assert 0 <= values["ila"] <= 1 and 0 <= values["pla"] <= 1
    mean = sum(v["ila"] for v in summary["per_magnification"].values()) / 4
    assert summary["ila_mean"] == pytest.approx(mean)
    with (out / "predictions.csv").open() as handle:
        predicted = list(csv.DictReader(handle))
    test_rows = [row for row in rows if row["split"] == "test"]
    assert len(predicted) == len(test_rows)
    right = sum(row["label"] == row["predicted"] for row in predicted if row["magnification"] == "40X")
    assert summary["per_magnification"]["40X"]["ila"] == pytest.approx(
        right / sum(row["magnification"] == "40X" for row in predicted))
    assert "MPCS-OP (ResNet-50)" in (out / "comparison.md").read_text()
    # evaluate the saved classifier on the same test patients: the same figures, with the test run once
    assert histology.main(["evaluate", "--data", str(breakhis), "--model", str(out / "model.safetensors"),
                           "--split", str(out / "split.csv"), "--out", str(tmp_path / "ev")]) == 0
    again = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert again["ila_mean"] == pytest.approx(summary["ila_mean"]) and again["pla_mean"] == pytest.approx(
        summary["pla_mean"])


def test_demo_writes_the_retrieval_contract(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert histology.main(["demo", "--epochs", "1", "--out", str(out), "--image-size", "32", "--batch-size", "16",
                           "--trainable-blocks", "2"]) == 0
    summary = json.loads((out / "retrieval.json").read_text())
    for key in ("imagenet_top1", "mpcs_top1", "imagenet_top5", "mpcs_top5"):
        assert 0 <= summary[key] <= 1
    assert summary["imagenet_top5"] >= summary["imagenet_top1"] and summary["mpcs_top5"] >= summary["mpcs_top1"]
    assert len(summary["per_pair"]) == 12 and summary["heldout_regions"] > 20
    assert len(summary["losses"]) == summary["training_regions"] // 16
    assert (out / summary["encoder_files"][0]).is_file()


def test_pretrain_then_finetune_with_its_encoder_and_split(breakhis: Path, tmp_path: Path) -> None:
    pre = tmp_path / "pre"
    assert histology.main(["pretrain", "--data", str(breakhis), "--epochs", "1", "--batch-size", "8",
                           "--image-size", "32", "--trainable-blocks", "1", "--out", str(pre)]) == 0
    record = json.loads((pre / "pretrain.json").read_text())
    training = {row["patient"] for row in csv.DictReader((pre / "split.csv").open()) if row["split"] == "train"}
    assert record["patients"] == len(training) and record["keys"] == 3 * len(training)
    out = tmp_path / "ft"
    assert histology.main(["finetune", "--data", str(breakhis), "--encoder", str(pre / "encoder.safetensors"),
                           "--split", str(pre / "split.csv"), "--epochs", "1", "--image-size", "32", "--agnostic",
                           "--task", "subtype", "--out", str(out)]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert "encoder.safetensors" in summary["encoder"] and summary["config"]["per_magnification"] is False
    assert len(summary["classes"]) == 8 and summary["classes"][0] == "adenosis"
    assert set(summary["per_magnification"]) == {"40X", "100X", "200X", "400X"}  # one model, reported per magnification
    assert (out / "split.csv").read_text() == (pre / "split.csv").read_text()


def test_errors_exit_with_status_2(breakhis: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert histology.main(["finetune", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "neither a folder nor a .csv" in capsys.readouterr().err
    assert histology.main(["demo", "--out", str(tmp_path / "d"), "--resume"]) == 2
    assert "--resume needs --checkpoint-dir" in capsys.readouterr().err
    assert histology.main(["finetune", "--data", str(breakhis), "--folds", "9", "--out", str(tmp_path / "o")]) == 2
    assert "between 1 and 5 folds" in capsys.readouterr().err
