"""``python -m engine.explain``: the acceptance contract (map file at the image's size, last line srg=)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from engine.explain.__main__ import build_config, main, parse_args
from engine.samples import write_natural_images


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_natural_images(tmp_path_factory.mktemp("cli"), ["coffee"])[0]


@pytest.mark.parametrize("preset", ["rise", "lime", "slic-smooth-pixel"])
def test_writes_the_map_at_the_image_size_and_ends_with_srg(preset: str, photo: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "map.npy"
    status = main([str(photo), "--model", "mobilenet_v2", "--preset", preset, "--seed", "2", "--out", str(out),
                   "--samples", "12", "--config", json.dumps({"eval_steps": 3})])
    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 0
    assert re.fullmatch(r"srg=-?\d+\.\d+", lines[-1])
    assert lines[-2] == "samples=12" if preset != "lime" else "samples=13"  # LIME adds the unperturbed image
    saved = np.load(out)
    assert saved.shape == (400, 600) and saved.dtype == np.float32 and np.isfinite(saved).all()
    assert saved.std() > 0


def test_until_converged_stops_when_settled_and_reports_the_samples(photo: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "map.npy"
    grid = json.dumps({"segmenter": {"name": "grid", "rows": 3, "cols": 3}, "eval_steps": 3})
    status = main([str(photo), "--model", "mobilenet_v2", "--until", "0.9", "--max-samples", "320", "--config", grid,
                   "--out", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 0 and re.fullmatch(r"srg=-?\d+\.\d+", lines[-1])
    samples = int(re.fullmatch(r"samples=(\d+)", lines[-2]).group(1))  # type: ignore[union-attr]
    assert 64 <= samples < 320 and samples % 32 == 0  # whole orthogonal blocks (32 rows for 9 segments)
    assert any(re.fullmatch(r"converged: estimated correlation with the converged map 0\.9\d\d \(split-half\)", line)
               for line in lines)
    assert "until r>=0.9 (max 320)" in next(line for line in lines if line.startswith("config:"))
    assert np.load(out).shape == (400, 600)


def test_float32_unless_bf16_is_asked_for() -> None:
    assert build_config(parse_args(["x.png", "--out", "m.npy"])).precision == "float32"
    fast = build_config(parse_args(["x.png", "--out", "m.npy", "--bf16", "--until", "0.9"]))
    assert fast.precision == "bfloat16" and fast.until == 0.9 and fast.max_samples == 8000
    assert "bfloat16" in fast.label()


def test_unusable_input_exits_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    assert main([str(broken), "--out", str(tmp_path / "m.npy")]) == 2
    assert "not a readable image" in capsys.readouterr().err
    assert main([str(broken), "--out", str(tmp_path / "m.npy"), "--config", '{"sampler": {"name": "sobol"}}']) == 2
    assert "Unknown sampler 'sobol'" in capsys.readouterr().err
    assert main([str(broken), "--out", str(tmp_path / "m.npy"), "--max-samples", "100"]) == 2
    assert "--max-samples is the budget of --until" in capsys.readouterr().err
    assert main([str(broken), "--out", str(tmp_path / "m.npy"), "--until", "95"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "m.npy").exists()
