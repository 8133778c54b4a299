"""engine.autoencoders.projection: PCA keeps a planar embedding's geometry; bad input is refused."""

from __future__ import annotations

import pytest
import torch

from engine.autoencoders.projection import project
from engine.errors import InputError


def test_pca_of_points_on_a_plane_keeps_their_distances() -> None:
    generator = torch.Generator().manual_seed(0)
    plane = torch.randn(50, 2, generator=generator) * torch.tensor([3.0, 1.0])
    basis, _ = torch.linalg.qr(torch.randn(10, 2, generator=generator))
    embedded = plane @ basis.T + 5.0  # a plane in 10-D, shifted
    points = torch.from_numpy(project(embedded, "pca"))
    torch.testing.assert_close(torch.cdist(points, points), torch.cdist(plane.double(), plane.double()),
                               atol=1e-6, rtol=1e-6)
    assert points[:, 0].var() > points[:, 1].var()  # the first axis carries the most variance
    again = project(embedded, "pca")
    assert (again == points.numpy()).all()  # signs are fixed: the same picture every time


def test_tsne_gives_one_point_per_embedding_and_bad_input_is_refused() -> None:
    assert project(torch.randn(12, 4), "tsne").shape == (12, 2)
    with pytest.raises(InputError, match="at least 3"):
        project(torch.randn(2, 4))
    with pytest.raises(InputError, match="pca"):
        project(torch.randn(5, 4), "umap")  # type: ignore[arg-type]
