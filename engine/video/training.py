"""Training a rater: cached clip features, then the visual head, the audio network and the fusion head.

Stages, each resumable (``work_dir`` keeps a checkpoint per stage and each finished stage's
weights, which a resumed run reuses):

1. *features*: every clip's visual embedding and log-mel spectrogram, computed once and cached
   (:class:`~engine.video.features.FeatureCache`; under ``torchrun`` each rank computes its share);
2. *video*: the visual head on the frozen encoder's embeddings;
3. *audio*: the audio network on log-mels, with VidHarm's random 300-frame (4.8 s) crops and
   SpecAugment;
4. *fusion*: VidHarm's fusion MLP on the two branches' *validation* predictions (VidHarm fitted it on
   training predictions, which are over-confident); skipped without validation clips with sound.

Both branches use VidHarm's class-balanced sampling (a level drawn uniformly, then a clip of that
level; an epoch draws as many clips as the split holds), cross-entropy on hard labels and gradient
norms clipped at 40, and keep the epoch with the best validation mean class accuracy (VidHarm
selected its video model's epoch on validation too). The optimiser defaults to AdamW at 1e-3: only
heads and a small audio network train here, where it converges in far fewer steps than VidHarm's SGD
(lr 1e-3, momentum 0.9, for whole networks), which ``optimizer="sgd"`` reproduces.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from engine import distributed, settings
from engine.errors import InputError, WorkbenchError
from engine.jobs import JobContext, JobKind
from engine.training import History, Progress, fit
from engine.video.audio import SpecAugment, fit_length
from engine.video.dataset import SPLITS, ClipSet, LabelledClip, balanced_order, load_clips
from engine.video.features import FeatureCache
from engine.video.labels import LEVELS
from engine.video.metrics import evaluate
from engine.video.models import FUSION_RULES, FusionHead, ModelConfig
from engine.video.rater import Rater

STAGES: tuple[str, ...] = ("video", "audio", "fusion")
RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
FUSION_BATCH = 16


@dataclass(frozen=True)
class TrainingConfig:
    """How the trained parts learn (see the module docstring for the defaults' reasons)."""

    epochs: int = 5
    batch_size: int = 8
    audio_batch_size: int = 16
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    clip_grad_norm: float = 40.0
    balanced: bool = True
    fusion_epochs: int = 30
    seed: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in ("adamw", "sgd"):
            raise InputError(f"optimizer must be 'adamw' or 'sgd', not {self.optimizer!r}.")
        if self.epochs < 1 or self.batch_size < 1 or self.audio_batch_size < 1 or self.lr <= 0:
            raise InputError("epochs, batch sizes and the learning rate must be positive.")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingConfig:
        """Read the known keys of ``values`` (e.g. a job's parameters)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known and v is not None})


@dataclass
class SplitFeatures:
    """One split's cached features: ``embeddings [N, D]``, a spectrogram or None per clip, ``levels [N]``."""

    clips: list[LabelledClip]
    embeddings: torch.Tensor
    spectrograms: list[torch.Tensor | None]
    levels: torch.Tensor

    @property
    def with_audio(self) -> list[int]:
        """Indices of the clips that have sound."""
        return [i for i, spectrogram in enumerate(self.spectrograms) if spectrogram is not None]


@dataclass
class TrainingRun:
    """A finished run: the rater, its metrics (the ``metrics.json`` content) and each stage's history."""

    rater: Rater
    metrics: dict[str, Any]
    histories: dict[str, History] = field(default_factory=dict)


StageProgress = Callable[[str, Progress], None]


def extract_features(data: ClipSet, cache: FeatureCache, rank: distributed.Rank,
                     on_clip: Callable[[int, int], None] | None = None) -> dict[str, SplitFeatures]:
    """Every clip's features, through the cache (each rank computes its share first, then all read all)."""
    everything = [clip for split in SPLITS for clip in data.splits[split]]
    mine = everything[rank.rank::rank.world_size]
    for done, clip in enumerate(mine, 1):
        cache.get(clip.path)
        if on_clip is not None:
            on_clip(done, len(mine))
    distributed.barrier()
    result = {}
    for split in SPLITS:
        clips = data.splits[split]
        loaded = [cache.get(clip.path) for clip in clips]
        dim = loaded[0].embedding.shape[0] if loaded else 0
        result[split] = SplitFeatures(
            clips, torch.stack([f.embedding for f in loaded]) if loaded else torch.zeros(0, dim),
            [f.spectrogram for f in loaded], torch.tensor([c.level for c in clips], dtype=torch.long))
    return result


def make_optimizer(parameters: list[nn.Parameter], config: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW or SGD (momentum 0.9) with the gradient norm clipped before every step."""
    if config.optimizer == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(parameters, lr=config.lr, momentum=0.9,
                                                           weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    def clip_gradients(*_: Any) -> None:
        nn.utils.clip_grad_norm_(parameters, config.clip_grad_norm)

    optimizer.register_step_pre_hook(clip_gradients)
    return optimizer


def epoch_batches(levels: list[int], batch_size: int, config: TrainingConfig, epoch: int,
                  rank: distributed.Rank) -> list[list[int]]:
    """This rank's batches of one epoch: ``len(levels)`` draws (class-balanced or a shuffle), rounded up so
    that every rank gets the same number of equal batches. Deterministic in (seed, epoch)."""
    generator = torch.Generator().manual_seed(config.seed * 7919 + epoch)
    per_rank = max(1, batch_size // rank.world_size)
    draws = math.ceil(len(levels) / (per_rank * rank.world_size)) * per_rank * rank.world_size
    if config.balanced:
        order = balanced_order(levels, draws, generator)
    else:
        shuffled = torch.randperm(len(levels), generator=generator).tolist()
        order = [shuffled[i % len(shuffled)] for i in range(draws)]
    mine = order[rank.rank::rank.world_size]
    return [mine[i:i + per_rank] for i in range(0, len(mine), per_rank)]


class BestEpoch:
    """Keeps the weights of the epoch with the best validation score (also across a resume)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.score = -math.inf
        self.state: dict[str, torch.Tensor] | None = None
        record = path.with_suffix(".json")
        if path.is_file() and record.is_file():
            from safetensors.torch import load_file

            self.state = load_file(str(path))
            self.score = float(json.loads(record.read_text())["score"])

    def offer(self, score: float, module: nn.Module) -> None:
        """Remember ``module``'s weights if ``score`` beats the best so far."""
        if score <= self.score:
            return
        from safetensors.torch import save_file

        self.score = score
        self.state = copy.deepcopy({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()})
        if distributed.is_main_process():
            save_file(self.state, str(self.path))
            self.path.with_suffix(".json").write_text(json.dumps({"score": score}))

    def restore(self, module: nn.Module) -> None:
        """Load the best weights into ``module`` (unchanged when no epoch was scored)."""
        if self.state is not None:
            module.load_state_dict(self.state)


def _video_probabilities(rater: Rater, split: SplitFeatures) -> torch.Tensor:
    return rater.video_probabilities(split.embeddings) if len(split.clips) else torch.zeros(0, len(LEVELS))


def _audio_probabilities(rater: Rater, split: SplitFeatures) -> torch.Tensor:
    """``[N, 4]`` audio probabilities (NaN rows for clips without sound)."""
    result = torch.full((len(split.clips), len(LEVELS)), math.nan)
    for index in split.with_audio:
        spectrogram = split.spectrograms[index]
        assert spectrogram is not None
        result[index] = rater.audio_probabilities(spectrogram[None])[0]
    return result


def _mean_class_accuracy(probabilities: torch.Tensor, levels: torch.Tensor) -> float:
    value = evaluate(probabilities.numpy(), levels.numpy()).mean_class_accuracy
    return float(value) if value is not None else 0.0


def _train_stage(name: str, module: nn.Module, step: Callable[[Any], dict[str, torch.Tensor]],
                 batches: Callable[[int], list[Any]], epochs: int, score: Callable[[], float] | None,
                 config: TrainingConfig, work_dir: Path, resume: bool, rank: distributed.Rank,
                 on_progress: StageProgress | None, show_bar: bool) -> History:
    """Fit one stage on the shared loop, keep its best validation epoch, save its weights to ``work_dir``."""
    best = BestEpoch(work_dir / f"{name}_best.safetensors")
    trained = distributed.wrap(module, rank)

    def evaluate_epoch(epoch: int) -> dict[str, float]:
        if score is None:
            return {}
        value = score()
        best.offer(value, module)
        return {f"{name} val mean class accuracy": value}

    history = fit(trained, lambda batch: step((trained, batch)), batches,
                  make_optimizer([p for p in module.parameters() if p.requires_grad], config), epochs,
                  evaluate=evaluate_epoch, on_progress=(lambda p: on_progress(name, p)) if on_progress else None,
                  checkpoint=work_dir / f"{name}.pt", resume=resume, show_bar=show_bar, description=name)
    best.restore(module)
    module.eval()
    if distributed.is_main_process():
        from safetensors.torch import save_file

        save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()},
                  str(work_dir / f"{name}.safetensors"))
    return history


