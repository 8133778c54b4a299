"""Frozen ImageNet backbones that return feature maps at named layers.

Deep perceptual similarity, the contexts trainer and perceptual losses all need the same thing: a
pretrained CNN, cut after its deepest layer of interest, returning the activations of a few named
layers. This module holds the table of supported backbones and their layers, and
:class:`FeatureExtractor`, which builds them through :mod:`engine.weights` (offline first, never a
silent random network).

Layers are taken *after* the module at ``index`` of the backbone's trunk: ``model.features`` for
AlexNet, VGG-16, SqueezeNet 1.1 and MobileNetV2, the top-level children (conv1, bn1, relu, maxpool,
layer1..layer4) for ResNets. A layer's map is about ``input / stride`` pixels on a side (padding
and pooling round it: AlexNet at 64x64 gives 15, 7, 3, 3, 3; VGG-16 gives 64, 32, 16, 8, 4).

=============  ==============================================  ==============================  ===============
backbone       layers (trunk index)                            channels                        stride
=============  ==============================================  ==============================  ===============
alexnet        relu1 1, relu2 4, relu3 7, relu4 9, relu5 11    64, 192, 384, 256, 256          4, 8, 16, 16, 16
vgg16          relu1_2 3, relu2_2 8, relu3_3 15, relu4_3 22,   64, 128, 256, 512, 512          1, 2, 4, 8, 16
               relu5_3 29
squeezenet1_1  relu1 1, fire3 4, fire5 7, fire6 9, fire7 10,   64, 128, 256, 384, 384, 512,    2, 4, 8, 16 (x4)
               fire8 11, fire9 12                              512
mobilenet_v2   block1 1, block3 3, block6 6, block13 13,       16, 24, 32, 96, 320 (+1280)     2, 4, 8, 16, 32
               block17 17 (+ conv_last 18, not by default)
resnet18       relu 2, layer1 4, layer2 5, layer3 6, layer4 7  64, 64, 128, 256, 512           2, 4, 8, 16, 32
resnet50       relu 2, layer1 4, layer2 5, layer3 6, layer4 7  64, 256, 512, 1024, 2048        2, 4, 8, 16, 32
=============  ==============================================  ==============================  ===============

AlexNet, VGG-16 and SqueezeNet use exactly the LPIPS layers. MobileNetV2's blocks are the last
block of each resolution stage (linear bottleneck outputs, so they can be negative); ResNets use
the stem ReLU and the end of each residual stage, like LPIPS' ResNet option.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from engine import weights as weights_module
from engine.errors import InputError
from engine.registry import IMAGENET_MEAN, IMAGENET_STD
from engine.weights import WeightsInfo

FeatureMaps = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Layer:
    """One extraction point: the output of trunk module ``index``, ``channels`` deep, ``stride`` x smaller."""

    name: str
    index: int
    channels: int
    stride: int


@dataclass(frozen=True)
class Backbone:
    """A supported architecture: its trunk, named layers and the layers used by default."""

    arch: str
    title: str
    trunk: Literal["features", "children"]
    layers: tuple[Layer, ...]
    default_layers: tuple[str, ...]
    note: str = ""

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


def _layers(*rows: tuple[str, int, int, int]) -> tuple[Layer, ...]:
    return tuple(Layer(*row) for row in rows)


_RESNET_STAGES = ((2, 2), (4, 4), (5, 8), (6, 16), (7, 32))

BACKBONES: dict[str, Backbone] = {
    backbone.arch: backbone
    for backbone in (
        Backbone("alexnet", "AlexNet", "features",
                 _layers(("relu1", 1, 64, 4), ("relu2", 4, 192, 8), ("relu3", 7, 384, 16), ("relu4", 9, 256, 16),
                         ("relu5", 11, 256, 16)),
                 ("relu1", "relu2", "relu3", "relu4", "relu5"), "LPIPS layers"),
        Backbone("vgg16", "VGG-16", "features",
                 _layers(("relu1_2", 3, 64, 1), ("relu2_2", 8, 128, 2), ("relu3_3", 15, 256, 4),
                         ("relu4_3", 22, 512, 8), ("relu5_3", 29, 512, 16)),
                 ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"), "LPIPS layers"),
        Backbone("squeezenet1_1", "SqueezeNet 1.1", "features",
                 _layers(("relu1", 1, 64, 2), ("fire3", 4, 128, 4), ("fire5", 7, 256, 8), ("fire6", 9, 384, 16),
                         ("fire7", 10, 384, 16), ("fire8", 11, 512, 16), ("fire9", 12, 512, 16)),
                 ("relu1", "fire3", "fire5", "fire6", "fire7", "fire8", "fire9"), "LPIPS layers"),
        Backbone("mobilenet_v2", "MobileNetV2", "features",
                 _layers(("block1", 1, 16, 2), ("block3", 3, 24, 4), ("block6", 6, 32, 8), ("block13", 13, 96, 16),
                         ("block17", 17, 320, 32), ("conv_last", 18, 1280, 32)),
                 ("block1", "block3", "block6", "block13", "block17"), "last block of each stage"),
        Backbone("resnet18", "ResNet-18", "children",
                 _layers(*((name, index, channels, stride) for name, channels, (index, stride) in
                           zip(("relu", "layer1", "layer2", "layer3", "layer4"), (64, 64, 128, 256, 512),
                               _RESNET_STAGES))),
                 ("relu", "layer1", "layer2", "layer3", "layer4"), "stem and residual stages"),
        Backbone("resnet50", "ResNet-50", "children",
                 _layers(*((name, index, channels, stride) for name, channels, (index, stride) in
                           zip(("relu", "layer1", "layer2", "layer3", "layer4"), (64, 256, 512, 1024, 2048),
                               _RESNET_STAGES))),
                 ("relu", "layer1", "layer2", "layer3", "layer4"), "stem and residual stages"),
    )
}


def backbone(arch: str) -> Backbone:
    """The table entry for ``arch``; raises :class:`InputError` naming the supported backbones."""
    try:
        return BACKBONES[arch]
    except KeyError:
        raise InputError(f"Unknown backbone {arch!r}; choose from {', '.join(BACKBONES)}.") from None


def availability(arch: str) -> WeightsInfo:
    """Whether ``arch``'s pretrained weights are on this machine (never loads or downloads)."""
    return weights_module.find(backbone(arch).arch)


