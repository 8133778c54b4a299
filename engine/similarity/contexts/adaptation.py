"""Adapt a deep perceptual similarity metric to a context (a ranking of six distortions).

Implements "Deep Perceptual Similarity is Adaptable to Ambiguous Contexts": per-channel
non-negative weights on a frozen backbone (``lin``) or full fine-tuning (``tune``), trained with
the LPIPS-style ranking head and the paper's sync loss on triplets drawn fresh every step, then
scored on a frozen, held-out triplet set before and after training. :func:`adapt` is what
``python -m trainers.contexts`` and the Contexts view's training job (:data:`JOB`) both run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine import distributed, samples, training
from engine.backbones import FeatureExtractor, backbone
from engine.errors import WorkbenchError
from engine.images import load_image_collection
from engine.jobs import JobContext, JobKind
from engine.similarity.compare import resize
from engine.similarity.contexts import storage
from engine.similarity.contexts.distortions import parse_context
from engine.similarity.contexts.evaluate import RankingAccuracy, ranking_accuracy, triplet_distances, triplet_statistics
from engine.similarity.contexts.model import ChannelStatistics, ContextModel, TrainingConfig
from engine.similarity.contexts.triplets import Triplets, TripletSampler, frozen_triplets
from engine.similarity.metric import DeepPerceptualSimilarity

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
    history: training.History
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
    return ContextModel(metric, variant, seed=seed)  # type: ignore[arg-type]


def adapt(
    ranking: str | Sequence[str],
    split: ImageSplit,
    model: ContextModel,
    config: TrainingConfig = TrainingConfig(),
    test_crops: int = 6,
    on_progress: Callable[[training.Progress], None] | None = None,
    test_set: Triplets | None = None,
    show_bar: bool = True,
    checkpoint: Path | None = None,
    resume: bool = False,
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
        checkpoint: where to keep a resumable checkpoint (see :func:`engine.training.fit`).
        resume: continue from ``checkpoint`` if it exists.
    """
    given = [name.strip() for name in (ranking.split(",") if isinstance(ranking, str) else ranking) if name.strip()]
    context = parse_context(given)
    rank = distributed.setup(str(model.metric.extractor.device.type))
    if rank.world_size > 1 and model.metric.extractor.device != rank.device:
        raise WorkbenchError(f"Under DDP this rank's model must be on {rank.device}, not "
                             f"{model.metric.extractor.device}: build it after engine.distributed.setup.")
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
    trained = distributed.wrap(model, rank)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=config.lr, betas=(0.5, 0.999))
    constant = (config.epochs + 1) // 2
    scheduler = training.warmup_then_linear_decay(optimizer, constant, config.epochs - constant + 1)
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

    history = training.fit(trained, step, batches, optimizer, config.epochs, scheduler=scheduler,
                       after_step=model.clamp_, evaluate=lambda epoch: {"test_accuracy": accuracy().overall},
                       on_progress=on_progress, show_bar=show_bar, description="adapting",
                       checkpoint=checkpoint, resume=resume)
    model.eval()
    return ContextRun(given, context, before, accuracy(), history, model, split.description, config, len(frozen))


def bapps_score(metric: DeepPerceptualSimilarity, folder: Path | None) -> float | None:
    """Mean 2AFC score of ``metric`` over the 2AFC sets of a BAPPS-layout folder (None without a folder)."""
    if folder is None:
        return None
    from engine.similarity import bapps, twoafc

    scores = [s.score for s in twoafc.evaluate(bapps.find_sets(folder), metric).subsets if s.score is not None]
    if not scores:
        raise WorkbenchError(f"{folder} holds no 2AFC set (expected 2afc/<set>/ref,p0,p1,judge).")
    return float(np.mean(scores))




JOB = JobKind("contexts-train", "engine.similarity.contexts.adaptation:run_job", "Adapt a metric to a context")


def run_job(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """The Contexts view's training job: adapt, save and return the summary.

    Params: ``ranking`` (six distortions, most similar first), ``backbone``, ``variant``, ``epochs``,
    ``steps_per_epoch``, ``batch_size``, ``lr``, ``seed``. The images are the job's input files (several
    images or one zip); without any, the bundled photographs. The result names the saved metric
    (``name``, ``summary_path``) and holds its summary.
    """
    config = TrainingConfig(epochs=int(params["epochs"]), steps_per_epoch=int(params["steps_per_epoch"]),
                            batch_size=int(params["batch_size"]), lr=float(params["lr"]),
                            variant=params["variant"], seed=int(params.get("seed", 0)))
    context = parse_context(params["ranking"])
    uploads = sorted(ctx.inputs.glob("*")) if ctx.inputs.is_dir() else []
    zips = [path for path in uploads if path.suffix.lower() == ".zip"]
    split = load_images(zips[0] if len(uploads) == 1 and zips else (ctx.inputs if uploads else None))
    ctx.log(f"images: {split.description}")
    model = build_context_model(params["backbone"], None, "spatial", True, config.variant, seed=config.seed,
                                device=ctx.device)
    run = adapt(context, split, model, config, on_progress=ctx.training_progress, show_bar=False,
                checkpoint=ctx.checkpoint, resume=ctx.resume)
    stem = f"{'-'.join(name[:4] for name in context)}_{time.strftime('%Y%m%d-%H%M%S')}"
    summary = run.summary()
    path = storage.save_adapted(run.model, storage.default_folder() / f"{stem}.safetensors", summary)
    return {"name": storage.PREFIX + stem, "summary_path": str(path), "summary": summary,
            "provenance": run.model.metric.provenance}
