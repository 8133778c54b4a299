"""Encoders, freezing, and encoder files (changes to ImageNet weights, shards, refusals)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.errors import InputError, WeightsError
from engine.histology.encoders import Encoder, load_encoder, load_tensors, save_encoder, save_tensors


def test_encoder_shapes_and_freezing() -> None:
    encoder = Encoder("mobilenet_v2", weights="random")
    assert encoder(torch.rand(2, 3, 32, 32)).shape == (2, 1280) and "RANDOM" in encoder.provenance
    encoder.freeze(2)
    encoder.train()
    trainable = [i for i, block in enumerate(encoder.trunk) if any(p.requires_grad for p in block.parameters())]
    assert trainable == [17, 18]
    assert not encoder.trunk[3].training and encoder.trunk[18].training  # frozen BatchNorm stays in eval mode
    dilated = Encoder("resnet50_dilated", weights="random")
    assert dilated.trunk(torch.rand(1, 3, 64, 64)).shape[-1] == 8  # output stride 8


def test_delta_file_round_trip_in_shards(tmp_path: Path) -> None:
    encoder = Encoder("mobilenet_v2")
    encoder.freeze(1)
    with torch.no_grad():
        encoder.trunk[18][0].weight.mul_(1.5)
        encoder.trunk[17].conv[2].weight.mul_(0.5)
    files = save_encoder(encoder, tmp_path / "enc.safetensors", max_file_bytes=2_000_000)
    assert len(files) >= 2 and files[0].name == f"enc-00001-of-{len(files):05d}.safetensors"
    tensors, metadata = load_tensors(files[-1])
    assert metadata["kind"] == "delta" and set(tensors) == {"trunk.17.conv.2.weight", "trunk.18.0.weight"}
    assert all(path.stat().st_size < 2_000_000 for path in files)
    loaded = load_encoder(files[1])
    images = torch.rand(2, 3, 32, 32)
    assert torch.allclose(loaded(images), encoder.eval()(images), atol=1e-6)
    assert "changes to mobilenet_v2 IMAGENET1K_V1" in loaded.provenance
    files[1].unlink()
    with pytest.raises(InputError, match="is missing"):
        load_encoder(files[0])


def test_bad_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="could not be read"):
        load_encoder(tmp_path / "junk.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(InputError, match="not a histology model file"):
        load_encoder(tmp_path / "plain.safetensors")
    save_tensors({"trunk.0.0.weight": torch.zeros(1)}, tmp_path / "wrong.safetensors",
                 {"encoder": "mobilenet_v2", "kind": "delta", "base": "0" * 64})
    with pytest.raises(WeightsError, match="changes to ImageNet weights with sha256 000000000000"):
        load_encoder(tmp_path / "wrong.safetensors")