def _load_stage(name: str, module: nn.Module, work_dir: Path) -> bool:
    """Load a finished stage's weights; False when the stage has not finished."""
    from safetensors.torch import load_file

    path = work_dir / f"{name}.safetensors"
    if not path.is_file():
        return False
    module.load_state_dict(load_file(str(path)))
    module.eval()
    return True


def stage_steps(data: ClipSet, features: dict[str, SplitFeatures] | None, config: TrainingConfig,
                world_size: int = 1) -> dict[str, int]:
    """Optimiser steps per stage over the whole run (for an overall progress bar)."""
    def steps(count: int, batch: int, epochs: int) -> int:
        per_rank = max(1, batch // world_size)
        return epochs * math.ceil(count / (per_rank * world_size)) if count else 0

    train = len(data.splits["train"])
    audio = len(features["train"].with_audio) if features else train
    fusion = len(features["val"].with_audio) if features else len(data.splits["val"])
    return {"video": steps(train, config.batch_size, config.epochs),
            "audio": steps(audio, config.audio_batch_size, config.epochs),
            "fusion": steps(fusion, FUSION_BATCH, config.fusion_epochs)}


def _check_run_record(work_dir: Path, record: dict[str, Any], resume: bool) -> None:
    """Start a fresh work folder, or on resume make sure it belongs to the same run."""
    path = work_dir / RUN_FILE
    if resume and path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved != record:
            raise WorkbenchError(f"{work_dir} holds a run with other data or settings; resume it with those, "
                                 "or start without --resume.")
        return
    if distributed.is_main_process():
        if work_dir.is_dir():
            for stale in [*work_dir.glob("*.safetensors"), *work_dir.glob("*.pt"), *work_dir.glob("*_best.json")]:
                stale.unlink()
        work_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1), encoding="utf-8")
    distributed.barrier()


