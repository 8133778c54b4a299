"""python -m trainers.vidharm on the synthetic set: the metrics.json contract, each branch learning its cue,
fusion needing both, the saved rater used by ``engine.video score --model``, resume, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.video.__main__ import main as video_main
from tests.video_data import shared_synthetic_set
from trainers import vidharm

FAST = ["--frame-size", "128", "--frames-per-window", "4", "--audio-width", "8", "--seed", "0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The synthetic set and a rater trained on it for 20 epochs."""
    data = shared_synthetic_set(tmp_path_factory)
    out = tmp_path_factory.mktemp("vidharm-rater") / "rater"
    status = vidharm.main(["--data", str(data), "--epochs", "20", "--out", str(out), *FAST,
                           "--cache-dir", str(out.parent / "features")])
    assert status == 0
    return data, out


def test_metrics_follow_the_contract(trained: tuple[Path, Path]) -> None:
    _, out = trained
    metrics = json.loads((out / "metrics.json").read_text())
    for modality in ("video", "audio", "fused"):
        scores = metrics["test"][modality]
        assert {"accuracy", "mean_class_accuracy", "confusion"} <= set(scores)
        assert len(scores["confusion"]) == 4 and all(len(row) == 4 for row in scores["confusion"])
        assert sum(map(sum, scores["confusion"])) == scores["n"] == 24
        assert 0 <= scores["mean_class_accuracy"] <= 1
    assert set(metrics["test"]["fusion_rules"]) == {"product", "mean", "max", "learned"}
    assert metrics["data"]["train"]["clips"] == 36
    assert (out / "model.safetensors").is_file() and (out / "curves-audio.png").is_file()


def test_each_branch_learns_its_cue_and_only_fusion_gets_both(trained: tuple[Path, Path]) -> None:
    _, out = trained
    by_cue = json.loads((out / "metrics.json").read_text())["test"]["by_tag"]
    assert by_cue["picture"]["video"] >= 0.75 and by_cue["sound"]["audio"] >= 0.75  # each branch reads its cue
    assert by_cue["sound"]["video"] <= 0.5 and by_cue["picture"]["audio"] <= 0.5  # and not the other's
    assert by_cue["joint"]["video"] <= 0.625 and by_cue["joint"]["audio"] <= 0.625  # each alone: 2 levels of 4
    assert by_cue["joint"]["fused"] >= 0.75  # the product of both resolves the level
    test = json.loads((out / "metrics.json").read_text())["test"]
    assert test["fused"]["accuracy"] >= max(test["video"]["accuracy"], test["audio"]["accuracy"]) + 0.15


def test_the_saved_rater_scores_a_clip(trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, out = trained
    clip = next((data / "clips").glob("*.mp4"))
    assert video_main(["score", str(clip), "--model", str(out), "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["model"] == str(out) and len(output["windows"]) == 1 and output["has_audio"]
    assert "SYNTHETIC" in output["provenance"] and not any("RANDOM" in note for note in output["notes"])


def test_resume_reuses_the_finished_stages(trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, out = trained
    again = out.parent / "again"
    status = vidharm.main(["--data", str(data), "--epochs", "20", "--out", str(again), *FAST, "--resume",
                           "--checkpoint-dir", str(out / "checkpoints"), "--cache-dir", str(out.parent / "features")])
    assert status == 0
    first, second = (json.loads((folder / "metrics.json").read_text())["test"] for folder in (out, again))
    assert first == second


def test_unusable_data_fails_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert vidharm.main(["--data", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no train.json" in capsys.readouterr().err
    (tmp_path / "labels.txt").write_text("x")
    assert vidharm.main(["--data", str(tmp_path / "labels.txt"), "--out", str(tmp_path / "out")]) == 2
    assert "neither a folder" in capsys.readouterr().err
