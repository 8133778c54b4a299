"""Adapt a deep perceptual similarity metric to a context (a ranking of six distortions).

Implements "Deep Perceptual Similarity is Adaptable to Ambiguous Contexts": per-channel
non-negative weights on a frozen backbone (``lin``) or full fine-tuning (``tune``), trained with
the LPIPS-style ranking head and the paper's sync loss on triplets drawn fresh every step, then
scored on a frozen, held-out triplet set before and after training.

Example::

    python -m trainers.contexts --ranking blur,darken,hue,rotate,translate,zoom-in \\
        --backbone mobilenet_v2 --epochs 6 --out adapted.safetensors

writes ``adapted.safetensors`` (the weights), ``adapted.json`` (ranking, before_accuracy,
after_accuracy, per_pair, provenance). Without ``--images`` the colour photographs bundled with
scikit-image/scikit-learn/matplotlib are used (some held out for testing). For large runs use
``torchrun --nproc_per_node N -m trainers.contexts ...`` (DDP; each rank draws its own triplets).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine import samples
from engine.backbones import FeatureExtractor, backbone
from engine.errors import WorkbenchError, command_line
from engine.images import load_image_collection
from engine.similarity.compare import resize
from engine.similarity.contexts.distortions import parse_context
from engine.similarity.contexts.evaluate import RankingAccuracy, ranking_accuracy, triplet_distances, triplet_statistics
from engine.similarity.contexts.model import VARIANTS, ChannelStatistics, ContextModel, TrainingConfig
from engine.similarity.contexts.storage import save_adapted
from engine.similarity.contexts.triplets import Triplets, TripletSampler, frozen_triplets
from engine.similarity.metric import COMPARISONS, DeepPerceptualSimilarity
from trainers import distributed, loop

MAX_SOURCE_SIDE = 512


@dataclass
class ImageSplit:
    """Training and held-out test images, ``[3, H, W]`` tensors in 0..1, and how they were split."""

    train: list[torch.Tensor]
    test: list[torch.Tensor]
    description: str


def split_images(images: Sequence[np.ndarray], names: Sequence[str]) -> ImageSplit:
    """Hold out every fourth image for testing (at least one); with one image, hold out its right quarter.

    Images (``float32 [H, W, 3]`` in 0..1) larger than :data:`MAX_SOURCE_SIDE` are downsized first.
    """
    tensors = [_source_tensor(image) for image in images]
    if len(tensors) == 1:
        cut = tensors[0].shape[-1] * 3 // 4
        return ImageSplit([tensors[0][..., :cut]], [tensors[0][..., cut:]],
                          f"one image ({names[0]}): left 3/4 for training, right 1/4 held out")
    test_index = set(range(3, len(tensors), 4)) or {len(tensors) - 1}
    train = [t for i, t in enumerate(tensors) if i not in test_index]
    test = [t for i, t in enumerate(tensors) if i in test_index]
    held_out = ", ".join(names[i] for i in sorted(test_index))
    return ImageSplit(train, test, f"{len(train)} training images, {len(test)} held out ({held_out})")


def _source_tensor(image: np.ndarray) -> torch.Tensor:
    tensor = torch.tensor(image, dtype=torch.float32).permute(2, 0, 1)  # a copy: samples are read-only
    height, width = tensor.shape[-2:]
    scale = MAX_SOURCE_SIDE / max(height, width)
    if scale < 1:
        tensor = resize(tensor[None], (round(height * scale), round(width * scale)))[0]
    return tensor


def load_images(source: str | Path | None) -> ImageSplit:
    """The bundled photographs (``source`` None) or every image of a folder or zip, split train/test."""
    if source is None:
        names = list(samples.NATURAL_IMAGES)
        pixels = [samples.natural_image(name) for name in names]
    else:
        collection = load_image_collection(source, max_side=MAX_SOURCE_SIDE)
        names = list(collection.images)
        pixels = [image.pixels for image in collection.images.values()]
    return split_images(pixels, names)


@dataclass
class ContextRun:
    """The outcome of one adaptation: accuracies before/after, the loss history and the model."""

    ranking: list[str]
    context: tuple[str, ...]
    before: RankingAccuracy
    after: RankingAccuracy
    history: loop.History
    model: ContextModel
    images: str
    config: TrainingConfig
    test_triplets: int = 0
    bapps: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """The JSON record written beside the saved metric (the ``OUT.json`` contract)."""
        per_pair = {pair: {"before": value, "after": self.after.pair_dict()[pair]}
                    for pair, value in self.before.pair_dict().items()}
        return {
            "ranking": self.ranking,
            "context": list(self.context),
            "before_accuracy": round(self.before.overall, 4),
            "after_accuracy": round(self.after.overall, 4),
            "per_pair": per_pair,
            "test_triplets": self.test_triplets,
            "images": self.images,
            "training": asdict(self.config),
            "losses": [round(value, 5) for value in self.history.losses],
            **({"bapps_2afc": self.bapps} if self.bapps else {}),
        }


def build_context_model(arch: str, layers: Sequence[str] | None, comparison: str, channel_norm: bool,
                        variant: str, weights: str = "pretrained", seed: int = 0,
                        device: str = "cpu") -> ContextModel:
    """A fresh metric (its own backbone copy, so fine-tuning never touches a shared one) with lin weights."""
    names = list(layers) if layers else list(backbone(arch).default_layers)
    extractor = FeatureExtractor(arch, names, weights=weights, seed=seed, device=device)  # type: ignore[arg-type]
    metric = DeepPerceptualSimilarity(extractor, names, comparison, channel_norm)  # type: ignore[arg-type]
    return ContextModel(metric, variant)  # type: ignore[arg-type]


def adapt(
    ranking: str | Sequence[str],
    split: ImageSplit,
    model: ContextModel,
    config: TrainingConfig = TrainingConfig(),
    test_crops: int = 6,
    on_progress: Callable[[loop.Progress], None] | None = None,
    test_set: Triplets | None = None,
    show_bar: bool = True,
) -> ContextRun:
    """Train ``model`` to rank distortions as ``ranking`` says; score it before and after.

    Args:
        ranking: the six distortions, most similar first (comma-separated or a sequence).
        split: training and held-out images.
        model: from :func:`build_context_model`.
        config: training hyper-parameters.
        test_crops: crops per held-out image in the frozen test set (30 triplets each).
        on_progress: called after every step (and after each epoch with the test accuracy).
        test_set: a frozen set to reuse (e.g. across contexts); made from ``split.test`` if None.
        show_bar: tqdm bars on the command line.
    """
    given = [name.strip() for name in (ranking.split(",") if isinstance(ranking, str) else ranking) if name.strip()]
    context = parse_context(given)
    rank = distributed.setup(str(model.metric.extractor.device.type))
    frozen = test_set if test_set is not None else frozen_triplets(split.test, test_crops, config.image_size)
    fast = model.variant == "lin"
    if fast:  # distances are linear in the weights: run the backbone on the test set once
        test_s0, test_s1 = triplet_statistics(model.metric, frozen)

    def accuracy() -> RankingAccuracy:
        if fast:
            weights = torch.cat(list(model.heads.weights)).detach()
            d0, d1 = test_s0 @ weights, test_s1 @ weights
        else:
            d0, d1 = triplet_distances(model.metric, frozen)
        return ranking_accuracy(d0, d1, frozen.pairs, context)

    before = accuracy()
    sampler = TripletSampler(split.train, context, config.image_size, seed=config.seed + 1000 * rank.rank)
    shuffler = torch.Generator().manual_seed(config.seed + 1000 * rank.rank)
    torch.manual_seed(config.seed)
    trained = distributed.wrap(model, rank)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=config.lr, betas=(0.5, 0.999))
    constant = (config.epochs + 1) // 2
    scheduler = loop.warmup_then_linear_decay(optimizer, constant, config.epochs - constant + 1)
    per_rank = max(2, config.batch_size // rank.world_size)

    Batch = tuple[Triplets | ChannelStatistics, str]  # with how the sync loss applies in its epoch

    def batches(epoch: int) -> list[Batch]:
        sync = config.sync_mode(epoch)
        if not fast:
            return [(sampler(per_rank), sync) for _ in range(config.steps_per_epoch)]
        fresh = sampler(per_rank * config.steps_per_epoch)
        assert fresh.judge is not None
        statistics = ChannelStatistics(*triplet_statistics(model.metric, fresh), fresh.judge)
        return [(batch, sync) for _ in range(config.passes) for batch in statistics.batches(per_rank, shuffler)]

    def step(item: Batch) -> dict[str, torch.Tensor]:
        batch, sync = item
        assert batch.judge is not None
        d0, d1, logits = trained(batch)
        return model.loss(d0, d1, logits, batch.judge, sync=sync)  # type: ignore[arg-type]

    history = loop.fit(trained, step, batches, optimizer, config.epochs, scheduler=scheduler,
                       after_step=model.clamp_, evaluate=lambda epoch: {"test_accuracy": accuracy().overall},
                       on_progress=on_progress, show_bar=show_bar, description="adapting")
    model.eval()
    return ContextRun(given, context, before, accuracy(), history, model, split.description, config, len(frozen))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m trainers.contexts", description=__doc__.split("\n\n")[0],
                                     epilog="Distortions: rotate, translate, darken, hue (or color), blur, "
                                            "zoom-in (or zoom_in).")
    parser.add_argument("--ranking", required=True,
                        help="the six distortions, most similar first, comma-separated")
    parser.add_argument("--images", type=Path, default=None,
                        help="folder or .zip of training images (default: the bundled photographs)")
    parser.add_argument("--backbone", default="mobilenet_v2", help="backbone architecture (default mobilenet_v2)")
    parser.add_argument("--layers", default=None, help="comma-separated layer names (default: the backbone's)")
    parser.add_argument("--compare", default="spatial", choices=list(COMPARISONS), help="comparison function")
    parser.add_argument("--no-channel-norm", action="store_true", help="do not L2-normalise channel vectors")
    parser.add_argument("--variant", default="lin", choices=list(VARIANTS), help="what is trained (default lin)")
    parser.add_argument("--epochs", type=int, default=TrainingConfig.epochs, help="epochs (default %(default)s)")
    parser.add_argument("--steps-per-epoch", type=int, default=TrainingConfig.steps_per_epoch,
                        help="optimiser steps per epoch (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=TrainingConfig.batch_size,
                        help="triplets per step, over all ranks (default %(default)s)")
    parser.add_argument("--passes", type=int, default=TrainingConfig.passes,
                        help="lin only: optimiser passes over each epoch's fresh triplets (default %(default)s)")
    parser.add_argument("--lr", type=float, default=TrainingConfig.lr, help="Adam learning rate (default %(default)s)")
    parser.add_argument("--sync-epochs", type=int, default=TrainingConfig.sync_epochs,
                        help="sync loss: -1 on batches with 2AFC <= 0.5 (paper default), N: on every batch of "
                             "the first N epochs, 0: never (default %(default)s)")
    parser.add_argument("--test-crops", type=int, default=6, help="crops per held-out image in the test set")
    parser.add_argument("--seed", type=int, default=0, help="seed of triplets and initialisation")
    parser.add_argument("--weights", default="pretrained", choices=["pretrained", "random"],
                        help="backbone weights (random: tests only, labelled RANDOM)")
    parser.add_argument("--bapps", type=Path, default=None,
                        help="a BAPPS-layout folder: also report its 2AFC score before and after")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to train")
    parser.add_argument("--out", type=Path, required=True,
                        help="where to save the adapted metric (OUT.json is written beside it)")
    return parser.parse_args(argv)


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m trainers.contexts``."""
    args = parse_args(argv)
    try:
        config = TrainingConfig(epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
                                passes=args.passes,
                                lr=args.lr, variant=args.variant, sync_epochs=args.sync_epochs, seed=args.seed)
        parse_context(args.ranking)  # fail before loading anything
        split = load_images(args.images)
        model = build_context_model(args.backbone, args.layers.split(",") if args.layers else None, args.compare,
                                    not args.no_channel_norm, args.variant, args.weights, args.seed, args.device)
        bapps_before = _bapps_score(model.metric, args.bapps)
        run = adapt(args.ranking, split, model, config, test_crops=args.test_crops)
        if bapps_before is not None:
            run.bapps = {"before": bapps_before, "after": _bapps_score(model.metric, args.bapps) or 0.0}
        if distributed.is_main_process():
            summary = run.summary()
            path = save_adapted(model, args.out, summary)
            print(json.dumps({key: summary[key] for key in ("ranking", "before_accuracy", "after_accuracy")}))
            print(f"saved {path.with_suffix('.safetensors')} and {path}")
    finally:
        distributed.teardown()
    return 0


def _bapps_score(metric: DeepPerceptualSimilarity, folder: Path | None) -> float | None:
    if folder is None:
        return None
    from engine.similarity import bapps, twoafc

    scores = [s.score for s in twoafc.evaluate(bapps.find_sets(folder), metric).subsets if s.score is not None]
    if not scores:
        raise WorkbenchError(f"{folder} holds no 2AFC set (expected 2afc/<set>/ref,p0,p1,judge).")
    return float(np.mean(scores))


if __name__ == "__main__":
    sys.exit(main())
