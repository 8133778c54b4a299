"""Fine-tuning pieces: features computed once, the best validation epoch kept across a resume, linear probes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.errors import InputError
from engine.histology.dataset import read_dataset
from engine.histology.encoders import Encoder
from engine.histology.finetune import FeatureCache, FinetuneConfig, Head, ImageCache, _BestEpoch, parts_of, train_part
from engine.histology.splits import make_folds


def test_features_are_computed_once(breakhis: Path, tmp_path: Path) -> None:
    samples = read_dataset(breakhis).samples[:10]
    encoder = Encoder("mobilenet_v2", weights="random")
    seen: list[int] = []
    encoder.register_forward_hook(lambda module, inputs, output: seen.append(len(inputs[0])))
    images = ImageCache(32)
    cache = FeatureCache(tmp_path / "features.safetensors")
    first = cache(encoder, samples, images)
    assert first.shape == (10, 1280) and sum(seen) == 10
    assert (cache(encoder, samples[:4], images) == first[:4]).all() and sum(seen) == 10
    from_disk = FeatureCache(tmp_path / "features.safetensors")(encoder, samples, images)
    assert (from_disk == first).all() and sum(seen) == 10


def test_best_epoch_survives_a_resume(tmp_path: Path) -> None:
    module = torch.nn.Linear(2, 2)
    best = _BestEpoch(tmp_path / "x.best.pt", resume=False)
    best.offer((0.7, -0.5), module, 2)
    with torch.no_grad():
        module.weight.add_(1)
    best.offer((0.6, -0.1), module, 3)  # worse validation: not kept
    again = _BestEpoch(tmp_path / "x.best.pt", resume=True)
    assert again.epoch == 2 and again.score == (0.7, -0.5)
    assert torch.allclose(again.state["weight"], module.weight.detach() - 1, atol=1e-6)


def test_head_standardises_and_probe_trains(breakhis: Path) -> None:
    head = Head(3, 2)
    features = torch.tensor([[1.0, 10.0, 0.0], [3.0, 30.0, 0.0]])
    head.standardise(features)
    assert torch.allclose(head.mean, torch.tensor([2.0, 20.0, 0.0])) and head.std[2] == pytest.approx(1e-6)
    dataset = read_dataset(breakhis)
    part = parts_of(dataset, make_folds(dataset, 5, 0)[0], per_magnification=False)[0]
    config = FinetuneConfig(epochs=4, image_size=32)
    trained = train_part(part, lambda: Encoder("mobilenet_v2", weights="random"), dataset.labels, config,
                         ImageCache(32), FeatureCache(), show_bar=False)
    assert trained.probabilities.shape == (len(part.test), 2) and 1 <= trained.best_epoch <= 4
    assert len(trained.history.epoch_metrics) == 4 and "val_balanced_accuracy" in trained.history.epoch_metrics[0]
    with pytest.raises(InputError, match="label fraction"):
        FinetuneConfig(label_fraction=0)
