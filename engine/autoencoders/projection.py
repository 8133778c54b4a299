"""2-D projections of embeddings for plotting: PCA (exact, instant) or t-SNE (scikit-learn, slower)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from engine.errors import InputError

Method = Literal["pca", "tsne"]
MAX_TSNE_POINTS = 3000


def project(embeddings: torch.Tensor, method: Method = "pca", seed: int = 0) -> np.ndarray:
    """``[N, z]`` embeddings -> ``float64 [N, 2]`` points.

    PCA: the centred embeddings on their two leading principal axes (signs fixed so that each axis'
    largest loading is positive, which makes the picture reproducible). t-SNE: perplexity
    min(30, (N - 1) / 3), PCA initialisation, ``seed``.

    Raises:
        InputError: fewer than 3 points, an unknown method, or too many points for t-SNE.
    """
    points = embeddings.detach().double().cpu()
    if points.ndim != 2 or len(points) < 3:
        raise InputError(f"Projecting needs at least 3 embeddings shaped [N, z], got {tuple(points.shape)}.")
    if method == "pca":
        centred = points - points.mean(0)
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        axes = vh[:2]
        signs = torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))
        projected = centred @ (axes * signs).T
        if projected.shape[1] < 2:
            projected = torch.cat([projected, torch.zeros(len(projected), 1, dtype=projected.dtype)], 1)
        return projected.numpy()
    if method == "tsne":
        if len(points) > MAX_TSNE_POINTS:
            raise InputError(f"t-SNE is limited to {MAX_TSNE_POINTS} points here; use PCA for {len(points)}.")
        from sklearn.manifold import TSNE

        return TSNE(2, perplexity=min(30.0, (len(points) - 1) / 3), init="pca", random_state=seed).fit_transform(
            points.numpy())
    raise InputError(f"Unknown projection {method!r}; choose 'pca' or 'tsne'.")
