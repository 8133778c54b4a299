"""MPCS: SimCLR-style contrastive pretraining whose positive pair is one sample seen at two magnifications.

What is implemented, and the choices made where the reference code is ambiguous (each changes the numbers):

- **Keys**: a key (BreakHis: patient folder + sequence number) is kept when it exists at two or more
  magnifications (the reference keeps only keys at all four; ``min_magnifications=4`` does the same). The Fixed
  strategy keeps only keys with both 200X and 400X.
- **Pair strategies** (:func:`choose_pair`): Fixed (200X, 400X); Ordered, a uniformly drawn pair of *adjacent*
  available magnifications, lower first (with ``reference_bias`` and all four present: the reference's draw of
  k in 0..3 where k=2 and k=3 both give (200X, 400X)); Random, two different magnifications, all ordered pairs
  equally likely.
- **Projector** (:class:`Projector`): Linear(D->1024, no bias), BN, ReLU, Linear(1024->128, no bias), then
  BatchNorm1d(128, affine=False) as in the reference (``final_bn=False`` drops it), then L2 normalisation.
- **Loss** (:func:`nt_xent`): symmetric NT-Xent over 2N embeddings (the reference's multi-GPU loss; embeddings
  all-gathered with gradients under DDP) by default, or the reference's single-GPU asymmetric loss (view-1
  anchors only, all other 2B-1 embeddings in the denominator); temperature 0.1.
- **Augmentations** (:func:`augmentation`, torchvision v2): colour jitter 0.1 (p 0.3), flip (p 0.3), rotation up
  to 90 degrees (p 0.3), translation up to 5% (p 0.2), resize; no crop, no blur, no normalisation in the
  transform (the encoder normalises). The two views are augmented independently, as the reference effectively
  did. Each item's randomness is seeded by (seed, epoch, index), so runs repeat exactly and resume mid-epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine import distributed, training
from engine.errors import InputError
from engine.histology.dataset import Dataset, sort_magnifications
from engine.histology.encoders import Encoder
from engine.images import load_image

STRATEGIES = ("fixed", "ordered", "random")
FIXED_PAIR = ("200X", "400X")


class KeySet(Protocol):
    """Anything that shows keys at several magnifications (files of a dataset, regions of a scan)."""

    @property
    def keys(self) -> list[str]: ...

    def magnifications(self, key: str) -> list[str]: ...

    def views(self, key: str, magnifications: Sequence[str], rng: np.random.Generator) -> list[np.ndarray]:
        """The key at each magnification, ``float32 [H, W, 3]`` in 0..1 (the same draw for all of them)."""
        ...


def resize_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """``pixels`` (``[H, W, 3]``) resized to ``[size, size, 3]`` (aspect not kept, as the reference does)."""
    if pixels.shape[:2] == (size, size):
        return pixels
    shrinking = pixels.shape[0] * pixels.shape[1] > size * size
    return cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


@dataclass
class FileKeys:
    """MPCS keys of a dataset: ``files[key][magnification]`` is the image; images are read at ``size`` x ``size``
    and kept in memory after the first read (``uint8``)."""

    files: dict[str, dict[str, Path]]
    size: int
    _cache: dict[Path, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dataset(cls, dataset: Dataset, size: int, min_magnifications: int = 2) -> FileKeys:
        """Keys of ``dataset`` present at ``min_magnifications`` or more magnifications."""
        files: dict[str, dict[str, Path]] = {}
        for sample in dataset.samples:
            if sample.key and sample.magnification:
                files.setdefault(sample.key, {})[sample.magnification] = sample.path
        kept = {key: found for key, found in sorted(files.items()) if len(found) >= min_magnifications}
        if not kept:
            raise InputError(f"No image key is present at {min_magnifications} or more magnifications, so MPCS has no "
                             "positive pair (BreakHis keys are patient folder + sequence number; folder layouts use "
                             "the same file name in each magnification folder).")
        return cls(kept, size)

    @property
    def keys(self) -> list[str]:
        """The keys, sorted."""
        return list(self.files)

    def magnifications(self, key: str) -> list[str]:
        """The magnifications ``key`` has, lowest first."""
        return sort_magnifications(self.files[key])

    def views(self, key: str, magnifications: Sequence[str], rng: np.random.Generator) -> list[np.ndarray]:
        """The key's images at ``magnifications``, ``float32 [size, size, 3]`` in 0..1."""
        return [self._read(self.files[key][m]).astype(np.float32) / 255.0 for m in magnifications]

    def _read(self, path: Path) -> np.ndarray:
        if path not in self._cache:
            pixels = resize_square(load_image(path, max_side=None).pixels, self.size)
            self._cache[path] = np.round(pixels * 255).astype(np.uint8)
        return self._cache[path]


