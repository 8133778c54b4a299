"""Embeddings and cross-magnification retrieval: query a region at one magnification, find it at another.

This is how MPCS's own claim can be measured without labels: a representation that ties magnifications together
should rank the same tissue, seen at another zoom, above every other region. For each ordered pair of
magnifications (A, B), every held-out region's view at A queries the views of all held-out regions at B by cosine
similarity; top-k is the share of queries whose own region is among the k most similar. The figures are averaged
over the 12 ordered pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.histology.mpcs import resize_square


def embed(encoder: nn.Module, images: Sequence[np.ndarray] | np.ndarray, size: int | None = None,
          batch_size: int = 32) -> np.ndarray:
    """``float32 [N, D]`` unit-length features of ``images`` (each ``float32 [H, W, 3]`` in 0..1, resized to
    ``size`` x ``size`` when given) by ``encoder`` in eval mode."""
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = [resize_square(np.asarray(image, np.float32), size) if size else image
                     for image in images[start:start + batch_size]]
            batch = torch.from_numpy(np.stack(chunk).astype(np.float32)).permute(0, 3, 1, 2).to(device)
            outputs.append(torch.nn.functional.normalize(encoder(batch).float(), dim=1).cpu().numpy())
    encoder.train(was_training)
    width = getattr(encoder, "dim", 0)
    return np.concatenate(outputs) if outputs else np.zeros((0, width), np.float32)


@dataclass(frozen=True)
class Retrieval:
    """Top-1 and top-5 shares (0..1) averaged over ordered magnification pairs, and per pair (``"40X->400X"``)."""

    top1: float
    top5: float
    per_pair: dict[str, dict[str, float]]
    queries: int  # regions queried per pair

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {"top1": self.top1, "top5": self.top5, "per_pair": self.per_pair, "queries": self.queries}


def cross_magnification_retrieval(embeddings: Mapping[str, np.ndarray]) -> Retrieval:
    """Retrieval between every ordered pair of magnifications.

    Args:
        embeddings: magnification -> ``[K, D]`` unit features, row k of every array being region k.

    Raises:
        ValueError: fewer than two magnifications or arrays of different lengths.
    """
    names = list(embeddings)
    counts = {len(embeddings[name]) for name in names}
    if len(names) < 2 or len(counts) != 1 or counts == {0}:
        raise ValueError("Need two or more magnifications with the same regions in the same order.")
    per_pair: dict[str, dict[str, float]] = {}
    for query in names:
        for gallery in names:
            if query == gallery:
                continue
            similarity = embeddings[query] @ embeddings[gallery].T
            own = np.diag(similarity)[:, None]
            rank = (similarity > own).sum(axis=1)  # how many other regions beat the right one
            per_pair[f"{query}->{gallery}"] = {"top1": float(np.mean(rank < 1)), "top5": float(np.mean(rank < 5))}
    top1 = float(np.mean([v["top1"] for v in per_pair.values()]))
    top5 = float(np.mean([v["top5"] for v in per_pair.values()]))
    return Retrieval(top1, top5, per_pair, counts.pop())
