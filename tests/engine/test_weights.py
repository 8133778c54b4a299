"""engine.weights: sources in order, hash checks, clear failures, random only on request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from engine import settings, weights
from engine.errors import WeightsError

MOBILENET_FILE = "mobilenet_v2-b0353104.pth"


@pytest.fixture()
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache for one test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture()
def packaged_file() -> Path:
    info = weights.find("mobilenet_v2")
    assert info.source in ("package", "cache") and info.path
    return Path(info.path)


@pytest.fixture()
def no_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the weights package is not installed."""
    monkeypatch.setattr(weights, "_packaged_path", lambda spec: None)


def tampered_copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    data = bytearray(source.read_bytes())
    data[-100] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("arch", weights.supported_architectures())
def test_file_names_and_addresses_are_torchvisions(arch: str) -> None:
    enum = weights.weights_enum(arch)
    assert weights.official_url(arch) == enum.url
    assert weights.official_filename(arch) == enum.url.rsplit("/", 1)[-1]


def test_categories_are_read_on_first_use() -> None:
    lazy = weights.LazyCategories("mobilenet_v2")
    assert "_names" not in vars(lazy)
    assert len(lazy) == 1000 and lazy[0] == "tench" and lazy[281] == "tabby"
    assert list(lazy[:2]) == weights.categories("mobilenet_v2")[:2]
    with pytest.raises(WeightsError):
        weights.LazyCategories("not_an_arch")


def test_packaged_mobilenet_is_found_with_full_sha256(torch_home: Path) -> None:
    info = weights.find("mobilenet_v2")
    assert info.status == "available" and info.source == "package"
    assert info.sha256 == weights.ARCHITECTURES["mobilenet_v2"].packaged.sha256
    assert info.sha256.startswith("b0353104")


def test_pretrained_mobilenet_recognises_a_cat(torch_home: Path) -> None:
    from skimage import data
    from torch.nn import functional as F

    model, info = weights.build("mobilenet_v2")
    assert not info.is_random and "RANDOM" not in info.label
    cat = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float() / 255
    cat = F.interpolate(cat, size=(224, 224), mode="bilinear", antialias=True)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    with torch.inference_mode():
        top = int(model((cat - mean[:, None, None]) / std[:, None, None]).argmax())
    assert weights.categories("mobilenet_v2")[top] in {"tabby", "tiger cat", "Egyptian cat", "Persian cat"}


def test_cache_takes_precedence_over_package(torch_home: Path, packaged_file: Path) -> None:
    torch_home.mkdir(parents=True)
    shutil.copyfile(packaged_file, torch_home / MOBILENET_FILE)
    info = weights.find("mobilenet_v2")
    assert info.source == "cache" and info.path == str(torch_home / MOBILENET_FILE)


def test_explicit_file_is_used_and_reported(torch_home: Path, packaged_file: Path, tmp_path: Path) -> None:
    mine = tmp_path / "my-weights.pth"
    shutil.copyfile(packaged_file, mine)
    model, info = weights.build("mobilenet_v2", file=mine)
    assert info.source == "file" and info.path == str(mine)
    assert info.sha256 == weights.file_sha256(packaged_file)


def test_corrupt_cache_file_falls_back_to_package_and_says_so(torch_home: Path, packaged_file: Path) -> None:
    tampered_copy(packaged_file, torch_home / MOBILENET_FILE)
    info = weights.find("mobilenet_v2")
    assert info.source == "package"
    assert "corrupt" in info.message and MOBILENET_FILE in info.message


def test_corrupt_cache_file_without_other_source_is_a_clear_error(
    torch_home: Path, packaged_file: Path, no_package: None
) -> None:
    tampered_copy(packaged_file, torch_home / MOBILENET_FILE)
    assert weights.find("mobilenet_v2").status == "corrupt"
    with pytest.raises(WeightsError) as error:
        weights.build("mobilenet_v2")
    message = str(error.value)
    assert MOBILENET_FILE in message and "b0353104" in message and "engine.weights add" in message


def test_missing_weights_name_file_hash_and_fix(torch_home: Path) -> None:
    info = weights.find("alexnet")
    assert info.status == "missing" and info.source is None
    with pytest.raises(WeightsError) as error:
        weights.build("alexnet")
    message = str(error.value)
    assert "alexnet-owt-7be5be79.pth" in message and "7be5be79" in message
    assert str(torch_home) in message and "engine.weights add" in message


