"""The Perceptual similarity tab through its API: compare, inspect, flaw suite, 2AFC annotation and evaluation."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from engine.backbones import availability
from engine.images import load_image
from engine.similarity import MetricConfig, build_metric, compare
from engine.similarity.bapps import write_synthetic

MOBILENET = ["mobilenet_v2", ["block1", "block3", "block6", "block13", "block17"]]


def _settings(comparison: str = "spatial", weights: str = "pretrained", arch: list = MOBILENET) -> list:  # type: ignore[type-arg]
    return [*arch, comparison, True, "exact", weights, None, None]  # no heads file, no adapted metric


def test_example_pair_compares_like_the_engine(client) -> None:  # type: ignore[no-untyped-def]
    first, second = client.predict("cat, blurred", api_name="/similarity_example")
    markdown, bars, heatmap, details = client.predict(
        handle_file(first), handle_file(second), "64 x 64 (BAPPS)", *_settings("spatial+sort"),
        api_name="/similarity_compare")
    engine_result = compare(load_image(first).pixels, load_image(second).pixels,
                            build_metric(MetricConfig(comparison="spatial+sort")), size=64)
    assert details["distance"] == pytest.approx(engine_result.distance, rel=1e-5)
    assert len(details["per_entry"]) == 10 and details["size"] == [64, 64]
    assert "IMAGENET1K_V1" in markdown and "RANDOM" not in markdown
    assert "resized from 256x256 to 64x64" in markdown
    assert bars is not None and heatmap is not None


def test_odd_uploads_are_converted_with_notes_and_random_weights_are_marked(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    rgba, deep = tmp_path / "rgba.png", tmp_path / "deep.png"
    Image.fromarray((rng.random((80, 90, 4)) * 255).astype(np.uint8), "RGBA").save(rgba)
    Image.fromarray((rng.random((60, 50)) * 65535).astype(np.uint16)).save(deep)
    markdown, *_, details = client.predict(handle_file(str(rgba)), handle_file(str(deep)),
                                           "first image's size (longer side at most 512)",
                                           *_settings("mean", "random", ["alexnet", ["relu1", "relu3"]]),
                                           api_name="/similarity_compare")
    assert "RANDOM" in markdown and "this number means nothing" in markdown
    assert "composited onto white" in markdown and "0..65535" in markdown
    assert "resized from 50x60 to 90x80" in markdown
    assert list(details["per_entry"]) == ["relu1 mean", "relu3 mean"]


def test_bad_inputs_are_clear_errors_and_the_app_stays_up(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot an image at all")
    good, _ = client.predict("cat, blurred", api_name="/similarity_example")
    with pytest.raises(AppError, match="not a readable image"):
        client.predict(handle_file(str(broken)), handle_file(good), "64 x 64 (BAPPS)", *_settings(),
                       api_name="/similarity_compare")
    with pytest.raises(AppError, match="Upload two images"):
        client.predict(None, handle_file(good), "64 x 64 (BAPPS)", *_settings(), api_name="/similarity_compare")
    with pytest.raises(AppError, match="Choose at least one layer of MobileNetV2"):
        client.predict(handle_file(good), handle_file(good), "64 x 64 (BAPPS)", "mobilenet_v2", [], "spatial", True,
                       "exact", "pretrained", None, None, api_name="/similarity_compare")
    with pytest.raises(AppError, match="choose from block1"):
        client.predict(handle_file(good), handle_file(good), "64 x 64 (BAPPS)", "mobilenet_v2", ["relu1"], "spatial",
                       True, "exact", "pretrained", None, None, api_name="/similarity_compare")
    if availability("alexnet").status != "available":
        with pytest.raises(AppError, match="engine.weights add"):
            client.predict(handle_file(good), handle_file(good), "64 x 64 (BAPPS)",
                           *_settings(arch=["alexnet", ["relu1"]]), api_name="/similarity_compare")
    layers, _ = client.predict("squeezenet1_1", api_name="/similarity_layers")
    assert layers["value"][0] == "relu1"


def test_inspector_and_flaw_suite(client) -> None:  # type: ignore[no-untyped-def]
    first, _ = client.predict("astronaut, shifted by 6 px", api_name="/similarity_example")
    status, grid = client.predict(handle_file(first), "block3", 8, *_settings(), api_name="/similarity_inspect")
    assert "IMAGENET1K_V1" in status and grid is not None
    status, table, plot, raw = client.predict("mobilenet_v2", [], ["spatial", "sort"], ["on"], "pretrained",
                                              api_name="/similarity_flaws")
    rows = {row[1]: row for row in table["data"]}
    assert set(rows) == {"spatial", "sort"} and rows["sort"][3] == "5/5"
    assert Path(raw).stat().st_size > 1000 and plot is not None


def test_annotate_undo_export_and_evaluate(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AppError, match="annotator"):
        client.predict(None, "", api_name="/similarity_judge_left")
    with pytest.raises(AppError, match="no longer on screen"):  # nothing shown yet: nothing may be stored
        client.predict("", "api-annotator", api_name="/similarity_judge_left")
    reference, left, right, status, token = client.predict(api_name="/similarity_next")
    assert Path(reference).name == "ref.png" and {Path(left).name, Path(right).name} == {"p0.png", "p1.png"}
    shown = [Path(left).name[:2], Path(right).name[:2]]
    *_, status, next_token = client.predict(token, "api-annotator", api_name="/similarity_judge_left")
    assert f"you chose the **left** image as closer to the reference (stored as candidate {shown[0]})" in status
    assert "Judged this session: **1**" in status and next_token != token
    with pytest.raises(AppError, match="no longer on screen"):  # a stale or forged token stores nothing
        client.predict(token, "api-annotator", api_name="/similarity_judge_left")
    *_, token = client.predict(next_token, "api-annotator", api_name="/similarity_judge_right")
    *_, token = client.predict(token, "api-annotator", api_name="/similarity_judge_skip")
    *_, status, token = client.predict("api-annotator", api_name="/similarity_undo")
    assert "Undid your decision (skip)" in status and "in the queue: **1**" in status

    rng = np.random.default_rng(1)
    files = []
    for name in ("ref", "p0", "p1"):
        path = tmp_path / f"{name}.png"
        Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)).save(path)
        files.append(handle_file(str(path)))
    reference, *_ = client.predict(*files, api_name="/similarity_add_triplet")
    np.testing.assert_array_equal(np.asarray(Image.open(reference)), np.asarray(Image.open(tmp_path / "ref.png")))

    message, archive = client.predict(*_settings(), api_name="/similarity_export")
    assert "Exported **2** triplets" in message and "2AFC score" in message
    status, scores, plot = client.predict(handle_file(archive), *_settings(), api_name="/similarity_evaluate")
    assert scores["data"][0][1] == "2afc/val/annotated" and scores["data"][0][2] == 2


def test_evaluate_a_synthetic_bapps_zip(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = write_synthetic(tmp_path / "bapps", count=4)
    archive = shutil.make_archive(str(tmp_path / "bapps"), "zip", folder)
    status, scores, plot = client.predict(handle_file(archive), *_settings(), api_name="/similarity_evaluate")
    by_set = {row[1]: row for row in scores["data"]}
    assert by_set["2afc/val/noise"][4] == 1.0 and by_set["jnd/val/mixed"][5] == pytest.approx(1.0)
    assert "64x64" in status
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(AppError, match="zip"):
        client.predict(handle_file(str(broken)), *_settings(), api_name="/similarity_evaluate")
