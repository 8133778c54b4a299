"""python -m trainers.contexts: the OUT.json contract, non-negative weights, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file

from trainers import contexts

RANKING = "blur,darken,hue,rotate,translate,zoom-in"


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("context-images")
    rng = np.random.default_rng(0)
    for index in range(2):
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((80, 60), Image.Resampling.BILINEAR).save(folder / f"photo{index}.png")
    return folder


def test_trainer_writes_metric_and_summary(image_folder: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "adapted.safetensors"
    status = contexts.main(["--ranking", RANKING, "--images", str(image_folder), "--backbone", "squeezenet1_1",
                            "--weights", "random", "--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "8",
                            "--passes", "2", "--test-crops", "1", "--out", str(out)])
    assert status == 0
    summary = json.loads((tmp_path / "adapted.json").read_text())
    assert summary["ranking"] == RANKING.split(",")
    assert 0 <= summary["before_accuracy"] <= 1 and 0 <= summary["after_accuracy"] <= 1
    assert len(summary["per_pair"]) == 15
    assert all(set(values) == {"before", "after"} for values in summary["per_pair"].values())
    assert summary["test_triplets"] == 30  # one held-out crop x 30 ordered pairs
    assert summary["backbone_weights"]["status"] == "random"
    assert len(summary["losses"]) == 2 * 2 * 2  # epochs x steps x passes
    weights = load_file(str(out))
    assert weights and all(bool((tensor >= 0).all()) for tensor in weights.values())
    assert '"after_accuracy"' in capsys.readouterr().out


def test_ranking_aliases_are_kept_as_given(image_folder: Path, tmp_path: Path) -> None:
    ranking = "color,zoom_in,blur,darken,rotate,translate"
    status = contexts.main(["--ranking", ranking, "--images", str(image_folder), "--backbone", "squeezenet1_1",
                            "--weights", "random", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4",
                            "--passes", "1", "--test-crops", "1", "--out", str(tmp_path / "m")])
    assert status == 0
    summary = json.loads((tmp_path / "m.json").read_text())
    assert summary["ranking"] == ranking.split(",") and summary["context"][0] == "hue"
    assert (tmp_path / "m.safetensors").is_file()


@pytest.mark.parametrize("ranking, message", [("blur,darken", "missing"),
                                              ("blur,blur,darken,hue,rotate,zoom", "repeated")])
def test_bad_rankings_fail_fast_with_status_2(ranking: str, message: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert contexts.main(["--ranking", ranking, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_unreadable_image_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert contexts.main(["--ranking", RANKING, "--images", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no readable image" in capsys.readouterr().err
