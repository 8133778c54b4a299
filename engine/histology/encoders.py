"""Encoders for histology: ImageNet-initialised trunks with global average pooling, and their files.

Three encoders, all built through :mod:`engine.weights` (offline-first, never silently random):

- ``mobilenet_v2``: MobileNetV2 ``features`` (1280-d), the only one with real ImageNet weights offline;
- ``resnet50``: ResNet-50 without its classifier (2048-d), the WACV paper's encoder;
- ``resnet50_dilated``: the same weights with the strides of layer3/layer4 replaced by dilations 2 and 4 (output
  stride 8), the reference's multi-GPU encoder.

Inputs are ``float32 [B, 3, H, W]`` RGB in 0..1; ImageNet mean/std normalisation happens inside. (The reference
code feeds raw 0..1 pixels to an ImageNet-initialised network; normalising is the deliberate choice here, so that
the ImageNet baseline is the network as it was trained.) Outputs are ``[B, D]``.

Files are safetensors with a JSON header (``encoder``, ``kind``, ``base``): ``kind="full"`` holds every tensor;
``kind="delta"`` only those that differ from the ImageNet weights named in ``base`` (its sha256), which keeps a
fine-tuned MobileNetV2 small when its early blocks were frozen. Large files are written as shards
``NAME-00001-of-0000N.safetensors`` of at most ``max_file_bytes`` each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from engine import weights as weights_module
from engine.errors import InputError, WeightsError
from engine.registry import IMAGENET_MEAN, IMAGENET_STD

FORMAT = "workbench-histology"
_SHARD = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})$")


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder: the torchvision architecture whose weights it uses and its feature width."""

    arch: str
    dim: int
    title: str


ENCODERS: dict[str, EncoderSpec] = {
    "mobilenet_v2": EncoderSpec("mobilenet_v2", 1280, "MobileNetV2"),
    "resnet50": EncoderSpec("resnet50", 2048, "ResNet-50"),
    "resnet50_dilated": EncoderSpec("resnet50", 2048, "ResNet-50, dilated (output stride 8)"),
}


def encoder_spec(name: str) -> EncoderSpec:
    """The spec of ``name``; raises :class:`InputError` naming the choices."""
    try:
        return ENCODERS[name]
    except KeyError:
        raise InputError(f"Unknown encoder {name!r}; choose from {', '.join(ENCODERS)}.") from None


def _trunk(name: str, model: nn.Module) -> nn.Sequential:
    if name == "mobilenet_v2":
        return nn.Sequential(*model.features)  # type: ignore[attr-defined]
    if name == "resnet50_dilated":
        from torchvision.models import resnet50

        dilated = resnet50(replace_stride_with_dilation=[False, True, True])
        dilated.load_state_dict(model.state_dict())
        model = dilated
    return nn.Sequential(*(module for label, module in model.named_children() if label not in ("avgpool", "fc")))


