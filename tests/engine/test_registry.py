"""engine.registry: nothing loads until used, each model loads once under concurrency."""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from engine import registry as registry_module
from engine import weights
from engine.errors import WeightsError, WorkbenchError
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


def test_user_checkpoint_is_validated_copied_and_registered(tmp_path: Path) -> None:
    packaged = Path(weights.find("mobilenet_v2").path or "")
    upload = tmp_path / "finetuned.pth"
    shutil.copyfile(packaged, upload)
    registry = Registry()
    spec = registry_module.register_user_checkpoint(registry, upload)
    assert spec.name == "user:finetuned" and spec.arch == "mobilenet_v2"
    upload.unlink()  # the upload folder may be cleaned; the registry keeps its own copy
    loaded = registry.get(spec.name)
    assert loaded.weights is not None and loaded.weights.source == "file"

    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="could not be read"):
        registry_module.register_user_checkpoint(registry, broken)
    assert registry.names() == [spec.name]
