"""Frozen ImageNet backbones that return feature maps at named layers.

Deep perceptual similarity, the contexts trainer and perceptual losses all need the same thing: a
pretrained CNN, cut after its deepest layer of interest, returning the activations of a few named
layers. This module holds the table of supported backbones and their layers, and
:class:`FeatureExtractor`, which builds them through :mod:`engine.weights` (offline first, never a
silent random network).

Layers are taken *after* the module at ``index`` of the backbone's trunk: ``model.features`` for
AlexNet, the VGGs, SqueezeNet 1.1, DenseNet-121, MobileNetV2 and the EfficientNets, the top-level
children for ResNets, ResNeXt, GoogLeNet and Inception-v3. A layer's map is about ``input / stride``
pixels on a side (padding and pooling round it: AlexNet at 64x64 gives 15, 7, 3, 3, 3; VGG-16 gives
64, 32, 16, 8, 4). Everywhere outside this table a layer is named ``arch.layer`` (``vgg16.relu3_3``),
never by a bare index: the two index conventions of the loss-network literature differ by one.

===============  ==================================================  ==============================  ===============
backbone         layers (trunk index)                                channels                        stride
===============  ==================================================  ==============================  ===============
alexnet          relu1 1, relu2 4, relu3 7, relu4 9, relu5 11        64, 192, 384, 256, 256          4, 8, 16, 16, 16
vgg11            relu1_1 1, relu2_1 4, relu3_2 9, relu4_2 14,        64, 128, 256, 512, 512          1, 2, 4, 8, 16
                 relu5_2 19
vgg16            relu1_2 3, relu2_2 8, relu3_3 15, relu4_3 22,       64, 128, 256, 512, 512          1, 2, 4, 8, 16
                 relu5_3 29
vgg16_bn         relu1_2 5, relu2_2 12, relu3_3 22, relu4_3 32,      64, 128, 256, 512, 512          1, 2, 4, 8, 16
                 relu5_3 42
vgg19            relu1_2 3, relu2_2 8, relu3_4 17, relu4_4 26,       64, 128, 256, 512, 512          1, 2, 4, 8, 16
                 relu5_4 35
squeezenet1_1    relu1 1, fire2 3, fire3 4, fire5 7, fire6 9,        64, 128, 128, 256, 384, 384,    2, 4, 4, 8, 16 (x4)
                 fire7 10, fire8 11, fire9 12                        512, 512
densenet121      relu0 2, denseblock1 4, denseblock2 6,              64, 256, 512, 1024, 1024        2, 4, 8, 16, 32
                 denseblock3 8, denseblock4 10
mobilenet_v2     block1 1, block3 3, block6 6, block13 13,           16, 24, 32, 96, 320 (+1280)     2, 4, 8, 16, 32
                 block17 17 (+ conv_last 18, not by default)
resnet18         relu 2, layer1 4, layer2 5, layer3 6, layer4 7      64, 64, 128, 256, 512           2, 4, 8, 16, 32
resnet50         relu 2, layer1 4, layer2 5, layer3 6, layer4 7      64, 256, 512, 1024, 2048        2, 4, 8, 16, 32
resnext50_32x4d  as resnet50                                         as resnet50                     as resnet50
googlenet        conv1 0, inception3a 5, inception4a 8,              64, 256, 512, 832, 1024         2, 8, 16, 16, 32
                 inception4e 12, inception5b 15
inception_v3     Conv2d_2b_3x3 2, Mixed_5b 7, Mixed_5d 9, Mixed_6e   64, 256, 288, 768               2, 8, 8, 16
                 14
efficientnet_b0  stem 0, stage1 1, stage4 4, stage6 6, stage7 7      32, 16, 80, 192, 320            2, 2, 16, 32, 32
efficientnet_b7  stem 0, stage1 1, stage4 4, stage6 6, stage7 7      64, 32, 160, 384, 640           2, 2, 16, 32, 32
===============  ==================================================  ==============================  ===============

AlexNet, VGG-16 and SqueezeNet's default layers are exactly the LPIPS layers. MobileNetV2's blocks
are the last block of each resolution stage (linear bottleneck outputs, so they can be negative);
ResNets use the stem ReLU and the end of each residual stage, like LPIPS' ResNet option.

**The loss-network study** (Pihlgren et al., *A Systematic Performance Analysis of Deep Perceptual
Loss Networks*) compares 14 architectures at 4 layers each; :attr:`Backbone.study_layers` holds them
(e.g. ``alexnet``: relu1, relu2, relu3, relu5; ``vgg11``: relu1_1, relu2_1, relu3_2, relu5_2) and
:data:`STUDY_ARCHITECTURES` lists the 14. MobileNetV2 is not one of them but is the one backbone
whose ImageNet weights ship offline.

**Input normalisation** is an option (``FeatureExtractor(normalize=...)``): by default images in
0..1 are mapped the way the weights expect (ImageNet mean/std; ``(x - 0.5) / 0.5`` for GoogLeNet
and Inception-v3, which is what their skipped ``transform_input`` produces), or fed as they are
(what the perceptual-autoencoder papers did). An element-wise sigmoid on the outputs
(``sigmoid=True``) reproduces the first perceptual-autoencoder paper's loss network.

CLI::

    python -m engine.backbones list [--json]   # every backbone, its layers, study layers and weights status
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from engine import weights as weights_module
from engine.errors import InputError, command_line
from engine.registry import IMAGENET_MEAN, IMAGENET_STD
from engine.weights import WeightsInfo

FeatureMaps = dict[str, torch.Tensor]
InputNorm = Literal["imagenet", "inception"]

# (x - mean) / std per input convention; "inception" is what GoogLeNet's and Inception-v3's
# transform_input turns ImageNet-normalised input into, i.e. (x - 0.5) / 0.5.
INPUT_NORMS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "inception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


@dataclass(frozen=True)
class Layer:
    """One extraction point: the output of trunk module ``index``, ``channels`` deep, ``stride`` x smaller."""

    name: str
    index: int
    channels: int
    stride: int


@dataclass(frozen=True)
class Backbone:
    """A supported architecture: its trunk, named layers, the layers used by default and in the study.

    ``study_layers`` are the four extraction points of the loss-network study (empty for backbones
    outside it); ``input_norm`` is the input convention its ImageNet weights were trained with.
    """

    arch: str
    title: str
    trunk: Literal["features", "children"]
    layers: tuple[Layer, ...]
    default_layers: tuple[str, ...]
    note: str = ""
    study_layers: tuple[str, ...] = ()
    input_norm: InputNorm = "imagenet"

    def layer(self, name: str) -> Layer:
        """The layer called ``name``; raises :class:`InputError` listing the valid names."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise InputError(f"{self.arch} has no layer {name!r}; choose from {', '.join(self.layer_names)}.")

    @property
    def layer_names(self) -> list[str]:
        """All layer names, shallow to deep."""
        return [layer.name for layer in self.layers]

    def qualified(self, name: str) -> str:
        """The explicit name ``arch.layer`` of one of this backbone's layers."""
        return f"{self.arch}.{self.layer(name).name}"


