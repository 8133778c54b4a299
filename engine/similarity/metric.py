"""Deep perceptual similarity (DPS): spatial, mean and sort comparisons of deep features.

For images x, y in 0..1 and a backbone's feature maps f_l at layers l, each *entry* (layer, part)
of the metric is computed in five steps:

1. the part modifies the features: ``spatial`` keeps them, ``mean`` averages each channel over
   positions (``[B, C, 1, 1]``), ``sort`` sorts each channel's H*W activations ascending
   (``[B, C, H*W, 1]``, so rank k replaces position k);
2. channel normalisation (on by default) divides each position's C-vector by its L2 norm,
   ``sqrt(sum_c f^2 + EPS)`` with EPS inside the root so all-zero vectors give zero, not NaN
   gradients;
3. squared difference ``z = (f_x - f_y)^2``;
4. channel reduction: a plain sum, or a weighted sum with non-negative per-channel ``lin`` weights
   (:class:`LinearHeads`, e.g. LPIPS' calibrated heads);
5. spatial mean (or, for the distance map, bilinear upsampling to the input size).

The distance is the **sum** over entries. A comparison ``spatial+mean`` has entries for both parts
(2L of them) with equal weight. With channel normalisation, the spatial metric equals LPIPS'
``lpips=False`` baseline (and with LPIPS heads, LPIPS itself): on unit vectors each position
contributes ``2 - 2 cos``, a squared-L2 (no square root) distance.

Images are first turned into an :class:`Embedding` (steps 1-2, once per image); distances between
embeddings are cheap, so an evaluation that meets the same image twice computes it once.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from engine import checkpoints
from engine import weights as weights_module
from engine.backbones import FeatureExtractor, FeatureMaps, backbone
from engine.errors import InputError, WeightsError
from engine.similarity import lpips_format

Comparison = Literal["spatial", "mean", "sort", "spatial+mean", "spatial+sort"]
Part = Literal["spatial", "mean", "sort"]
Precision = Literal["exact", "fast"]

COMPARISONS: dict[str, str] = {
    "spatial": "features compared position by position (LPIPS); sensitive to where things are",
    "mean": "channel means compared (2 - 2 cos of the mean vectors); ignores positions",
    "sort": "each channel's activations sorted, compared rank by rank; ignores positions",
    "spatial+mean": "spatial + mean, equal weights",
    "spatial+sort": "spatial + sort, equal weights",
}
PRECISIONS: dict[str, str] = {
    "exact": "float32 throughout",
    "fast": "backbone in bfloat16 (CPUs with native bfloat16: AVX512-BF16/AMX) or float16 (CUDA); "
            "float32 elsewhere",
}

_HEAD_KEY = re.compile(r"^(weights\.\d+|lin\d+\.model\.\d\.weight)$")
EPS = 1e-20  # inside the square root of the channel norm; representable in float32
PASS_ELEMENTS = 3_000_000  # values in the largest feature map of one backbone pass (CPU cache; see forward)


def comparison_parts(comparison: str) -> tuple[Part, ...]:
    """The parts of a comparison, e.g. ``spatial+sort -> ("spatial", "sort")``."""
    if comparison not in COMPARISONS:
        raise InputError(f"Unknown comparison {comparison!r}; choose from {', '.join(COMPARISONS)}.")
    return tuple(comparison.split("+"))  # type: ignore[return-value]


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def fast_dtype(device: str | torch.device) -> torch.dtype | None:
    """The reduced precision the fast mode uses on ``device``, or None where it would not be faster.

    CUDA: float16. CPU: bfloat16 only with native instructions (``avx512_bf16`` or ``amx_bf16``);
    elsewhere oneDNN emulates bfloat16 and convolutions get many times slower, so fast = exact.
    """
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.float16
    if kind == "cpu" and {"avx512_bf16", "amx_bf16"} & _cpu_flags():
        return torch.bfloat16
    return None


def channel_sum_of_squares(values: torch.Tensor) -> torch.Tensor:
    """``sum_c values^2`` of ``[B, C, H, W]`` per position: ``[B, H, W]``.

    Reduced over the last dimension of the ``[B, H, W, C]`` view: for channels-last maps (the CPU
    layout) the channels are then contiguous, which the CPU reduces about twice as fast as dim 1.
    """
    return torch.linalg.vector_norm(values.permute(0, 2, 3, 1), dim=-1).square()


def normalize_channels(features: torch.Tensor) -> torch.Tensor:
    """Each position's channel vector divided by its L2 norm: ``f / sqrt(sum_c f^2 + EPS)`` (dim 1)."""
    return features * torch.rsqrt(channel_sum_of_squares(features) + EPS).unsqueeze(1)