def usable_keys(keyset: KeySet, strategy: str) -> list[str]:
    """The keys a strategy can pair: Fixed needs 200X and 400X; the others any two magnifications."""
    if strategy not in STRATEGIES:
        raise InputError(f"Unknown pair strategy {strategy!r}; choose from {', '.join(STRATEGIES)}.")
    if strategy == "fixed":
        return [k for k in keyset.keys if set(FIXED_PAIR) <= set(keyset.magnifications(k))]
    return [k for k in keyset.keys if len(keyset.magnifications(k)) >= 2]


def choose_pair(available: Sequence[str], strategy: str, rng: np.random.Generator,
                reference_bias: bool = False) -> tuple[str, str]:
    """The two magnifications of one positive pair, drawn from those ``available`` for a key.

    Raises:
        InputError: the key cannot be paired by ``strategy``.
    """
    magnifications = sort_magnifications(available)
    if strategy == "fixed":
        if not set(FIXED_PAIR) <= set(magnifications):
            raise InputError(f"The Fixed strategy needs 200X and 400X; this key has {', '.join(magnifications)}.")
        return FIXED_PAIR
    if len(magnifications) < 2:
        raise InputError("A positive pair needs a key at two magnifications.")
    if strategy == "ordered":
        adjacent = list(zip(magnifications, magnifications[1:]))
        if reference_bias and len(magnifications) == 4:
            adjacent.append(adjacent[-1])  # the reference's k=3 repeats (200X, 400X)
        first, second = adjacent[int(rng.integers(len(adjacent)))]
        return first, second
    if strategy == "random":
        first, second = rng.choice(len(magnifications), size=2, replace=False)
        return magnifications[int(first)], magnifications[int(second)]
    raise InputError(f"Unknown pair strategy {strategy!r}; choose from {', '.join(STRATEGIES)}.")


class RandomFlip(nn.Module):
    """Flip horizontally, vertically or both, each with probability 1/3 (the reference's ``Flip``)."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` ``[..., H, W]`` flipped along a random choice of axes."""
        axes = [(-1,), (-2,), (-2, -1)][int(torch.randint(3, ()))]
        return torch.flip(image, axes)


def augmentation(size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The spec's augmentations for ``[3, H, W]`` tensors in 0..1, ending at ``size`` x ``size``."""
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomApply([v2.ColorJitter(0.1, 0.1, 0.1, 0.1)], p=0.3),
        v2.RandomApply([RandomFlip()], p=0.3),
        v2.RandomApply([v2.RandomRotation(90, fill=1.0)], p=0.3),
        v2.RandomApply([v2.RandomAffine(degrees=0, translate=(0.05, 0.05), fill=1.0)], p=0.2),
        v2.Resize((size, size), antialias=True),
    ])


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """``float32 [H, W, 3]`` -> ``[3, H, W]``."""
    return torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).permute(2, 0, 1)


class PairDataset(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """One item per key: two augmented views ``[3, size, size]`` of the key at a drawn pair of magnifications."""

    def __init__(self, keyset: KeySet, strategy: str, size: int, seed: int = 0, reference_bias: bool = False,
                 augment: bool = True) -> None:
        self.keyset, self.strategy, self.size = keyset, strategy, size
        self.keys = usable_keys(keyset, strategy)
        if len(self.keys) < 2:
            raise InputError(f"{len(self.keys)} key(s) can be paired with the {strategy} strategy; MPCS needs at least "
                             "2 (negatives come from the other keys of a batch).")
        self.seed, self.reference_bias = seed, reference_bias
        self.transform = augmentation(size) if augment else None
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        key = self.keys[index]
        pair = choose_pair(self.keyset.magnifications(key), self.strategy, rng, self.reference_bias)
        views = [to_tensor(resize_square(v, self.size)) for v in self.keyset.views(key, pair, rng)]
        if self.transform is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(rng.integers(2**62)))
                views = [self.transform(v) for v in views]
        return views[0], views[1]


