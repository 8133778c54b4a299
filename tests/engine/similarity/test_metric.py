"""engine.similarity.metric: equivalence with lpips, the comparison functions' properties, heads, gradients."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.backbones import FeatureExtractor
from engine.errors import InputError, WeightsError
from engine.similarity import lpips_format
from engine.similarity import metric as metric_module
from engine.similarity.metric import (
    COMPARISONS,
    DeepPerceptualSimilarity,
    LinearHeads,
    MetricConfig,
    build_metric,
    fast_dtype,
    normalize_channels,
)

lpips = pytest.importorskip("lpips")
LPIPS_HEADS = Path(lpips.__file__).parent / "weights" / "v0.1"
NETS = [("alex", "alexnet"), ("vgg", "vgg16"), ("squeeze", "squeezenet1_1")]


def _images(count: int = 3, size: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(count, 3, size, size, generator=generator)
    y = (x + 0.3 * torch.rand(count, 3, size, size, generator=generator)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize(("net", "arch"), NETS)
def test_spatial_channel_norm_equals_lpips_baseline_and_lin(net: str, arch: str) -> None:
    torch.manual_seed(1)
    baseline = lpips.LPIPS(net=net, pretrained=False, pnet_rand=True, lpips=False, verbose=False)
    # pretrained=True reads the lin heads shipped inside the lpips package; pnet_rand=True: no trunk download
    calibrated = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, lpips=True, verbose=False)
    calibrated.net.load_state_dict(baseline.net.state_dict())
    extractor = FeatureExtractor(arch, weights="random", seed=5)  # different init, then the same state dict
    extractor.trunk.load_state_dict(lpips_format.trunk_state(baseline.net.state_dict()))
    ours = DeepPerceptualSimilarity(extractor).eval()
    heads = LinearHeads.load(LPIPS_HEADS / f"{net}.pth", [entry.channels for entry in ours.entries]).eval()
    ours_lin = DeepPerceptualSimilarity(extractor, heads=heads).eval()
    x, y = _images()
    with torch.inference_mode():
        theirs = baseline(x, y, normalize=True).flatten()
        theirs_lin = calibrated(x, y, normalize=True).flatten()
        mine, mine_lin = ours(x, y), ours_lin(x, y)
    assert theirs.min() > 0.1 and not torch.allclose(theirs, theirs_lin)
    assert (mine - theirs).abs().max() <= 1e-5
    assert (mine_lin - theirs_lin).abs().max() <= 1e-5


@pytest.mark.parametrize("comparison", list(COMPARISONS))
def test_identity_symmetry_and_positivity(alexnet_random: FeatureExtractor, comparison: str) -> None:
    metric = DeepPerceptualSimilarity(alexnet_random, comparison=comparison)  # type: ignore[arg-type]
    x, y = _images()
    with torch.inference_mode():
        assert metric(x, x).abs().max() < 1e-6
        torch.testing.assert_close(metric(x, y), metric(y, x))
        assert (metric(x, y) > 0).all()


def test_combinations_are_the_sum_of_their_parts(alexnet_random: FeatureExtractor) -> None:
    x, y = _images()
    with torch.inference_mode():
        d = {c: DeepPerceptualSimilarity(alexnet_random, comparison=c)(x, y) for c in COMPARISONS}  # type: ignore[arg-type]
    torch.testing.assert_close(d["spatial+mean"], d["spatial"] + d["mean"])
    torch.testing.assert_close(d["spatial+sort"], d["spatial"] + d["sort"])
    assert not torch.allclose(d["mean"], d["sort"])


def test_mean_is_two_minus_two_cosine_of_channel_means(alexnet_random: FeatureExtractor) -> None:
    metric = DeepPerceptualSimilarity(alexnet_random, comparison="mean")
    x, y = _images(2)
    with torch.inference_mode():
        fx, fy = metric.features(x), metric.features(y)
        expected = sum(2 - 2 * torch.cosine_similarity(fx[n].mean((2, 3)), fy[n].mean((2, 3)), dim=1) for n in fx)
        torch.testing.assert_close(metric(x, y), expected, atol=1e-5, rtol=1e-5)


def test_mean_and_sort_ignore_positions_spatial_does_not(alexnet_random: FeatureExtractor) -> None:
    x, y = _images(2)
    with torch.inference_mode():
        for comparison, invariant in [("mean", True), ("sort", True), ("spatial", False), ("spatial+sort", False)]:
            metric = DeepPerceptualSimilarity(alexnet_random, comparison=comparison)  # type: ignore[arg-type]
            fx, fy = metric.features(x), metric.features(y)
            shuffled = {}
            for name, maps in fx.items():
                b, c, h, w = maps.shape
                order = torch.randperm(h * w, generator=torch.Generator().manual_seed(h))
                shuffled[name] = maps.flatten(2)[:, :, order].reshape(b, c, h, w)
            size = (64, 64)
            original = metric.distance(metric.embed_features(fx, size), metric.embed_features(fy, size)).total
            moved = metric.distance(metric.embed_features(shuffled, size), metric.embed_features(fy, size)).total
            assert torch.allclose(original, moved, atol=1e-5) is invariant, comparison


def test_channel_norm_off_changes_the_scale(alexnet_random: FeatureExtractor) -> None:
    x, y = _images(2)
    with torch.inference_mode():
        normed = DeepPerceptualSimilarity(alexnet_random)(x, y)
        raw = DeepPerceptualSimilarity(alexnet_random, channel_norm=False)(x, y)
    assert (normed <= 4 * 5).all() and not torch.allclose(normed, raw)


def test_heads_of_ones_equal_the_plain_sum_and_clamp_keeps_them_non_negative(alex_metric) -> None:  # type: ignore[no-untyped-def]
    heads = LinearHeads([entry.channels for entry in alex_metric.entries]).eval()
    weighted = DeepPerceptualSimilarity(alex_metric.extractor, heads=heads).eval()
    x, y = _images()
    with torch.inference_mode():
        torch.testing.assert_close(weighted(x, y), alex_metric(x, y))
    with torch.no_grad():
        heads.weights[0].fill_(-1.0)
    heads.clamp_()
    assert heads.weights[0].min() == 0.0


def test_heads_save_load_round_trip_and_wrong_files_are_refused(alex_metric, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    channels = [entry.channels for entry in alex_metric.entries]
    heads = LinearHeads(channels)
    with torch.no_grad():
        for weight in heads.weights:
            weight.uniform_(0, 2)
    heads.save(tmp_path / "heads.safetensors")
    loaded = LinearHeads.load(tmp_path / "heads.safetensors", channels)
    assert all(torch.equal(a, b) for a, b in zip(heads.weights, loaded.weights))
    with pytest.raises(WeightsError, match="LPIPS heads fit only"):
        LinearHeads.load(LPIPS_HEADS / "vgg.pth", channels)
    with pytest.raises(WeightsError, match="LPIPS heads fit only"):
        LinearHeads.load(LPIPS_HEADS / "alex.pth", channels * 2)  # spatial+sort needs 10 heads
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pth is not a weights file"):
        LinearHeads.load(tmp_path / "junk.pth", channels)


def test_gradients_are_finite_on_all_zero_features_and_black_images(alex_metric) -> None:  # type: ignore[no-untyped-def]
    zeros = torch.zeros(2, 8, 3, 3, requires_grad=True)
    other = torch.rand(2, 8, 3, 3)
    (normalize_channels(zeros) - normalize_channels(other)).square().sum().backward()
    assert zeros.grad is not None and torch.isfinite(zeros.grad).all()
    for comparison in COMPARISONS:
        metric = DeepPerceptualSimilarity(alex_metric.extractor, comparison=comparison)  # type: ignore[arg-type]
        black = torch.zeros(1, 3, 64, 64, requires_grad=True)
        metric(black, torch.ones(1, 3, 64, 64)).sum().backward()
        assert black.grad is not None and torch.isfinite(black.grad).all(), comparison


def test_broadcast_and_map(alex_metric) -> None:  # type: ignore[no-untyped-def]
    x, y = _images(3)
    with torch.inference_mode():
        ex, ey = alex_metric.embed(x), alex_metric.embed(y)
        one_vs_all = alex_metric.distance(ex.select(0), ey, with_map=True)
        pairwise = alex_metric.distance(ex, ey).total
        single = alex_metric.distance(ex.select(0), ey.select(0)).total
        assert one_vs_all.map is not None and one_vs_all.map.shape == (3, 64, 64)
        torch.testing.assert_close(one_vs_all.total[0], pairwise[0])
        torch.testing.assert_close(single[0], pairwise[0])
        spatial_mean = one_vs_all.map.mean(dim=(1, 2))
        assert ((spatial_mean - one_vs_all.total).abs() / one_vs_all.total).max() < 0.15
        mean_metric = DeepPerceptualSimilarity(alex_metric.extractor, comparison="mean")
        flat = mean_metric.distance(mean_metric.embed(x), mean_metric.embed(y), with_map=True)
        assert flat.map is not None
        torch.testing.assert_close(flat.map[:, 5, 7], flat.total)
        assert flat.map.std(dim=(1, 2)).max() < 1e-6


def test_fast_precision_choice() -> None:
    assert fast_dtype("cuda") == torch.float16
    cpu = fast_dtype("cpu")
    flags = metric_module._cpu_flags()
    assert (cpu == torch.bfloat16) == bool({"avx512_bf16", "amx_bf16"} & flags)


def test_fast_precision_stays_exact_without_native_bfloat16_and_says_so(monkeypatch: pytest.MonkeyPatch,
                                                                       alex_metric: DeepPerceptualSimilarity) -> None:
    monkeypatch.setattr(metric_module, "_cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    fast = DeepPerceptualSimilarity(alex_metric.extractor, precision="fast")
    x, y = torch.rand(3, 3, 48, 48), torch.rand(3, 3, 48, 48)
    with torch.inference_mode():
        assert torch.equal(fast(x, y), alex_metric(x, y))  # the same numbers as the exact mode, bit for bit
    assert fast.compute_dtype == torch.float32
    assert "computed exactly in float32" in fast.provenance and "exact precision" in alex_metric.provenance


def test_passes_of_a_few_pairs_give_the_distances_of_one_pass(monkeypatch: pytest.MonkeyPatch,
                                                              alex_metric: DeepPerceptualSimilarity) -> None:
    x, y = torch.rand(5, 3, 48, 48), torch.rand(5, 3, 48, 48)
    with torch.inference_mode():
        one_pass = alex_metric(x, y)
        assert alex_metric.pairs_per_pass((48, 48)) >= 5
        monkeypatch.setattr(metric_module, "PASS_ELEMENTS", 1)
        assert alex_metric.pairs_per_pass((48, 48)) == 1
        torch.testing.assert_close(alex_metric(x, y), one_pass, atol=1e-6, rtol=1e-5)
        assert alex_metric.pairs_per_pass((224, 224)) == 1  # 64 x 56 x 56 values at relu1 for each image


def test_build_metric_validates_and_shares_backbones() -> None:
    config = MetricConfig(backbone="alexnet", weights="random", comparison="spatial+sort", layers=("relu1", "relu3"))
    first, second = build_metric(config), build_metric(config)
    assert first.extractor is second.extractor
    assert first.entry_names == ["relu1", "relu3", "relu1 sort", "relu3 sort"]
    assert "RANDOM" in first.provenance
    with pytest.raises(InputError, match="choose from spatial"):
        build_metric(MetricConfig(backbone="alexnet", weights="random", comparison="cosine"))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no layer"):
        build_metric(MetricConfig(backbone="alexnet", weights="random", layers=("relu9",)))
    lin = build_metric(MetricConfig(backbone="alexnet", weights="random", heads_file=str(LPIPS_HEADS / "alex.pth")))
    assert lin.heads is not None and "lin heads alex.pth (sha256 " in lin.provenance