class Encoder(nn.Module):
    """An image encoder: ``float32 [B, 3, H, W]`` in 0..1 -> features ``[B, dim]``.

    Attributes:
        name: a key of :data:`ENCODERS`.
        dim: the feature width.
        info: the ImageNet weights it started from (or RANDOM, for tests).
        provenance: one line naming every weight source (ImageNet file, any encoder file loaded on top).
    """

    def __init__(self, name: str = "mobilenet_v2", weights: Literal["pretrained", "random"] = "pretrained",
                 seed: int = 0) -> None:
        super().__init__()
        spec = encoder_spec(name)
        model, self.info = weights_module.build(spec.arch, weights=weights, seed=seed)
        self.name, self.dim = name, spec.dim
        self.trunk = _trunk(name, model)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.frozen_blocks = 0
        self.provenance = f"{spec.title} encoder, {self.info.label}"

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.mean.device

    def freeze(self, trainable_blocks: int | None) -> None:
        """Train only the last ``trainable_blocks`` blocks of the trunk (None: all); frozen blocks stay in eval mode."""
        blocks = len(self.trunk)
        self.frozen_blocks = 0 if trainable_blocks is None else max(0, blocks - trainable_blocks)
        for index, block in enumerate(self.trunk):
            block.requires_grad_(index >= self.frozen_blocks)
        self.train(self.training)

    def train(self, mode: bool = True) -> Encoder:
        """Set train mode, keeping frozen blocks (and their BatchNorm statistics) in eval mode."""
        super().train(mode)
        for block in list(self.trunk)[: self.frozen_blocks]:
            block.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features ``[B, dim]`` of ``images`` ``[B, 3, H, W]`` in 0..1."""
        hidden = (images - self.mean) / self.std
        if self.frozen_blocks:
            with torch.no_grad():
                hidden = self.trunk[: self.frozen_blocks](hidden)
            hidden = self.trunk[self.frozen_blocks:](hidden)
        else:
            hidden = self.trunk(hidden)
        return hidden.mean(dim=(2, 3))


def _shard_paths(path: Path) -> list[Path]:
    match = _SHARD.match(path.name.removesuffix(".safetensors"))
    if match is None:
        return [path]
    count = int(match["count"])
    return [path.with_name(f"{match['stem']}-{i:05d}-of-{count:05d}.safetensors") for i in range(1, count + 1)]


def save_tensors(tensors: Mapping[str, torch.Tensor], path: str | Path, metadata: Mapping[str, object],
                 max_file_bytes: int | None = None) -> list[Path]:
    """Write ``tensors`` as safetensors with ``metadata`` (JSON) in the header, in shards of at most
    ``max_file_bytes`` of tensor data when given (a single larger tensor gets a shard of its own); returns the
    files written (any of them loads all)."""
    from safetensors.torch import save_file

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "metadata": json.dumps(dict(metadata), sort_keys=True)}
    items = [(key, tensor.detach().cpu().contiguous()) for key, tensor in tensors.items()]
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in items:
        nbytes = tensor.numel() * tensor.element_size()
        if max_file_bytes is not None and shards[-1] and size + nbytes > max_file_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    if len(shards) == 1:
        save_file(shards[0], str(target), metadata=header)
        return [target]
    stem = target.name.removesuffix(".safetensors")
    paths = [target.with_name(f"{stem}-{i:05d}-of-{len(shards):05d}.safetensors") for i in range(1, len(shards) + 1)]
    for shard, shard_path in zip(shards, paths):
        save_file(shard, str(shard_path), metadata=header)
    return paths


def load_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """Tensors and metadata written by :func:`save_tensors` (any shard's path loads all shards).

    Raises:
        InputError: a missing shard, or a file that is not one of this format.
    """
    from safetensors import SafetensorError, safe_open

    tensors: dict[str, torch.Tensor] = {}
    metadata: dict[str, object] = {}
    for shard in _shard_paths(Path(path)):
        if not shard.is_file():
            raise InputError(f"{shard.name} is missing (every shard of a sharded file must sit beside the others).")
        try:
            with safe_open(str(shard), framework="pt") as handle:
                header = handle.metadata() or {}
                if header.get("format") != FORMAT:
                    raise InputError(f"{shard.name} is not a histology model file of this app (no '{FORMAT}' header).")
                metadata = json.loads(header.get("metadata", "{}"))
                tensors.update({key: handle.get_tensor(key) for key in handle.keys()})
        except (SafetensorError, OSError, json.JSONDecodeError) as error:
            raise InputError(f"{shard.name} could not be read as safetensors: {error}") from error
    return tensors, metadata


def imagenet_state(name: str) -> tuple[dict[str, torch.Tensor], str]:
    """The ImageNet encoder's state (``trunk.*`` tensors) and the sha256 of the weights file it came from."""
    base = Encoder(name, weights="pretrained")
    return {k: v for k, v in base.state_dict().items()}, str(base.info.sha256)


def encoder_tensors(encoder: Encoder, only_changed: bool = True,
                    prefix: str = "") -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """``encoder``'s tensors (names prefixed with ``prefix``) and the metadata to rebuild it. With ``only_changed``,
    only the tensors that differ from its ImageNet weights (``kind="delta"``; those weights are needed to load)."""
    state = encoder.state_dict()
    metadata: dict[str, object] = {"encoder": encoder.name, "kind": "full", "base": "", "origin": encoder.info.label}
    if only_changed and not encoder.info.is_random:
        reference, digest = imagenet_state(encoder.name)
        state = {k: v for k, v in state.items() if not torch.equal(v.cpu(), reference[k])}
        metadata.update(kind="delta", base=digest)
    return {prefix + k: v for k, v in state.items()}, metadata


def save_encoder(encoder: Encoder, path: str | Path, only_changed: bool = True, max_file_bytes: int | None = None,
                 extra: Mapping[str, object] | None = None) -> list[Path]:
    """Write ``encoder`` (see :func:`encoder_tensors`) with any ``extra`` metadata; returns the files written."""
    tensors, metadata = encoder_tensors(encoder, only_changed)
    return save_tensors(tensors, path, {**metadata, **(extra or {})}, max_file_bytes)


def encoder_from_tensors(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, object], source: str,
                         prefix: str = "") -> Encoder:
    """Rebuild an encoder from :func:`save_encoder`'s tensors (those under ``prefix``) and metadata.

    Raises:
        WeightsError: a delta whose ImageNet weights are missing or differ, or tensors that do not fit.
    """
    name = str(metadata.get("encoder", ""))
    encoder_spec(name)
    kind = metadata.get("kind")
    own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if kind == "delta":
        encoder = Encoder(name, weights="pretrained")
        if encoder.info.sha256 != metadata.get("base"):
            expected, found = str(metadata.get("base"))[:12], str(encoder.info.sha256)[:12]
            raise WeightsError(f"{source} holds changes to ImageNet weights with sha256 {expected}…, but this "
                               f"machine has {found}….")
    elif kind == "full":
        encoder = Encoder(name, weights="random")
    else:
        raise WeightsError(f"{source} has an unknown kind {kind!r} (expected delta or full).")
    state = encoder.state_dict()
    unknown = sorted(set(own) - set(state))
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    missing = sorted(set(state) - set(own)) if kind == "full" else []
    if unknown or wrong or missing:
        raise WeightsError(f"{source} does not fit the {name} encoder ({len(unknown)} unknown, {len(wrong)} "
                           f"mis-shaped, {len(missing)} missing tensors).")
    state.update(own)
    encoder.load_state_dict(state)
    base = f"changes to {encoder.info.label}" if kind == "delta" else "complete weights"
    origin = str(metadata.get("origin") or "unknown")
    encoder.provenance = f"{ENCODERS[name].title} encoder {source} ({len(own)} tensors, {base}; started from {origin})"
    return encoder.eval()


def load_encoder(path: str | Path) -> Encoder:
    """An encoder saved by :func:`save_encoder` (or any shard of it), in eval mode, with its provenance.

    Raises:
        InputError / WeightsError: unreadable file, missing base weights, or tensors that do not fit.
    """
    source = Path(path)
    tensors, metadata = load_tensors(source)
    digest = weights_module.file_sha256(_shard_paths(source)[0])
    return encoder_from_tensors(tensors, metadata, f"{source.name} (sha256 {digest[:12]}…)")
