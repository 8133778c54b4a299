"""engine.video.scoring and ``python -m engine.video score``: windows, fusion, the worst window, every kind of file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.video.__main__ import main
from engine.video.labels import LEVELS
from engine.video.models import ModelConfig, fuse
from engine.video.rater import Rater
from engine.video.scoring import score, worst_row

CONTRACT = {"duration_s", "windows", "rating", "worst_window", "model", "has_audio"}


def probabilities(mapping: dict[str, float]) -> np.ndarray:
    return np.array([mapping[name] for name in LEVELS])


def test_a_clip_with_sound_is_rated_by_both_branches(media: dict[str, Path], random_rater: Rater) -> None:
    result = score(media["tone"], random_rater)
    output = result.to_json()
    assert CONTRACT <= set(output) and output["has_audio"] is True
    assert output["duration_s"] == pytest.approx(3.0, abs=0.1)
    [window] = output["windows"]
    assert (window["start_s"], window["end_s"]) == (0.0, output["duration_s"])
    video, audio, fused = (probabilities(window[key]) for key in ("video", "audio", "probabilities"))
    expected = fuse(torch.tensor(video[None]), torch.tensor(audio[None]), "product")[0].numpy()
    np.testing.assert_allclose(fused, expected, atol=2e-6)
    assert fused.sum() == pytest.approx(1.0, abs=1e-5)
    assert output["rating"] == LEVELS[int(fused.argmax())] == output["worst_window"]["rating"]
    assert any("RANDOM" in note for note in output["notes"]) and "RANDOM" in output["provenance"]


def test_the_fusion_rule_can_be_chosen_per_call(media: dict[str, Path], random_rater: Rater) -> None:
    window = score(media["tone"], random_rater, fusion="mean").windows[0]
    np.testing.assert_allclose(window.fused, (window.video + window.audio) / 2, atol=1e-6)
    with pytest.raises(InputError, match="Unknown fusion"):
        score(media["tone"], random_rater, fusion="vote")


def test_no_sound_means_the_picture_alone(media: dict[str, Path], random_rater: Rater) -> None:
    result = score(media["no_audio"], random_rater)
    assert not result.has_audio and result.windows[0].audio is None
    np.testing.assert_array_equal(result.windows[0].fused, result.windows[0].video)
    assert result.windows[0].pushed_by == "video (no audio)"
    assert any("No audio stream" in note for note in result.notes)


def test_digital_silence_is_flagged(media: dict[str, Path], random_rater: Rater) -> None:
    result = score(media["silent"], random_rater)
    assert result.has_audio and any("digital silence" in note for note in result.notes)
    assert not any("digital silence" in note for note in score(media["tone"], random_rater).notes)


def test_a_one_frame_clip_gives_one_window(media: dict[str, Path], random_rater: Rater) -> None:
    result = score(media["one_frame"], random_rater)
    assert len(result.windows) == 1 and result.windows[0].end_s == pytest.approx(0.04, abs=0.01)


def test_overlapping_windows_cover_a_longer_clip(media: dict[str, Path], random_rater: Rater) -> None:
    result = score(media["long"], random_rater, stride_s=5)
    assert [(w.start_s, w.end_s) for w in result.windows] == [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0), (15.0, 25.0)]
    assert result.stride_s == 5 and all(w.audio is not None for w in result.windows)
    assert result.worst.index == worst_row(result.probabilities("fused"))
    with pytest.raises(InputError, match="stride"):
        score(media["long"], random_rater, stride_s=0.5)


def test_a_truncated_file_is_rated_as_far_as_it_goes(media: dict[str, Path], random_rater: Rater) -> None:
    result = score(media["truncated"], random_rater)
    assert 0 < result.duration_s < 20.0 and any("truncated" in note for note in result.notes)


def test_rotated_and_odd_sized_files_are_rated(media: dict[str, Path], random_rater: Rater) -> None:
    for name in ("rotated", "odd", "vfr"):
        assert score(media[name], random_rater).windows


def test_the_kinetics_encoder_rates_too(media: dict[str, Path]) -> None:
    config = ModelConfig(visual_arch="r2plus1d_18", visual_weights="random", frame_size=32, frames_per_window=4,
                         audio_width=4)
    result = score(media["tone"], Rater.untrained(config))
    assert len(result.windows) == 1 and "r2plus1d_18: RANDOM" in result.provenance


def test_worst_row_takes_the_highest_level_then_the_most_confident() -> None:
    rows = np.array([[0.1, 0.2, 0.6, 0.1], [0.1, 0.1, 0.2, 0.6], [0.0, 0.1, 0.1, 0.8], [0.9, 0.1, 0.0, 0.0]])
    assert worst_row(rows) == 2
    assert worst_row(rows[[0, 3]]) == 0
    assert worst_row(np.array([[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0]])) == 0  # ties: the earliest
    with pytest.raises(InputError):
        worst_row(np.zeros((0, 4)))


def test_cli_prints_the_json_contract(media: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", str(media["no_audio"]), "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert CONTRACT <= set(output) and output["has_audio"] is False
    assert set(output["windows"][0]["probabilities"]) == set(LEVELS)
    assert output["model"] == "vidharm-untrained (RANDOM heads)" and "IMAGENET1K_V1" in output["provenance"]


def test_cli_reports_an_unreadable_file_in_one_line_with_status_2(media: dict[str, Path]) -> None:
    completed = subprocess.run([sys.executable, "-m", "engine.video", "score", str(media["corrupt"]), "--json"],
                               capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[3])
    assert completed.returncode == 2 and completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "corrupt.mp4" in lines[0]
