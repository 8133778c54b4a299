"""engine.registry: nothing loads until used, each model loads once under concurrency."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from engine import registry as registry_module
from engine import settings, weights
from engine.errors import InputError, WeightsError, WorkbenchError
from engine.registry import LoadedModel, ModelSpec, Registry


class CountingLoader:
    """A loader that records how often it ran and takes a while, like a real model load."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self) -> LoadedModel:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        return LoadedModel(model=torch.nn.Linear(4, 2), provenance="test")


def test_registering_and_listing_load_nothing() -> None:
    loader = CountingLoader()
    registry = Registry()
    registry.register(ModelSpec("tiny", "test", "linear", loader))
    rows = registry.rows()
    assert loader.calls == 0
    assert rows[0].name == "tiny" and not rows[0].loaded and rows[0].memory_mb == 0
    assert not registry.is_loaded("tiny")


def test_first_get_loads_and_later_gets_reuse() -> None:
    loader = CountingLoader()
    registry = Registry()
    registry.register(ModelSpec("tiny", "test", "linear", loader))
    first = registry.get("tiny")
    assert registry.get("tiny") is first and loader.calls == 1
    assert first.memory_bytes == (4 * 2 + 2) * 4
    assert registry.rows()[0].loaded


def test_concurrent_gets_load_once_and_share_the_model() -> None:
    loader = CountingLoader(delay=0.2)
    registry = Registry()
    registry.register(ModelSpec("slow", "test", "linear", loader))
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: registry.get("slow"), range(32)))
    assert loader.calls == 1
    assert all(result is results[0] for result in results)


def test_different_models_load_in_parallel() -> None:
    loaders = [CountingLoader(delay=0.3) for _ in range(4)]
    registry = Registry()
    for index, loader in enumerate(loaders):
        registry.register(ModelSpec(f"m{index}", "test", "linear", loader))
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(registry.get, [f"m{i}" for i in range(4)]))
    assert time.perf_counter() - start < 1.0  # a global lock would take >= 1.2 s
    assert [loader.calls for loader in loaders] == [1, 1, 1, 1]


def test_failed_load_is_not_cached() -> None:
    attempts = []

    def flaky() -> LoadedModel:
        attempts.append(1)
        if len(attempts) == 1:
            raise WeightsError("missing")
        return LoadedModel(model=None, provenance="second try")

    registry = Registry()
    registry.register(ModelSpec("flaky", "test", "none", flaky))
    with pytest.raises(WeightsError):
        registry.get("flaky")
    assert registry.get("flaky").provenance == "second try"


def test_unknown_and_duplicate_names_are_user_errors() -> None:
    registry = Registry()
    registry.register(ModelSpec("a", "test", "x", CountingLoader()))
    with pytest.raises(WorkbenchError, match="already registered"):
        registry.register(ModelSpec("a", "test", "x", CountingLoader()))
    with pytest.raises(WorkbenchError, match="No model named 'b'"):
        registry.get("b")


def test_default_registry_lists_imagenet_classifiers_with_availability() -> None:
    registry = registry_module.default_registry()
    rows = {row.name: row for row in registry.rows()}
    assert set(weights.supported_architectures()) <= set(rows)
    assert rows["mobilenet_v2"].status in ("available", "loaded")
    assert len(registry.spec("mobilenet_v2").labels) == 1000
    loaded = registry.get("mobilenet_v2")
    assert loaded.weights is not None and loaded.weights.sha256.startswith("b0353104")
    assert 13 < loaded.memory_bytes / 2**20 < 15  # 3.5 M float32 parameters + BN buffers


@pytest.fixture()
def data_dir(tmp_path: Path, session_data_dir: Path) -> Iterator[Path]:
    """A data folder of its own for one test (user checkpoints are recorded there)."""
    folder = tmp_path / "data"
    settings.apply(data_dir=folder)
    yield folder
    settings.apply(data_dir=session_data_dir)


def fine_tuned(path: Path, num_classes: int, seed: int = 0) -> torch.nn.Module:
    """A squeezenet1_1 with ``num_classes`` outputs saved as a state dict at ``path``."""
    from torchvision import models

    torch.manual_seed(seed)
    model = models.squeezenet1_1(weights=None, num_classes=num_classes).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model


