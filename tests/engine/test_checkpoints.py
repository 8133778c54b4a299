"""engine.checkpoints: weights files are read without running code, and refusals say what the file is."""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine import checkpoints
from engine.errors import WeightsError

STATE = {"conv.weight": torch.arange(6.0).view(2, 3), "conv.bias": torch.ones(2)}


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(Path(__file__).parent / "pwned"),))  # any call at load time is a breach


def refusal(path: Path) -> str:
    with pytest.raises(WeightsError) as error:
        checkpoints.read_state_dict(path)
    message = str(error.value)
    assert checkpoints.ACCEPTED in message  # every refusal says what is accepted
    assert "weights_only" not in message and "Unpickl" not in message  # never PyTorch's own advice
    return message


def test_state_dicts_in_every_accepted_form_read_the_same(tmp_path: Path) -> None:
    forms = {
        "plain.pth": STATE,
        "ddp.pt": {f"module.{key}": value for key, value in STATE.items()},
        "reference-trainer.pth": {"model": STATE, "epoch": 3, "args": argparse.Namespace(lr=0.1, model="x")},
        "wrapped.pth": {"state_dict": {f"model.{key}": value for key, value in STATE.items()}, "step": 10},
    }
    for name, content in forms.items():
        torch.save(content, tmp_path / name)
    torch.save(STATE, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    save_file(STATE, str(tmp_path / "weights.safetensors"))
    save_file(STATE, str(tmp_path / "safetensors-named.pth"))  # the content decides, not the extension
    for path in sorted(tmp_path.iterdir()):
        for mapped in (False, True):  # memory-mapped where the format allows, read otherwise
            loaded = checkpoints.read_state_dict(path, mapped=mapped)
            assert sorted(loaded) == sorted(STATE), path.name
            assert all(torch.equal(loaded[key], STATE[key]) for key in STATE), path.name


def test_pickled_code_is_never_executed_and_the_refusal_names_the_object(tmp_path: Path) -> None:
    marker = Path(__file__).parent / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"weight": _Exploit()}, evil)
    message = refusal(evil)
    assert not marker.exists()
    assert "holds pickled Python objects" in message and "never unpickles" in message
    whole = tmp_path / "whole-model.pth"
    torch.save(torch.nn.Linear(2, 2), whole)
    assert "torch.nn.modules.linear.Linear" in refusal(whole)


def test_each_kind_of_bad_file_is_named(tmp_path: Path) -> None:
    torch.save(STATE, tmp_path / "good.pth")
    save_file(STATE, str(tmp_path / "good.safetensors"))
    data, tensors = (tmp_path / "good.pth").read_bytes(), (tmp_path / "good.safetensors").read_bytes()
    cases = {
        "empty.pth": (b"", "is empty (0 bytes)"),
        "random.pth": (bytes(range(256)) * 8, "is not a weights file"),
        "truncated.pth": (data[: len(data) // 2], "is a damaged PyTorch file: its zip archive is truncated"),
        "plain.pkl": (pickle.dumps({"a": 1}, protocol=4), "is a plain Python pickle"),
        "cut.safetensors": (tensors[:-10], "starts like a safetensors file but is damaged or truncated"),
    }
    for name, (content, expected) in cases.items():
        (tmp_path / name).write_bytes(content)
        assert expected in refusal(tmp_path / name), name
    torch.save(torch.zeros(3), tmp_path / "tensor.pth")
    assert "holds a single tensor of shape (3,), not a state dict" in refusal(tmp_path / "tensor.pth")
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "no-weights.pth")
    assert "holds a dict with keys 'epoch', 'optimizer'" in refusal(tmp_path / "no-weights.pth")
