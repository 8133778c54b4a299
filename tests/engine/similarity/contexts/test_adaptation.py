"""Context adaptation: labels for every ordered pair, frozen sets, the fast lin path, BN, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.backbones import FeatureExtractor
from engine.registry import Registry
from engine.similarity.contexts.evaluate import ranking_accuracy, triplet_distances, triplet_statistics
from engine.similarity.contexts.model import ChannelStatistics, ContextModel, twoafc_scores
from engine.similarity.contexts.storage import load_summary, register_adapted, save_adapted
from engine.similarity.contexts.triplets import (
    NAMES,
    ORDERED_PAIRS,
    TripletSampler,
    frozen_triplets,
    judge_for,
)
from engine.similarity.metric import DeepPerceptualSimilarity, build_metric

CONTEXT = ("blur", "darken", "hue", "rotate", "translate", "zoom-in")


@pytest.fixture(scope="module")
def sources() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.nn.functional.interpolate(torch.rand(1, 3, 12, 16, generator=generator), size=(60, 80),
                                            mode="bilinear")[0].clamp(0, 1) for _ in range(2)]


def random_metric(variant_backbone: str = "mobilenet_v2") -> DeepPerceptualSimilarity:
    return DeepPerceptualSimilarity(FeatureExtractor(variant_backbone, weights="random", seed=0))


def test_labels_for_every_ordered_pair() -> None:
    pairs = torch.tensor(ORDERED_PAIRS)
    assert len(pairs) == 30 and len(set(ORDERED_PAIRS)) == 30
    judge = judge_for(pairs, CONTEXT)
    for (a, b), label in zip(ORDERED_PAIRS, judge.tolist()):
        p0_more_similar = CONTEXT.index(NAMES[a]) < CONTEXT.index(NAMES[b])
        assert label == (0.0 if p0_more_similar else 1.0)
    assert torch.equal(judge_for(pairs, tuple(reversed(CONTEXT))), 1 - judge)  # the opposite context flips all
    assert judge.sum() == 15


def test_sampler_is_fresh_per_call_and_seeded(sources: list[torch.Tensor]) -> None:
    first, second = TripletSampler(sources, CONTEXT, size=32, seed=3), TripletSampler(sources, CONTEXT, size=32, seed=3)
    a, b = first(8), second(8)
    assert torch.equal(a.p0, b.p0) and torch.equal(a.judge, b.judge)  # seeded
    assert not torch.equal(first(8).reference, a.reference)  # every read draws anew
    assert a.reference.shape == (8, 3, 32, 32) and torch.equal(a.judge, judge_for(a.pairs, CONTEXT))
    assert (a.pairs[:, 0] != a.pairs[:, 1]).all()


def test_frozen_set_covers_every_pair_per_crop_and_is_reproducible(sources: list[torch.Tensor]) -> None:
    frozen = frozen_triplets(sources, crops_per_source=2, size=32, seed=7)
    assert len(frozen) == 2 * 2 * 30 and frozen.judge is None
    assert torch.equal(frozen.p1, frozen_triplets(sources, crops_per_source=2, size=32, seed=7).p1)
    for crop in range(4):
        block = frozen.pairs[crop * 30:(crop + 1) * 30]
        assert sorted(map(tuple, block.tolist())) == sorted(ORDERED_PAIRS)
        assert (frozen.reference[crop * 30:(crop + 1) * 30] == frozen.reference[crop * 30]).all()


def test_ranking_accuracy_known_answers() -> None:
    pairs = torch.tensor(ORDERED_PAIRS)
    rank = torch.tensor([CONTEXT.index(name) for name in NAMES], dtype=torch.float32)
    perfect = ranking_accuracy(rank[pairs[:, 0]], rank[pairs[:, 1]], pairs, CONTEXT)  # distance = context rank
    assert perfect.overall == 1.0 and torch.isnan(torch.tensor(perfect.per_pair.diagonal())).all()
    inverted = ranking_accuracy(-rank[pairs[:, 0]], -rank[pairs[:, 1]], pairs, CONTEXT)
    assert inverted.overall == 0.0
    tied = ranking_accuracy(torch.zeros(30), torch.zeros(30), pairs, CONTEXT)
    assert tied.overall == 0.5 and len(tied.pair_dict()) == 15
    assert twoafc_scores(torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([0.2])).item() == pytest.approx(0.8)


def test_channel_statistics_reproduce_the_metric_exactly(sources: list[torch.Tensor]) -> None:
    model = ContextModel(random_metric(), "lin")
    with torch.no_grad():
        for weight in model.heads.weights:
            weight.copy_(torch.rand(weight.shape, generator=torch.Generator().manual_seed(weight.numel())))
    model.eval()
    triplets = frozen_triplets(sources, crops_per_source=1, size=32)
    d0, d1 = triplet_distances(model.metric, triplets)
    s0, s1 = triplet_statistics(model.metric, triplets)
    weights = torch.cat(list(model.heads.weights)).detach()
    assert torch.allclose(s0 @ weights, d0, rtol=1e-4, atol=1e-6) and torch.allclose(s1 @ weights, d1, rtol=1e-4)
    fast_d0, _, _ = model(ChannelStatistics(s0, s1, torch.zeros(len(s0))))
    assert torch.allclose(fast_d0, d0, rtol=1e-4, atol=1e-6)


def test_lin_training_learns_a_separable_context_with_non_negative_weights() -> None:
    # synthetic statistics: channel 0 alone decides the order; a learnable truth for non-negative weights
    generator = torch.Generator().manual_seed(0)
    s0, s1 = torch.rand(512, 6, generator=generator), torch.rand(512, 6, generator=generator)
    judge = (s0[:, 0] > s1[:, 0]).float()  # p1 more similar when its channel-0 difference is smaller
    model = ContextModel(DeepPerceptualSimilarity(FeatureExtractor("alexnet", ["relu1"], weights="random")), "lin")
    model.metric.heads.weights = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(6))])
    statistics = ChannelStatistics(s0, s1, judge)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    before = twoafc_scores(s0.sum(1), s1.sum(1), judge).mean()
    model.train()
    for _ in range(40):
        for batch in statistics.batches(128, generator):
            loss = ContextModel.loss(*model(batch), batch.judge, sync="always")["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.clamp_()
    weights = model.heads.weights[0].detach()
    model.eval()
    d0, d1, _ = model(statistics)
    assert (weights >= 0).all() and (weights[1:] < 0.2 * weights[0]).all()
    assert twoafc_scores(d0, d1, judge).mean() > max(0.95, float(before) + 0.2)  # 0.965-0.998 over dropout seeds


def test_backbone_stays_in_eval_mode_and_batchnorm_does_not_drift(sources: list[torch.Tensor]) -> None:
    model = ContextModel(random_metric("mobilenet_v2"), "tune")
    norms = [m for m in model.metric.extractor.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in norms]
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    assert any(p.requires_grad for p in model.metric.extractor.parameters())  # tune trains the backbone
    model.train()
    triplets = TripletSampler(sources, CONTEXT, size=32, seed=0)(6)
    trunk_before = next(model.metric.extractor.parameters()).detach().clone()
    loss = ContextModel.loss(*model(triplets), triplets.judge, sync="always")["loss"]
    loss.backward()
    optimizer.step()
    assert not model.metric.extractor.training and model.metric.heads.training
    assert all(torch.equal(m.running_mean, b) for m, b in zip(norms, before))
    assert not torch.equal(next(model.metric.extractor.parameters()), trunk_before)
    assert not any(p.requires_grad for p in ContextModel(random_metric(), "lin").metric.extractor.parameters())


@pytest.mark.parametrize("variant", ["lin", "tune"])
def test_save_load_round_trip_gives_the_same_distances(variant: str, sources: list[torch.Tensor],
                                                       tmp_path: Path) -> None:
    model = ContextModel(random_metric("squeezenet1_1"), variant)  # type: ignore[arg-type]
    with torch.no_grad():
        for weight in model.heads.weights:
            weight.uniform_(0, 2)
        if variant == "tune":
            next(model.metric.extractor.parameters()).mul_(1.5)
    model.eval()
    triplets = frozen_triplets(sources, crops_per_source=1, size=32)
    expected = triplet_distances(model.metric, triplets)
    summary = save_adapted(model, tmp_path / "adapted", {"ranking": list(CONTEXT), "before_accuracy": 0.5,
                                                         "after_accuracy": 0.7})
    assert summary == tmp_path / "adapted.json" and (tmp_path / "adapted.safetensors").is_file()
    config, record = load_summary(summary)
    assert record["ranking"] == list(CONTEXT) and record["variant"] == variant
    assert record["backbone_weights"]["status"] == "random"  # provenance travels with the metric
    loaded = build_metric(config)
    assert torch.allclose(triplet_distances(loaded, triplets)[0], expected[0], rtol=1e-5)
    registry = Registry()
    spec = register_adapted(registry, summary)
    assert spec.name == "context:adapted" and spec.task == "similarity-metric"
    assert "0.500 -> 0.700" in spec.description and not registry.is_loaded(spec.name)


def test_difficulty_ranks_the_hardest_pairs_before_and_after() -> None:
    from engine.similarity.contexts.evaluate import RankingAccuracy, difficulty

    before = torch.linspace(0.1, 0.95, 15).tolist()  # pair k has accuracy before[k]
    matrix_before, matrix_after = torch.full((6, 6), float("nan")), torch.full((6, 6), float("nan"))
    upper = [(a, b) for a in range(6) for b in range(a + 1, 6)]
    for k, (a, b) in enumerate(upper):
        matrix_before[a, b] = matrix_before[b, a] = before[k]
        matrix_after[a, b] = matrix_after[b, a] = before[k] + 0.04  # everything improves, order kept
    result = difficulty(RankingAccuracy(0.5, matrix_before.numpy()), RankingAccuracy(0.7, matrix_after.numpy()))
    assert result.hardest_before[0] == f"{NAMES[0]} vs {NAMES[1]}"
    assert result.their_rank_after == [1, 2, 3] and result.rank_correlation == pytest.approx(1.0)
