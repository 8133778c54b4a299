"""engine.weights: sources in order, hash checks, clear failures, random only on request."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from engine import weights
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


def test_no_download_unless_allowed(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to download although downloads are off")

    monkeypatch.setattr(torch.hub, "download_url_to_file", forbidden)
    with pytest.raises(WeightsError):
        weights.build("squeezenet1_1")


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
    with pytest.raises(WeightsError, match="does not fit"):
        weights.add(packaged_file, arch="resnet18")
    assert not torch_home.exists() or not any(torch_home.iterdir())


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(Path(__file__).parent / "pwned"),))  # any call at load time is a breach


def test_pickled_code_is_never_executed(tmp_path: Path) -> None:
    marker = Path(__file__).parent / "pwned"
    evil = tmp_path / "evil.pth"
    with evil.open("wb") as handle:
        pickle.dump({"weight": _Exploit()}, handle)
    with pytest.raises(WeightsError, match="could not be read"):
        weights.read_state_dict(evil)
    assert not marker.exists()


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
