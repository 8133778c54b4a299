"""What is trained to adapt a DPS metric to a context, and the loss it is trained with.

A :class:`ContextModel` holds a :class:`DeepPerceptualSimilarity` metric with per-channel ``lin``
weights and the LPIPS-style ranking head G. Two variants (paper: ``lin`` and ``tune``):

- ``lin``: only the non-negative per-channel weights (and G) learn; the backbone is frozen, so its
  features are computed without gradients (cheap);
- ``tune``: the backbone learns too (full fine-tuning). Its BatchNorm layers stay in eval mode:
  running statistics must not drift (spec pitfall 5).

The loss is BCE between G(d0, d1) and the judge (1 = p1 more similar), plus the paper's *sync loss*:
whenever a batch's 2AFC score of the raw distances is <= 0.5, ``10 * BCE(sigmoid(d0 - d1), judge)``
is added, so the distances themselves - not only G - learn the ordering. G is not used to score.

Why ``lin`` trains fast: with a frozen backbone the distance is *linear* in the per-channel weights,
``d = sum_k w_k * s_k`` where ``s_k`` is channel k's squared difference averaged over positions
(:class:`ChannelStatistics`). So the backbone runs once per triplet, without autograd, and every
optimiser step after that is a dot product. (Dropout then drops whole channel statistics instead of
single positions; same expectation, coarser noise.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import InputError
from engine.similarity.contexts.triplets import Triplets
from engine.similarity.metric import DeepPerceptualSimilarity, Embedding, LinearHeads

Variant = Literal["lin", "tune"]
VARIANTS: dict[str, str] = {
    "lin": "non-negative per-channel weights on the frozen backbone",
    "tune": "per-channel weights and the whole backbone fine-tuned (BatchNorm kept in eval mode)",
}
SYNC_WEIGHT = 10.0


class RankingHead(nn.Module):
    """G: maps ``(d0, d1)`` to the probability that p1 is the more similar candidate.

    Features ``(d0, d1, d0 - d1, d0 / (d1 + 0.1), d1 / (d0 + 0.1))`` go through 5 -> 32 -> 32 -> 1
    with LeakyReLU(0.2) and a sigmoid, as in LPIPS' ranking loss.
    """

    def __init__(self, hidden: int = 32, seed: int = 0) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(5, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
        )
        generator = torch.Generator().manual_seed(seed)  # PyTorch's default Linear init, without global seeding
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_uniform_(layer.weight, a=5**0.5, generator=generator)
                bound = 1 / layer.in_features**0.5
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def forward(self, d0: torch.Tensor, d1: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` (apply a sigmoid for the probability that p1 is preferred)."""
        features = torch.stack([d0, d1, d0 - d1, d0 / (d1 + 0.1), d1 / (d0 + 0.1)], dim=1)
        return self.layers(features)[:, 0]


def twoafc_scores(d0: torch.Tensor, d1: torch.Tensor, judge: torch.Tensor) -> torch.Tensor:
    """Per-triplet 2AFC score: agreement with the judges, 0.5 on ties (spec 1.5).

    With hard 0/1 labels its mean is the ranking accuracy.
    """
    return (d0 < d1).float() * (1 - judge) + (d1 < d0).float() * judge + 0.5 * (d0 == d1).float()


@dataclass(frozen=True)
class ChannelStatistics:
    """Per-channel squared differences averaged over positions, for a batch of triplets.

    ``s0[b, k]`` is for (reference, p0) and ``s1`` for (reference, p1); k runs over every channel of
    every entry of the metric, in order. ``judge`` as in :class:`Triplets`.
    """

    s0: torch.Tensor
    s1: torch.Tensor
    judge: torch.Tensor

    def __len__(self) -> int:
        return int(self.s0.shape[0])

    def batches(self, size: int, generator: torch.Generator) -> list["ChannelStatistics"]:
        """Shuffled minibatches of ``size``."""
        order = torch.randperm(len(self), generator=generator)
        return [ChannelStatistics(self.s0[i], self.s1[i], self.judge[i])
                for i in (order[start:start + size] for start in range(0, len(self), size))]


def channel_statistics(a: Embedding, b: Embedding) -> torch.Tensor:
    """``[B, K]``: each entry's squared channel differences averaged over positions, concatenated."""
    return torch.cat([(part_a - part_b).square().mean(dim=(2, 3)) for part_a, part_b in zip(a.parts, b.parts)],
                     dim=1)