def _layers(*rows: tuple[str, int, int, int]) -> tuple[Layer, ...]:
    return tuple(Layer(*row) for row in rows)


def _resnet(arch: str, title: str, channels: tuple[int, ...]) -> Backbone:
    names = ("relu", "layer1", "layer2", "layer3", "layer4")
    stages = ((2, 2), (4, 4), (5, 8), (6, 16), (7, 32))
    return Backbone(arch, title, "children",
                    _layers(*((name, index, width, stride) for name, width, (index, stride) in
                              zip(names, channels, stages))),
                    names, "stem and residual stages", ("relu", "layer1", "layer2", "layer4"))


def _vgg(arch: str, title: str, names: tuple[str, ...], indices: tuple[int, ...], study: tuple[str, ...]) -> Backbone:
    return Backbone(arch, title, "features",
                    _layers(*zip(names, indices, (64, 128, 256, 512, 512), (1, 2, 4, 8, 16))),
                    study, "last ReLU of each block (study layers by default)", study)


def _efficientnet(arch: str, title: str, channels: tuple[int, ...]) -> Backbone:
    names = ("stem", "stage1", "stage4", "stage6", "stage7")
    study = ("stem", "stage1", "stage4", "stage7")
    return Backbone(arch, title, "features", _layers(*zip(names, (0, 1, 4, 6, 7), channels, (2, 2, 16, 32, 32))),
                    study, "stem and MBConv stages", study)


