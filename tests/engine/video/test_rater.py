"""engine.video.rater: save and load round trips exactly; bad folders and other encoder weights are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.errors import InputError, WeightsError
from engine.video.models import FusionHead, ModelConfig
from engine.video.rater import Rater, read_record, record_is_real

TRAINING = {"data": "somewhere", "synthetic": True, "clips": {"train": 3}}


def test_a_saved_rater_loads_with_identical_outputs(tmp_path: Path, small_config: ModelConfig) -> None:
    rater = Rater.untrained(small_config)
    rater.fusion_head = FusionHead()
    rater.save(tmp_path / "rater", TRAINING)
    loaded = Rater.load(tmp_path / "rater")
    assert loaded.config == small_config and loaded.training == TRAINING and loaded.synthetic
    torch.manual_seed(0)
    embeddings, spectrograms = torch.randn(2, 3840), torch.randn(2, 128, 40)
    for first, second in ((rater, loaded),):
        torch.testing.assert_close(first.video_probabilities(embeddings), second.video_probabilities(embeddings))
        torch.testing.assert_close(first.audio_probabilities(spectrograms), second.audio_probabilities(spectrograms))
        video, audio = first.video_probabilities(embeddings), first.audio_probabilities(spectrograms)
        torch.testing.assert_close(first.fuse(video, audio, "learned"), second.fuse(video, audio, "learned"))
    assert "SYNTHETIC" in loaded.provenance() and any("synthetic" in note for note in loaded.notes())


def test_a_rater_without_sound_rates_by_picture(tmp_path: Path, small_config: ModelConfig) -> None:
    rater = Rater.untrained(small_config)
    rater.audio_net = None
    rater.save(tmp_path / "mute", TRAINING)
    loaded = Rater.load(tmp_path / "mute")
    assert loaded.audio_net is None
    with pytest.raises(InputError, match="no audio branch"):
        loaded.audio_probabilities(torch.randn(1, 128, 40))


def test_records_say_whether_a_rater_learned_from_real_clips(tmp_path: Path, small_config: ModelConfig) -> None:
    Rater.untrained(small_config).save(tmp_path / "r", TRAINING)
    record = read_record(tmp_path / "r")
    assert not record_is_real(record)  # synthetic clips, random encoder
    record["training"]["synthetic"] = False
    assert not record_is_real(record)  # still a random encoder
    record["config"]["visual_weights"] = "pretrained"
    assert record_is_real(record)


def test_folders_that_are_not_raters_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a trained rater"):
        Rater.load(tmp_path)
    (tmp_path / "model.json").write_text("{\"format\": \"other\"}")
    (tmp_path / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a rater record"):
        Rater.load(tmp_path)


def test_heads_refuse_other_encoder_weights(tmp_path: Path) -> None:
    rater = Rater.untrained(ModelConfig())  # pretrained MobileNetV2
    rater.save(tmp_path / "r", {**TRAINING, "synthetic": False})
    record = json.loads((tmp_path / "r" / "model.json").read_text())
    record["encoder"]["sha256"] = "0" * 64
    (tmp_path / "r" / "model.json").write_text(json.dumps(record))
    with pytest.raises(WeightsError, match="do not fit other weights"):
        _ = Rater.load(tmp_path / "r").encoder