class ContextModel(nn.Module):
    """A metric being adapted plus its ranking head; ``forward(batch) -> (d0, d1, G's logits)``.

    A batch is :class:`Triplets` (any variant; the backbone runs) or, for ``lin``,
    :class:`ChannelStatistics` (the fast path; see the module docstring).
    """

    def __init__(self, metric: DeepPerceptualSimilarity, variant: Variant = "lin", seed: int = 0) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise InputError(f"Unknown variant {variant!r}; choose from {', '.join(VARIANTS)}.")
        device = metric.extractor.device
        if metric.heads is None:
            metric.heads = LinearHeads([entry.channels for entry in metric.entries]).to(device)
        self.metric = metric
        self.variant = variant
        self.head = RankingHead(seed=seed).to(device)
        self.heads.dropout.seed(seed)
        metric.extractor.requires_grad_(variant == "tune")

    @property
    def heads(self) -> LinearHeads:
        """The per-channel weights being learned."""
        assert self.metric.heads is not None
        return self.metric.heads

    def train(self, mode: bool = True) -> "ContextModel":
        """Dropout of the lin weights follows ``mode``; the backbone always stays in eval mode."""
        super().train(mode)
        self.metric.train(mode)
        return self

    def forward(self, batch: Triplets | ChannelStatistics) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(d0, d1, logits)``: everything trained takes part in one forward pass (as DDP needs)."""
        if isinstance(batch, ChannelStatistics):
            if self.variant != "lin":
                raise InputError("Channel statistics only describe a frozen backbone: use the lin variant.")
            weights = torch.cat(list(self.heads.weights))
            d0 = self.heads.dropout(batch.s0) @ weights
            d1 = self.heads.dropout(batch.s1) @ weights
        else:
            d0, d1 = self._distances(batch)
        return d0, d1, self.head(d0, d1)

    def _distances(self, triplets: Triplets) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.cat([triplets.reference, triplets.p0, triplets.p1])
        size = (int(images.shape[-2]), int(images.shape[-1]))
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.variant == "tune"):
            maps = self.metric.features(images)
        embedding = self.metric.embed_features(maps, size)
        count = len(triplets)
        reference, p0, p1 = (embedding.select(slice(k * count, (k + 1) * count)) for k in range(3))
        return self.metric.distance(reference, p0).total, self.metric.distance(reference, p1).total

    @staticmethod
    def loss(d0: torch.Tensor, d1: torch.Tensor, logits: torch.Tensor, judge: torch.Tensor,
             sync: Literal["auto", "always", "off"] = "auto") -> dict[str, torch.Tensor]:
        """Ranking BCE through G, plus the sync loss: ``auto`` adds it when the batch's 2AFC score
        is <= 0.5 (the paper's default), ``always`` on every batch, ``off`` never."""
        judge = judge.to(d0.device)  # labels are made on the CPU, distances where the model runs
        ranking = F.binary_cross_entropy_with_logits(logits, judge)
        score = twoafc_scores(d0.detach(), d1.detach(), judge).mean()
        total = ranking
        if sync == "always" or (sync == "auto" and score <= 0.5):
            total = total + SYNC_WEIGHT * F.binary_cross_entropy_with_logits(d0 - d1, judge)
        return {"loss": total, "ranking_loss": ranking.detach(), "twoafc": score}

    def clamp_(self) -> None:
        """Keep the per-channel weights non-negative (call after every optimiser step)."""
        self.heads.clamp_()


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of an adaptation run (the paper's, scaled down for a CPU by default).

    The paper trains 10 epochs of SVHN/STL-10 at batch 1024 with Adam(lr 1e-3, betas 0.5/0.999),
    constant for half the epochs then linearly decayed to 0. Each epoch here draws
    ``steps_per_epoch * batch_size`` fresh triplets; ``lin`` then makes ``passes`` shuffled passes
    over their channel statistics (``passes * steps_per_epoch`` steps), ``tune`` one pass. The
    defaults make up for the far smaller data with more, larger steps (lr 1e-2).

    ``sync_epochs`` follows the paper's ``--sync_loss_epochs``: -1 adds the sync loss to any batch
    whose 2AFC score is <= 0.5; N > 0 adds it to every batch of the first N epochs (then as -1);
    0 never.
    """

    def sync_mode(self, epoch: int) -> Literal["auto", "always", "off"]:
        """How the sync loss applies in ``epoch`` (0-based)."""
        if self.sync_epochs == 0:
            return "off"
        return "always" if epoch < self.sync_epochs else "auto"

    epochs: int = 6
    steps_per_epoch: int = 10
    batch_size: int = 64
    passes: int = 30
    lr: float = 1e-2
    variant: Variant = "lin"
    sync_epochs: int = -1
    image_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.epochs, self.steps_per_epoch, self.passes) < 1 or self.batch_size < 2:
            raise InputError("epochs, steps per epoch and passes must be >= 1, and the batch size >= 2.")
        if self.variant not in VARIANTS:
            raise InputError(f"Unknown variant {self.variant!r}; choose from {', '.join(VARIANTS)}.")