BACKBONES: dict[str, Backbone] = {
    backbone.arch: backbone
    for backbone in (
        Backbone("alexnet", "AlexNet", "features",
                 _layers(("relu1", 1, 64, 4), ("relu2", 4, 192, 8), ("relu3", 7, 384, 16), ("relu4", 9, 256, 16),
                         ("relu5", 11, 256, 16)),
                 ("relu1", "relu2", "relu3", "relu4", "relu5"), "LPIPS layers", ("relu1", "relu2", "relu3", "relu5")),
        Backbone("vgg16", "VGG-16", "features",
                 _layers(("relu1_2", 3, 64, 1), ("relu2_2", 8, 128, 2), ("relu3_3", 15, 256, 4),
                         ("relu4_3", 22, 512, 8), ("relu5_3", 29, 512, 16)),
                 ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"), "LPIPS layers",
                 ("relu1_2", "relu2_2", "relu3_3", "relu5_3")),
        Backbone("squeezenet1_1", "SqueezeNet 1.1", "features",
                 _layers(("relu1", 1, 64, 2), ("fire2", 3, 128, 4), ("fire3", 4, 128, 4), ("fire5", 7, 256, 8),
                         ("fire6", 9, 384, 16), ("fire7", 10, 384, 16), ("fire8", 11, 512, 16),
                         ("fire9", 12, 512, 16)),
                 ("relu1", "fire3", "fire5", "fire6", "fire7", "fire8", "fire9"), "LPIPS layers",
                 ("relu1", "fire2", "fire5", "fire9")),
        Backbone("mobilenet_v2", "MobileNetV2", "features",
                 _layers(("block1", 1, 16, 2), ("block3", 3, 24, 4), ("block6", 6, 32, 8), ("block13", 13, 96, 16),
                         ("block17", 17, 320, 32), ("conv_last", 18, 1280, 32)),
                 ("block1", "block3", "block6", "block13", "block17"), "last block of each stage"),
        _resnet("resnet18", "ResNet-18", (64, 64, 128, 256, 512)),
        _resnet("resnet50", "ResNet-50", (64, 256, 512, 1024, 2048)),
        # The loss-network study's other architectures.
        _vgg("vgg11", "VGG-11", ("relu1_1", "relu2_1", "relu3_2", "relu4_2", "relu5_2"), (1, 4, 9, 14, 19),
             ("relu1_1", "relu2_1", "relu3_2", "relu5_2")),
        _vgg("vgg16_bn", "VGG-16 (batch norm)", ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"),
             (5, 12, 22, 32, 42), ("relu1_2", "relu2_2", "relu3_3", "relu5_3")),
        _vgg("vgg19", "VGG-19", ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4"), (3, 8, 17, 26, 35),
             ("relu1_2", "relu2_2", "relu3_4", "relu5_4")),
        Backbone("densenet121", "DenseNet-121", "features",
                 _layers(("relu0", 2, 64, 2), ("denseblock1", 4, 256, 4), ("denseblock2", 6, 512, 8),
                         ("denseblock3", 8, 1024, 16), ("denseblock4", 10, 1024, 32)),
                 ("relu0", "denseblock1", "denseblock2", "denseblock4"), "stem and dense blocks",
                 ("relu0", "denseblock1", "denseblock2", "denseblock4")),
        _resnet("resnext50_32x4d", "ResNeXt-50 32x4d", (64, 256, 512, 1024, 2048)),
        Backbone("googlenet", "GoogLeNet", "children",
                 _layers(("conv1", 0, 64, 2), ("inception3a", 5, 256, 8), ("inception4a", 8, 512, 16),
                         ("inception4e", 12, 832, 16), ("inception5b", 15, 1024, 32)),
                 ("conv1", "inception3a", "inception4a", "inception5b"), "stem and inception modules",
                 ("conv1", "inception3a", "inception4a", "inception5b"), "inception"),
        Backbone("inception_v3", "Inception-v3", "children",
                 _layers(("Conv2d_2b_3x3", 2, 64, 2), ("Mixed_5b", 7, 256, 8), ("Mixed_5d", 9, 288, 8),
                         ("Mixed_6e", 14, 768, 16)),
                 ("Conv2d_2b_3x3", "Mixed_5b", "Mixed_5d", "Mixed_6e"), "stem and mixed blocks (at most Mixed_6e)",
                 ("Conv2d_2b_3x3", "Mixed_5b", "Mixed_5d", "Mixed_6e"), "inception"),
        _efficientnet("efficientnet_b0", "EfficientNet-B0", (32, 16, 80, 192, 320)),
        _efficientnet("efficientnet_b7", "EfficientNet-B7", (64, 32, 160, 384, 640)),
    )
}

