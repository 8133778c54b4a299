"""``python -m trainers.intent``: trains from CSV, writes metrics.json with the contract's keys, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.intent import persistence
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


def test_cli_trains_from_csv_and_writes_the_contract(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text(TRAIN)
    (tmp_path / "test.csv").write_text(TEST)
    out = tmp_path / "model"
    result = subprocess.run(
        [sys.executable, "-m", "trainers.intent", "--train", str(tmp_path / "train.csv"), "--test",
         str(tmp_path / "test.csv"), "--out", str(out), "--cv", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"accuracy", "micro_f1", "weighted_f1"} <= set(metrics)
    assert metrics["accuracy"] == metrics["micro_f1"] == 1.0 and metrics["n"] == 3
    assert f"micro_f1 {metrics['micro_f1']:.4f}" in result.stdout
    assert len(metrics["cv_accuracy"]["folds"]) == 3
    model = persistence.load(out / "model.safetensors")
    assert model.predict_labels(["upgrade my system"]) == ["update"]
    assert model.info.name == "model" and model.info.test["micro_f1"] == 1.0


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
    assert trainer.main(["--train", str(bad), "--out", str(tmp_path / "out"), "--cv", "0"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "model.safetensors").exists()
