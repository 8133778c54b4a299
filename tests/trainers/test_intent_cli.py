"""``python -m trainers.intent``: trains from CSV, writes metrics.json with the contract's keys, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.intent import persistence
from engine.intent.selection import PIPELINES
from trainers import intent as trainer

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ("text,label\n" + "".join(f"{t},{label}\n" for t, label in [
    ("how do I upgrade ubuntu", "update"), ("upgrade to the new release", "update"),
    ("update all packages", "update"), ("install the latest updates", "update"),
    ("my printer does not print", "printer"), ("setup an hp printer", "printer"),
    ("printer driver missing", "printer"), ("add a network printer", "printer"),
    ("turn off the computer", "shutdown"), ("shut down from terminal", "shutdown"),
    ("power off automatically", "shutdown"), ("schedule a shutdown", "shutdown"),
]))
TEST = "text,label\nupgrade my system,update\nprinter is not detected,printer\nshutdown the pc,shutdown\n"


def test_cli_chooses_the_pipeline_and_writes_the_contract(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text(TRAIN)
    (tmp_path / "test.csv").write_text(TEST)
    out = tmp_path / "model"
    result = subprocess.run(
        [sys.executable, "-m", "trainers.intent", "--train", str(tmp_path / "train.csv"), "--test",
         str(tmp_path / "test.csv"), "--out", str(out), "--budget-s", "60"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"accuracy", "micro_f1", "weighted_f1", "selection", "selection_reason"} <= set(metrics)
    assert metrics["accuracy"] == metrics["micro_f1"] == 1.0 and metrics["n"] == 3
    assert f"micro_f1 {metrics['micro_f1']:.4f}" in result.stdout
    names = [row["pipeline"] for row in metrics["selection"]]
    assert names == list(PIPELINES[1:])
    for row in metrics["selection"]:
        assert {"pipeline", "cv_accuracy", "seconds", "status"} <= set(row)
        assert row["status"] in ("selected", "scored", "skipped") and row["seconds"] >= 0
    winner = [row for row in metrics["selection"] if row["status"] == "selected"]
    assert len(winner) == 1 and winner[0]["cv_accuracy"] == max(
        row["cv_accuracy"] for row in metrics["selection"] if row["cv_accuracy"] is not None)
    assert winner[0]["pipeline"] in metrics["selection_reason"] and "chosen:" in result.stdout
    curve = metrics["typo_robustness"]["model"]
    assert curve["rates"] == [0.0, 0.05, 0.1, 0.15, 0.2] and curve["accuracy"][0] == 1.0
    model = persistence.load(out / "model.safetensors")
    assert model.predict_labels(["upgrade my system"]) == ["update"]
    assert model.info.name == "model" and model.info.test["micro_f1"] == 1.0
    assert model.info.selection["winner"] == winner[0]["pipeline"] and model.temperature is not None


def test_named_pipeline_with_changed_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train.csv").write_text(TRAIN)
    out = tmp_path / "svm"
    assert trainer.main(["--train", str(tmp_path / "train.csv"), "--out", str(out), "--pipeline", "char-2-4",
                         "--ngram-max", "3", "--cv", "3"]) == 0
    model = persistence.load(out / "model.safetensors")
    assert model.config.ngram_range == (2, 3) and model.config.classifier == "linear_svm"
    assert model.info.selection is None and len(model.info.cv["folds"]) == 3 * 6  # at most 20 splits
    assert trainer.main(["--train", str(tmp_path / "train.csv"), "--out", str(out), "--ngram-max", "3"]) == 2
    assert "name it with --pipeline" in capsys.readouterr().err


@pytest.mark.parametrize(("content", "message"), [
    (b"sentence,intent\na,b\n", "line 1: the header must name"),
    (b"text,label\nhello,greet\nbye,\n", "line 3: empty label"),
    (b"text,label\nhello,greet\nhi,greet\n", "only one intent"),
    (b"text,label\nhello,greet\ncaf\xe9,order\n", "line 3: not UTF-8"),
])
def test_bad_training_files_exit_2_with_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 content: bytes, message: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    arguments = ["--train", str(bad), "--out", str(tmp_path / "out"), "--pipeline", "semhash", "--cv", "0"]
    assert trainer.main(arguments) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "model.safetensors").exists()