STUDY_ARCHITECTURES: tuple[str, ...] = tuple(arch for arch, spec in BACKBONES.items() if spec.study_layers)


def backbone(arch: str) -> Backbone:
    """The table entry for ``arch``; raises :class:`InputError` naming the supported backbones."""
    try:
        return BACKBONES[arch]
    except KeyError:
        raise InputError(f"Unknown backbone {arch!r}; choose from {', '.join(BACKBONES)}.") from None


def parse_layer(name: str) -> tuple[Backbone, Layer]:
    """The backbone and layer an explicit name such as ``vgg16.relu3_3`` denotes.

    Raises:
        InputError: the name is not ``arch.layer`` or names an unknown backbone or layer.
    """
    arch, dot, layer = (name or "").strip().partition(".")
    if not dot or not arch or not layer:
        raise InputError(f"Name a layer as ARCH.LAYER (for example vgg16.relu3_3 or mobilenet_v2.block3), "
                         f"not {name!r}.")
    spec = backbone(arch)
    return spec, spec.layer(layer)


def availability(arch: str) -> WeightsInfo:
    """Whether ``arch``'s pretrained weights are on this machine (never loads or downloads)."""
    return weights_module.find(backbone(arch).arch)


def trunk_modules(model: nn.Module, spec: Backbone) -> list[tuple[str, nn.Module]]:
    """The (name, module) children of ``model``'s trunk in order; layer indices point into this list."""
    parent = model.features if spec.trunk == "features" else model
    return list(parent.named_children())  # type: ignore[union-attr]


def _trunk(model: nn.Module, spec: Backbone, last_index: int) -> nn.Sequential:
    return nn.Sequential(*(module for _, module in trunk_modules(model, spec)[: last_index + 1]))