class Projector(nn.Module):
    """``[B, dim]`` features -> ``[B, out]`` L2-normalised projections (the spec's "1024-128" head)."""

    def __init__(self, dim: int, hidden: int = 1024, out: int = 128, final_bn: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                                   nn.Linear(hidden, out, bias=False)]
        if final_bn:
            layers.append(nn.BatchNorm1d(out, affine=False))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Unit-length projections ``[B, out]``."""
        return F.normalize(self.layers(features), dim=1)


class MPCSModel(nn.Module):
    """Encoder and projector: images ``[B, 3, H, W]`` in 0..1 -> unit projections ``[B, 128]``."""

    def __init__(self, encoder: Encoder, final_bn: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = Projector(encoder.dim, final_bn=final_bn)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Projections of ``images``."""
        return self.projector(self.encoder(images))


def _gather(embeddings: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All ranks' embeddings (gradients flow back to this rank's) and this rank's row offset."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return embeddings, 0
    from torch.distributed.nn.functional import all_gather

    parts = all_gather(embeddings)
    return torch.cat(parts), torch.distributed.get_rank() * len(embeddings)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1, symmetric: bool = True,
            gather: bool = True) -> torch.Tensor:
    """NT-Xent of positive pairs ``(z1[i], z2[i])`` (``[B, d]``, normalised here) against every other embedding.

    Symmetric (default): both views are anchors; the mean of 2B (2N over ranks) cross-entropies, as SimCLR.
    Asymmetric (the reference's single-GPU loss): only ``z1`` rows are anchors; for anchor i the denominator
    holds all 2B embeddings except itself. With ``gather`` under DDP, negatives come from every rank.
    """
    if z1.shape != z2.shape or z1.ndim != 2 or len(z1) < 2:
        raise ValueError(f"Expected two [B, d] batches with B >= 2, got {tuple(z1.shape)} and {tuple(z2.shape)}.")
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    local = len(z1)
    all1, offset = _gather(z1) if gather else (z1, 0)
    all2, _ = _gather(z2) if gather else (z2, 0)
    total = len(all1)
    candidates = torch.cat([all1, all2])  # [2N, d]: view 1 of every pair, then view 2
    rows = torch.arange(local, device=z1.device) + offset
    anchors, own, partner = (torch.cat([z1, z2]), torch.cat([rows, rows + total]), torch.cat([rows + total, rows])) \
        if symmetric else (z1, rows, rows + total)
    logits = anchors @ candidates.T / temperature
    logits = logits.masked_fill(F.one_hot(own, 2 * total).bool(), float("-inf"))
    return F.cross_entropy(logits, partner)


@dataclass
class PretrainConfig:
    """Settings of one MPCS pretraining run (CPU-friendly defaults; the reference: ResNet-50, 341 px, 1000 epochs).

    ``trainable_blocks`` trains only the encoder's last blocks (None: all; MobileNetV2 has 19, ResNet-50 8), which
    is faster on a CPU and keeps the saved changes small. ``optimizer="lars"`` is the large-batch recipe: LARS
    (lightly's; momentum 0.9, trust 0.001, no weight decay or adaptation for biases and BatchNorm) at
    ``batch/256 * 0.2`` (``lr`` ignored), warm-up then cosine.
    """

    encoder: str = "mobilenet_v2"
    weights: str = "pretrained"
    strategy: str = "ordered"
    reference_bias: bool = False
    symmetric: bool = True
    temperature: float = 0.1
    final_bn: bool = True
    epochs: int = 5
    batch_size: int = 32
    image_size: int = 96
    optimizer: str = "adam"
    lr: float = 3e-4
    weight_decay: float = 1e-6
    warmup_epochs: int = 1
    trainable_blocks: int | None = 6
    min_magnifications: int = 2
    amp: bool = False
    workers: int = 0
    seed: int = 0

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return asdict(self)