def test_user_checkpoint_is_validated_copied_and_registered(tmp_path: Path, data_dir: Path) -> None:
    packaged = Path(weights.find("mobilenet_v2").path or "")
    upload = tmp_path / "finetuned.pth"
    shutil.copyfile(packaged, upload)
    registry = Registry()
    spec = registry_module.register_user_checkpoint(registry, upload)
    assert spec.name == "user:finetuned" and spec.arch == "mobilenet_v2"
    assert len(spec.labels) == 1000 and spec.labels[281] == "tabby" and "ImageNet-1k names assumed" in spec.description
    upload.unlink()  # the upload folder may be cleaned; the registry keeps its own copy
    loaded = registry.get(spec.name)
    assert loaded.weights is not None and loaded.weights.source == "file"

    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="broken.pth is not a weights file"):
        registry_module.register_user_checkpoint(registry, broken)
    assert registry.names() == [spec.name]


def test_fine_tuned_classifier_gets_its_class_names_and_survives_a_restart(tmp_path: Path, data_dir: Path) -> None:
    upload = tmp_path / "upload" / "flowers.pth"
    original = fine_tuned(upload, 3)
    (upload.parent / "labels.json").write_text(json.dumps({"0": "daisy", "1": "rose", "2": "tulip"}))
    registry = Registry()
    spec = registry_module.register_user_checkpoint(registry, upload)  # the sidecar beside it is found
    assert list(spec.labels) == ["daisy", "rose", "tulip"] and spec.arch == "squeezenet1_1"
    assert "3 classes" in spec.description and "class names from labels.json" in spec.description
    typed = registry_module.register_user_checkpoint(registry, upload, name="typed", class_names=["a", "b", "c"])
    assert list(typed.labels) == ["a", "b", "c"]
    shutil.rmtree(upload.parent)

    restarted = Registry()  # a new process: nothing but the data dir is left
    restored = registry_module.restore_user_checkpoints(restarted)
    assert sorted(s.name for s in restored) == ["user:flowers", "user:typed"]
    assert list(restarted.spec("user:flowers").labels) == ["daisy", "rose", "tulip"]
    model = restarted.get("user:flowers").model
    image = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(model(image), original(image))

    registry_module.remove_user_checkpoint(restarted, "user:flowers")
    assert restarted.names() == ["user:typed"]
    assert [r.name for r in registry_module.user_checkpoints()] == ["user:typed"]
    assert len(list((data_dir / "checkpoints").glob("*.pth"))) == 1  # still used by user:typed
    with pytest.raises(WorkbenchError, match="not a registered user checkpoint"):
        registry_module.remove_user_checkpoint(restarted, "mobilenet_v2")


def test_classes_without_names_are_numbered_and_wrong_names_refused(tmp_path: Path, data_dir: Path) -> None:
    upload = tmp_path / "seven.pth"
    fine_tuned(upload, 7)
    registry = Registry()
    spec = registry_module.register_user_checkpoint(registry, upload)
    assert list(spec.labels) == [f"class {k}" for k in range(7)]
    assert "no class names given: classes are numbered 0-6" in spec.description
    with pytest.raises(InputError, match="names 2 classes, but the checkpoint's classifier has 7 outputs"):
        registry_module.register_user_checkpoint(registry, upload, class_names=["a", "b"])
    bad_labels = tmp_path / "labels.json"
    bad_labels.write_text("{not json")
    with pytest.raises(InputError, match="labels.json is not valid JSON"):
        registry_module.register_user_checkpoint(registry, upload, labels_file=bad_labels)
    with pytest.raises(InputError, match="Model name '../x' is not allowed"):
        registry_module.register_user_checkpoint(registry, upload, name="../x")
    with pytest.raises(WeightsError, match="not a torchvision resnet18 classifier"):
        registry_module.register_user_checkpoint(registry, upload, arch="resnet18")
    assert [r.name for r in registry_module.user_checkpoints()] == ["user:seven"]


def test_unreadable_or_outdated_records_never_stop_the_start(data_dir: Path) -> None:
    folder = data_dir / "checkpoints"
    folder.mkdir(parents=True)
    (folder / registry_module.USER_RECORDS).write_text("{broken")
    assert registry_module.restore_user_checkpoints(Registry()) == []
    record = {"name": "user:old", "arch": "retired_net", "num_classes": 2, "file": "x.pth", "sha256": "0" * 64,
              "original_name": "old.pth", "labels": None, "labels_source": "numbered", "registered_at": 0.0}
    (folder / registry_module.USER_RECORDS).write_text(json.dumps([record]))
    registry = Registry()
    assert registry_module.restore_user_checkpoints(registry) == [] and registry.names() == []