class FeatureExtractor(nn.Module):
    """A frozen backbone, cut after its deepest chosen layer, returning named feature maps.

    Input: ``float32 [B, 3, H, W]`` RGB in 0..1. With ``normalize`` (the default) the input is mapped
    the way the weights expect (ImageNet mean 0.485/0.456/0.406, std 0.229/0.224/0.225; ``(x - 0.5) /
    0.5`` for GoogLeNet and Inception-v3) inside, so callers never repeat it; the caller's tensor is
    never modified. Output: a dict from layer name to ``[B, C_l, H_l, W_l]``, in the order of
    :attr:`layers` (shallow to deep), passed through an element-wise sigmoid when ``sigmoid`` is set.

    The network stays in eval mode even under ``.train()`` (BatchNorm statistics of ResNets and
    MobileNetV2 must not drift) and its parameters never require gradients, but gradients flow to
    the input, so the extractor can serve a perceptual loss. On CPU it runs in channels-last memory
    format, which oneDNN convolves and pools markedly faster than NCHW (same values to float rounding).
    A reduced precision (``dtype=torch.bfloat16``) runs a converted copy of the weights.

    Args:
        arch: a key of :data:`BACKBONES`.
        layers: layer names to return (default: the backbone's ``default_layers``).
        weights: ``"pretrained"`` (resolved by :mod:`engine.weights`; raises ``WeightsError`` with how
            to add missing files) or ``"random"`` (tests only; labelled RANDOM in :attr:`info`).
        file: an explicit checkpoint for ``arch`` instead of the cached/packaged weights.
        seed: seed of the random initialisation.
        device: where to run (``"cpu"`` or ``"cuda"``).
        normalize: apply the weights' input normalisation (False: feed 0..1 as it is).
        sigmoid: pass every returned map through an element-wise sigmoid (values in 0..1).
    """

    def __init__(self, arch: str, layers: list[str] | tuple[str, ...] | None = None,
                 weights: Literal["pretrained", "random"] = "pretrained", file: str | Path | None = None,
                 seed: int = 0, device: str = "cpu", normalize: bool = True, sigmoid: bool = False) -> None:
        super().__init__()
        self.spec = backbone(arch)
        names = list(layers) if layers else list(self.spec.default_layers)
        if len(set(names)) != len(names):
            raise InputError(f"Layers are listed twice: {', '.join(names)}.")
        chosen = sorted((self.spec.layer(name) for name in names), key=lambda layer: layer.index)
        self.layers: tuple[Layer, ...] = tuple(chosen)
        model, self.info = weights_module.build(arch, weights=weights, file=file, seed=seed)
        self.trunk = _trunk(model, self.spec, self.layers[-1].index)
        self._taps = {layer.index: layer.name for layer in self.layers}
        self.normalize = normalize
        self.sigmoid = sigmoid
        # (x - mean) / std as one fused multiply-add: x * (1 / std) + (-mean / std).
        mean, std = (torch.tensor(values).view(1, 3, 1, 1) for values in INPUT_NORMS[self.spec.input_norm])
        self.register_buffer("scale", 1.0 / std, persistent=False)
        self.register_buffer("shift", -mean / std, persistent=False)
        self.requires_grad_(False)
        self.channels_last = device == "cpu"
        if self.channels_last:
            self.trunk.to(memory_format=torch.channels_last)
        self._converted: dict[torch.dtype, tuple[tuple[object, ...], nn.Sequential]] = {}
        self.to(device)
        self.eval()

    @property
    def device(self) -> torch.device:
        """Where the network's weights live."""
        return self.scale.device

    @property
    def layer_names(self) -> list[str]:
        """Names of the returned layers, shallow to deep."""
        return [layer.name for layer in self.layers]

    @property
    def options(self) -> str:
        """How inputs and outputs are treated, e.g. ``ImageNet-normalised input, sigmoid outputs``."""
        norm = f"{self.spec.input_norm}-normalised input" if self.normalize else "0..1 input (no normalisation)"
        return norm + (", sigmoid outputs" if self.sigmoid else "")

    def train(self, mode: bool = True) -> "FeatureExtractor":
        """Stay in eval mode: a frozen backbone's BatchNorm statistics must never be updated."""
        return super().train(False)

    def trunk_in(self, dtype: torch.dtype) -> nn.Sequential:
        """The trunk with its weights in ``dtype``: the trunk itself for float32, else a converted copy made
        once and remade only when the weights change or move (so a reduced-precision pass never casts
        weights on every call, as autocast does for frozen weights)."""
        if dtype == torch.float32:
            return self.trunk
        key = (self.device, *(parameter._version for parameter in self.trunk.parameters()))
        cached = self._converted.get(dtype)
        if cached is None or cached[0] != key:
            cached = (key, copy.deepcopy(self.trunk).to(dtype))
            self._converted[dtype] = cached
        return cached[1]

    def normalized(self, batches: Sequence[torch.Tensor], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The batches (each ``[B, 3, H, W]`` in 0..1, same H and W) ImageNet-normalised (unless the extractor
        was made with ``normalize=False``) and joined, in the trunk's memory format and ``dtype``.

        Without autograd the normalisation writes each batch straight into one buffer of the final
        layout and precision (normalisation, concatenation, layout change and cast in one pass).
        """
        for images in batches:
            if images.ndim != 4 or images.shape[1] != 3 or images.shape[2:] != batches[0].shape[2:]:
                raise InputError(f"Expected images shaped [B, 3, H, W] of one size, got {tuple(images.shape)}.")
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        inputs = [images.to(self.device, torch.float32) for images in batches]
        if torch.is_grad_enabled() and any(images.requires_grad for images in inputs):
            joined = torch.cat(inputs)
            if self.normalize:
                joined = torch.addcmul(self.shift, joined, self.scale)
            return joined.to(dtype).contiguous(memory_format=layout)
        shape = (sum(len(images) for images in inputs), *inputs[0].shape[1:])
        buffer = torch.empty(shape, dtype=dtype, device=self.device, memory_format=layout)
        start = 0
        for images in inputs:
            target = buffer[start:start + len(images)]
            if self.normalize:
                torch.addcmul(self.shift, images, self.scale, out=target)
            else:
                target.copy_(images)
            start += len(images)
        return buffer

    def forward(self, images: torch.Tensor | Sequence[torch.Tensor], dtype: torch.dtype = torch.float32) -> FeatureMaps:
        """Feature maps at the chosen layers, in ``dtype``.

        Args:
            images: ``[B, 3, H, W]`` in 0..1, or several such batches run as one (their concatenation).
            dtype: the trunk's precision: float32 (exact), or bfloat16/float16 (a converted copy of the
                weights, :meth:`trunk_in`).
        """
        hidden = self.normalized([images] if isinstance(images, torch.Tensor) else images, dtype)
        maps: FeatureMaps = {}
        for index, module in enumerate(self.trunk_in(dtype)):
            hidden = module(hidden)
            if index in self._taps:
                maps[self._taps[index]] = torch.sigmoid(hidden) if self.sigmoid else hidden
        return maps


def describe(arch: str) -> dict[str, object]:
    """One backbone as JSON: explicit layer names, study layers, default layers and weights status."""
    spec = backbone(arch)
    info = availability(arch)
    return {
        "arch": arch,
        "title": spec.title,
        "layers": [spec.qualified(name) for name in spec.layer_names],
        "study_layers": [spec.qualified(name) for name in spec.study_layers],
        "default_layers": [spec.qualified(name) for name in spec.default_layers],
        "input_norm": spec.input_norm,
        "weights": info.status,
        "weights_label": info.label if info.status == "available" else info.message,
    }


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m engine.backbones``."""
    parser = argparse.ArgumentParser(prog="python -m engine.backbones", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="every backbone with its named layers, study layers and weights")
    listing.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    args = parser.parse_args(argv)
    rows = [describe(arch) for arch in BACKBONES]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        study = ", ".join(name.split(".", 1)[1] for name in row["study_layers"]) or "(not in the study)"  # type: ignore
        print(f"{row['arch']:16} {str(row['weights']):9} study: {study}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
