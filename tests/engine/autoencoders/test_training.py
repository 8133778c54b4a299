"""engine.autoencoders.training: cached features, a frozen loss network, wall-clock epochs, resume, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.autoencoders import training
from engine.autoencoders.data import ImageData
from engine.autoencoders.loss_networks import LossNetwork
from engine.autoencoders.training import AutoencoderConfig, load_trained, train_autoencoder
from engine.errors import InputError

SMALL = dict(loss_net="mobilenet_v2.block1", weights="random", batch_size=8, max_feature_dim=400)


class CountingLossNetwork:
    """A loss network that records the batch size of every call."""

    def __init__(self, inner: LossNetwork) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(images))
        return self.inner(images)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture()
def counting(random_mobilenet: LossNetwork, monkeypatch: pytest.MonkeyPatch) -> CountingLossNetwork:
    wrapper = CountingLossNetwork(random_mobilenet)
    monkeypatch.setattr(training, "_loss_network", lambda config, device: wrapper)
    return wrapper


def test_feature_prediction_runs_the_loss_network_only_to_fill_its_cache(scenes_64: ImageData,
                                                                        counting: CountingLossNetwork) -> None:
    trained = train_autoencoder(AutoencoderConfig(procedure="I-F-FP", epochs=2, **SMALL), scenes_64, show_bar=False)
    assert counting.calls == [len(scenes_64)]  # every image once, for the cache; no epoch runs it
    assert trained.layout is not None and trained.layout.dim <= 400 and trained.layout.side == 5


def test_perceptual_loss_runs_the_frozen_network_on_reconstructions_only(scenes_64: ImageData,
                                                                        counting: CountingLossNetwork) -> None:
    batchnorm = counting.inner.extractor.trunk[0][1]
    running = batchnorm.running_mean.clone()
    trained = train_autoencoder(AutoencoderConfig(procedure="I-I-PS", epochs=2, **SMALL), scenes_64, show_bar=False)
    assert counting.calls[0] == len(scenes_64)  # targets of the real images: cached once
    per_epoch = counting.calls[1:]
    assert sum(per_epoch) == 2 * len(scenes_64) and max(per_epoch) <= 8  # reconstructions (train + validation)
    assert torch.equal(batchnorm.running_mean, running) and not counting.inner.extractor.training
    assert not any(parameter.requires_grad for parameter in counting.inner.extractor.parameters())
    assert len(trained.epoch_seconds) == 2 and all(seconds > 0 for seconds in trained.epoch_seconds)
    assert len(trained.validation_losses) == 2


def test_pixel_training_lowers_the_loss(scenes_64: ImageData) -> None:
    trained = train_autoencoder(AutoencoderConfig(procedure="I-I-PW", epochs=3, lr=3e-3, **SMALL), scenes_64,
                                show_bar=False)
    losses = trained.history.losses
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert trained.loss_network is None and "no loss network" in trained.provenance
    embeddings = trained.embed(scenes_64.images, batch_size=10)
    assert embeddings.shape == (len(scenes_64), 64) and not embeddings.requires_grad


def test_resumed_training_ends_where_an_uninterrupted_run_ends(scenes_64: ImageData, tmp_path: Path) -> None:
    config = AutoencoderConfig(procedure="F-F-FP", epochs=2, **SMALL)
    straight = train_autoencoder(config, scenes_64, show_bar=False)
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    train_autoencoder(AutoencoderConfig(procedure="F-F-FP", epochs=1, **SMALL), scenes_64, checkpoint=checkpoint,
                      show_bar=False)
    resumed = train_autoencoder(config, scenes_64, checkpoint=checkpoint, resume=True, show_bar=False)
    assert len(resumed.history.epoch_metrics) == 2 and len(resumed.epoch_seconds) == 2
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value)


def test_a_saved_model_loads_back_with_the_same_outputs(scenes_64: ImageData, tmp_path: Path) -> None:
    trained = train_autoencoder(AutoencoderConfig(procedure="F-I-PW", epochs=1, gamma=0.01, **SMALL), scenes_64,
                                show_bar=False)
    trained.save(tmp_path)
    loaded = load_trained(tmp_path)
    assert loaded.model.variational and loaded.layout == trained.layout
    torch.testing.assert_close(loaded.decode(scenes_64.images[:3]), trained.decode(scenes_64.images[:3]))
    assert loaded.provenance == trained.provenance and "RANDOM" in loaded.provenance
    with pytest.raises(InputError, match="no trained autoencoder"):
        load_trained(tmp_path / "nothing")


@pytest.mark.parametrize("change, message", [({"epochs": 0}, "epochs"), ({"weights": "imagenet"}, "pretrained"),
                                             ({"procedure": "X"}, "Unknown procedure"), ({"gamma": -1.0}, "gamma")])
def test_bad_settings_are_refused_before_training(change: dict, message: str, scenes_64: ImageData) -> None:
    with pytest.raises(InputError, match=message):
        train_autoencoder(AutoencoderConfig(**{**SMALL, **change}), scenes_64, show_bar=False)
    with pytest.raises(InputError, match="at least 4 images"):
        train_autoencoder(AutoencoderConfig(procedure="I-I-PW", **SMALL), scenes_64.subset(torch.arange(3)),
                          show_bar=False)
