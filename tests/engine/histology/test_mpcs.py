"""MPCS pair strategies, NT-Xent (against lightly's), projector, pair dataset and a short pretraining."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.histology.dataset import MAGNIFICATIONS, read_dataset
from engine.histology.mpcs import (
    FileKeys,
    PairDataset,
    PretrainConfig,
    Projector,
    augmentation,
    choose_pair,
    nt_xent,
    pretrain,
    usable_keys,
)

ALL = list(MAGNIFICATIONS)


def _draws(strategy: str, available: list[str], reference_bias: bool = False, n: int = 4000) -> Counter:
    rng = np.random.default_rng(0)
    return Counter(choose_pair(available, strategy, rng, reference_bias) for _ in range(n))


def test_pair_strategies() -> None:
    assert set(_draws("fixed", ALL, n=50)) == {("200X", "400X")}
    ordered = _draws("ordered", ALL)
    assert set(ordered) == {("40X", "100X"), ("100X", "200X"), ("200X", "400X")}
    assert ordered[("200X", "400X")] / 4000 == pytest.approx(1 / 3, abs=0.03)
    biased = _draws("ordered", ALL, reference_bias=True)
    assert biased[("200X", "400X")] / 4000 == pytest.approx(1 / 2, abs=0.03)  # the reference's k=2,3
    assert set(_draws("ordered", ["40X", "200X", "400X"])) == {("40X", "200X"), ("200X", "400X")}
    random_pairs = _draws("random", ALL, n=6000)
    assert len(random_pairs) == 12 and all(a != b for a, b in random_pairs)
    assert max(random_pairs.values()) / min(random_pairs.values()) < 1.3
    with pytest.raises(InputError, match="needs 200X and 400X"):
        choose_pair(["40X", "100X"], "fixed", np.random.default_rng(0))


def test_nt_xent_matches_lightly_and_the_asymmetric_formula() -> None:
    from lightly.loss import NTXentLoss

    generator = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 16, generator=generator), torch.randn(6, 16, generator=generator)
    ours = nt_xent(z1, z2, temperature=0.1)
    assert float(ours) == pytest.approx(float(NTXentLoss(temperature=0.1)(z1, z2)), rel=1e-5)
    a, b = torch.nn.functional.normalize(z1, dim=1), torch.nn.functional.normalize(z2, dim=1)
    everything = torch.cat([a, b])
    expected = []
    for i in range(6):  # anchors of view 1 only; denominator: all 12 embeddings but the anchor
        logits = everything @ a[i] / 0.1
        expected.append(-logits[6 + i] + torch.logsumexp(torch.cat([logits[:i], logits[i + 1:]]), 0))
    assert float(nt_xent(z1, z2, 0.1, symmetric=False)) == pytest.approx(float(torch.stack(expected).mean()), rel=1e-5)
    aligned = nt_xent(z1, z1 + 0.01 * z2, 0.1)
    assert float(aligned) < float(ours)


def test_projector_gives_unit_vectors() -> None:
    projector = Projector(32).train()
    out = projector(torch.randn(8, 32))
    assert out.shape == (8, 128) and torch.allclose(out.norm(dim=1), torch.ones(8), atol=1e-5)
    assert isinstance(projector.layers[-1], torch.nn.BatchNorm1d) and not projector.layers[-1].affine
    assert not isinstance(Projector(32, final_bn=False).layers[-1], torch.nn.BatchNorm1d)


def test_augmentation_keeps_range_and_size() -> None:
    torch.manual_seed(0)
    out = augmentation(24)(torch.rand(3, 30, 40))
    assert out.shape == (3, 24, 24) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_pair_dataset_is_deterministic_per_epoch(breakhis: Path) -> None:
    keys = FileKeys.from_dataset(read_dataset(breakhis), size=24)
    assert len(keys.keys) == 48  # 16 patient folders x 3 sequence numbers, each at all four magnifications
    dataset = PairDataset(keys, "random", 24, seed=5)
    first, again = dataset[3], dataset[3]
    assert all(torch.equal(x, y) for x, y in zip(first, again)) and first[0].shape == (3, 24, 24)
    dataset.epoch = 1
    assert not torch.equal(dataset[3][0], first[0])
    assert len(usable_keys(keys, "fixed")) == len(keys.keys)
    with pytest.raises(InputError, match="present at 5 or more"):
        FileKeys.from_dataset(read_dataset(breakhis), size=24, min_magnifications=5)


def test_pretraining_lowers_the_loss_and_resumes(breakhis: Path, tmp_path: Path) -> None:
    keys = FileKeys.from_dataset(read_dataset(breakhis), size=32)
    config = PretrainConfig(epochs=3, batch_size=8, image_size=32, lr=3e-4, trainable_blocks=3,
                            warmup_epochs=0)
    checkpoint = tmp_path / "mpcs.pt"
    result = pretrain(keys, config, checkpoint=checkpoint, show_bar=False)
    losses = result.history.losses
    assert len(losses) == 3 * (48 // 8) and np.mean(losses[-6:]) < np.mean(losses[:6])
    frozen = [p.requires_grad for p in result.model.encoder.trunk[:-3].parameters()]
    assert not any(frozen)
    resumed = pretrain(keys, config, checkpoint=checkpoint, resume=True, show_bar=False)
    assert resumed.history.losses == losses  # nothing left to train: the history comes back from the checkpoint