def _trunk(model: nn.Module, spec: Backbone, last_index: int) -> nn.Sequential:
    modules = list(model.features) if spec.trunk == "features" else list(model.children())  # type: ignore[arg-type]
    return nn.Sequential(*modules[: last_index + 1])


class FeatureExtractor(nn.Module):
    """A frozen backbone, cut after its deepest chosen layer, returning named feature maps.

    Input: ``float32 [B, 3, H, W]`` RGB in 0..1; ImageNet normalisation (mean 0.485/0.456/0.406,
    std 0.229/0.224/0.225) is applied inside, so callers never repeat it. Output: a dict from layer
    name to ``[B, C_l, H_l, W_l]``, in the order of :attr:`layers` (shallow to deep).

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
    """

    def __init__(self, arch: str, layers: list[str] | tuple[str, ...] | None = None,
                 weights: Literal["pretrained", "random"] = "pretrained", file: str | Path | None = None,
                 seed: int = 0, device: str = "cpu") -> None:
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
        # (x - mean) / std as one fused multiply-add: x * (1 / std) + (-mean / std).
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
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
        """The batches (each ``[B, 3, H, W]`` in 0..1, same H and W) ImageNet-normalised and joined, in the
        trunk's memory format and ``dtype``.

        Without autograd the normalisation writes each batch straight into one buffer of the final
        layout and precision (normalisation, concatenation, layout change and cast in one pass).
        """
        for images in batches:
            if images.ndim != 4 or images.shape[1] != 3 or images.shape[2:] != batches[0].shape[2:]:
                raise InputError(f"Expected images shaped [B, 3, H, W] of one size, got {tuple(images.shape)}.")
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        inputs = [images.to(self.device, torch.float32) for images in batches]
        if torch.is_grad_enabled() and any(images.requires_grad for images in inputs):
            joined = torch.addcmul(self.shift, torch.cat(inputs), self.scale)
            return joined.to(dtype).contiguous(memory_format=layout)
        shape = (sum(len(images) for images in inputs), *inputs[0].shape[1:])
        buffer = torch.empty(shape, dtype=dtype, device=self.device, memory_format=layout)
        start = 0
        for images in inputs:
            torch.addcmul(self.shift, images, self.scale, out=buffer[start:start + len(images)])
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
                maps[self._taps[index]] = hidden
        return maps