def train(data: ClipSet, model_config: ModelConfig, config: TrainingConfig, work_dir: str | Path,
          cache_dir: str | Path, resume: bool = False, device: str = "cpu",
          on_features: Callable[[int, int], None] | None = None, on_progress: StageProgress | None = None,
          show_bar: bool = True, log: Callable[[str], None] = print) -> TrainingRun:
    """Train a rater on ``data`` (see the module docstring) and evaluate it on the test split.

    Args:
        data: clips per split (:func:`engine.video.dataset.load_clips`).
        model_config: encoder, sizes, audio network and the fusion rule the rater will use.
        config: optimisation settings.
        work_dir: checkpoints and finished stages (reused with ``resume``).
        cache_dir: the clip feature cache (reused across runs).
        resume: continue an interrupted run in ``work_dir``.
        device: where to run (each torchrun rank uses its own device).
        on_features: ``(clips done, clips)`` while features are computed.
        on_progress: ``(stage, Progress)`` after every step (may raise Cancelled).
        show_bar: tqdm bars.
        log: where progress lines go.

    Raises:
        InputError: no training clip, undecodable clips, or ``learned`` fusion without validation clips.
    """
    work_dir = Path(work_dir)
    rank = distributed.setup(device)

    def say(text: str) -> None:
        if rank.is_main:  # one voice per run under torchrun
            log(text)

    torch.manual_seed(config.seed)
    record = {"data": data.source, "model": model_config.to_dict(), "training": asdict(config),
              "clips": {split: [c.clip_id for c in clips] for split, clips in data.splits.items()}}
    _check_run_record(work_dir, record, resume)
    rater = Rater.untrained(model_config)
    rater.device = str(rank.device)
    started = time.perf_counter()
    # 1. every clip's features, once
    features = extract_features(data, FeatureCache(cache_dir, rater), rank, on_features)
    say(f"features of {sum(len(c) for c in data.splits.values())} clips ready in {time.perf_counter() - started:.1f} s")
    train_split, val_split = features["train"], features["val"]
    audio_train = train_split.with_audio
    fusion_clips = val_split.with_audio if audio_train else []
    if model_config.fusion == "learned" and not fusion_clips:
        raise InputError("The learned fusion needs training and validation clips with sound; choose product, mean "
                         "or max.")
    histories: dict[str, History] = {}

    # 2. the visual head on frozen embeddings
    if not _load_stage("video", rater.visual_head, work_dir):
        def video_step(item: tuple[nn.Module, list[int]]) -> dict[str, torch.Tensor]:
            module, indices = item
            logits = module(train_split.embeddings[indices].to(rank.device))
            return {"loss": F.cross_entropy(logits, train_split.levels[indices].to(rank.device))}

        video_score = (lambda: _mean_class_accuracy(_video_probabilities(rater, val_split), val_split.levels)) \
            if len(val_split.clips) else None
        levels = train_split.levels.tolist()
        histories["video"] = _train_stage(
            "video", rater.visual_head.to(rank.device), video_step,
            lambda epoch: epoch_batches(levels, config.batch_size, config, epoch, rank), config.epochs, video_score,
            config, work_dir, resume, rank, on_progress, show_bar)
        rater.visual_head.cpu()

    # 3. the audio network on log-mel crops
    if audio_train and not _load_stage("audio", rater.audio_net, work_dir):
        augment = SpecAugment()

        def audio_step(item: tuple[nn.Module, list[int]]) -> dict[str, torch.Tensor]:
            module, positions = item
            indices = [audio_train[p] for p in positions]
            spectrograms = [train_split.spectrograms[index] for index in indices]
            # VidHarm's 300-frame crop, or the longest clip in the batch when all are shorter (no wasted padding)
            crop = min(rater.audio.train_frames, max(s.shape[-1] for s in spectrograms if s is not None))
            crops = []
            for spectrogram in spectrograms:
                assert spectrogram is not None
                room = max(spectrogram.shape[-1] - crop, 0)
                crops.append(fit_length(spectrogram, crop, int(torch.randint(room + 1, (1,)))))
            batch = augment(torch.stack(crops)[:, None]).to(rank.device)
            return {"loss": F.cross_entropy(module(batch), train_split.levels[indices].to(rank.device))}

        val_audio = val_split.with_audio

        def audio_score() -> float:
            probabilities = _audio_probabilities(rater, val_split)[val_audio]
            return _mean_class_accuracy(probabilities, val_split.levels[val_audio])

        levels = train_split.levels[audio_train].tolist()
        histories["audio"] = _train_stage(
            "audio", rater.audio_net.to(rank.device), audio_step,
            lambda epoch: epoch_batches(levels, config.audio_batch_size, config, epoch, rank), config.epochs,
            audio_score if val_audio else None, config, work_dir, resume, rank, on_progress, show_bar)
        rater.audio_net.cpu()
    elif not audio_train:
        say("no training clip has sound: the audio branch stays untrained and is not used")

    # 4. the fusion head on held-out (validation) predictions
    if fusion_clips:
        head = FusionHead()
        if not _load_stage("fusion", head, work_dir):
            video_val = _video_probabilities(rater, val_split)[fusion_clips]
            audio_val = _audio_probabilities(rater, val_split)[fusion_clips]
            targets = val_split.levels[fusion_clips]

            def fusion_step(item: tuple[nn.Module, list[int]]) -> dict[str, torch.Tensor]:
                module, indices = item
                logits = module(video_val[indices].to(rank.device), audio_val[indices].to(rank.device))
                return {"loss": F.cross_entropy(logits, targets[indices].to(rank.device))}

            levels = targets.tolist()
            histories["fusion"] = _train_stage(
                "fusion", head.to(rank.device), fusion_step,
                lambda epoch: epoch_batches(levels, FUSION_BATCH, config, epoch, rank), config.fusion_epochs,
                None, config, work_dir, resume, rank, on_progress, show_bar)
        rater.fusion_head = head.cpu()
    if not audio_train:
        rater.audio_net = None
    rater.eval()
    notes = data.notes + (["The learned fusion head was fitted on the validation clips: its validation scores are "
                           "optimistic; read its test scores."] if fusion_clips else [])
    metrics = {"data": data.statistics(), "notes": notes,
               **{split: evaluate_split(rater, features[split], model_config.fusion, bool(audio_train))
                  for split in ("val", "test")}}
    return TrainingRun(rater, metrics, histories)