@pytest.fixture()
def download_attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every download attempt; each one fails like an unreachable network would."""
    attempts: list[str] = []

    def record(url: str, *args: object, **kwargs: object) -> None:
        attempts.append(url)
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", record)
    return attempts


def test_no_download_unless_allowed(torch_home: Path, download_attempts: list[str]) -> None:
    settings.apply(allow_downloads=False)
    with pytest.raises(WeightsError, match="squeezenet1_1-b8a52dc0.pth"):
        weights.build("squeezenet1_1")
    assert download_attempts == []


def test_download_is_attempted_when_allowed(torch_home: Path, download_attempts: list[str]) -> None:
    settings.apply(allow_downloads=True)
    try:
        with pytest.raises(WeightsError, match="Download of .* failed"):
            weights.build("squeezenet1_1")
    finally:
        settings.apply(allow_downloads=False)
    assert download_attempts == [weights.official_url("squeezenet1_1")]


def test_random_only_on_request_and_labelled(torch_home: Path) -> None:
    model_a, info = weights.build("squeezenet1_1", weights="random", seed=3)
    model_b, _ = weights.build("squeezenet1_1", weights="random", seed=3)
    assert info.is_random and info.status == "random" and "RANDOM" in info.label
    first = next(iter(model_a.state_dict().values()))
    assert torch.equal(first, next(iter(model_b.state_dict().values())))  # seeded
    with pytest.raises(WeightsError):
        weights.build("squeezenet1_1")  # never silently random


def test_add_installs_verified_file_under_torchvision_name(
    torch_home: Path, packaged_file: Path, tmp_path: Path, no_package: None
) -> None:
    download = tmp_path / "downloaded.pth"
    shutil.copyfile(packaged_file, download)
    info = weights.add(download)  # architecture detected from the keys
    assert info.arch == "mobilenet_v2" and info.source == "cache"
    assert (torch_home / MOBILENET_FILE).is_file()


def test_add_refuses_tampered_or_foreign_files(torch_home: Path, packaged_file: Path, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not torchvision's"):
        weights.add(tampered_copy(packaged_file, tmp_path / "tampered.pth"))
    alien = tmp_path / "alien.pth"
    torch.save({"layer.weight": torch.zeros(3, 3)}, alien)
    with pytest.raises(WeightsError, match="fits none"):
        weights.add(alien)
    with pytest.raises(WeightsError, match="not a torchvision resnet18 classifier: .* missing keys"):
        weights.add(packaged_file, arch="resnet18")
    assert not torch_home.exists() or not any(torch_home.iterdir())


def meta_state_dict(arch: str, num_classes: int) -> dict[str, torch.Tensor]:
    """A state dict with the keys and shapes of ``arch`` fine-tuned to ``num_classes`` (meta tensors: no memory)."""
    from torchvision import models

    with torch.device("meta"):
        return models.get_model_builder(arch)(weights=None, num_classes=num_classes).state_dict()


@pytest.mark.parametrize("arch", weights.supported_architectures())
@pytest.mark.parametrize("num_classes", [2, 37, 1000])
def test_layout_detects_architecture_and_class_count(arch: str, num_classes: int) -> None:
    state_dict = meta_state_dict(arch, num_classes)
    assert weights.detect_layout(state_dict, "f.pth") == weights.Layout(arch, num_classes)
    assert weights.check_layout(arch, state_dict, "f.pth").num_classes == num_classes


def test_layout_is_checked_on_the_meta_device_without_building_a_network(monkeypatch: pytest.MonkeyPatch) -> None:
    devices: list[torch.device] = []
    real_builder = weights._torchvision_builder

    def spying_builder(arch: str):  # type: ignore[no-untyped-def]
        def build(**kwargs: object) -> torch.nn.Module:
            devices.append(torch.get_default_device())
            return real_builder(arch)(**kwargs)
        return build

    weights._meta_shapes.cache_clear()
    weights.head_keys.cache_clear()
    monkeypatch.setattr(weights, "_torchvision_builder", spying_builder)
    state_dict = meta_state_dict("resnet50", 5)
    assert weights.detect_layout(state_dict, "f.pth").arch == "resnet50"
    assert devices and all(device.type == "meta" for device in devices)


def test_wrong_architecture_is_summarised(tmp_path: Path) -> None:
    state_dict = meta_state_dict("resnet18", 4)
    del state_dict["fc.bias"]
    state_dict["layer1.0.conv1.weight"] = torch.zeros(3, 3, device="meta")
    with pytest.raises(WeightsError) as error:
        weights.detect_layout(state_dict, "mine.pth")
    message = str(error.value)
    assert "mine.pth fits none of the supported architectures" in message and "any number of classes" in message
    assert "Closest: resnet18 (1 missing keys (e.g. fc.bias); 1 shape mismatches" in message
    assert "file (3, 3), model (64, 64, 3, 3)" in message
    # 262: its num_batches_tracked counters may be absent (files older than them lack them)
    with pytest.raises(WeightsError, match="not a torchvision mobilenet_v2 classifier: 262 missing keys"):
        weights.check_layout("mobilenet_v2", state_dict, "mine.pth")


def test_fine_tuned_file_builds_with_its_classes_in_float32(tmp_path: Path) -> None:
    from torchvision import models

    torch.manual_seed(0)
    fine_tuned = models.squeezenet1_1(weights=None, num_classes=5).eval()
    path = tmp_path / "five.pth"
    torch.save({"module." + key: value.half() for key, value in fine_tuned.state_dict().items()}, path)  # DDP, fp16
    model, info = weights.build("squeezenet1_1", file=path)
    assert info.source == "file" and "five.pth" in info.label and "IMAGENET" not in info.label
    parameters = list(model.parameters())
    assert all(p.dtype == torch.float32 and not p.is_meta for p in [*parameters, *model.buffers()])
    image = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        ours, reference = model(image), fine_tuned.half().float()(image)
    assert ours.shape == (2, 5)
    torch.testing.assert_close(ours, reference)


def test_cli_list_json_contract(capsys: pytest.CaptureFixture[str], torch_home: Path) -> None:
    assert weights.main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"arch", "status", "source", "sha256"} <= set(rows[0])
    by_arch = {row["arch"]: row for row in rows}
    assert set(by_arch) == set(weights.supported_architectures())
    assert by_arch["mobilenet_v2"]["status"] == "available"
    assert by_arch["mobilenet_v2"]["sha256"].startswith("b0353104")
    assert by_arch["vgg16"]["status"] == "missing"


def test_cli_check_exit_status(torch_home: Path) -> None:
    assert weights.main(["check", "mobilenet_v2"]) == 0
    assert weights.main(["check", "mobilenet_v2", "alexnet"]) == 1
