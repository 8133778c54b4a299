"""engine.similarity.twoafc and bapps: scores with known answers, the BAPPS layout, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.similarity import twoafc
from engine.similarity.bapps import find_sets, unpack, write_set, write_synthetic
from engine.similarity.metric import DeepPerceptualSimilarity, MetricConfig, build_metric
from engine.similarity.twoafc import evaluate, jnd_map, parse_metric, twoafc_scores


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("bapps"), count=6, seed=0)


def test_twoafc_score_and_accuracy_known_answers() -> None:
    d0, d1 = np.array([0.1, 0.5, 0.3, 0.2]), np.array([0.2, 0.4, 0.3, 0.9])
    judge = np.array([0.2, 0.6, 1.0, 0.8])
    score, accuracy = twoafc_scores(d0, d1, judge)
    assert score == pytest.approx((0.8 + 0.6 + 0.5 + 0.2) / 4)
    assert accuracy == pytest.approx(3 / 4)  # row 3 disagrees; a tie counts as "not d0 < d1", like j >= 0.5


def test_jnd_map_known_answers() -> None:
    assert jnd_map(np.array([0.1, 0.2, 0.3, 0.4]), np.array([1, 0, 1, 0])) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert jnd_map(np.array([0.1, 0.2, 0.3]), np.array([1, 1, 0])) == pytest.approx(1.0)
    assert jnd_map(np.array([0.3, 0.2, 0.1]), np.array([1, 1, 0])) < 1.0
    assert jnd_map(np.array([0.1, 0.2]), np.array([0, 0])) == 0.0


def test_synthetic_fixture_has_the_bapps_layout(fixture_dir: Path) -> None:
    sets = find_sets(fixture_dir)
    assert [(s.name, s.kind, len(s)) for s in sets] == [
        ("2afc/val/blur", "2afc", 6), ("2afc/val/jpeg", "2afc", 6), ("2afc/val/noise", "2afc", 6),
        ("jnd/val/mixed", "jnd", 6)]
    assert np.isin(sets[0].labels.round(6), [0.2, 0.8]).all() and len(np.unique(sets[0].labels)) == 2
    assert set(np.unique(sets[3].labels)) == {0.0, 1.0}
    one = find_sets(fixture_dir / "2afc" / "val" / "noise")
    assert [(s.name, len(s)) for s in one] == [("noise", 6)]


def test_pretrained_metric_orders_the_known_distortions(fixture_dir: Path) -> None:
    metric = build_metric(MetricConfig())
    result = evaluate(find_sets(fixture_dir), metric)
    by_name = {s.subset: s for s in result.subsets}
    for name in ("2afc/val/blur", "2afc/val/jpeg", "2afc/val/noise"):
        assert by_name[name].accuracy == 1.0 and by_name[name].score == pytest.approx(0.8)
    assert by_name["jnd/val/mixed"].map == pytest.approx(1.0)
    assert len(result.distances["2afc/val/blur"]["d0"]) == 6
    assert result.to_json()["size"] == 64 and "RANDOM" not in result.provenance


def test_each_distinct_image_is_embedded_once(tmp_path: Path, alex_metric: DeepPerceptualSimilarity) -> None:
    rng = np.random.default_rng(0)
    ref = rng.random((40, 40, 3)).astype(np.float32)
    candidates = [rng.random((40, 40, 3)).astype(np.float32) for _ in range(3)]
    # The same reference in three triplets, one candidate used twice: 1 + 3 distinct images.
    items = [([ref, candidates[0], candidates[1]], 0.0), ([ref, candidates[1], candidates[2]], 1.0),
             ([ref, candidates[2], candidates[0]], 0.5)]
    write_set(tmp_path / "set", "2afc", items)
    seen: list[int] = []
    hook = alex_metric.extractor.trunk[0].register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0]))
    try:
        for batch_size in (1, 2, 32):
            seen.clear()
            result = evaluate(find_sets(tmp_path / "set"), alex_metric, batch_size=batch_size)
            assert sum(seen) == 4, batch_size
    finally:
        hook.remove()
    d0, d1 = result.distances["set"]["d0"], result.distances["set"]["d1"]
    assert d1[0] == pytest.approx(d0[1]) and d1[2] == pytest.approx(d0[0])


def test_broken_layouts_are_clear_errors(tmp_path: Path, fixture_dir: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        find_sets(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no BAPPS set"):
        find_sets(tmp_path / "empty")
    broken = tmp_path / "broken"
    shutil.copytree(fixture_dir / "2afc" / "val" / "noise", broken)
    (broken / "p1" / "000003.png").unlink()
    with pytest.raises(InputError, match="different numbers of files"):
        find_sets(broken)
    bad_judge = tmp_path / "bad_judge"
    shutil.copytree(fixture_dir / "2afc" / "val" / "noise", bad_judge)
    np.save(bad_judge / "judge" / "000000.npy", np.array([1.5]))
    with pytest.raises(InputError, match="one number in 0..1"):
        find_sets(bad_judge)
    np.save(bad_judge / "judge" / "000000.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="not a readable .npy"):
        find_sets(bad_judge)
    (tmp_path / "notzip.zip").write_bytes(b"plain text")
    with pytest.raises(InputError, match="not a readable .zip"):
        unpack(tmp_path / "notzip.zip", tmp_path / "out")


def test_zip_round_trip(tmp_path: Path, fixture_dir: Path) -> None:
    archive = shutil.make_archive(str(tmp_path / "fixture"), "zip", fixture_dir)
    unpacked = unpack(archive, tmp_path / "unpacked")
    assert [s.name for s in find_sets(unpacked)] == [s.name for s in find_sets(fixture_dir)]


def test_parse_metric() -> None:
    config = parse_metric("alexnet:spatial+sort:nonorm", weights="random")
    assert (config.backbone, config.comparison, config.channel_norm, config.weights) == (
        "alexnet", "spatial+sort", False, "random")
    assert parse_metric("vgg16").comparison == "spatial"
    for bad in ("alexnet:cosine", "a:b:c:d", "alexnet:sort:maybe"):
        with pytest.raises(InputError, match="--metric"):
            parse_metric(bad)


def test_cli_json_and_errors(fixture_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = twoafc.main([str(fixture_dir), "--metric", "alexnet:spatial+sort", "--metric", "alexnet:mean:nonorm",
                        "--weights", "random", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert [e["metric"] for e in report["evaluations"]] == ["alexnet spatial+sort, channel norm",
                                                               "alexnet mean, no channel norm"]
    assert all("RANDOM" in e["provenance"] for e in report["evaluations"])
    assert len(report["evaluations"][0]["subsets"]) == 4
    assert twoafc.main([str(fixture_dir / "nowhere")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert twoafc.main([str(fixture_dir), "--metric", "alexnet:cosine"]) == 2


def test_fast_precision_keeps_decisions_with_forced_bfloat16(monkeypatch: pytest.MonkeyPatch,
                                                             alexnet_random) -> None:  # type: ignore[no-untyped-def]
    from engine.similarity import metric as metric_module

    monkeypatch.setattr(metric_module, "_cpu_flags", lambda: frozenset({"amx_bf16"}))
    fast = DeepPerceptualSimilarity(alexnet_random, precision="fast")
    exact = DeepPerceptualSimilarity(alexnet_random)
    assert fast.compute_dtype == torch.bfloat16 and "backbone in bfloat16" in fast.provenance
    x, y = torch.rand(2, 3, 40, 40), torch.rand(2, 3, 40, 40)
    with torch.inference_mode():
        a, b = fast(x, y), exact(x, y)
    assert a.dtype == torch.float32
    assert ((a - b).abs() / b).max() < 2e-2