def evaluate_split(rater: Rater, split: SplitFeatures, fusion: str, use_audio: bool = True) -> dict[str, Any]:
    """Metrics of one split for ``video``, ``audio`` (clips with sound), ``fused`` (all clips, with the
    rater's rule), every fusion rule, and per tag (e.g. a synthetic clip's cue) the accuracy of each."""
    levels = split.levels
    video = _video_probabilities(rater, split)
    audio = _audio_probabilities(rater, split) if use_audio else torch.full_like(video, math.nan)
    has_audio = ~torch.isnan(audio[:, 0]) if len(split.clips) else torch.zeros(0, dtype=torch.bool)

    def fused_with(rule: str) -> torch.Tensor:
        fused = video.clone()
        if bool(has_audio.any()):
            fused[has_audio] = rater.fuse(video[has_audio], audio[has_audio], rule)
        return fused

    rules = [rule for rule in FUSION_RULES if rule != "learned" or rater.fusion_head is not None]
    by_rule = {rule: fused_with(rule) for rule in rules}
    result: dict[str, Any] = {
        "video": evaluate(video.numpy(), levels.numpy()).to_json(),
        "audio": evaluate(audio[has_audio].numpy(), levels[has_audio].numpy()).to_json(),
        "fused": evaluate(by_rule[fusion].numpy(), levels.numpy()).to_json(),
        "fusion_rules": {rule: evaluate(p.numpy(), levels.numpy()).to_json() for rule, p in by_rule.items()},
    }
    tags = sorted({clip.tag for clip in split.clips if clip.tag})
    if tags:
        outcome = {"video": video, "audio": audio, "fused": by_rule[fusion]}
        result["by_tag"] = {}
        for tag in tags:
            chosen = torch.tensor([clip.tag == tag for clip in split.clips])
            result["by_tag"][tag] = {}
            for modality, probabilities in outcome.items():
                mask = chosen & (has_audio if modality == "audio" else torch.ones_like(chosen))
                value = evaluate(probabilities[mask].numpy(), levels[mask].numpy()).accuracy
                result["by_tag"][tag][modality] = None if value is None else round(value, 4)
    return result


