"""``python -m engine.explain``: the acceptance contract (map file at the image's size, last line srg=)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from engine.explain.__main__ import main
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
    saved = np.load(out)
    assert saved.shape == (400, 600) and saved.dtype == np.float32 and np.isfinite(saved).all()
    assert saved.std() > 0


def test_unusable_input_exits_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    assert main([str(broken), "--out", str(tmp_path / "m.npy")]) == 2
    assert "not a readable image" in capsys.readouterr().err
    assert main([str(broken), "--out", str(tmp_path / "m.npy"), "--config", '{"sampler": {"name": "sobol"}}']) == 2
    assert "Unknown sampler 'sobol'" in capsys.readouterr().err
    assert not (tmp_path / "m.npy").exists()