def _optimizer(model: nn.Module, config: PretrainConfig, global_batch: int) -> torch.optim.Optimizer:
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam([p for _, p in trainable], lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "lars":
        from lightly.utils.lars import LARS

        decayed = [p for _, p in trainable if p.ndim > 1]
        plain = [p for _, p in trainable if p.ndim <= 1]  # biases and BatchNorm: no decay, no LARS scaling
        return LARS([{"params": decayed, "weight_decay": config.weight_decay}, {"params": plain, "weight_decay": 0.0}],
                    lr=global_batch / 256 * 0.2, momentum=0.9, trust_coefficient=0.001)
    raise InputError(f"Unknown optimizer {config.optimizer!r}; choose adam or lars.")


@dataclass
class PretrainResult:
    """The trained model (encoder and projector), its loss history and what it was trained on."""

    model: MPCSModel
    history: training.History
    keys: int
    config: PretrainConfig


def build_model(config: PretrainConfig, device: str = "cpu") -> MPCSModel:
    """A fresh MPCS model: the configured encoder (ImageNet weights unless ``weights="random"``) and projector."""
    encoder = Encoder(config.encoder, weights=config.weights, seed=config.seed)  # type: ignore[arg-type]
    encoder.freeze(config.trainable_blocks)
    return MPCSModel(encoder, final_bn=config.final_bn).to(device)


def pretrain(keyset: KeySet, config: PretrainConfig, device: str = "cpu", model: MPCSModel | None = None,
             evaluate: Callable[[int], dict[str, float]] | None = None,
             on_progress: Callable[[training.Progress], None] | None = None, checkpoint: Path | None = None,
             resume: bool = False, show_bar: bool = True) -> PretrainResult:
    """Pretrain with MPCS on ``keyset`` (all of it: give only training keys).

    Under ``torchrun`` every rank trains on its shard of each epoch's keys, BatchNorm is synchronised on GPUs,
    and the loss sees every rank's embeddings. ``config.amp`` autocasts to bfloat16 on a GPU (a labelled fast
    mode; float32 otherwise).

    Raises:
        InputError: too few keys for one batch, or bad settings.
    """
    rank = distributed.setup(device)
    torch.manual_seed(config.seed)
    model = model if model is not None else build_model(config, str(rank.device))
    dataset = PairDataset(keyset, config.strategy, config.image_size, config.seed, config.reference_bias)
    per_rank = max(2, config.batch_size // rank.world_size)
    if len(dataset) < per_rank * rank.world_size:
        raise InputError(f"{len(dataset)} pairable keys are fewer than one batch of {per_rank * rank.world_size}; "
                         "lower the batch size.")
    if rank.world_size > 1 and rank.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[assignment]
    trained = distributed.wrap(model, rank)
    steps = len(dataset) // (per_rank * rank.world_size)
    optimizer = _optimizer(model, config, per_rank * rank.world_size)
    scheduler = training.warmup_then_cosine(optimizer, config.warmup_epochs * steps, config.epochs * steps)
    autocast = config.amp and rank.device.type == "cuda"

    def batches(epoch: int) -> torch.utils.data.DataLoader[tuple[torch.Tensor, torch.Tensor]]:
        dataset.epoch = epoch
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(config.seed * 7919 + epoch))
        mine = order[: steps * per_rank * rank.world_size][rank.rank::rank.world_size].tolist()
        return torch.utils.data.DataLoader(dataset, batch_size=per_rank, sampler=mine, drop_last=True,
                                           num_workers=config.workers, persistent_workers=False)

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        first, second = (view.to(rank.device, non_blocking=True) for view in batch)
        with torch.autocast(rank.device.type, dtype=torch.bfloat16, enabled=autocast):
            projections = trained(torch.cat([first, second])).float()
        z1, z2 = projections.chunk(2)
        return {"loss": nt_xent(z1, z2, config.temperature, config.symmetric)}

    history = training.fit(trained, step, batches, optimizer, config.epochs, scheduler=scheduler,
                           scheduler_per_step=True, evaluate=evaluate, on_progress=on_progress, checkpoint=checkpoint,
                           resume=resume, show_bar=show_bar, description="MPCS pretraining")
    model = distributed.unwrap(trained)  # type: ignore[assignment]
    model.eval()
    return PretrainResult(model, history, len(dataset), config)  # type: ignore[arg-type]