def save_run(run: TrainingRun, out: str | Path, data: ClipSet, config: TrainingConfig) -> Path:
    """Write the rater (``model.safetensors``, ``model.json``), ``metrics.json`` and ``curves-<stage>.png``."""
    out = Path(out)
    test = run.metrics.get("test", {})
    training = {"data": data.source, "synthetic": data.synthetic,
                "clips": {split: len(clips) for split, clips in data.splits.items()},
                "config": asdict(config), "test_mean_class_accuracy": {
                    modality: test.get(modality, {}).get("mean_class_accuracy") for modality in ("video", "audio",
                                                                                                "fused")}}
    run.rater.save(out, training)
    (out / METRICS_FILE).write_text(json.dumps(run.metrics, indent=2), encoding="utf-8")
    from engine.video.plots import stage_curves

    for stage, history in run.histories.items():
        stage_curves(stage, history).savefig(out / f"curves-{stage}.png", dpi=100)
    return out


def models_folder() -> Path:
    """Where raters trained in the app are kept (``<data dir>/video/models``)."""
    return settings.current().data_dir / "video" / "models"


def datasets_folder() -> Path:
    """Where the app looks for data sets named in the tab (``<data dir>/video/datasets``): a VidHarm-layout
    folder or a CSV put there (the tab never reads other server paths)."""
    return settings.current().data_dir / "video" / "datasets"


