"""engine.backbones: the layer table, normalisation inside, frozen eval mode, clear errors."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from engine import weights
from engine.backbones import (
    BACKBONES,
    STUDY_ARCHITECTURES,
    FeatureExtractor,
    _trunk,
    availability,
    backbone,
    main,
    parse_layer,
    trunk_modules,
)
from engine.errors import InputError, WeightsError
from engine.registry import IMAGENET_MEAN, IMAGENET_STD

LPIPS_MAP_SIDES_AT_64 = {"alexnet": [15, 7, 3, 3, 3], "vgg16": [64, 32, 16, 8, 4]}
# The loss-network study's 14 x 4 table: 0-based child index of the trunk, the feature is that child's output.
STUDY_INDICES = {
    "alexnet": [1, 4, 7, 11], "vgg11": [1, 4, 9, 19], "vgg16": [3, 8, 15, 29], "vgg16_bn": [5, 12, 22, 42],
    "vgg19": [3, 8, 17, 35], "squeezenet1_1": [1, 3, 7, 12], "densenet121": [2, 4, 6, 10], "resnet18": [2, 4, 5, 7],
    "resnet50": [2, 4, 5, 7], "resnext50_32x4d": [2, 4, 5, 7], "googlenet": [0, 5, 8, 15],
    "inception_v3": [2, 7, 9, 14], "efficientnet_b0": [0, 1, 4, 7], "efficientnet_b7": [0, 1, 4, 7],
}
LIGHT = ["alexnet", "vgg16", "squeezenet1_1", "mobilenet_v2", "resnet18", "resnet50"]  # cheap to build for real


def test_the_study_table_has_14_architectures_at_their_papers_indices() -> None:
    assert sorted(STUDY_ARCHITECTURES) == sorted(STUDY_INDICES)
    for arch, indices in STUDY_INDICES.items():
        spec = backbone(arch)
        assert [spec.layer(name).index for name in spec.study_layers] == indices
        assert all(not name.isdigit() for name in spec.study_layers)
    assert backbone("alexnet").study_layers == ("relu1", "relu2", "relu3", "relu5")  # relu2 is child 4, not 5
    assert backbone("vgg16").layer("relu3_3").index == 15
    assert not backbone("mobilenet_v2").study_layers


def _vgg_name(modules: list[tuple[str, nn.Module]], index: int) -> str:
    """The conventional name of a VGG ReLU: block = pools before it + 1, conv = convs since the last pool."""
    block, conv = 1, 0
    for _, module in modules[:index]:
        if isinstance(module, nn.MaxPool2d):
            block, conv = block + 1, 0
        elif isinstance(module, nn.Conv2d):
            conv += 1
    return f"relu{block}_{conv}"


@pytest.mark.parametrize("arch", list(BACKBONES))
def test_each_layer_is_the_module_its_name_says_with_the_documented_channels(arch: str) -> None:
    spec = backbone(arch)
    model = weights.layout(arch).eval()  # meta device: shapes only, no weights, no compute
    modules = trunk_modules(model, spec)
    for layer in spec.layers:
        name, module = modules[layer.index]
        if arch.startswith("vgg"):
            assert isinstance(module, nn.ReLU) and _vgg_name(modules, layer.index) == layer.name
        elif not name.isdigit():  # named children: the layer is called what torchvision calls the module
            assert name == layer.name
    trunk = _trunk(model, spec, spec.layers[-1].index)
    hidden, channels = torch.empty(1, 3, 64, 64, device="meta"), {}
    for index, module in enumerate(trunk):
        hidden = module(hidden)
        channels[index] = hidden.shape[1]
    assert [channels[layer.index] for layer in spec.layers] == [layer.channels for layer in spec.layers]


@pytest.mark.parametrize("arch", LIGHT)
def test_every_layer_has_the_documented_channels_in_order(arch: str) -> None:
    spec = backbone(arch)
    extractor = FeatureExtractor(arch, spec.layer_names, weights="random")
    with torch.inference_mode():
        maps = extractor(torch.rand(2, 3, 64, 64))
    assert list(maps) == spec.layer_names
    assert [m.shape[1] for m in maps.values()] == [layer.channels for layer in spec.layers]
    assert all(m.shape[0] == 2 for m in maps.values())
    assert "RANDOM" in extractor.info.label
    if arch in LPIPS_MAP_SIDES_AT_64:  # the spec's table (section 1.3)
        assert [m.shape[-1] for m in maps.values()] == LPIPS_MAP_SIDES_AT_64[arch]


def test_batches_are_normalised_and_joined_in_one_pass_with_or_without_autograd() -> None:
    extractor = FeatureExtractor("alexnet", ["relu1"], weights="random")
    first, second = torch.rand(2, 3, 40, 40), torch.rand(3, 3, 40, 40)
    with torch.inference_mode():
        joined = extractor.normalized([first, second])
        expected = extractor.normalized([torch.cat([first, second])])
    assert joined.is_contiguous(memory_format=torch.channels_last) and joined.shape == (5, 3, 40, 40)
    torch.testing.assert_close(joined, expected, atol=0, rtol=0)
    tracked = first.clone().requires_grad_(True)
    with_grad = extractor.normalized([tracked, second])
    torch.testing.assert_close(with_grad.detach(), joined)
    with_grad.sum().backward()
    assert tracked.grad is not None and tracked.grad.shape == first.shape
    with pytest.raises(InputError, match="of one size"):
        extractor.normalized([first, torch.rand(1, 3, 32, 32)])


def test_reduced_precision_copy_is_made_once_and_follows_weight_changes() -> None:
    extractor = FeatureExtractor("alexnet", ["relu1", "relu2"], weights="random")
    assert extractor.trunk_in(torch.float32) is extractor.trunk
    low = extractor.trunk_in(torch.bfloat16)
    assert extractor.trunk_in(torch.bfloat16) is low
    assert all(p.dtype == torch.bfloat16 for p in low.parameters())
    assert all(p.dtype == torch.float32 for p in extractor.trunk.parameters())  # the exact weights are untouched
    with torch.no_grad():
        extractor.trunk[0].bias.add_(1.0)  # e.g. an optimiser step of a fine-tuned backbone
    updated = extractor.trunk_in(torch.bfloat16)
    assert updated is not low
    torch.testing.assert_close(updated[0].bias.float(), extractor.trunk[0].bias, atol=1e-2, rtol=1e-2)


def test_imagenet_normalisation_happens_inside() -> None:
    extractor = FeatureExtractor("alexnet", ["relu1"], weights="random")
    images = torch.rand(2, 3, 40, 40)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected = extractor.trunk[:2]((images - mean) / std)
        got = extractor(images)["relu1"]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_layers_come_back_shallow_to_deep_whatever_the_order_asked() -> None:
    extractor = FeatureExtractor("alexnet", ["relu5", "relu2"], weights="random")
    assert extractor.layer_names == ["relu2", "relu5"]
    assert len(extractor.trunk) == 12  # cut after relu5 (index 11)


def test_frozen_eval_mode_survives_train_and_batchnorm_does_not_drift() -> None:
    extractor = FeatureExtractor("resnet18", ["layer1"], weights="random")
    running = extractor.trunk[1].running_mean.clone()
    extractor.train()
    extractor(torch.rand(4, 3, 64, 64))
    assert not extractor.training and not extractor.trunk[1].training
    assert torch.equal(extractor.trunk[1].running_mean, running)
    assert not any(p.requires_grad for p in extractor.parameters())


def test_gradients_reach_the_input() -> None:
    extractor = FeatureExtractor("mobilenet_v2", ["block3"], weights="random")
    images = torch.rand(1, 3, 48, 48, requires_grad=True)
    extractor(images)["block3"].square().mean().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_channels_last_matches_contiguous_layout() -> None:
    extractor = FeatureExtractor("squeezenet1_1", weights="random")
    assert extractor.channels_last
    contiguous = copy.deepcopy(extractor.trunk).to(memory_format=torch.contiguous_format)
    images = torch.rand(2, 3, 64, 64)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected = contiguous((images - mean) / std)
        got = extractor(images)["fire9"]
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_bad_names_and_missing_weights_are_clear_errors() -> None:
    with pytest.raises(InputError, match="choose from alexnet"):
        backbone("lenet")
    with pytest.raises(InputError, match="relu1, relu2"):
        FeatureExtractor("alexnet", ["conv9"], weights="random")
    with pytest.raises(InputError, match=r"\[B, 3, H, W\]"):
        FeatureExtractor("alexnet", ["relu1"], weights="random")(torch.rand(3, 32, 32))
    if availability("vgg16").status != "available":
        with pytest.raises(WeightsError, match="engine.weights add"):
            FeatureExtractor("vgg16")


def test_default_backbone_loads_real_weights_offline() -> None:
    extractor = FeatureExtractor("mobilenet_v2")
    assert extractor.info.status == "available" and "RANDOM" not in extractor.info.label


def test_explicit_names_parse_and_bare_numbers_are_refused() -> None:
    spec, layer = parse_layer("vgg16.relu3_3")
    assert spec.arch == "vgg16" and layer.index == 15 and layer.channels == 256
    assert parse_layer("inception_v3.Mixed_5b")[1].index == 7
    with pytest.raises(InputError, match="ARCH.LAYER"):
        parse_layer("vgg16")
    with pytest.raises(InputError, match="relu1_2, relu2_2"):
        parse_layer("vgg16.15")
    with pytest.raises(InputError, match="Unknown backbone"):
        parse_layer("lenet.conv1")


def test_normalisation_and_sigmoid_are_options_and_the_input_is_never_modified() -> None:
    plain = FeatureExtractor("alexnet", ["relu2"], weights="random", normalize=False)
    squashed = FeatureExtractor("alexnet", ["relu2"], weights="random", normalize=False, sigmoid=True)
    images = torch.rand(2, 3, 40, 40)
    before = images.clone()
    with torch.inference_mode():
        raw = plain.trunk(images)  # no normalisation: the trunk sees 0..1 as it is
        torch.testing.assert_close(plain(images)["relu2"], raw)
        torch.testing.assert_close(squashed(images)["relu2"], torch.sigmoid(raw))
    assert torch.equal(images, before)
    assert "no normalisation" in plain.options and "sigmoid" in squashed.options


def test_inception_style_networks_get_the_input_their_transform_input_would_give() -> None:
    extractor = FeatureExtractor("googlenet", ["conv1"], weights="random")
    images = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(extractor(images)["conv1"], extractor.trunk[:1]((images - 0.5) / 0.5),
                                   atol=1e-5, rtol=1e-5)


def test_gradients_flow_from_a_sigmoid_output_through_a_normalising_loss_network() -> None:
    # An in-place normalisation would break autograd here: the sigmoid saves its output for backward.
    extractor = FeatureExtractor("mobilenet_v2", ["block1"], weights="random", sigmoid=True)
    logits = torch.randn(2, 3, 32, 32, requires_grad=True)
    decoded = torch.sigmoid(logits)
    extractor(decoded)["block1"].mean().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_loss_network_stays_frozen_in_eval_mode_when_its_parent_trains() -> None:
    parent = nn.Module()
    parent.loss_net = FeatureExtractor("resnet18", ["relu"], weights="random")
    parent.head = nn.BatchNorm2d(3)
    bn = parent.loss_net.trunk[1]
    running = bn.running_mean.clone()
    parent.train()
    parent.loss_net(torch.rand(4, 3, 32, 32) * 5)
    assert parent.head.training and not parent.loss_net.training and not bn.training
    assert torch.equal(bn.running_mean, running)


def test_densenet_files_with_old_key_names_load(tmp_path: Path) -> None:
    model, _ = weights.build("densenet121", weights="random", seed=3)
    own = model.state_dict()
    legacy = {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", key): value
              for key, value in own.items() if not key.endswith("num_batches_tracked")}  # the file predates it
    assert any(".norm.1." in key for key in legacy)
    assert weights.detect_layout(legacy, "legacy.pth").arch == "densenet121"
    torch.save(legacy, tmp_path / "densenet121-legacy.pth")
    loaded, info = weights.build("densenet121", file=tmp_path / "densenet121-legacy.pth")
    assert info.source == "file"
    key = "features.denseblock1.denselayer1.norm1.weight"
    assert torch.equal(loaded.state_dict()[key], own[key])


def test_cli_list_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all({"arch", "layers", "study_layers", "weights"} <= set(row) for row in rows)
    by_arch = {row["arch"]: row for row in rows}
    assert set(by_arch) == set(BACKBONES)
    for arch in STUDY_INDICES:
        assert len(by_arch[arch]["study_layers"]) == 4
        assert all(name.startswith(f"{arch}.") and set(name) - set(f"{arch}.0123456789") for name in
                   by_arch[arch]["study_layers"])
        assert set(by_arch[arch]["study_layers"]) <= set(by_arch[arch]["layers"])
    assert "vgg16.relu3_3" in by_arch["vgg16"]["study_layers"]
    assert by_arch["mobilenet_v2"]["weights"] == "available" and by_arch["mobilenet_v2"]["study_layers"] == []