def modify(features: torch.Tensor, part: Part) -> torch.Tensor:
    """Apply a comparison part to ``[B, C, H, W]`` features (see the module docstring)."""
    if part == "spatial":
        return features
    if part == "mean":
        return features.mean(dim=(2, 3), keepdim=True)
    return features.flatten(2).sort(dim=2).values.unsqueeze(-1)


@dataclass(frozen=True)
class Entry:
    """One term of the distance: a layer compared with one part."""

    layer: str
    part: Part
    channels: int

    @property
    def name(self) -> str:
        """``relu3`` for spatial entries, ``relu3 sort`` otherwise."""
        return self.layer if self.part == "spatial" else f"{self.layer} {self.part}"


class SeededDropout(nn.Dropout):
    """``nn.Dropout`` that draws its masks from its own generator once :meth:`seed` is called.

    Training jobs run in threads of a shared process: seeding the global generator would change
    every other user's random draws, so seeded training gives its dropout a generator of its own.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)
        self._seed: int | None = None
        self._generators: dict[torch.device, torch.Generator] = {}

    def seed(self, seed: int) -> None:
        """Draw masks from a generator seeded with ``seed`` (one per device) from now on."""
        self._seed = seed
        self._generators = {}

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """Zero each value with probability ``p`` and scale the rest by ``1 / (1 - p)`` in training mode."""
        if self._seed is None or not self.training or self.p == 0:
            return super().forward(values)
        generator = self._generators.get(values.device)
        if generator is None:
            generator = torch.Generator(device=values.device).manual_seed(self._seed)
            self._generators[values.device] = generator
        keep = torch.rand(values.shape, generator=generator, device=values.device) >= self.p
        return values * keep / (1.0 - self.p)


class LinearHeads(nn.Module):
    """Non-negative per-channel weights, one vector per entry (LPIPS' ``lin`` layers).

    ``weights[k]`` has one value per channel of entry k; they start at 1, which makes the weighted
    metric equal to the unweighted one. In training mode dropout (``dropout``, 0.5 as in LPIPS)
    acts on the squared differences; call :meth:`clamp_` after each optimiser step to keep the
    weights non-negative.
    """

    def __init__(self, channels: Sequence[int], dropout: float = 0.5) -> None:
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.ones(count)) for count in channels])
        self.dropout = SeededDropout(dropout)
        self.source = "initialised to 1"  # where the weights came from, shown with every result

    @property
    def channels(self) -> list[int]:
        """Channels of each entry."""
        return [int(weight.numel()) for weight in self.weights]

    def reduce(self, index: int, squared_difference: torch.Tensor) -> torch.Tensor:
        """Weighted channel sum of ``[B, C, h, w]`` for entry ``index``: ``[B, h, w]``."""
        weight = self.weights[index].to(squared_difference.dtype)
        return torch.einsum("bchw,c->bhw", self.dropout(squared_difference), weight)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Clamp every weight to >= 0 (LPIPS clamps after each step; negative weights give negative distances)."""
        for weight in self.weights:
            weight.clamp_(min=0.0)

    @classmethod
    def load(cls, path: str | Path, channels: Sequence[int]) -> "LinearHeads":
        """Read heads saved by :meth:`save` or LPIPS' format (``lin{k}.model.{0,1}.weight``, ``[1, C, 1, 1]``).

        The file is read safely (``torch.load(weights_only=True)`` or safetensors); its channel
        counts must equal ``channels`` (e.g. LPIPS' ``alex.pth`` fits the AlexNet spatial metric).
        """
        state = checkpoints.read_state_dict(path)
        if all(f"weights.{index}" in state for index in range(len(channels))):
            vectors: list[torch.Tensor] | None = [state[f"weights.{index}"].float().flatten()
                                                  for index in range(len(channels))]
        else:
            vectors = lpips_format.head_vectors(state, len(channels))
        have = [int(v.numel()) for v in vectors or []]
        in_file = sum(1 for key in state if _HEAD_KEY.match(key))
        if have != list(channels) or in_file != len(channels):
            raise WeightsError(
                f"{Path(path).name} holds heads for channels {have or sorted(state)[:3]}, but this metric needs "
                f"{list(channels)} (one per layer and part). LPIPS heads fit only the spatial comparison of the "
                "same backbone with its default layers."
            )
        heads = cls(channels)
        with torch.no_grad():
            for weight, vector in zip(heads.weights, vectors or []):
                weight.copy_(vector)
        heads.source = f"{Path(path).name} (sha256 {weights_module.file_sha256(Path(path))[:12]}…)"
        return heads

    def save(self, path: str | Path) -> None:
        """Write the weights as safetensors (``weights.{k}``), readable by :meth:`load`."""
        from safetensors.torch import save_file

        save_file({key: value.detach().contiguous() for key, value in self.state_dict().items()}, str(path))


@dataclass
class Embedding:
    """Images after steps 1-2: one tensor per entry, batch first, plus the input size ``(H, W)``."""

    parts: list[torch.Tensor]
    size: tuple[int, int]

    def __len__(self) -> int:
        return int(self.parts[0].shape[0])

    def select(self, index: torch.Tensor | slice | int) -> "Embedding":
        """The embeddings of some images (an int keeps a batch of one)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Embedding([part[index] for part in self.parts], self.size)

    @staticmethod
    def cat(embeddings: Sequence["Embedding"]) -> "Embedding":
        """Join batches of the same metric and input size."""
        return Embedding([torch.cat(parts) for parts in zip(*(e.parts for e in embeddings))], embeddings[0].size)


@dataclass
class Distances:
    """Distances between two batches: ``total [B]``, ``per_entry [B, E]``, optional ``map [B, H, W]``."""

    total: torch.Tensor
    per_entry: torch.Tensor
    map: torch.Tensor | None = None


@dataclass(frozen=True)
class MetricConfig:
    """Everything that defines a DPS metric (the tab's controls map one to one onto these fields).

    ``layers`` empty means the backbone's default layers. ``weights="random"`` is for tests and is
    labelled RANDOM in every result. ``heads_file`` holds per-channel ``lin`` weights (LPIPS format
    or :meth:`LinearHeads.save`). ``precision="fast"`` runs the backbone in reduced precision where
    the hardware supports it (:func:`fast_dtype`).
    """

    backbone: str = "mobilenet_v2"
    layers: tuple[str, ...] = ()
    comparison: Comparison = "spatial"
    channel_norm: bool = True
    weights: Literal["pretrained", "random"] = "pretrained"
    seed: int = 0
    weights_file: str | None = None
    heads_file: str | None = None
    precision: Precision = "exact"

    @property
    def label(self) -> str:
        """A short description such as ``alexnet spatial+sort, channel norm, lin heads``."""
        parts = [f"{self.backbone} {self.comparison}", "channel norm" if self.channel_norm else "no channel norm"]
        if self.layers:
            parts.append("layers " + ",".join(self.layers))
        if self.heads_file:
            parts.append(f"lin heads {Path(self.heads_file).name}")
        if self.precision != "exact":
            parts.append(self.precision)
        return ", ".join(parts)


class DeepPerceptualSimilarity(nn.Module):
    """A DPS metric: ``metric(x, y) -> [B]`` distances for images ``[B, 3, H, W]`` in 0..1.

    Inputs are RGB in 0..1; ImageNet normalisation happens inside the extractor. The call is
    differentiable (use it as a loss); :meth:`embed` and :meth:`distance` split it so that each
    distinct image is embedded once. Use :func:`torch.inference_mode` when no gradients are needed.

    Args:
        extractor: a frozen :class:`FeatureExtractor` (it may return more layers than used).
        layers: the layers to compare (default: all the extractor returns).
        comparison: one of :data:`COMPARISONS`.
        channel_norm: L2-normalise each position's channel vector first (LPIPS does).
        heads: per-channel ``lin`` weights, one vector per entry, or None for plain channel sums.
        precision: ``"exact"`` or ``"fast"`` (see :func:`fast_dtype`).
    """

    def __init__(self, extractor: FeatureExtractor, layers: Sequence[str] | None = None,
                 comparison: Comparison = "spatial", channel_norm: bool = True, heads: LinearHeads | None = None,
                 precision: Precision = "exact") -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise InputError(f"Unknown precision {precision!r}; choose 'exact' or 'fast'.")
        self.extractor = extractor
        available = {layer.name: layer for layer in extractor.layers}
        names = list(layers) if layers else list(available)
        missing = [name for name in names if name not in available]
        if missing or not names:
            raise InputError(f"Layers {', '.join(missing) or '(none)'} are not extracted; "
                             f"choose from {', '.join(available)}.")
        ordered = [layer for layer in extractor.layers if layer.name in names]
        self.comparison = comparison
        self.entries = [Entry(layer.name, part, layer.channels)
                        for part in comparison_parts(comparison) for layer in ordered]
        self.channel_norm = channel_norm
        if heads is not None and heads.channels != [entry.channels for entry in self.entries]:
            raise WeightsError(f"The lin heads have channels {heads.channels}, but the entries need "
                               f"{[entry.channels for entry in self.entries]}.")
        self.heads = heads.to(extractor.device) if heads is not None else None
        self.precision = precision

    @property
    def compute_dtype(self) -> torch.dtype:
        """The precision the backbone runs in where it currently is: float32 unless the fast mode has a
        faster one here (:func:`fast_dtype`)."""
        return (fast_dtype(self.extractor.device) if self.precision == "fast" else None) or torch.float32

    @property
    def entry_names(self) -> list[str]:
        """Names of the entries, in the order of :attr:`Distances.per_entry` columns."""
        return [entry.name for entry in self.entries]

    @property
    def label(self) -> str:
        """What is compared, e.g. ``alexnet spatial+sort, channel norm, lin heads``."""
        parts = [f"{self.extractor.spec.arch} {self.comparison}",
                 "channel norm" if self.channel_norm else "no channel norm"]
        return ", ".join(parts + (["lin heads"] if self.heads is not None else []))

    @property
    def provenance(self) -> str:
        """Weights provenance plus what else shapes the numbers (heads, precision)."""
        extra = [f"lin heads {self.heads.source}" if self.heads is not None else "no lin heads"]
        extra.append(self.precision_note)
        return f"{self.extractor.info.label}; {', '.join(extra)}"

    @property
    def precision_note(self) -> str:
        """What precision the numbers were computed in, e.g. ``fast precision (backbone in bfloat16)``."""
        dtype = str(self.compute_dtype).replace("torch.", "")
        if self.precision == "exact":
            return "exact precision (float32)"
        if self.compute_dtype == torch.float32:
            return ("fast precision requested, but this device has no native bfloat16/float16: "
                    "computed exactly in float32")
        return f"fast precision (backbone in {dtype}, distances in float32)"

    def features(self, images: torch.Tensor | Sequence[torch.Tensor]) -> FeatureMaps:
        """Backbone feature maps (float32) of ``[B, 3, H, W]`` images in 0..1, or of several batches run as one."""
        maps = self.extractor(images, dtype=self.compute_dtype)
        return {name: value.float() for name, value in maps.items()}

    def embed_features(self, maps: FeatureMaps, size: tuple[int, int]) -> Embedding:
        """Steps 1-2 on feature maps of images of ``size`` ``(H, W)``."""
        parts = []
        for entry in self.entries:
            part = modify(maps[entry.layer], entry.part)
            parts.append(normalize_channels(part) if self.channel_norm else part)
        return Embedding(parts, size)

    def embed(self, images: torch.Tensor) -> Embedding:
        """Embed ``[B, 3, H, W]`` images in 0..1 (the expensive step; do it once per image)."""
        return self.embed_features(self.features(images), (int(images.shape[-2]), int(images.shape[-1])))

    def distance(self, a: Embedding, b: Embedding, with_map: bool = False) -> Distances:
        """Distances between embeddings; a batch of one broadcasts against a batch of B.

        With ``with_map`` each spatial entry's per-position distance is upsampled bilinearly to the
        input size and summed; mean and sort entries have no positions and add their value
        everywhere. The map's mean is close to, not exactly, the total (as in LPIPS).
        """
        if a.size != b.size:
            raise InputError(f"Both images must have the same size, got {a.size} and {b.size}.")
        columns, total_map = [], None
        for index, (entry, part_a, part_b) in enumerate(zip(self.entries, a.parts, b.parts)):
            difference = part_a - part_b
            per_position = (self.heads.reduce(index, difference.square()) if self.heads is not None
                            else channel_sum_of_squares(difference))
            columns.append(per_position.mean(dim=(1, 2)))
            if with_map:
                if entry.part == "spatial":
                    layer_map = F.interpolate(per_position.unsqueeze(1), size=a.size, mode="bilinear",
                                              align_corners=False)[:, 0]
                else:
                    layer_map = columns[-1].view(-1, 1, 1).expand(-1, *a.size)
                total_map = layer_map if total_map is None else total_map + layer_map
        per_entry = torch.stack(columns, dim=1)
        return Distances(per_entry.sum(dim=1), per_entry, total_map)

    def pairs_per_pass(self, size: tuple[int, int]) -> int:
        """How many pairs of ``size`` (H, W) images go through the backbone together: as many as keep the
        largest feature map under :data:`PASS_ELEMENTS` values (measured: larger passes fall out of cache)."""
        largest = max(layer.channels * math.ceil(size[0] / layer.stride) * math.ceil(size[1] / layer.stride)
                      for layer in self.extractor.layers if layer.name in {entry.layer for entry in self.entries})
        return max(1, PASS_ELEMENTS // (2 * largest))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``[B]`` distances between ``x`` and ``y`` (``[B, 3, H, W]`` in 0..1, same size); differentiable.

        Both batches go through the backbone together (faster than two passes), in passes of
        :meth:`pairs_per_pass` pairs.
        """
        if x.shape != y.shape:
            raise InputError(f"Both batches must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}.")
        size = (int(x.shape[-2]), int(x.shape[-1]))
        step = self.pairs_per_pass(size)
        totals = []
        for start in range(0, x.shape[0], step):
            both = self.embed_features(self.features([x[start:start + step], y[start:start + step]]), size)
            count = min(step, x.shape[0] - start)
            totals.append(self.distance(both.select(slice(0, count)), both.select(slice(count, None))).total)
        return torch.cat(totals)

    def train(self, mode: bool = True) -> "DeepPerceptualSimilarity":
        """Switch the heads' dropout; the backbone always stays in eval mode."""
        super().train(mode)
        self.extractor.train(False)
        return self


@functools.lru_cache(maxsize=4)
def shared_extractor(arch: str, weights: str = "pretrained", weights_file: str | None = None, seed: int = 0,
                     device: str = "cpu") -> FeatureExtractor:
    """A frozen extractor returning every layer of ``arch``, built once per argument set and shared
    (the four most recently used stay loaded)."""
    every_layer = backbone(arch).layer_names
    return FeatureExtractor(arch, every_layer, weights=weights, file=weights_file, seed=seed,  # type: ignore[arg-type]
                            device=device)


def build_metric(config: MetricConfig, device: str | None = None) -> DeepPerceptualSimilarity:
    """The metric ``config`` describes; backbones are loaded once and shared (small LRU cache).

    Raises:
        WeightsError: pretrained weights are missing (with how to add them) or the heads file does not fit.
        InputError: unknown backbone, layer, comparison or precision.
    """
    from engine import settings

    if config.weights not in ("pretrained", "random"):
        raise InputError(f"weights must be 'pretrained' or 'random', not {config.weights!r}.")
    spec = backbone(config.backbone)
    for name in config.layers:
        spec.layer(name)
    comparison_parts(config.comparison)
    extractor = shared_extractor(config.backbone, config.weights, config.weights_file, config.seed,
                           device or settings.current().device)
    layers = list(config.layers) or list(spec.default_layers)
    heads = None
    if config.heads_file:
        probe = DeepPerceptualSimilarity(extractor, layers, config.comparison)
        heads = LinearHeads.load(config.heads_file, [entry.channels for entry in probe.entries]).eval()
    return DeepPerceptualSimilarity(extractor, layers, config.comparison, config.channel_norm, heads,
                                    config.precision).eval()