def features_folder() -> Path:
    """The shared clip-feature cache (``<data dir>/video/features``)."""
    return settings.current().data_dir / "video" / "features"


JOB = JobKind("vidharm-train", "engine.video.training:run_training_job", "Train a VidHarm rater")


def _job_data(params: dict[str, Any], ctx: JobContext) -> Path:
    """The job's data: a synthetic set (made once), an uploaded zip (unpacked once), or a data set named
    under :func:`datasets_folder`."""
    if params.get("synthetic"):
        folder = ctx.folder / "synthetic-set"
        if not (folder / "test.json").is_file():
            from engine.video.synthetic import make_dataset

            ctx.progress(0, 1, message="making the synthetic clips")
            shutil.rmtree(folder, ignore_errors=True)
            make_dataset(folder, seed=int(params.get("seed", 0)))
        return folder
    uploads = sorted(ctx.inputs.glob("*")) if ctx.inputs.is_dir() else []
    archives = [path for path in uploads if path.suffix.lower() == ".zip"]
    if archives:
        from engine.video.annotate import unpack_archive

        return unpack_archive(archives[0], ctx.folder / "data")
    if params.get("data"):
        from engine.paths import inside

        found = inside(datasets_folder(), str(params["data"]), what="data set name")
        if not found.exists():
            raise InputError(f"No data set {params['data']!r} in {datasets_folder()}: put a VidHarm-layout folder or "
                             "a CSV there, or upload a zip.")
        return found
    raise InputError("Name a data set, upload a zip of one, or use the synthetic set.")


def run_training_job(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """The Video tab's training job (resumable; see :func:`train`).

    Params: ``data`` (a name under :func:`datasets_folder`) or an uploaded zip, or ``synthetic: true``;
    ``name``; ``epochs``;
    any :class:`TrainingConfig` field; ``visual_arch``, ``frame_size``, ``frames_per_window``,
    ``audio_arch``, ``fusion``. The result names the saved rater (``name``, ``path``) and its metrics.
    """
    from engine.paths import inside

    data = load_clips(_job_data(params, ctx))
    config = TrainingConfig.from_dict(params)
    model_config = ModelConfig.for_arch(params.get("visual_arch", "mobilenet_v2"),
                                        frame_size=params.get("frame_size"),
                                        frames_per_window=params.get("frames_per_window"),
                                        audio_arch=params.get("audio_arch"), fusion=params.get("fusion"),
                                        seed=params.get("seed"))
    name = params.get("name") or ctx.job_id
    out = inside(models_folder(), name, what="model name")
    plan = stage_steps(data, None, config)
    offsets = {stage: sum(plan[s] for s in STAGES[:i]) for i, stage in enumerate(STAGES)}
    total = sum(plan.values()) or 1
    clip_count = sum(len(clips) for clips in data.splits.values())

    def features_progress(done: int, count: int) -> None:
        ctx.progress(0, total, message=f"features: clip {done}/{count}")

    def stage_progress(stage: str, progress: Progress) -> None:
        step = offsets[stage] + progress.epoch * max(progress.steps, 1) + progress.step + 1
        ctx.progress(min(step, total), total, progress.loss, progress.metrics,
                     f"{stage}: epoch {progress.epoch + 1}/{progress.epochs}")

    ctx.log(f"data {data.source}: {json.dumps(data.statistics())}")
    run = train(data, model_config, config, ctx.folder / "work", features_folder(), resume=ctx.resume,
                device=ctx.device, on_features=features_progress, on_progress=stage_progress, show_bar=False,
                log=ctx.log)
    save_run(run, out, data, config)
    ctx.log(f"saved {out} ({clip_count} clips)")
    test = run.metrics["test"]
    return {"name": name, "model_folder": str(out), "synthetic": data.synthetic, "data": data.statistics(),
            "test": {modality: test[modality] for modality in ("video", "audio", "fused")}}
