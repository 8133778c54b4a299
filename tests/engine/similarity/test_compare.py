"""engine.similarity.compare and the ``python -m engine.similarity`` CLI: any image in, a distance out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.backbones import availability
from engine.errors import InputError
from engine.images import load_image
from engine.similarity import __main__ as cli
from engine.similarity.compare import compare, inspect_layer
from engine.similarity.examples import EXAMPLES, write_example
from engine.similarity.metric import DeepPerceptualSimilarity

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_example("cat, blurred", tmp_path_factory.mktemp("pair"))


def _rgb(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)


def test_compare_equals_the_metric_on_tensors(alex_metric: DeepPerceptualSimilarity) -> None:
    a, b = _rgb(0, 48, 56), _rgb(1, 48, 56)
    result = compare(a, b, alex_metric)
    tensors = [torch.from_numpy(x).permute(2, 0, 1)[None] for x in (a, b)]
    with torch.inference_mode():
        expected = float(alex_metric(*tensors))
    assert result.distance == pytest.approx(expected, rel=1e-5)
    assert sum(result.per_entry.values()) == pytest.approx(result.distance, rel=1e-5)
    assert list(result.per_entry) == ["relu1", "relu2", "relu3", "relu4", "relu5"]
    assert result.map.shape == (48, 56) and result.notes == []
    assert "RANDOM" in result.provenance and result.to_json()["size"] == [48, 56]


def test_sizes_are_matched_with_notes(alex_metric: DeepPerceptualSimilarity) -> None:
    result = compare(_rgb(0, 64, 80), _rgb(1, 40, 40), alex_metric)
    assert result.map.shape == (64, 80) and result.image_b.shape == (64, 80, 3)
    assert result.notes == ["The second image was resized from 40x40 to 80x64 (bilinear, antialiased)."]
    square = compare(_rgb(0, 64, 80), _rgb(1, 40, 40), alex_metric, size=64)
    assert square.map.shape == (64, 64) and len(square.notes) == 2
    capped = compare(_rgb(0, 300, 100), _rgb(1, 300, 100), alex_metric, max_side=150)
    assert capped.map.shape == (150, 50)


def test_odd_files_load_and_compare(tmp_path: Path, alex_metric: DeepPerceptualSimilarity) -> None:
    rng = np.random.default_rng(0)
    gray, rgba, deep = tmp_path / "gray.png", tmp_path / "rgba.png", tmp_path / "deep.tif"
    Image.fromarray((rng.random((60, 60)) * 255).astype(np.uint8)).save(gray)
    Image.fromarray((rng.random((70, 50, 4)) * 255).astype(np.uint8), "RGBA").save(rgba)
    Image.fromarray((rng.random((60, 60)) * 65535).astype(np.uint16)).save(deep)
    images = [load_image(p) for p in (gray, rgba, deep)]
    for other in images[1:]:
        result = compare(images[0].pixels, other.pixels, alex_metric)
        assert np.isfinite(result.distance) and result.distance > 0
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(InputError, match="not a readable image"):
        load_image(broken)


@pytest.mark.parametrize(("array", "message"), [
    (np.zeros((40, 40, 3), np.uint8), "floats in 0..1"),
    (np.full((40, 40, 3), 2.0, np.float32), "values in 0..1"),
    (np.zeros((40, 40), np.float32), r"RGB array \[H, W, 3\]"),
    (np.zeros((20, 40, 3), np.float32), "at least 32 pixels"),
])
def test_bad_arrays_are_refused_with_the_fix(alex_metric: DeepPerceptualSimilarity, array: np.ndarray,
                                             message: str) -> None:
    with pytest.raises(InputError, match=message):
        compare(array, array, alex_metric)


def test_inspector_shows_the_most_active_channels(alex_metric: DeepPerceptualSimilarity) -> None:
    inspection = inspect_layer(_rgb(2, 64, 64), alex_metric, "relu2", count=8)
    assert inspection.raw.shape == (8, 7, 7) == inspection.normalized.shape and inspection.total_channels == 192
    means = inspection.raw.mean(axis=(1, 2))
    assert (np.diff(means) <= 1e-6).all()
    assert (np.sqrt((inspection.normalized ** 2).sum(axis=0)) <= 1 + 1e-5).all()
    with pytest.raises(InputError, match="not extracted"):
        inspect_layer(_rgb(2, 64, 64), alex_metric, "fire9")


def test_examples_are_pairs_of_valid_images(tmp_path: Path) -> None:
    for name in EXAMPLES:
        first, second = write_example(name, tmp_path / name.replace(" ", "_").replace(":", ""))
        a, b = load_image(first).pixels, load_image(second).pixels
        assert a.shape == b.shape and not np.array_equal(a, b)


def test_cli_prints_the_distance_last(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["compare", str(pair[0]), str(pair[1]), "--backbone", "alexnet", "--compare", "spatial+sort",
                     "--weights", "random", "--seed", "3", "--size", "64"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and "RANDOM" in "\n".join(lines)
    value = float(lines[-1])
    assert value > 0 and lines[-1] == lines[-1].strip()
    same = cli.main(["compare", str(pair[0]), str(pair[0]), "--weights", "random", "--backbone", "alexnet"])
    assert same == 0 and float(capsys.readouterr().out.strip().splitlines()[-1]) == pytest.approx(0.0, abs=1e-6)


def test_cli_contract_in_a_fresh_process(pair: tuple[Path, Path]) -> None:
    command = [sys.executable, "-m", "engine.similarity", "compare", str(pair[0]), str(pair[1]),
               "--backbone", "squeezenet1_1", "--compare", "mean", "--weights", "random", "--seed", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip().splitlines()[-1]) > 0


def test_cli_missing_weights_exit_2_with_how_to_add(pair: tuple[Path, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    if availability("vgg16").status == "available":
        pytest.skip("VGG-16 weights are installed here")
    assert cli.main(["compare", str(pair[0]), str(pair[1]), "--backbone", "vgg16"]) == 2
    assert "engine.weights add" in capsys.readouterr().err


def test_cli_errors_and_flaws(pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", str(pair[0]), str(tmp_path / "missing.png"), "--weights", "random"]) == 2
    assert "missing.png is not a readable image" in capsys.readouterr().err
    assert cli.main(["flaws", "--backbone", "alexnet", "--weights", "random", "--json",
                     "--plot", str(tmp_path / "flaws.png")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"] == {"translate": 5, "rotate": 30, "invert": 11, "color_stain": 5}
    assert len(report["passes"]) == 10 and (tmp_path / "flaws.png").stat().st_size > 10_000
