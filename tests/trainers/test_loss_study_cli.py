"""``python -m trainers.loss_study``: a resumable CSV, both plots, the claims stated, clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine.similarity.bapps import write_synthetic
from trainers import loss_study


def test_a_small_sweep_writes_results_plots_and_claims_and_resumes(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bapps = write_synthetic(tmp_path / "bapps", count=3, size=32, seed=1)
    out = tmp_path / "study"
    arguments = ["--layers", "mobilenet_v2.block6,mobilenet_v2.block13", "--tasks", "autoencoding,similarity",
                 "--bapps", str(bapps), "--weights", "random", "--procedure", "I-F-FP", "--images", "12",
                 "--eval-images", "20", "--epochs", "1", "--batch-size", "6", "--predictor-epochs", "10",
                 "--patience", "3", "--out", str(out)]
    assert loss_study.main(arguments) == 0
    printed = capsys.readouterr().out
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    measured = {(row["layer"], row["task"], row["metric"]) for row in rows}
    assert measured == {(layer, "autoencoding", metric) for layer in ("block6", "block13")
                        for metric in ("position_error", "class_accuracy")} | {
        ("block6", "similarity", "2afc"), ("block13", "similarity", "2afc")}
    assert {row["depth"] for row in rows} == {"1", "2"} and all(row["random"] == "True" for row in rows)
    for name in ("by_architecture.png", "by_layer.png", "claims.json", "summary.md"):
        assert (out / name).is_file()
    assert "Later layers are not reliably better" in printed and "not testable" in printed
    assert "held" in (out / "summary.md").read_text()
    assert loss_study.main(arguments) == 0  # everything measured: nothing is trained again
    with (out / "results.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)


def test_unknown_tasks_and_layers_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert loss_study.main(["--layers", "alexnet.relu7", "--out", str(tmp_path)]) == 2
    assert "no layer 'relu7'" in capsys.readouterr().err
    assert loss_study.main(["--archs", "alexnet", "--tasks", "detection", "--out", str(tmp_path)]) == 2
    assert "Unknown task detection" in capsys.readouterr().err
