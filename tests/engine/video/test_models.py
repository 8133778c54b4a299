"""engine.video.models: fusion rules (known answers), network shapes, configuration checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import InputError, WeightsError
from engine.video.models import (
    AudioCNN,
    FrameEncoder,
    FusionHead,
    KineticsEncoder,
    ModelConfig,
    VisualHead,
    audio_resnet18,
    fuse,
)

VIDEO = torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]])
AUDIO = torch.tensor([[0.1, 0.1, 0.1, 0.7], [0.1, 0.1, 0.1, 0.7]])


def test_product_fusion_multiplies_and_renormalises() -> None:
    fused = fuse(VIDEO, AUDIO, "product")
    expected = VIDEO * AUDIO / (VIDEO * AUDIO).sum(dim=1, keepdim=True)
    torch.testing.assert_close(fused, expected)
    assert fused[1].argmax() == 3  # an unsure picture leaves the decision to the sound
    # "only from both": each narrows to two levels, the product to one
    picture, sound = torch.tensor([[0.5, 0.5, 0.0, 0.0]]), torch.tensor([[0.0, 0.5, 0.0, 0.5]])
    assert fuse(picture, sound, "product")[0].argmax() == 1


def test_mean_and_max_fusion() -> None:
    torch.testing.assert_close(fuse(VIDEO, AUDIO, "mean"), (VIDEO + AUDIO) / 2)
    # max: the modality whose expected level is higher (audio here: 2.4 vs 0.6 and 2.4 vs 1.5)
    torch.testing.assert_close(fuse(VIDEO, AUDIO, "max"), AUDIO)
    torch.testing.assert_close(fuse(AUDIO, VIDEO, "max"), AUDIO)


def test_without_sound_every_rule_returns_the_picture() -> None:
    for rule in ("product", "mean", "max", "learned"):
        assert fuse(VIDEO, None, rule) is VIDEO


def test_learned_fusion_needs_a_head_and_outputs_probabilities() -> None:
    with pytest.raises(InputError, match="no learned fusion head"):
        fuse(VIDEO, AUDIO, "learned")
    fused = fuse(VIDEO, AUDIO, "learned", FusionHead())
    assert fused.shape == (2, 4) and torch.allclose(fused.sum(dim=1), torch.ones(2))
    with pytest.raises(InputError, match="Unknown fusion"):
        fuse(VIDEO, AUDIO, "vote")


def test_audio_cnn_takes_any_length_and_keeps_frequency_layout() -> None:
    network = AudioCNN(128, width=4).eval()
    for frames in (32, 300, 627):
        assert network(torch.randn(2, 1, 128, frames)).shape == (2, 4)
    assert network.classifier[1].in_features == 2 * 32 * 8  # channels x frequency cells, mean and max
    assert audio_resnet18()(torch.randn(1, 1, 128, 64)).shape == (1, 4)


def test_frame_encoder_pools_over_time() -> None:
    encoder = FrameEncoder(weights="random")
    assert encoder.info.is_random
    features = encoder.frame_features(torch.randint(0, 255, (3, 32, 32, 3), dtype=torch.uint8).numpy())
    assert features.shape == (3, 1280)
    still = encoder.clip_embedding(features[:1].repeat(4, 1)[None])
    assert still.shape == (1, 3840)
    torch.testing.assert_close(still[0, :1280], features[0])  # mean of identical frames
    assert float(still[0, 2560:].abs().max()) == 0.0  # no change over time
    moving = encoder.clip_embedding(features[None])
    torch.testing.assert_close(moving[0, 2560:], (features[1:] - features[:-1]).abs().mean(dim=0))
    assert VisualHead(3840)(moving).shape == (1, 4)


def test_kinetics_encoder_embeds_clips_of_frames() -> None:
    encoder = KineticsEncoder(weights="random")
    frames = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    kept = encoder.frame_features(frames)
    assert kept.dtype == torch.uint8 and kept.shape == (4, 32, 32, 3)  # frames are kept for the 3-D network
    assert encoder.clip_embedding(kept[None]).shape == (1, 512)


def test_missing_kinetics_weights_say_how_to_add_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match="engine.weights add r2plus1d_18-91a641e6.pth"):
        KineticsEncoder()


@pytest.mark.parametrize("changes, message", [({"visual_arch": "slowfast"}, "visual encoder"),
                                              ({"audio_arch": "vggish"}, "audio network"),
                                              ({"fusion": "vote"}, "fusion rule"),
                                              ({"frame_size": 4}, "frame_size")])
def test_bad_configs_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        ModelConfig(**changes)


def test_each_encoder_brings_its_natural_sampling() -> None:
    assert (ModelConfig.for_arch("r2plus1d_18").frame_size, ModelConfig.for_arch("r2plus1d_18").frames_per_window) \
        == (112, 16)
    assert ModelConfig.for_arch("mobilenet_v2", frame_size=96, frames_per_window=None).frames_per_window == 8
    assert ModelConfig.from_dict({**ModelConfig().to_dict(), "unknown": 1}) == ModelConfig()
