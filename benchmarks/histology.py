"""Histology: our NT-Xent against lightly's, and MPCS pair loading against torchvision's ImageFolder, same run.

1. **NT-Xent** (symmetric, temperature 0.1): :func:`engine.histology.mpcs.nt_xent` against ``lightly.loss.NTXentLoss``
   (the peer at its default, no memory bank) on the same random projections: forward + backward time (median of
   ``--repeats``), the ratio peer / ours (above 1: ours is faster), and the largest difference of loss and gradients.
2. **Data loading**: MPCS pairs (two magnifications of one key, both augmented) from a synthetic BreakHis-layout
   folder through :class:`engine.histology.mpcs.PairDataset` (images decoded once, then kept), against
   ``torchvision.datasets.ImageFolder`` with the same augmentations (decodes every time), in images per second over
   two epochs; the ratio ours / peer.

    python -m benchmarks.histology [--repeats 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from engine.histology.dataset import read_dataset
from engine.histology.mpcs import FileKeys, PairDataset, augmentation, nt_xent
from engine.histology.synthetic import write_breakhis_fixture


def _timed(function, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def loss_rows(repeats: int) -> list[dict[str, float]]:
    """Ours against lightly's NT-Xent at three batch sizes."""
    from lightly.loss import NTXentLoss

    peer = NTXentLoss(temperature=0.1)
    rows = []
    for batch in (64, 256, 1024):
        generator = torch.Generator().manual_seed(batch)
        z1 = torch.randn(batch, 128, generator=generator, requires_grad=True)
        z2 = torch.randn(batch, 128, generator=generator, requires_grad=True)

        def run(loss_fn) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
            z1.grad = None
            value = loss_fn(z1, z2)
            value.backward()
            assert z1.grad is not None
            return value.detach(), z1.grad.clone()

        ours_value, ours_grad = run(lambda a, b: nt_xent(a, b, 0.1))
        peer_value, peer_grad = run(peer)
        ours_s = _timed(lambda: run(lambda a, b: nt_xent(a, b, 0.1)), repeats)
        peer_s = _timed(lambda: run(peer), repeats)
        rows.append({"batch": batch, "ours_ms": 1000 * ours_s, "lightly_ms": 1000 * peer_s,
                     "ratio": peer_s / ours_s, "loss_difference": float((ours_value - peer_value).abs()),
                     "gradient_difference": float((ours_grad - peer_grad).abs().max())})
    return rows


def loading_row(folder: Path, size: int) -> dict[str, float]:
    """Images per second: MPCS pairs (decoded once) against ImageFolder (decoded every epoch)."""
    from torchvision import datasets
    from torchvision.transforms import v2

    dataset = read_dataset(folder)
    pairs = PairDataset(FileKeys.from_dataset(dataset, size), "random", size)
    started = time.perf_counter()
    for epoch in range(2):
        pairs.epoch = epoch
        for index in range(len(pairs)):
            pairs[index]
    ours = 2 * 2 * len(pairs) / (time.perf_counter() - started)
    peer_set = datasets.ImageFolder(str(folder), transform=v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32,
                                                                                                 scale=True),
                                                                       v2.Resize((size, size)), augmentation(size)]))
    started = time.perf_counter()
    for _ in range(2):
        for index in range(len(peer_set)):
            peer_set[index]
    peer = 2 * len(peer_set) / (time.perf_counter() - started)
    return {"images": len(dataset.samples), "size": size, "ours_images_per_s": ours, "imagefolder_images_per_s": peer,
            "ratio": ours / peer}


def main(argv: list[str] | None = None) -> int:
    """Run both comparisons and print them."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.histology", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed repeats per loss measurement (default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    losses = loss_rows(args.repeats)
    with tempfile.TemporaryDirectory() as scratch:
        folder = write_breakhis_fixture(scratch, patients_per_subtype=2, images_per_magnification=4, size=(230, 350))
        loading = loading_row(folder, 96)
    if args.json:
        print(json.dumps({"nt_xent": losses, "loading": loading, "threads": torch.get_num_threads()}))
        return 0
    for row in losses:
        print(f"NT-Xent B={row['batch']:4d}: ours {row['ours_ms']:7.2f} ms, lightly {row['lightly_ms']:7.2f} ms, "
              f"ratio lightly/ours {row['ratio']:.2f}; |loss diff| {row['loss_difference']:.1e}, "
              f"max |grad diff| {row['gradient_difference']:.1e}")
    print(f"loading {loading['images']} images at {loading['size']} px, 2 epochs: MPCS pairs "
          f"{loading['ours_images_per_s']:.0f} img/s, ImageFolder {loading['imagefolder_images_per_s']:.0f} img/s, "
          f"ratio ours/ImageFolder {loading['ratio']:.2f} ({torch.get_num_threads()} threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
