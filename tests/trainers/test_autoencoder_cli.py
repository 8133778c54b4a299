"""``python -m trainers.autoencoder``: the metrics.json contract, resume, torchrun, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainers import autoencoder as trainer

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
TINY = ["--images", "16", "--eval-images", "20", "--predictor-epochs", "15", "--patience", "5", "--batch-size", "8"]


def test_contract_with_the_offline_mobilenet_writes_metrics_json(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # the same main() as `python -m trainers.autoencoder` (the torchrun test below goes through -m)
    out = tmp_path / "fp"
    assert trainer.main(["--procedure", "I-F-FP", "--loss-net", "mobilenet_v2.block6", "--epochs", "1",
                         "--out", str(out), *TINY]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epoch_seconds"] > 0 and metrics["position_error"] > 0 and 0 <= metrics["class_accuracy"] <= 1
    assert metrics["loss_net"] == "mobilenet_v2.block6" and metrics["random_loss_network"] is False
    assert "IMAGENET1K_V1" in metrics["provenance"] and metrics["feature_vector"] == "32 x 8 x 8 = 2048"
    assert json.loads(capsys.readouterr().out.splitlines()[0])["position_error"] == metrics["position_error"]


def test_resume_continues_from_the_checkpoint(tmp_path: Path) -> None:
    common = ["--procedure", "F-F-FP", "--loss-net", "mobilenet_v2.block13", "--weights", "random",
              "--checkpoint-dir", str(tmp_path / "ckpt"), *TINY]
    assert trainer.main([*common, "--epochs", "1", "--out", str(tmp_path / "first")]) == 0
    assert trainer.main([*common, "--epochs", "2", "--resume", "--out", str(tmp_path / "second")]) == 0
    first = json.loads((tmp_path / "first" / "metrics.json").read_text())
    second = json.loads((tmp_path / "second" / "metrics.json").read_text())
    assert len(second["epoch_seconds_each"]) == 2
    assert second["epoch_seconds_each"][0] == first["epoch_seconds_each"][0]  # epoch 1 came from the checkpoint
    assert second["losses"][:len(first["losses"])] == first["losses"]


def test_torchrun_trains_with_ddp_and_one_process_writes(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "trainers.autoencoder", "--procedure", "F-I-PW", "--loss-net",
                             "mobilenet_v2.block13", "--weights", "random", "--epochs", "1", "--out", str(out), *TINY],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"epoch_seconds", "position_error", "class_accuracy"} <= set(metrics)
    assert len(metrics["epoch_seconds_each"]) == 1 and result.stdout.count("wrote ") == 1
    assert len(metrics["losses"]) == 2  # 14 training images, 4 per rank per step: 2 steps on each rank


@pytest.mark.parametrize("arguments, message", [
    (["--loss-net", "vgg16.relu9"], "no layer 'relu9'"),
    (["--loss-net", "vgg16"], "ARCH.LAYER"),
    (["--size", "72"], "64 \\+ 16 n"),
    (["--resume"], "--resume needs --checkpoint-dir"),
    (["--epochs", "0"], "epochs must be at least 1"),
])
def test_bad_arguments_exit_2_with_one_line(arguments: list[str], message: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert trainer.main(["--procedure", "I-I-PS", "--out", str(tmp_path / "x"), *TINY, *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and __import__("re").search(message, error)
    assert not (tmp_path / "x" / "metrics.json").exists()


def test_missing_pretrained_weights_say_how_to_add_them(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert trainer.main(["--procedure", "I-I-PS", "--loss-net", "vgg19.relu3_4", "--out", str(tmp_path / "x"),
                         *TINY]) == 2
    assert "engine.weights add vgg19-dcbb9e9d.pth" in capsys.readouterr().err
